"""What Elasticsearch and OpenSearch have in common, in one place: the index
template and mappings, the documents we send, bulk writes with retries, the
query tree translated to query DSL, searches and aggregations.

The two adapters (:mod:`.elasticsearch`, :mod:`.opensearch`) only supply
``_request`` -- one HTTP call through their official client's transport -- so
every byte of JSON the engines see is built here, and a test against one
engine exercises the code the other runs.

How search stays in agreement with the Python matcher
(:mod:`newswatch.pipeline.query.match`):

- Each text field is indexed a second time *already folded* by
  :func:`newswatch.pipeline.text.fold` (``fold.title`` ...), with an analyzer
  that only splits on runs of characters that are not letters or digits
  (``[^\\p{L}\\p{N}]+``), which is what ``WORD_RE`` (``[^\\W_]+``) does to
  folded text.  So the engine's terms are the matcher's tokens, and query
  tokens (already folded by the parser) are looked up with ``term`` queries,
  never analysed again.
- Keyword fields (``field:value``) are matched on ``kw.*``: exactly the
  values :meth:`DocView.of` computes (entity id OR folded name, source name
  OR domain, ...), computed by the same Python code at index time.
- ``"a b"~N`` is ``span_near`` (unordered, slop N): Lucene's unordered spans
  count "window width minus the tokens" like the matcher does, but let two
  clauses sit on one position, so a proximity with a repeated word
  (``"talks talks"~3``) would also match a single occurrence.  Such queries
  are run as a superset on the engine and checked with the Python matcher
  on the candidates (see :func:`needs_recheck`), so results stay exact.
- Snippets come from :func:`newswatch.pipeline.highlight.snippet`, the same
  as every other backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from newswatch.pipeline.article import Article, ContractError
from newswatch.pipeline.highlight import snippet
from newswatch.pipeline.query.ast import (
    And, DateRange, FieldTerm, MatchAll, Node, Not, Or, Phrase, Term,
)
from newswatch.pipeline.query.match import BODY_FIELDS, DocView, compile_query
from newswatch.pipeline.search import Hit, SearchResult, Stats
from newswatch.pipeline.text import fold

log = logging.getLogger(__name__)

KEYWORD_FIELDS = ("entity", "topic", "source", "language", "feed", "author", "category")
# statuses worth another try, per request and per document
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Lucene refuses terms over 32766 bytes; 8000 characters is under that in UTF-8
MAX_TOKEN_CHARS = 8000
WORD_PATTERN = "[^\\p{L}\\p{N}]+"


class SearchEngineError(RuntimeError):
    """The engine refused a request or could not be reached."""


class IndexWriteError(SearchEngineError):
    """Some documents of a batch could not be written (yet): the batch must be
    retried, which is safe because writes are upserts by id."""


# --------------------------------------------------------------------------- names
@dataclass(frozen=True)
class IndexNames:
    prefix: str = "newswatch"

    @property
    def articles(self) -> str:
        """The read alias over all monthly article indices."""
        return f"{self.prefix}-articles"

    @property
    def articles_pattern(self) -> str:
        return f"{self.prefix}-articles-*"

    def month(self, when: datetime | None) -> str:
        when = when or datetime.now(timezone.utc)
        return f"{self.prefix}-articles-{when.astimezone(timezone.utc):%Y.%m}"

    @property
    def failed(self) -> str:
        """Documents the engine refused, kept (unindexed) for a later retry."""
        return f"{self.prefix}-failed"

    @property
    def feeds(self) -> str:
        return f"{self.prefix}-feeds"

    @property
    def claims(self) -> str:
        return f"{self.prefix}-alert-claims"

    @property
    def outbox(self) -> str:
        return f"{self.prefix}-alert-outbox"


# --------------------------------------------------------------------------- mappings
def analysis() -> dict[str, Any]:
    return {
        "tokenizer": {"nw_words": {"type": "pattern", "pattern": WORD_PATTERN}},
        "filter": {"nw_max_len": {"type": "length", "max": MAX_TOKEN_CHARS}},
        "analyzer": {
            # for fold.*: the text is folded in Python; only split here
            "nw_folded": {"type": "custom", "tokenizer": "nw_words", "filter": ["nw_max_len"]},
            # for the original text fields Kibana users search: case- and
            # accent-insensitive, language-neutral (no stemming, no stopwords)
            "nw_display": {
                "type": "custom", "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding", "nw_max_len"],
            },
        },
    }


_KW = {"type": "keyword", "ignore_above": 1024}


def article_mappings() -> dict[str, Any]:
    text = {"type": "text", "analyzer": "nw_display"}
    folded = {"type": "text", "analyzer": "nw_folded"}
    return {
        # new Article fields stay in _source without changing the mapping
        "dynamic": False,
        # fold.* and kw.* are derived from the article: not stored twice
        "_source": {"excludes": ["fold.*", "kw.*"]},
        "properties": {
            "schema_version": {"type": "integer"},
            "id": {"type": "keyword"},
            "story_id": {"type": "keyword"},
            "duplicate_of": {"type": "keyword"},
            "url": {"type": "keyword", "index": False, "doc_values": False},
            "canonical_url": {"type": "keyword", "ignore_above": 2048},
            "guid": {"type": "keyword", "ignore_above": 2048},
            "feed_id": {"type": "keyword"},
            "source": {"properties": {"name": {"type": "keyword"}, "domain": {"type": "keyword"}}},
            "source_label": {"type": "keyword"},
            "title": {**text, "fields": {"keyword": {"type": "keyword", "ignore_above": 512}}},
            "summary": text,
            "content": text,
            "content_format": {"type": "keyword"},
            # nanoseconds keep the microseconds the matcher compares with
            "published_at": {"type": "date_nanos"},
            "published_flag": {"type": "keyword"},
            "fetched_at": {"type": "date"},
            "enriched_at": {"type": "date"},
            "language": {"type": "keyword"},
            "language_label": {"type": "keyword"},
            "language_hint": {"type": "keyword"},
            "authors": _KW,
            "categories": _KW,
            "feed_tags": _KW,
            "entities": {
                "properties": {
                    "id": {"type": "keyword"},
                    "name": {"type": "keyword"},
                    "type": {"type": "keyword"},
                    "count": {"type": "integer"},
                    "matches": {"type": "object", "enabled": False},
                }
            },
            "topics": {
                "properties": {
                    "id": {"type": "keyword"},
                    "name": {"type": "keyword"},
                    "score": {"type": "float"},
                    "evidence": {"type": "keyword", "index": False, "doc_values": False},
                }
            },
            "content_hash": {"type": "keyword"},
            "fold": {"properties": {f: folded for f in BODY_FIELDS}},
            "kw": {"properties": {f: _KW for f in KEYWORD_FIELDS}},
        },
    }


def article_template(names: IndexNames) -> dict[str, Any]:
    return {
        "index_patterns": [names.articles_pattern],
        "priority": 100,
        "template": {
            "settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1", "analysis": analysis()},
            "mappings": article_mappings(),
            "aliases": {names.articles: {}},
        },
        "_meta": {"managed_by": "newswatch", "schema": 1},
    }


FAILED_MAPPINGS = {
    "dynamic": False,
    "properties": {
        "article_id": {"type": "keyword"},
        "index": {"type": "keyword"},
        "status": {"type": "integer"},
        "error_type": {"type": "keyword"},
        "reason": {"type": "text"},
        "failed_at": {"type": "date"},
        "attempts": {"type": "integer"},
        "article": {"type": "object", "enabled": False},
    },
}

FEED_MAPPINGS = {
    "dynamic": False,
    "properties": {
        "id": {"type": "keyword"},
        "name": {"type": "keyword"},
        "url": {"type": "keyword"},
        "enabled": {"type": "boolean"},
        "health": {"type": "keyword"},
        "last_attempt": {"type": "date"},
        "last_success": {"type": "date"},
        "consecutive_errors": {"type": "integer"},
        "last_error": {"type": "text"},
        "items_last_poll": {"type": "integer"},
        "new_items_last_poll": {"type": "integer"},
        "seen_items": {"type": "integer"},
        "updated_at": {"type": "date"},
    },
}


# --------------------------------------------------------------------------- documents
def _label(value: str | None) -> str:
    return value or "(unknown)"


def article_document(article: Article) -> dict[str, Any]:
    """What we index for *article*: the article itself (so ``_source`` gives it
    back) plus the derived fields search and dashboards use."""
    doc = article.to_dict()
    view = DocView.of(article)
    doc["story_id"] = article.story_id
    doc["source_label"] = _label(article.source.name or article.source.domain)
    doc["language_label"] = _label(article.language)
    doc["fold"] = {f: fold(getattr(article, f) or "") for f in BODY_FIELDS}
    doc["kw"] = {f: sorted(view.keywords[f]) for f in KEYWORD_FIELDS}
    return doc


def article_from_source(source: dict[str, Any]) -> Article | None:
    try:
        return Article.from_dict(source)
    except ContractError:
        log.warning("index holds a document this version cannot read as an Article; skipped", exc_info=True)
        return None


def feed_document(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A feed health row (ingest's ``feed_health``) as an indexed document.
    Unknown keys are kept in _source; the few the dashboard needs are mapped."""
    doc = {k: v for k, v in row.items() if v is not None}
    items = row.get("items_last_poll", row.get("last_items", row.get("items_per_poll")))
    if items is not None:
        doc["items_last_poll"] = items
    doc["updated_at"] = now.isoformat()
    return json.loads(json.dumps(doc, default=str))


def ndjson(lines: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(x, ensure_ascii=False, separators=(",", ":")) + "\n" for x in lines)


def stable_doc_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- queries
_MATCH_NONE = {"bool": {"must_not": [{"match_all": {}}]}}


def needs_recheck(node: Node) -> bool:
    """True when the engine can only give a superset and the Python matcher
    must confirm each candidate: a proximity phrase repeating a word."""
    if isinstance(node, Phrase):
        return node.slop > 0 and len(set(node.tokens)) < len(node.tokens)
    if isinstance(node, (And, Or)):
        return any(needs_recheck(c) for c in node.children)
    if isinstance(node, Not):
        return needs_recheck(node.child)
    return False


def _fields(field_name: str) -> tuple[str, ...]:
    return BODY_FIELDS if field_name == "text" else (field_name,)


def _any(queries: list[dict[str, Any]]) -> dict[str, Any]:
    return queries[0] if len(queries) == 1 else {"bool": {"should": queries, "minimum_should_match": 1}}


def _date(d: datetime) -> str:
    return d.astimezone(timezone.utc).isoformat()


def to_query_dsl(node: Node, *, positive: bool = True) -> dict[str, Any]:
    """The query DSL for *node*.  *positive* is False under an odd number of
    NOTs: there an inexact (superset) clause must become a subset instead,
    so that the whole query stays a superset (see :func:`needs_recheck`)."""
    if isinstance(node, Term):
        if node.wildcard:
            return _any([{"wildcard": {f"fold.{f}": {"value": node.token}}} for f in _fields(node.field)])
        return _any([{"term": {f"fold.{f}": node.token}} for f in _fields(node.field)])
    if isinstance(node, Phrase):
        if node.slop == 0:
            return _any([
                {"match_phrase": {f"fold.{f}": {"query": " ".join(node.tokens), "analyzer": "nw_folded"}}}
                for f in _fields(node.field)
            ])
        if not positive and len(set(node.tokens)) < len(node.tokens):
            return _MATCH_NONE
        return _any([
            {"span_near": {
                "clauses": [{"span_term": {f"fold.{f}": t}} for t in node.tokens],
                "slop": node.slop, "in_order": False,
            }}
            for f in _fields(node.field)
        ])
    if isinstance(node, FieldTerm):
        kind = "wildcard" if node.wildcard else "term"
        return {kind: {f"kw.{node.field}": {"value": node.value}}}
    if isinstance(node, DateRange):
        rng: dict[str, str] = {}
        if node.start is not None:
            rng["gte" if node.include_start else "gt"] = _date(node.start)
        if node.end is not None:
            rng["lte" if node.include_end else "lt"] = _date(node.end)
        if not rng:
            return {"exists": {"field": "published_at"}}
        return {"range": {"published_at": rng}}
    if isinstance(node, And):
        must, must_not = [], []
        for c in node.children:
            if isinstance(c, Not):
                must_not.append(to_query_dsl(c.child, positive=not positive))
            else:
                must.append(to_query_dsl(c, positive=positive))
        body: dict[str, Any] = {"must": must}
        if must_not:
            body["must_not"] = must_not
        return {"bool": body}
    if isinstance(node, Or):
        return {"bool": {"should": [to_query_dsl(c, positive=positive) for c in node.children],
                         "minimum_should_match": 1}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [to_query_dsl(node.child, positive=not positive)]}}
    if isinstance(node, MatchAll):
        return {"match_all": {}}
    raise TypeError(f"unknown query node {node!r}")


def search_filter(
    node: Node, *, since: datetime | None = None, until: datetime | None = None,
    include_duplicates: bool = True,
) -> dict[str, Any]:
    """The complete query: the tree plus the CLI's time window (*since*
    inclusive, *until* exclusive, as in the SQLite backend)."""
    filters: list[dict[str, Any]] = []
    rng: dict[str, str] = {}
    if since is not None:
        rng["gte"] = _date(since)
    if until is not None:
        rng["lt"] = _date(until)
    if rng:
        filters.append({"range": {"published_at": rng}})
    body: dict[str, Any] = {"must": [to_query_dsl(node)]}
    if filters:
        body["filter"] = filters
    if not include_duplicates:
        body["must_not"] = [{"exists": {"field": "duplicate_of"}}]
    return {"bool": body}


def sort_clause(sort: str) -> list[Any]:
    by_date = [{"published_at": {"order": "desc", "missing": "_last"}}, {"id": {"order": "asc"}}]
    if sort == "date":
        return by_date
    if sort == "relevance":
        return ["_score", *by_date]
    raise ValueError(f"sort must be 'date' or 'relevance', not {sort!r}")


def stats_aggregations(top: int) -> dict[str, Any]:
    size = max(1, top)

    def terms(f: str) -> dict[str, Any]:
        return {"terms": {"field": f, "size": size, "order": [{"_count": "desc"}, {"_key": "asc"}]}}

    return {
        "per_day": {"date_histogram": {"field": "published_at", "calendar_interval": "day",
                                       "format": "yyyy-MM-dd", "min_doc_count": 1}},
        "per_entity": terms("entities.id"),
        "per_topic": terms("topics.id"),
        "per_source": terms("source_label"),
        "per_language": terms("language_label"),
        # exact below precision_threshold (the engines' maximum), approximate above
        "stories": {"cardinality": {"field": "story_id", "precision_threshold": 40000}},
    }


# --------------------------------------------------------------------------- the backend
@dataclass
class WriteReport:
    written: int = 0
    retried: int = 0
    parked: list[tuple[str, str]] = field(default_factory=list)  # (article id, reason)


class SearchEngineIndex:
    """Sink and search backend over one Elasticsearch/OpenSearch cluster.

    Subclasses implement :meth:`_request`; everything else is shared."""

    name = "search-engine"
    engine = "search-engine"

    def __init__(self, *, prefix: str = "newswatch", max_attempts: int = 5, backoff: float = 0.5,
                 refresh: bool = False):
        self.names = IndexNames(prefix)
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        # refresh=True makes each write visible at once (tests, demo); leave
        # it off in the pipeline, where the engine's refresh interval is fine
        self.refresh = refresh
        self._ready = False
        self._dirty = False  # written since the last read: refresh first (read-your-writes)
        self.version = ""

    # -- transport (adapters) ------------------------------------------------
    def _request(self, method: str, path: str, *, body: Any = None,
                 params: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One HTTP request; returns (status, parsed body) for any HTTP status,
        raises SearchEngineError when the engine cannot be reached."""
        raise NotImplementedError

    def call(self, method: str, path: str, *, body: Any = None,
             params: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One request, any status back (the alert ledger builds on this)."""
        return self._request(method, path, body=body, params=params)

    def request(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None,
                ok: Iterable[int] = ()) -> Any:
        """A request that must succeed (2xx or a status in *ok*), retried on 429/5xx."""
        allowed = set(ok)
        for attempt in range(self.max_attempts):
            status, resp = self._request(method, path, body=body, params=params)
            if 200 <= status < 300 or status in allowed:
                return resp
            if status in RETRY_STATUSES and attempt + 1 < self.max_attempts:
                time.sleep(self.backoff * 2**attempt)
                continue
            raise SearchEngineError(f"{self.engine}: {method} {path} -> HTTP {status}: {_reason(resp)}")
        raise AssertionError("unreachable")

    # -- setup ----------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return self.request("GET", "/")

    def ensure_setup(self) -> None:
        """Install the index template and the side indices (idempotent)."""
        if self._ready:
            return
        info = self.info()
        self.version = str(info.get("version", {}).get("number", ""))
        self.check_engine(info)
        self.request("PUT", f"/_index_template/{self.names.prefix}-articles", body=article_template(self.names))
        for name, mappings in ((self.names.failed, FAILED_MAPPINGS), (self.names.feeds, FEED_MAPPINGS)):
            self.ensure_index(name, mappings)
        self._ready = True

    def check_engine(self, info: dict[str, Any]) -> None:
        """Adapters refuse an engine they were not written for."""

    def ensure_index(self, name: str, mappings: dict[str, Any]) -> None:
        status, _ = self._request("HEAD", f"/{name}")
        if status == 200:
            return
        body = {"settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1"}, "mappings": mappings}
        # 400 resource_already_exists: another worker won the race; fine
        self.request("PUT", f"/{name}", body=body, ok=(400,))

    def refresh_all(self) -> None:
        self.request("POST", f"/{self.names.prefix}-*/_refresh", params={"ignore_unavailable": "true",
                                                                        "allow_no_indices": "true"})

    def drop_all(self) -> None:
        """Delete every index and the template under this prefix (tests, `reset`)."""
        status, resp = self._request("GET", f"/_cat/indices/{self.names.prefix}-*", params={"format": "json"})
        for row in resp if status == 200 and isinstance(resp, list) else []:
            self.request("DELETE", f"/{row['index']}", ok=(404,))
        self.request("DELETE", f"/_index_template/{self.names.prefix}-articles", ok=(404,))
        self._ready = False

    # -- writing ------------------------------------------------------------
    def write(self, batch: Sequence[Article]) -> None:
        self.write_report(batch)

    def write_report(self, batch: Sequence[Article]) -> WriteReport:
        """Upsert *batch*.  Documents the engine refuses for good (a mapping
        error, say) are parked in ``<prefix>-failed`` and logged -- not
        dropped, see :meth:`retry_failed`; documents that still fail for a
        passing reason after the retries make this raise, so the transport
        retries the batch."""
        if not batch:
            return WriteReport()
        self.ensure_setup()
        latest = {a.id: a for a in batch}  # the last version of an id wins
        where = self._locate(list(latest))
        actions = [
            ({"index": {"_index": where.get(a.id) or self.names.month(a.published_at or a.fetched_at),
                        "_id": a.id}}, article_document(a), a)
            for a in latest.values()
        ]
        report = WriteReport()
        pending = actions
        failures: list[tuple[tuple, dict[str, Any]]] = []
        for attempt in range(self.max_attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
                report.retried += len(pending)
            body = ndjson(x for meta, doc, _ in pending for x in (meta, doc))
            status, resp = self._request("POST", "/_bulk", body=body,
                                         params={"refresh": "true"} if self.refresh else None)
            if status in RETRY_STATUSES:
                log.warning("%s: bulk of %d answered HTTP %d; retrying", self.engine, len(pending), status)
                continue
            if not 200 <= status < 300:
                raise IndexWriteError(f"{self.engine}: bulk write refused, HTTP {status}: {_reason(resp)}")
            again = []
            failures = []
            for action, item in zip(pending, resp.get("items", [])):
                result = next(iter(item.values()))
                st = int(result.get("status", 500))
                if st < 300:
                    report.written += 1
                elif st in RETRY_STATUSES:
                    again.append(action)
                else:
                    failures.append((action, result))
            if failures:
                self._park(failures, report)
            pending = again
            if not pending:
                break
        self._dirty = True
        if pending:
            raise IndexWriteError(
                f"{self.engine}: {len(pending)} of {len(actions)} documents still refused after "
                f"{self.max_attempts} attempts (engine busy?); the batch will be retried"
            )
        return report

    def _locate(self, ids: list[str]) -> dict[str, str]:
        """Which monthly index already holds each id, so an update lands on
        the same document even if the publication date moved."""
        status, resp = self._request(
            "POST", f"/{self.names.articles}/_search",
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
            body={"query": {"ids": {"values": ids}}, "size": len(ids), "_source": False},
        )
        if status == 404:
            return {}
        if not 200 <= status < 300:
            raise IndexWriteError(f"{self.engine}: cannot look up existing documents, HTTP {status}: "
                                  f"{_reason(resp)}")
        return {h["_id"]: h["_index"] for h in resp["hits"]["hits"]}

    def _park(self, failures: list[tuple[tuple, dict[str, Any]]], report: WriteReport) -> None:
        now = datetime.now(timezone.utc).isoformat()
        lines = []
        for (meta, _doc, article), result in failures:
            err = result.get("error") or {}
            reason = f"{err.get('type', 'error')}: {err.get('reason', '')}"
            caused = err.get("caused_by")
            if isinstance(caused, dict):
                reason += f" ({caused.get('type')}: {caused.get('reason')})"
            log.error("%s refused article %s (%s) for good: %s -- kept in index %s for `retry_failed`",
                      self.engine, article.id, article.url, reason, self.names.failed)
            report.parked.append((article.id, reason))
            lines.append({"index": {"_index": self.names.failed, "_id": article.id}})
            lines.append({"article_id": article.id, "index": meta["index"]["_index"],
                          "status": result.get("status"), "error_type": err.get("type"),
                          "reason": reason[:4000], "failed_at": now, "article": article.to_dict()})
        resp = self.request("POST", "/_bulk", body=ndjson(lines), params={"refresh": "true"})
        if resp.get("errors"):
            # nowhere safe to keep them: make the batch fail instead of losing it
            raise IndexWriteError(f"{self.engine}: could not keep refused documents in {self.names.failed}")

    def failed(self, limit: int = 100) -> list[dict[str, Any]]:
        """Parked documents: id, reason, when."""
        self.ensure_setup()
        resp = self.request("POST", f"/{self.names.failed}/_search",
                            body={"size": limit, "sort": [{"failed_at": "desc"}], "_source": {"excludes": ["article"]}})
        return [h["_source"] for h in resp["hits"]["hits"]]

    def retry_failed(self) -> tuple[int, int]:
        """Write parked documents again (after the mapping or data was fixed);
        returns (written, still failing)."""
        self.ensure_setup()
        self.request("POST", f"/{self.names.failed}/_refresh")
        resp = self.request("POST", f"/{self.names.failed}/_search", body={"size": 1000})
        articles = [a for h in resp["hits"]["hits"]
                    if (a := article_from_source(h["_source"].get("article") or {})) is not None]
        if not articles:
            return 0, 0
        report = self.write_report(articles)  # refused again -> parked again (same id)
        still = {aid for aid, _ in report.parked}
        for a in articles:
            if a.id not in still:
                self.request("DELETE", f"/{self.names.failed}/_doc/{a.id}", params={"refresh": "true"}, ok=(404,))
        return report.written, len(still)

    # -- feed health -----------------------------------------------------------
    def write_feed_health(self, rows: Sequence[dict[str, Any]], now: datetime | None = None) -> int:
        """Index ingest's per-feed health rows (id = feed id), so a feed that
        answers but yields nothing is visible on the dashboard."""
        if not rows:
            return 0
        self.ensure_setup()
        now = now or datetime.now(timezone.utc)
        lines = []
        for row in rows:
            fid = str(row.get("id") or row.get("feed_id") or "")
            if not fid:
                continue
            lines.append({"index": {"_index": self.names.feeds, "_id": fid}})
            lines.append(feed_document({**row, "id": fid}, now))
        resp = self.request("POST", "/_bulk", body=ndjson(lines), params={"refresh": "true"})
        bad = [next(iter(i.values())) for i in resp.get("items", []) if next(iter(i.values()))["status"] >= 300]
        if bad:
            raise IndexWriteError(f"{self.engine}: {len(bad)} feed health documents refused: {bad[0].get('error')}")
        return len(lines) // 2

    # -- reading ------------------------------------------------------------
    def search(
        self,
        query: Node,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        sort: Literal["date", "relevance"] = "date",
        include_duplicates: bool = True,
    ) -> SearchResult:
        self.ensure_setup()
        limit = max(0, int(limit))
        q = search_filter(query, since=since, until=until, include_duplicates=include_duplicates)
        order = sort_clause(sort)
        if needs_recheck(query):
            return self._search_rechecked(query, q, order, limit)
        resp = self._search({"query": q, "size": limit, "sort": order, "track_total_hits": True,
                             "track_scores": True})
        hits = []
        for h in resp["hits"]["hits"]:
            article = article_from_source(h["_source"])
            if article is not None:
                hits.append(Hit(article, float(h.get("_score") or 0.0), snippet(article, query)))
        return SearchResult(hits, int(resp["hits"]["total"]["value"]))

    def _search_rechecked(self, query: Node, q: dict[str, Any], order: list[Any], limit: int) -> SearchResult:
        matcher = compile_query(query)
        hits: list[Hit] = []
        total = 0
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"query": q, "size": 500, "sort": order, "track_scores": True}
            if after is not None:
                body["search_after"] = after
            page = self._search(body)["hits"]["hits"]
            for h in page:
                article = article_from_source(h["_source"])
                if article is None or not matcher.matches(DocView.of(article)):
                    continue
                total += 1
                if len(hits) < limit:
                    hits.append(Hit(article, float(h.get("_score") or 0.0), snippet(article, query)))
            if len(page) < 500:
                return SearchResult(hits, total)
            after = page[-1]["sort"]

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._dirty and not self.refresh:
            self.refresh_all()
        self._dirty = False
        return self.request("POST", f"/{self.names.articles}/_search", body=body,
                            params={"ignore_unavailable": "true", "allow_no_indices": "true"})

    def ids(self, query: Node, *, limit: int = 10_000) -> list[str]:
        """Every matching article id (differential tests, backtests)."""
        return [h.article.id for h in self.search(query, limit=limit).hits]

    def get(self, ids: Sequence[str]) -> list[Article]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        self.ensure_setup()
        found: dict[str, Article] = {}
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            resp = self._search({"query": {"ids": {"values": chunk}}, "size": len(chunk)})
            for h in resp["hits"]["hits"]:
                a = article_from_source(h["_source"])
                if a is not None:
                    found[h["_id"]] = a
        return [found[i] for i in ids if i in found]

    def count(self) -> int:
        self.ensure_setup()
        if self._dirty and not self.refresh:
            self.refresh_all()
        self._dirty = False
        resp = self.request("POST", f"/{self.names.articles}/_count",
                            params={"ignore_unavailable": "true", "allow_no_indices": "true"})
        return int(resp.get("count", 0))

    def stats(self, *, since: datetime | None = None, top: int = 10) -> Stats:
        """Coverage counts by aggregations (duplicates included, as in SQLite)."""
        self.ensure_setup()
        query = {"range": {"published_at": {"gte": _date(since)}}} if since else {"match_all": {}}
        resp = self._search({"query": query, "size": 0, "track_total_hits": True,
                             "aggs": stats_aggregations(top)})
        aggs = resp.get("aggregations", {})

        def pairs(name: str) -> list[tuple[str, int]]:
            if top <= 0 and name != "per_day":
                return []
            return [(str(b.get("key_as_string", b["key"])), int(b["doc_count"]))
                    for b in aggs.get(name, {}).get("buckets", [])]

        stories = aggs.get("stories", {}).get("value")
        return Stats(int(resp["hits"]["total"]["value"]), pairs("per_day"), pairs("per_entity"),
                     pairs("per_topic"), pairs("per_source"), pairs("per_language"),
                     stories=int(stories) if stories is not None else None)

    def close(self) -> None:
        pass


def _reason(resp: Any) -> str:
    if isinstance(resp, dict):
        err = resp.get("error", resp)
        if isinstance(err, dict):
            root = (err.get("root_cause") or [{}])[0]
            return f"{err.get('type', '')}: {err.get('reason', '')}" + (
                f" [{root.get('reason')}]" if root.get("reason") and root.get("reason") != err.get("reason") else "")
        return str(err)[:500]
    return str(resp)[:500]
