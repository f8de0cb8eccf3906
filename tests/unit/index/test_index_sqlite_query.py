"""Query translation: FTS5 sees the matcher's tokens, NEAR means what _near
means, and no user input is ever SQL or FTS5 syntax.  Real SQLite, no fakes."""

from __future__ import annotations

import random
import sqlite3

import pytest

from newswatch.index import sqlite_query
from newswatch.index.sqlite import SqliteIndex, token_stream
from newswatch.index.sqlite_query import compile_where
from newswatch.pipeline.article import Article
from newswatch.pipeline.query import DocView, Phrase, QueryError, Term, compile_query, parse_query
from newswatch.pipeline.query.match import _near
from newswatch.pipeline.text import WORD_RE, fold

NASTY = (
    "Manëz's foo_bar 3.14 x²½ ٣٤ می‌خواهم كتاب علي İstanbul Straße ǅemal Ⅻ ① naïve ﬁle ‘quoted’ "
    "e\u0301 क़िताब हिन्दी 中文字 한국어 ไทย 𝔘𝔫𝔦 a\u200db a\u00adb great😀news ₽100 ⹀x "
    "ᦱlue 'single' \"double\" AND OR NOT NEAR * ^ : { } ( ) - + "
)


@pytest.fixture
def index(tmp_path):
    ix = SqliteIndex(tmp_path / "q.sqlite3")
    yield ix
    ix.close()


def fts_tokens(ix: SqliteIndex, text: str) -> list[str]:
    """What FTS5 indexed for *text*, in position order (fts5vocab 'instance')."""
    c = ix._conn()
    c.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vi USING fts5vocab(main, fts, 'instance')")
    ix.write([Article(id="tok", content=text, content_format="text")])
    rid = c.execute("SELECT rowid FROM articles WHERE id='tok'").fetchone()[0]
    return [t for t, _ in c.execute("SELECT term, offset FROM temp.vi WHERE doc=? AND col='content' "
                                    "ORDER BY offset", (rid,))]


def test_fts_tokens_equal_word_re_tokens(index):
    assert fts_tokens(index, NASTY) == WORD_RE.findall(fold(NASTY))
    # the separators that matter: underscore, apostrophe, ZWNJ, soft hyphen, emoji
    toks = fts_tokens(index, "foo_bar l'eau می‌خواهم a\u00adb great😀news")
    assert toks == ["foo", "bar", "l", "eau", "می", "خواهم", "a", "b", "great", "news"]


def test_fts_tokens_equal_word_re_across_unicode(index):
    """A sample of every 7th code point, each between two letters."""
    text = " ".join("a" + chr(cp) + "b" for cp in range(0x21, 0x2FFFF, 7) if not 0xD800 <= cp < 0xE000)
    assert fts_tokens(index, text) == WORD_RE.findall(fold(text))


def test_near_translation_agrees_with_matcher_on_random_docs(index):
    """FTS5 NEAR differs from _near (3+ words, repeated words); the translation corrects it."""
    rng = random.Random(7)
    docs = [" ".join(rng.choice("abcx") for _ in range(rng.randint(1, 12))) for _ in range(150)]
    arts = [Article(id=f"d{i}", content=d, content_format="text") for i, d in enumerate(docs)]
    index.write(arts)
    views = {a.id: DocView.of(a) for a in arts}
    for _ in range(60):
        toks = tuple(rng.choice("abc") for _ in range(rng.randint(2, 4)))
        node = Phrase("content", toks, rng.randint(1, 5))
        want = {i for i, v in views.items() if compile_query(node).matches(v)}
        got = {h.article.id for h in index.search(node, limit=1000).hits}
        assert got == want, node


def test_sql_near_function_is_the_matcher():
    assert sqlite_query.sql_near("a x a", "a a", 1) == 1
    assert sqlite_query.sql_near("a x x a", "a a", 1) == 0
    assert sqlite_query.sql_near(None, "a a", 1) == 0
    assert sqlite_query.sql_near("b a c", "a b c", 0) == int(_near({"b": [0], "a": [1], "c": [2]}, ("a", "b", "c"), 0))


MALICIOUS = [
    '"a" OR *', 'NEAR(', 'NEAR(a b', '"unterminated', "a' OR '1'='1", "'; DROP TABLE articles; --",
    'title:"x"; DELETE FROM fts', "a\" OR \"b", "col:*", "{title}:x", "^x", "x*y*z", "\\\"x\\\"",
    'entity:"a\'b"', "source:'; --", "a -- b", "x /* y */", "AND OR NOT", "NEAR", "\x00", "a\x00b",
]


@pytest.mark.parametrize("query", MALICIOUS)
def test_malicious_queries_are_inert(index, query):
    index.write([Article(id="keep", title="a b x", content="keep me", content_format="text")])
    try:
        node = parse_query(query)
    except QueryError:
        return  # refused by the parser with a message: fine
    try:
        result = index.search(node, limit=10)
    except QueryError:
        result = None
    else:
        # whatever it found, it agrees with the matcher
        matcher = compile_query(node)
        want = {a.id for a in index.get(["keep"]) if matcher.matches(DocView.of(a))}
        assert {h.article.id for h in result.hits} == want
    assert index.count() == 1
    assert index.search(parse_query("keep")).total == 1


def test_user_text_is_never_in_the_sql(index):
    node = parse_query("title:robert AND entity:\"x'); DROP\" AND \"bobby tables\"~2 AND published:[2024-01-01 TO *]")
    compiled = compile_where(node, index._conn())
    for word in ("robert", "DROP", "bobby", "tables", "2024"):
        assert word not in compiled.where
    assert any("robert" in str(p) for p in compiled.params)


def test_tokens_are_quoted_for_fts5():
    assert sqlite_query.quote('a"b') == '"a""b"'
    c = compile_where(Term("text", "near"), sqlite3.connect(":memory:"))
    assert c.params == ['{title summary content} : "near"']


def test_wildcard_expansion_is_bounded(index, monkeypatch):
    index.write([Article(id=f"w{i}", content=f"zq{i}x", content_format="text") for i in range(30)])
    assert index.search(parse_query("zq*x")).total == 30
    assert index.search(parse_query("z?1x")).total == 1
    monkeypatch.setattr(sqlite_query, "MAX_WILDCARD_TERMS", 10)
    with pytest.raises(QueryError, match="more than 10"):
        index.search(parse_query("zq*x"))
    assert index.search(parse_query("zq*")).total == 30  # plain prefix: native, unbounded


def test_token_stream_positions_match_matcher():
    text = "Hello, wörld! foo_bar 3.5"
    assert token_stream(text).split(" ") == WORD_RE.findall(fold(text))
    assert token_stream("") == ""
