"""The query language: parsing to the shared tree and the Python matcher."""

from datetime import datetime, timezone

import re

import pytest

from newswatch.pipeline.article import Article, EntityTag, Source, TopicTag
from newswatch.pipeline.query import (
    And, DocView, FieldTerm, MatchAll, Not, Or, Phrase, QueryError, RuleIndex, Term,
    compile_query, parse_query, required_terms,
)


def doc(**kw) -> DocView:
    base = dict(id="1", title="Exiles meet in Albania", content="The MEK moved to Camp Ashraf 3 near Manëz.",
                content_format="text", language="en", source=Source(name="Demo Wire", domain="wire.example"),
                entities=[EntityTag(id="mek", name="People's Mojahedin")], topics=[TopicTag(id="diplomacy", score=1)],
                published_at=datetime(2024, 6, 1, tzinfo=timezone.utc), feed_id="wire")
    base.update(kw)
    return DocView.of(Article(**base))


def m(q: str, d: DocView | None = None) -> bool:
    return compile_query(parse_query(q)).matches(d or doc())


def test_parse_shapes():
    assert parse_query('entity:mek AND (Albania OR "Camp Ashraf") NOT sport') == And((
        FieldTerm("entity", "mek"),
        Or((Term("text", "albania"), Phrase("text", ("camp", "ashraf")))),
        Not(Term("text", "sport")),
    ))
    assert parse_query("a b") == And((Term("text", "a"), Term("text", "b")))  # implicit AND
    assert parse_query("+a -b") == And((Term("text", "a"), Not(Term("text", "b"))))
    assert parse_query('"x y"~3') == Phrase("text", ("x", "y"), 3)
    assert parse_query("Auvers-sur-Oise") == Phrase("text", ("auvers", "sur", "oise"))
    assert parse_query("Rajav*") == Term("text", "rajav*", wildcard=True)
    assert parse_query("") == MatchAll() == parse_query("*")
    assert parse_query("title:(a OR b)") == Or((Term("title", "a"), Term("title", "b")))
    assert parse_query('source:"Demo Wire"') == FieldTerm("source", "demo wire")


@pytest.mark.parametrize("bad", ["foo~2", "unknownfield:x", "(a OR", "/re.*x/", "title:[a TO b]", "a* b*c-d*"])
def test_unsupported_or_broken_queries_are_clear_errors(bad):
    with pytest.raises(QueryError):
        parse_query(bad)


@pytest.mark.parametrize("q,expected", [
    ("albania", True),
    ("ALBANIA", True),
    ("manez", True),            # diacritics folded
    ('"camp ashraf"', True),
    ('"ashraf camp"', False),
    ('"ashraf camp"~0', False),
    ('"mek ashraf"~3', True),   # mek moved to camp ashraf: 3 tokens between
    ('"mek ashraf"~2', False),
    ('"ashraf mek"~3', True),   # any order
    ("title:albania", True),
    ("title:ashraf", False),
    ('"albania the"', False),   # phrases do not cross fields
    ("alb?nia", True),
    ("alb*", True),
    ("entity:mek", True),
    ('entity:"people\'s mojahedin"', True),
    ("entity:ncri", False),
    ("topic:diplomacy AND language:en", True),
    ('source:"demo wire" AND source:wire.example AND feed:wire', True),
    ("entity:mek AND NOT albania", False),
    ("entity:mek -sport", True),
    ("published:[2024-01-01 TO 2024-12-31]", True),
    ("published:[2025-01-01 TO *]", False),
    ("published:2024-06-01", True),
])
def test_matcher(q, expected):
    assert m(q) is expected


def test_repeated_tokens_in_proximity_need_two_occurrences():
    d = doc(content="talks talks resumed", title="")
    assert m('"talks talks"~1', d)
    assert not m('"resumed resumed"~5', d)


def test_required_terms_and_rule_index_are_exact():
    rules = {
        "a": "entity:mek AND Albania",
        "b": '"camp ashraf" OR tirana',
        "c": "NOT sport",
        "d": "rajav*",
        "e": "entity:ncri",
    }
    assert required_terms(parse_query(rules["a"])) in ({("entity", "mek")}, {("tok", "albania")})
    assert required_terms(parse_query(rules["c"])) is None
    idx = RuleIndex()
    for rid, q in rules.items():
        idx.add(rid, parse_query(q))
    d = doc()
    assert sorted(idx.match(d)) == sorted(r for r, q in rules.items() if m(q, d)) == ["a", "b", "c"]
    assert "e" not in idx.candidates(d)


@pytest.mark.parametrize("q,expected", [
    ("published:[2024-06-01 TO 2024-06-01]", True),   # a bare day is the whole day
    ("published:[2024-05-01 TO 2024-05-31]", False),
    ("published:{2024-06-01 TO *]", False),            # exclusive start day: from the next day on
    ("published:{2024-05-31 TO *]", True),
])
def test_bare_days_in_ranges_cover_whole_days(q, expected):
    d = doc(published_at=datetime(2024, 6, 1, 15, 30, tzinfo=timezone.utc))
    assert m(q, d) is expected


@pytest.mark.parametrize("q,expected", [
    ("published:>2024-05-31", True), ("published:>2024-06-01", False),
    ("published:>=2024-06-01", True), ("published:<2024-06-01", False),
    ("published:<=2024-06-01", True), ("published:<2024-06-02", True),
    ("Albania && published:>=2024-01-01 || nothing", True),
])
def test_comparisons_on_dates_and_lucene_operator_aliases(q, expected):
    d = doc(published_at=datetime(2024, 6, 1, 15, 30, tzinfo=timezone.utc))
    assert m(q, d) is expected


def test_operator_aliases_inside_a_quoted_phrase_are_text():
    d = doc(title="A night of rock & roll in Tirana")
    assert m('"rock && roll"', d) and m('"rock || roll" && Tirana', d)
    assert not m('"rock && roll"', doc(title="rock and roll"))


@pytest.mark.parametrize("q,hint", [
    ("paris AND", "nothing after 'AND'"), ('"open', "quote"), ("(a OR b", "'(' is not closed"),
    ("published:>", "needs a date right after it"),
])
def test_parse_errors_say_what_to_fix(q, hint):
    with pytest.raises(QueryError, match=re.escape(hint)):
        parse_query(q)
