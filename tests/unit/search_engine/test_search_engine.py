"""Unit tests of the shared search-engine module: query DSL, documents, and
bulk retry/parking logic.  The engine here is a FAKE (a scripted
``_request``), which is said in each test; the real engines are exercised in
tests/integration/test_search_engine_*.py."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest

from newswatch.index.elasticsearch import ElasticsearchIndex, auth_headers, split_credentials
from newswatch.index.search_engine import (
    IndexWriteError, SearchEngineError, SearchEngineIndex, article_document, needs_recheck, to_query_dsl,
)
from newswatch.pipeline.article import Article, EntityTag, Source
from newswatch.pipeline.query import parse_query


def art(i: str, **kw) -> Article:
    return Article(id=i, title=kw.pop("title", "Water talks"), content_format="text",
                   published_at=datetime(2024, 5, 3, tzinfo=timezone.utc), **kw)


def test_terms_phrases_and_proximity_translate_per_field():
    q = to_query_dsl(parse_query('Wätér AND "clean water" AND "dam river"~2 AND title:talk*'))
    must = q["bool"]["must"]
    assert must[0]["bool"]["should"] == [{"term": {f"fold.{f}": "water"}} for f in ("title", "summary", "content")]
    assert must[1]["bool"]["should"][0] == {"match_phrase": {"fold.title": {"query": "clean water", "analyzer": "nw_folded"}}}
    near = must[2]["bool"]["should"][2]["span_near"]
    assert near == {"clauses": [{"span_term": {"fold.content": "dam"}}, {"span_term": {"fold.content": "river"}}],
                    "slop": 2, "in_order": False}
    assert must[3] == {"wildcard": {"fold.title": {"value": "talk*"}}}


def test_keyword_fields_dates_and_negation():
    q = to_query_dsl(parse_query("entity:MEK AND NOT source:bbc* AND published:[2024-01-01 TO 2024-02-01}"))
    assert q["bool"]["must"][0] == {"term": {"kw.entity": {"value": "mek"}}}
    assert q["bool"]["must_not"] == [{"wildcard": {"kw.source": {"value": "bbc*"}}}]
    rng = q["bool"]["must"][1]["range"]["published_at"]
    assert rng == {"gte": "2024-01-01T00:00:00+00:00", "lt": "2024-02-01T00:00:00+00:00"}


def test_repeated_word_proximity_is_a_superset_even_under_not():
    node = parse_query('"talks talks"~3')
    assert needs_recheck(node) and not needs_recheck(parse_query('"talks after"~3'))
    assert "span_near" in json.dumps(to_query_dsl(node))
    neg = to_query_dsl(parse_query('water NOT "talks talks"~3'))
    # under NOT the inexact clause becomes match-none, so NOT(...) keeps every candidate
    assert neg["bool"]["must_not"] == [{"bool": {"must_not": [{"match_all": {}}]}}]


def test_document_carries_folded_text_and_matcher_keywords():
    a = art("x", title="Ana Manëz", source=Source(name="Le Courrier", domain="courrier.example"),
            entities=[EntityTag(id="ana-manez", name="Ana Manëz", type="person")])
    d = article_document(a)
    assert d["fold"]["title"] == "ana manez"
    assert d["kw"]["entity"] == ["ana manez", "ana-manez"]
    assert d["kw"]["source"] == ["courrier.example", "le courrier"]
    assert d["source_label"] == "Le Courrier" and d["language_label"] == "(unknown)"
    assert Article.from_dict(d).title == "Ana Manëz"


class Scripted(SearchEngineIndex):
    """A FAKE engine: answers from a script, records the requests."""

    engine = "fake"

    def __init__(self, answers):
        super().__init__(prefix="t", backoff=0, max_attempts=3)
        self.answers = list(answers)
        self.calls = []
        self._ready = True

    def _request(self, method, path, *, body=None, params=None):
        self.calls.append((method, path, body))
        if path.endswith("/_search"):  # _locate
            return 200, {"hits": {"hits": []}}
        return self.answers.pop(0)


def _items(*statuses):
    return {"errors": True, "items": [{"index": {"status": s, "error": {"type": "mapper_parsing_exception",
                                                                        "reason": "bad"}} if s >= 300 else {"status": s}}
                                      for s in statuses]}


def test_bulk_retries_on_429_and_only_resends_failed_items():
    ix = Scripted([(429, {}), (200, _items(201, 429)), (200, _items(200))])
    report = ix.write_report([art("a"), art("b")])
    assert report.written == 2
    bulks = [b for m, p, b in ix.calls if p == "/_bulk"]
    assert len(bulks) == 3 and '"_id":"b"' in bulks[2] and '"_id":"a"' not in bulks[2]


def test_permanent_item_failures_are_parked_not_dropped():
    ix = Scripted([(200, _items(200, 400)), (200, {"errors": False, "items": [{"index": {"status": 201}}]})])
    report = ix.write_report([art("a"), art("b")])
    assert report.written == 1 and [p[0] for p in report.parked] == ["b"]
    park = ix.calls[-1][2].splitlines()
    assert json.loads(park[0]) == {"index": {"_index": "t-failed", "_id": "b"}}
    assert json.loads(park[1])["article"]["id"] == "b"


def test_still_busy_after_all_attempts_raises_so_the_batch_is_retried():
    ix = Scripted([(503, {})] * 3)
    with pytest.raises(IndexWriteError):
        ix.write([art("a")])


def test_credentials_never_reach_logs_or_urls(caplog):
    assert split_credentials("https://bob:s3cret@es.example:9243/") == ("https://es.example:9243/", "bob", "s3cret")
    assert auth_headers(None, None, "KEY")["authorization"] == "ApiKey KEY"
    ix = ElasticsearchIndex("http://bob:s3cret@127.0.0.1:1", max_attempts=1)
    assert "s3cret" not in ix.url
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SearchEngineError) as err:
        ix.info()
    assert "s3cret" not in str(err.value) and "s3cret" not in caplog.text


def test_elasticsearch_adapter_refuses_opensearch():
    ix = ElasticsearchIndex("http://127.0.0.1:1")
    with pytest.raises(SearchEngineError, match="NEWSWATCH_INDEX=opensearch"):
        ix.check_engine({"version": {"number": "2.19.1", "distribution": "opensearch"}})
    ix.check_engine({"version": {"number": "8.15.0"}})
