"""SqliteIndex as a sink and a search backend, on a real SQLite file (no fakes)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from newswatch.index import open_index
from newswatch.index.sqlite import SqliteIndex
from newswatch.pipeline.article import Article, EntityTag, Source, TopicTag
from newswatch.pipeline.query import DocView, MatchAll, compile_query, parse_query
from newswatch.pipeline.settings import Settings
from support.corpus import articles

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def art(aid: str, day: int = 0, **kw) -> Article:
    base = dict(id=aid, title=f"Title {aid}", summary="", content="", content_format="text",
                published_at=T0 + timedelta(days=day), source=Source(name="Harbor Gazette", domain="h.example"),
                language="en")
    base.update(kw)
    return Article(**base)


@pytest.fixture
def index(tmp_path):
    ix = SqliteIndex(tmp_path / "i.sqlite3")
    yield ix
    ix.close()


def ids(result) -> list[str]:
    return [h.article.id for h in result.hits]


def rows(ix: SqliteIndex, sql: str) -> int:
    return ix._conn().execute(sql).fetchone()[0]


def test_upsert_is_idempotent(index):
    a = art("a", content="The river dam holds water.", entities=[EntityTag(id="e1", name="Eone")],
            topics=[TopicTag(id="water", score=1.0)], authors=["Jo"])
    for _ in range(3):
        index.write([a])
    index.write([a, a])
    assert index.count() == 1
    assert rows(index, "SELECT count(*) FROM fts") == 1
    assert rows(index, "SELECT count(*) FROM article_entities") == 1
    assert rows(index, "SELECT count(*) FROM article_topics") == 1
    assert rows(index, "SELECT count(*) FROM article_keywords WHERE field = 'author'") == 1
    assert ids(index.search(parse_query("dam"))) == ["a"]


def test_upsert_replaces_text_and_tags(index):
    index.write([art("a", content="old words here", entities=[EntityTag(id="old", name="Old")])])
    index.write([art("a", content="new text now", entities=[EntityTag(id="new", name="New")])])
    assert index.search(parse_query("old")).total == 0
    assert index.search(parse_query("entity:old")).total == 0
    assert ids(index.search(parse_query("new AND entity:new"))) == ["a"]
    assert rows(index, "SELECT count(*) FROM fts_vocab WHERE term = 'old'") == 0


def test_rowids_stay_aligned_after_updates(index):
    """FTS rows are keyed by the articles rowid; updates must keep them paired."""
    index.write([art(f"x{i}", content=f"word{i}") for i in range(5)])
    index.write([art("x2", content="changed"), art("x9", content="word9")])
    for i in (0, 1, 3, 4, 9):
        assert ids(index.search(parse_query(f"word{i}"))) == [f"x{i}"]
    assert ids(index.search(parse_query("changed"))) == ["x2"]


def test_persists_across_reopen(tmp_path):
    path = tmp_path / "p.sqlite3"
    ix = SqliteIndex(path)
    ix.write([art("a", content="persistent")])
    ix.close()
    ix2 = SqliteIndex(path)
    try:
        assert ids(ix2.search(parse_query("persistent"))) == ["a"]
        assert ix2.get(["a"])[0].content == "persistent"
    finally:
        ix2.close()


def test_refuses_newer_schema(tmp_path):
    path = tmp_path / "n.sqlite3"
    SqliteIndex(path).close()
    c = sqlite3.connect(path)
    c.execute("PRAGMA user_version = 99")
    c.close()
    with pytest.raises(RuntimeError, match="newer newswatch"):
        SqliteIndex(path)


def test_filters_by_keyword_fields(index):
    index.write([
        art("en", entities=[EntityTag(id="northwind", name="Northwind Coöp")], feed_id="f1",
            categories=["Politics"], authors=["Jo Rivers"]),
        art("fr", language="fr", source=Source(name="Le Courrier", domain="c.example"),
            topics=[TopicTag(id="energy", score=0.5)], feed_id="f2"),
    ])
    cases = {
        "entity:northwind": ["en"], 'entity:"northwind coop"': ["en"], "entity:north*": ["en"],
        "topic:energy": ["fr"], 'source:"le courrier"': ["fr"], "source:c.example": ["fr"],
        "source:h.example": ["en"], "language:FR": ["fr"], "feed:f1": ["en"], "category:politics": ["en"],
        'author:"jo rivers"': ["en"], "NOT language:fr": ["en"],
    }
    for q, want in cases.items():
        assert ids(index.search(parse_query(q))) == want, q


def test_sort_by_date_and_relevance(index):
    index.write([
        art("old-strong", day=0, title="water water water", content="water everywhere water"),
        art("new-weak", day=5, content="a long text that mentions water once among many other words " * 3),
        art("mid-none", day=3, content="nothing relevant"),
    ])
    q = parse_query("water")
    assert ids(index.search(q, sort="date")) == ["new-weak", "old-strong"]
    rel = index.search(q, sort="relevance")
    assert ids(rel) == ["old-strong", "new-weak"]
    assert rel.hits[0].score > rel.hits[1].score > 0
    # no text leaves: relevance falls back to date
    assert ids(index.search(MatchAll(), sort="relevance")) == ["new-weak", "mid-none", "old-strong"]
    # NOT leaves do not rank
    both = index.search(parse_query("water OR NOT relevant"), sort="relevance")
    assert set(ids(both)) == {"old-strong", "new-weak"}


def test_since_until_limit_total(index):
    index.write([art(f"d{i}", day=i, content="common") for i in range(10)])
    q = parse_query("common")
    r = index.search(q, since=T0 + timedelta(days=3), until=T0 + timedelta(days=7), limit=2)
    assert r.total == 4  # days 3,4,5,6: since inclusive, until exclusive
    assert ids(r) == ["d6", "d5"]
    assert index.search(q, limit=0).hits == []
    assert index.search(q, limit=0).total == 10


def test_duplicates_hidden_on_request(index):
    index.write([art("orig", content="story"), art("copy", day=1, content="story", duplicate_of="orig")])
    assert set(ids(index.search(parse_query("story")))) == {"orig", "copy"}
    assert ids(index.search(parse_query("story"), include_duplicates=False)) == ["orig"]


def test_undated_article_is_outside_every_range_and_inside_not(index):
    index.write([art("nodate", published_at=None, content="x"), art("dated", content="x")])
    assert ids(index.search(parse_query("published:[* TO *]"))) == ["dated"]
    assert ids(index.search(parse_query("NOT published:[2000-01-01 TO *]"))) == ["nodate"]
    assert ids(index.search(MatchAll())) == ["dated", "nodate"]  # undated sort last


def test_snippet_marks_matches(index):
    index.write([art("s", summary="Nothing here.", content="Officials said the Manëz plan was ready.")])
    hit = index.search(parse_query("manez AND NOT sport")).hits[0]
    assert "\x02Manëz\x03" in hit.snippet
    assert hit.to_json()["snippet"].count("[Manëz]") == 1


def test_get_keeps_order_and_skips_unknown(index):
    index.write([art("a"), art("b"), art("c")])
    assert [a.id for a in index.get(["c", "zz", "a", "c"])] == ["c", "a"]
    assert index.get([]) == []


def test_stats(index):
    index.write([
        art("a", day=0, entities=[EntityTag(id="e1", name="E1"), EntityTag(id="e2", name="E2")],
            topics=[TopicTag(id="t1", score=1)]),
        art("b", day=0, entities=[EntityTag(id="e1", name="E1")], language="fr",
            source=Source(name="", domain="bare.example")),
        art("c", day=2, entities=[EntityTag(id="e1", name="E1")], duplicate_of="b"),
    ])
    s = index.stats()
    assert s.articles == 3 and s.stories == 2  # c is a copy of b's story
    assert s.per_day == [("2024-01-01", 2), ("2024-01-03", 1)]
    assert s.per_entity == [("e1", 3), ("e2", 1)]
    assert s.per_topic == [("t1", 1)]
    assert s.per_source == [("Harbor Gazette", 2), ("bare.example", 1)]
    assert s.per_language == [("en", 2), ("fr", 1)]
    s2 = index.stats(since=T0 + timedelta(days=1), top=1)
    assert s2.articles == 1 and s2.per_entity == [("e1", 1)] and s2.per_day == [("2024-01-03", 1)]


def test_concurrent_writers_and_readers(index):
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                index.write([art(f"w{n}-{i}", content=f"thread{n} shared")])
                index.search(parse_query("shared"), limit=5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert index.search(parse_query("shared")).total == 80
    assert index.search(parse_query("thread2")).total == 20


def test_corpus_round_trip(index):
    arts = articles()
    index.write(arts)
    got = index.get([a.id for a in arts])
    assert [a.to_dict() for a in got] == [a.to_dict() for a in arts]
    m = compile_query(parse_query("entity:northwind"))
    assert index.search(parse_query("entity:northwind")).total == sum(m.matches(DocView.of(a)) for a in arts)


def test_open_index_factory(tmp_path):
    ix = open_index(Settings(data_dir=tmp_path / "d", index="sqlite"))
    try:
        assert ix.name == "sqlite" and (tmp_path / "d" / "newswatch.sqlite3").exists()
    finally:
        ix.close()


def test_an_article_that_cannot_be_indexed_is_refused_loudly_and_the_rest_written(tmp_path, monkeypatch):
    """Not skipped in silence: the transport must park it (quarantine / DLQ)."""
    import newswatch.index.sqlite as mod
    from newswatch.pipeline.article import Article
    from newswatch.pipeline.stage import PermanentError

    real = mod._prepare

    def prepare(article, now_ts):
        if article.id == "bad":
            raise ValueError("odd article")
        return real(article, now_ts)

    monkeypatch.setattr(mod, "_prepare", prepare)
    idx = mod.SqliteIndex(tmp_path / "i.sqlite3")
    try:
        with pytest.raises(PermanentError, match="bad") as info:
            idx.write([Article(id="ok", title="fine", content_format="text"), Article(id="bad", title="x")])
        assert [a.id for a in idx.get(["ok", "bad"])] == ["ok"]
        assert info.value.article_ids == {"bad"}  # so the transport parks just that one
    finally:
        idx.close()
