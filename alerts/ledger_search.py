"""The alert ledger on Elasticsearch/OpenSearch, shared by several alert
workers (distributed mode).  Implements :class:`newswatch.alerts.ledger.Ledger`.

- **Claims** (``<prefix>-alert-claims``): one document per (rule, story) with
  a deterministic id, written with ``_create`` (``op_type=create``).  The
  engine creates a given id once; every other attempt gets HTTP 409, so of
  several workers racing on a story exactly one wins -- the same guarantee as
  the SQLite ledger's primary key.  The claim carries its deliveries, so a
  worker that dies right after winning leaves nothing lost: :meth:`due`
  re-creates missing outbox documents from such claims.
- **Outbox** (``<prefix>-alert-outbox``): one document per delivery
  (deterministic id from rule, story, channel, recipient).  :meth:`due`
  leases each pending entry with an optimistic-concurrency update
  (``if_seq_no``/``if_primary_term``) so two workers flushing at once never
  send the same entry; a lease expires after :attr:`lease` if its worker dies.

Alerts never import the index stage: the composition root passes the search
backend (anything with ``call(method, path, body=, params=) -> (status,
body)``, i.e. :class:`newswatch.index.search_engine.SearchEngineIndex`).

Writes use ``refresh=true``: alert volume is small and :meth:`due` must see
what was just claimed.  Limits: the throttle (:meth:`sent_times`) reads what
the other workers have sent so far, so two workers sending in the same second
can exceed a rule's rate by one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from newswatch.alerts.items import AlertItem, NewDelivery, OutboxEntry

log = logging.getLogger(__name__)

_DATE = {"type": "date"}
_KEY = {"type": "keyword"}
CLAIM_MAPPINGS = {
    "dynamic": False,
    "properties": {"rule_id": _KEY, "story_id": _KEY, "article_id": _KEY, "claimed_at": _DATE,
                   "outbox_written": {"type": "boolean"},
                   "deliveries": {"type": "object", "enabled": False}},
}
OUTBOX_MAPPINGS = {
    "dynamic": False,
    "properties": {
        "rule_id": _KEY, "story_id": _KEY, "article_id": _KEY, "channel": _KEY, "recipient": _KEY,
        "kind": _KEY, "status": _KEY, "created_at": _DATE, "due_at": _DATE, "next_attempt": _DATE,
        "attempts": {"type": "integer"}, "last_error": {"type": "text"}, "sent_at": _DATE,
        "message_id": _KEY, "lease_until": _DATE, "sort_at": _DATE,
        # for the dashboard's "latest alerts"
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 512}}},
        "source": _KEY, "url": {"type": "keyword", "index": False},
        "item": {"type": "keyword", "index": False, "doc_values": False},
    },
}


class EngineCall(Protocol):
    def call(self, method: str, path: str, *, body: Any = None,
             params: dict[str, Any] | None = None) -> tuple[int, Any]: ...


class LedgerError(RuntimeError):
    pass


def _id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def _iso(d: datetime | None) -> str | None:
    return d.astimezone(timezone.utc).isoformat() if d is not None else None


def _dt(s: str | None) -> datetime | None:
    if not s:
        return None
    d = datetime.fromisoformat(s)
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _ndjson(lines: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines)


class SearchLedger:
    """See the module docstring."""

    def __init__(self, engine: EngineCall, *, prefix: str = "newswatch", lease: timedelta = timedelta(minutes=5),
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.engine = engine
        # Leases run on this clock, read afresh in due(): the caller's `now`
        # may be stale (taken before a long claim loop) or simulated.
        self.clock = clock
        self.claims = f"{prefix}-alert-claims"
        self.outbox = f"{prefix}-alert-outbox"
        self.lease = lease
        self._ready = False

    # -- plumbing -----------------------------------------------------------
    def _call(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None,
              ok: Iterable[int] = ()) -> tuple[int, Any]:
        status, resp = self.engine.call(method, path, body=body, params=params)
        if not (200 <= status < 300 or status in set(ok)):
            raise LedgerError(f"alert ledger: {method} {path} -> HTTP {status}: {str(resp)[:500]}")
        return status, resp

    def _setup(self) -> None:
        if self._ready:
            return
        for name, mappings in ((self.claims, CLAIM_MAPPINGS), (self.outbox, OUTBOX_MAPPINGS)):
            status, _ = self.engine.call("HEAD", f"/{name}")
            if status != 200:
                body = {"settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1"}, "mappings": mappings}
                self._call("PUT", f"/{name}", body=body, ok=(400,))  # 400: another worker created it
        self._ready = True

    def _search(self, index: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        self._setup()
        _, resp = self._call("POST", f"/{index}/_search", body=body)
        return resp["hits"]["hits"]

    def _bulk(self, lines: list[dict[str, Any]], ok: Iterable[int] = ()) -> list[dict[str, Any]]:
        if not lines:
            return []
        _, resp = self._call("POST", "/_bulk", body=_ndjson(lines), params={"refresh": "true"})
        items = [next(iter(i.values())) for i in resp.get("items", [])]
        allowed = set(ok)
        bad = [i for i in items if i["status"] >= 300 and i["status"] not in allowed]
        if bad:
            raise LedgerError(f"alert ledger: {len(bad)} writes refused: {bad[0].get('error')}")
        return items

    # -- claiming -----------------------------------------------------------
    def claim(self, rule_id: str, story_id: str, article_id: str,
              deliveries: Sequence[NewDelivery], now: datetime) -> bool:
        self._setup()
        cid = _id(rule_id, story_id)
        doc = {
            "rule_id": rule_id, "story_id": story_id, "article_id": article_id, "claimed_at": _iso(now),
            "outbox_written": False,
            "deliveries": [{"channel": d.channel, "recipient": d.recipient, "kind": d.kind,
                            "due_at": _iso(d.due_at), "item": d.item.to_json()} for d in deliveries],
        }
        status, _ = self._call("PUT", f"/{self.claims}/_create/{cid}", body=doc, params={"refresh": "true"},
                               ok=(409,))
        if status == 409:
            return False
        self._materialize(cid, doc)
        return True

    def _materialize(self, cid: str, claim: dict[str, Any]) -> None:
        """Outbox documents for a won claim (create: never resets a delivery
        another worker already advanced)."""
        created = claim["claimed_at"]
        lines: list[dict[str, Any]] = []
        for d in claim.get("deliveries", []):
            item = AlertItem.from_json(d["item"])
            oid = _id(claim["rule_id"], claim["story_id"], d["channel"], d["recipient"])
            lines.append({"create": {"_index": self.outbox, "_id": oid}})
            lines.append({
                "rule_id": claim["rule_id"], "story_id": claim["story_id"], "article_id": claim["article_id"],
                "channel": d["channel"], "recipient": d["recipient"], "kind": d["kind"], "status": "pending",
                "created_at": created, "due_at": d["due_at"], "next_attempt": d["due_at"], "attempts": 0,
                "last_error": None, "sent_at": None, "message_id": None, "sort_at": created,
                "title": item.title, "source": item.source, "url": item.url, "item": d["item"],
            })
        self._bulk(lines, ok=(409,))
        self._call("POST", f"/{self.claims}/_update/{cid}", body={"doc": {"outbox_written": True}},
                   params={"refresh": "true"})

    def _repair(self) -> None:
        """Finish claims whose worker died before writing their outbox."""
        for h in self._search(self.claims, {"size": 100, "query": {"term": {"outbox_written": False}}}):
            log.warning("alert ledger: completing the outbox of claim %s (rule %s, story %s)",
                        h["_id"], h["_source"]["rule_id"], h["_source"]["story_id"])
            self._materialize(h["_id"], h["_source"])

    def alerted(self, rule_id: str, story_ids: Iterable[str]) -> set[str]:
        self._setup()
        ids = {_id(rule_id, s): s for s in dict.fromkeys(story_ids)}
        if not ids:
            return set()
        _, resp = self._call("POST", f"/{self.claims}/_mget", body={"ids": list(ids)}, params={"_source": "false"})
        return {ids[d["_id"]] for d in resp["docs"] if d.get("found")}

    # -- the outbox -----------------------------------------------------------
    def due(self, now: datetime, limit: int = 1000) -> list[OutboxEntry]:
        """Pending entries whose time has come, each leased to this caller."""
        self._setup()
        self._repair()
        hits = self._search(self.outbox, {
            "size": limit, "seq_no_primary_term": True,
            "sort": [{"created_at": "asc"}],
            "query": {"bool": {
                "filter": [{"term": {"status": "pending"}}, {"range": {"next_attempt": {"lte": _iso(now)}}}],
                "must_not": [{"range": {"lease_until": {"gt": _iso(self.clock())}}}],
            }},
        })
        out = []
        for h in hits:
            until = _iso(self.clock() + self.lease)
            status, _ = self._call(
                "POST", f"/{self.outbox}/_update/{h['_id']}", body={"doc": {"lease_until": until}},
                params={"if_seq_no": h["_seq_no"], "if_primary_term": h["_primary_term"], "refresh": "true"},
                ok=(409,))
            if status != 409:  # 409: another worker leased it first
                out.append(self._entry(h["_id"], h["_source"]))
        return out

    def _get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self._setup()
        if not ids:
            return {}
        _, resp = self._call("POST", f"/{self.outbox}/_mget", body={"ids": list(ids)})
        return {d["_id"]: d["_source"] for d in resp["docs"] if d.get("found")}

    def _update(self, changes: dict[str, dict[str, Any]]) -> None:
        lines: list[dict[str, Any]] = []
        for oid, doc in changes.items():
            lines.append({"update": {"_index": self.outbox, "_id": oid}})
            lines.append({"doc": doc})
        self._bulk(lines)

    def mark_sent(self, ids: Sequence[str], message_id: str, now: datetime) -> None:
        current = self._get(ids)
        self._update({oid: {"status": "sent", "sent_at": _iso(now), "sort_at": _iso(now), "message_id": message_id,
                            "attempts": int(src.get("attempts") or 0) + 1, "last_error": None, "lease_until": None}
                      for oid, src in current.items()})

    _RETRY_SCRIPT = (
        "if (ctx._source.status == 'sent') { ctx.op = 'noop'; return; } "
        "ctx._source.status = params.status; ctx._source.next_attempt = params.next_attempt; "
        "ctx._source.last_error = params.error; ctx._source.lease_until = null; "
        "ctx._source.attempts = (ctx._source.attempts == null ? 0 : ctx._source.attempts) + params.inc;"
    )

    def mark_retry(self, ids: Sequence[str], error: str | None, next_attempt: datetime, *,
                   count_attempt: bool = True, give_up: bool = False) -> None:
        """A conditional update (script): an entry already sent stays sent,
        whatever a late or duplicate failure report says."""
        self._setup()
        params = {"status": "failed" if give_up else "pending", "next_attempt": _iso(next_attempt),
                  "error": error, "inc": 1 if count_attempt else 0}
        lines: list[dict[str, Any]] = []
        for oid in dict.fromkeys(ids):
            lines.append({"update": {"_index": self.outbox, "_id": oid}})
            lines.append({"script": {"lang": "painless", "source": self._RETRY_SCRIPT, "params": params}})
        self._bulk(lines, ok=(404,))  # 404: no such entry (as before: ignored)

    def sent_times(self, rule_id: str, channel: str, recipient: str, since: datetime) -> list[datetime]:
        hits = self._search(self.outbox, {"size": 10_000, "_source": ["message_id", "sent_at"], "query": {"bool": {
            "filter": [{"term": {"rule_id": rule_id}}, {"term": {"channel": channel}},
                       {"term": {"recipient": recipient}}, {"term": {"status": "sent"}},
                       {"range": {"sent_at": {"gte": _iso(since)}}}]}}})
        first: dict[str, datetime] = {}
        for h in hits:
            src = h["_source"]
            t = _dt(src.get("sent_at"))
            if t is None:
                continue
            key = src.get("message_id") or h["_id"]
            if key not in first or t < first[key]:
                first[key] = t
        return sorted(first.values())

    def entries(self, *, status: str | None = None, rule_id: str | None = None,
                limit: int = 50) -> list[OutboxEntry]:
        filters = []
        if status:
            filters.append({"term": {"status": status}})
        if rule_id:
            filters.append({"term": {"rule_id": rule_id}})
        hits = self._search(self.outbox, {"size": limit, "sort": [{"sort_at": "desc"}],
                                          "query": {"bool": {"filter": filters}}})
        return [self._entry(h["_id"], h["_source"]) for h in hits]

    def requeue_failed(self, now: datetime, rule_id: str | None = None) -> int:
        filters: list[dict[str, Any]] = [{"term": {"status": "failed"}}]
        if rule_id:
            filters.append({"term": {"rule_id": rule_id}})
        hits = self._search(self.outbox, {"size": 10_000, "_source": False, "query": {"bool": {"filter": filters}}})
        self._update({h["_id"]: {"status": "pending", "next_attempt": _iso(now), "attempts": 0, "lease_until": None}
                      for h in hits})
        return len(hits)

    def counts(self) -> dict[str, int]:
        self._setup()
        _, resp = self._call("POST", f"/{self.outbox}/_search", body={
            "size": 0, "aggs": {"status": {"terms": {"field": "status", "size": 10}}}})
        _, claimed = self._call("POST", f"/{self.claims}/_count")
        out = {"pending": 0, "sent": 0, "failed": 0}
        out.update({b["key"]: int(b["doc_count"]) for b in resp["aggregations"]["status"]["buckets"]})
        out["claimed"] = int(claimed["count"])
        return out

    def close(self) -> None:
        pass

    @staticmethod
    def _entry(oid: str, s: dict[str, Any]) -> OutboxEntry:
        return OutboxEntry(
            id=oid, rule_id=s["rule_id"], story_id=s["story_id"], article_id=s["article_id"],
            channel=s["channel"], recipient=s["recipient"], kind=s["kind"], status=s["status"],
            created_at=_dt(s["created_at"]), due_at=_dt(s["due_at"]),  # type: ignore[arg-type]
            next_attempt=_dt(s["next_attempt"]), attempts=int(s.get("attempts") or 0),  # type: ignore[arg-type]
            last_error=s.get("last_error"), sent_at=_dt(s.get("sent_at")), message_id=s.get("message_id"),
            item=AlertItem.from_json(s["item"]),
        )
