"""The Elasticsearch/OpenSearch backends against real engines (OpenSearch
2.19 via opensearch-py; Elasticsearch 7.10.2 via the elasticsearch package's
transport): index layout, upserts, analysis, search/stats parity with the
SQLite backend, refused documents, feed health."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from support.corpus import articles
from support.searchengine import ENGINES, engine

from newswatch.index.sqlite import SqliteIndex
from newswatch.pipeline.highlight import snippet
from newswatch.pipeline.query import parse_query
from newswatch.pipeline.text import tokens

pytestmark = [pytest.mark.integration, pytest.mark.opensearch, pytest.mark.elasticsearch]

TRICKY = [
    "L'Humanité d'aujourd'hui", "rock'n'roll", "snake_case_word x_1", "COVID-19 2024/25 3.14",
    "می\u200cخواهم کتاب\u200cها", "كتاب يوسف", "Straße Größe", "naïve café", "東京タワー 東京", "😀word 🇮🇷iran",
    "Ⅻ ½ x²", "a\u00adb", "तुम्हारा हिंदी", "ПРИВЕТ мир", "tab\tnew\nline", "e\u0301cole",
]


@pytest.mark.parametrize("kind", ENGINES)
def test_folded_analyzer_splits_like_the_python_word_rule(kind):
    with engine(kind) as ix:
        ix.ensure_setup()
        ix.write(articles()[:1])  # creates a monthly index with the template's analysis
        index = ix.names.month(articles()[0].published_at)
        for text in TRICKY:
            folded = __import__("newswatch.pipeline.text", fromlist=["fold"]).fold(text)
            resp = ix.request("POST", f"/{index}/_analyze", body={"analyzer": "nw_folded", "text": folded})
            assert [t["token"] for t in resp["tokens"]] == tokens(text), text


@pytest.mark.parametrize("kind", ENGINES)
def test_monthly_indices_behind_an_alias_and_upserts_stay_put(kind):
    corpus = articles()
    with engine(kind) as ix:
        ix.write(corpus)
        indices = ix.request("GET", f"/_cat/indices/{ix.names.prefix}-articles-*", params={"format": "json"})
        months = {a.published_at.strftime("%Y.%m") for a in corpus if a.published_at}
        assert {r["index"] for r in indices} >= {f"{ix.names.prefix}-articles-{m}" for m in months}
        alias = ix.request("GET", f"/_alias/{ix.names.articles}")
        assert len(alias) == len({r["index"] for r in indices})
        # the same article again, with a new title and a publication date two months later
        a = corpus[0]
        first_index = ix.names.month(a.published_at)
        a.title = "Updated title"
        a.published_at = datetime(2024, 3, 15, tzinfo=timezone.utc)
        ix.write([a])
        assert ix.count() == len(corpus)
        hits = ix.request("POST", f"/{ix.names.articles}/_search", body={"query": {"ids": {"values": [a.id]}}})
        assert [h["_index"] for h in hits["hits"]["hits"]] == [first_index]
        assert ix.get([a.id])[0].title == "Updated title"
        # idempotent: replaying the batch changes nothing
        ix.write(articles())
        assert ix.count() == len(corpus)


@pytest.mark.parametrize("kind", ENGINES)
def test_search_and_stats_agree_with_the_sqlite_backend(kind, tmp_path):
    corpus = articles()
    sq = SqliteIndex(tmp_path / "x.sqlite3")
    sq.write(corpus)
    with engine(kind) as ix:
        ix.write(corpus)
        for q in ["water", "entity:port-elvar", "*", '"water supply"~3 OR talks']:
            node = parse_query(q)
            for dup in (True, False):
                a = sq.search(node, limit=7, include_duplicates=dup)
                b = ix.search(node, limit=7, include_duplicates=dup)
                assert b.total == a.total and b.total > 0, q
                assert [h.article.id for h in b.hits] == [h.article.id for h in a.hits], q
                assert [h.snippet for h in b.hits] == [snippet(h.article, node) for h in b.hits]
        since = datetime(2024, 1, 10, tzinfo=timezone.utc)
        until = datetime(2024, 2, 1, tzinfo=timezone.utc)
        a = sq.search(parse_query("*"), since=since, until=until, limit=100)
        b = ix.search(parse_query("*"), since=since, until=until, limit=100)
        assert [h.article.id for h in b.hits] == [h.article.id for h in a.hits] and a.total > 0
        rel = ix.search(parse_query("water OR dam"), sort="relevance", limit=5)
        assert rel.hits and all(h.score > 0 for h in rel.hits)
        assert [h.score for h in rel.hits] == sorted((h.score for h in rel.hits), reverse=True)
        for since in (None, datetime(2024, 2, 1, tzinfo=timezone.utc)):
            s_sq, s_ix = sq.stats(since=since, top=5), ix.stats(since=since, top=5)
            assert s_ix == s_sq and s_ix.articles > 0
    sq.close()


@pytest.mark.parametrize("kind", ENGINES)
def test_a_refused_document_is_parked_and_can_be_retried(kind):
    corpus = articles()[:3]
    bad = corpus[1]
    bad.guid = "not-a-number"
    with engine(kind) as ix:
        ix.ensure_setup()
        month = ix.names.month(bad.published_at)
        # a mapping the bad article cannot satisfy: the engine refuses it for good (HTTP 400 per item)
        ix.request("PUT", f"/{month}", body={"mappings": {"properties": {"guid": {"type": "long"}}}})
        report = ix.write_report(corpus)
        assert [p[0] for p in report.parked] == [bad.id]
        assert report.written == len(corpus) - 1
        parked = ix.failed()
        assert [p["article_id"] for p in parked] == [bad.id] and "guid" in parked[0]["reason"]
        assert ix.retry_failed() == (0, 1)  # nothing fixed yet: parked again, not lost
        assert [p["article_id"] for p in ix.failed()] == [bad.id]
        # the fix: recreate the month from the template, rewrite it, retry the parked one
        ix.request("DELETE", f"/{month}")
        ix.write([a for a in corpus if a is not bad])
        assert ix.retry_failed() == (1, 0)
        assert ix.get([bad.id])[0].guid == "not-a-number" and ix.failed() == []
        assert ix.count() == len(corpus)


@pytest.mark.parametrize("kind", ENGINES)
def test_feed_health_documents_show_a_silent_feed(kind):
    rows = [
        {"id": "harbor-main", "name": "Harbor Gazette", "health": "ok", "consecutive_errors": 0,
         "last_success": "2024-03-01T10:00:00+00:00", "items_last_poll": 0, "enabled": True},
        {"id": "valley-main", "name": "Valley Post", "health": "failing", "consecutive_errors": 4,
         "last_error": "HTTP 503", "last_success": None, "items_last_poll": 12, "enabled": True},
    ]
    with engine(kind) as ix:
        assert ix.write_feed_health(rows) == 2
        resp = ix.request("POST", f"/{ix.names.feeds}/_search", body={
            "query": {"bool": {"filter": [{"term": {"health": "ok"}}, {"term": {"items_last_poll": 0}}]}}})
        assert [h["_id"] for h in resp["hits"]["hits"]] == ["harbor-main"]
        rows[1]["consecutive_errors"] = 5
        ix.write_feed_health(rows)
        assert ix.request("POST", f"/{ix.names.feeds}/_count")["count"] == 2
        doc = ix.request("GET", f"/{ix.names.feeds}/_doc/valley-main")["_source"]
        assert doc["consecutive_errors"] == 5 and doc["last_error"] == "HTTP 503"
