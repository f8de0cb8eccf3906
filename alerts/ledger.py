"""The alert ledger: which (rule, story) pairs were already alerted, and the
outbox of deliveries not yet accepted by a mail server.

Why a ledger and not "remember the last article seen": restarts, replays of a
Kafka topic and syndicated copies all bring back stories we have alerted on.
The key is the *story* (``Article.story_id``: the article or the
near-duplicate group it belongs to), claimed once per rule; only the first
claim wins, atomically, so two workers racing on one story send one alert.

The interface is small on purpose so a shared-index implementation can be
added beside :class:`SqliteLedger` without touching the stage: ``claim`` maps
to a create with a deterministic id (``op_type=create``), the outbox to
documents with a status field.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from newswatch.alerts.items import AlertItem, NewDelivery, OutboxEntry
from newswatch.pipeline.sqlite_tx import immediate

log = logging.getLogger(__name__)


class Ledger(Protocol):
    def claim(self, rule_id: str, story_id: str, article_id: str,
              deliveries: Sequence[NewDelivery], now: datetime) -> bool:
        """Record (rule, story) and enqueue its deliveries in one step.
        False, and nothing enqueued, when the pair was claimed before."""
        ...

    def due(self, now: datetime, limit: int = 1000) -> list[OutboxEntry]:
        """Pending deliveries whose time has come (due and not backing off),
        each leased to this caller: no other caller gets them until
        mark_sent/mark_retry or until the lease runs out (the caller died)."""
        ...

    def mark_sent(self, ids: Sequence[str], message_id: str, now: datetime) -> None: ...

    def mark_retry(self, ids: Sequence[str], error: str | None, next_attempt: datetime, *,
                   count_attempt: bool = True, give_up: bool = False) -> None:
        """Leave pending until *next_attempt* (or mark failed with give_up).
        Never touches an entry already sent (a late failure report must not
        resurrect it)."""
        ...

    def sent_times(self, rule_id: str, channel: str, recipient: str, since: datetime) -> list[datetime]:
        """When each message to this recipient for this rule was accepted,
        strictly after *since* (one entry per message, oldest first), for
        throttling: a message sent at t stops counting at t + window."""
        ...

    def alerted(self, rule_id: str, story_ids: Iterable[str]) -> set[str]:
        """Which of *story_ids* this rule has already claimed."""
        ...

    def entries(self, *, status: str | None = None, rule_id: str | None = None,
                limit: int = 50) -> list[OutboxEntry]:
        """Most recent outbox rows first (history, pending list)."""
        ...

    def requeue_failed(self, now: datetime, rule_id: str | None = None) -> int: ...

    def counts(self) -> dict[str, int]: ...

    def close(self) -> None: ...


def _ts(d: datetime) -> float:
    return d.astimezone(timezone.utc).timestamp()


def _dt(x: float | None) -> datetime | None:
    return datetime.fromtimestamp(x, timezone.utc) if x is not None else None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerted (
    rule_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    article_id TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    PRIMARY KEY (rule_id, story_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    article_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at REAL NOT NULL,
    due_at REAL NOT NULL,
    next_attempt REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at REAL,
    message_id TEXT,
    item TEXT NOT NULL,
    lease_until REAL,
    UNIQUE (rule_id, story_id, channel, recipient)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (rule_id, channel, recipient, sent_at);
"""

_COLS = ("id, rule_id, story_id, article_id, channel, recipient, kind, status, created_at, due_at, "
         "next_attempt, attempts, last_error, sent_at, message_id, item")


class SqliteLedger:
    """Embedded-mode ledger in ``<data_dir>/alerts.sqlite3`` (WAL, one
    connection guarded by a lock: the scheduler's tick and the pipeline's
    write may run on different threads).

    Several processes may share the file (``newswatch run`` beside
    ``newswatch alerts flush``, or two alert workers): :meth:`due` leases what
    it returns for *lease*, in one write transaction, so each pending row is
    handed to one flusher.  Leases run on the wall clock (*wall_clock*), not
    on the caller's ``now``, since they are compared across processes."""

    FILENAME = "alerts.sqlite3"

    def __init__(self, path: Path | str, *, lease: timedelta = timedelta(minutes=5),
                 wall_clock: Callable[[], float] = time.time):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.lease = lease
        self.wall_clock = wall_clock
        self._migrate()

    def _migrate(self) -> None:
        """Add columns that files written by older versions lack (checked
        under the write lock: another process may be migrating too)."""
        with immediate(self._db) as db:
            cols = {r[1] for r in db.execute("PRAGMA table_info(outbox)")}
            if "lease_until" not in cols:
                log.info("alert ledger: adding outbox.lease_until to %s", self.path)
                db.execute("ALTER TABLE outbox ADD COLUMN lease_until REAL")

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> "SqliteLedger":
        return cls(Path(data_dir) / cls.FILENAME)

    # -- claiming -----------------------------------------------------------
    def claim(self, rule_id: str, story_id: str, article_id: str,
              deliveries: Sequence[NewDelivery], now: datetime) -> bool:
        t = _ts(now)
        with self._lock, immediate(self._db) as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO alerted (rule_id, story_id, article_id, claimed_at) VALUES (?,?,?,?)",
                (rule_id, story_id, article_id, t),
            )
            if cur.rowcount == 0:
                return False  # claimed before: nothing written
            db.executemany(
                "INSERT OR IGNORE INTO outbox (rule_id, story_id, article_id, channel, recipient, kind, "
                "created_at, due_at, next_attempt, item) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(rule_id, story_id, article_id, d.channel, d.recipient, d.kind, t,
                  _ts(d.due_at), _ts(d.due_at), d.item.to_json()) for d in deliveries],
            )
            return True

    def alerted(self, rule_id: str, story_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(story_ids))
        out: set[str] = set()
        with self._lock:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT story_id FROM alerted WHERE rule_id = ? AND story_id IN ({marks})", (rule_id, *chunk)
                ).fetchall()
                out.update(r[0] for r in rows)
        return out

    # -- the outbox -----------------------------------------------------------
    def due(self, now: datetime, limit: int = 1000) -> list[OutboxEntry]:
        wall = self.wall_clock()
        until = wall + self.lease.total_seconds()
        with self._lock, immediate(self._db) as db:  # select + lease atomically across processes
            rows = db.execute(
                f"SELECT {_COLS} FROM outbox WHERE status = 'pending' AND next_attempt <= ? "
                "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created_at, id LIMIT ?",
                (_ts(now), wall, limit),
            ).fetchall()
            db.executemany("UPDATE outbox SET lease_until = ? WHERE id = ?", [(until, r[0]) for r in rows])
        return [self._entry(r) for r in rows]

    def mark_sent(self, ids: Sequence[str], message_id: str, now: datetime) -> None:
        with self._lock:
            self._db.executemany(
                "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?, attempts = attempts + 1, "
                "last_error = NULL, lease_until = NULL WHERE id = ?",
                [(_ts(now), message_id, int(i)) for i in ids],
            )

    def mark_retry(self, ids: Sequence[str], error: str | None, next_attempt: datetime, *,
                   count_attempt: bool = True, give_up: bool = False) -> None:
        status = "failed" if give_up else "pending"
        with self._lock:
            self._db.executemany(
                "UPDATE outbox SET status = ?, next_attempt = ?, last_error = ?, attempts = attempts + ?, "
                "lease_until = NULL WHERE id = ? AND status != 'sent'",
                [(status, _ts(next_attempt), error, 1 if count_attempt else 0, int(i)) for i in ids],
            )

    def sent_times(self, rule_id: str, channel: str, recipient: str, since: datetime) -> list[datetime]:
        with self._lock:
            rows = self._db.execute(
                "SELECT MIN(sent_at) FROM outbox WHERE rule_id = ? AND channel = ? AND recipient = ? "
                "AND status = 'sent' AND sent_at > ? GROUP BY message_id ORDER BY 1",
                (rule_id, channel, recipient, _ts(since)),
            ).fetchall()
        return [_dt(r[0]) for r in rows]  # type: ignore[misc]

    def entries(self, *, status: str | None = None, rule_id: str | None = None,
                limit: int = 50) -> list[OutboxEntry]:
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if rule_id:
            where.append("rule_id = ?")
            args.append(rule_id)
        sql = f"SELECT {_COLS} FROM outbox"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY COALESCE(sent_at, created_at) DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [self._entry(r) for r in rows]

    def requeue_failed(self, now: datetime, rule_id: str | None = None) -> int:
        sql = ("UPDATE outbox SET status = 'pending', next_attempt = ?, attempts = 0, lease_until = NULL "
               "WHERE status = 'failed'")
        args: list[object] = [_ts(now)]
        if rule_id:
            sql += " AND rule_id = ?"
            args.append(rule_id)
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()
            claimed = self._db.execute("SELECT COUNT(*) FROM alerted").fetchone()[0]
        out = {"pending": 0, "sent": 0, "failed": 0}
        out.update({s: n for s, n in rows})
        out["claimed"] = claimed
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _entry(r: tuple) -> OutboxEntry:
        return OutboxEntry(
            id=str(r[0]), rule_id=r[1], story_id=r[2], article_id=r[3], channel=r[4], recipient=r[5],
            kind=r[6], status=r[7], created_at=_dt(r[8]), due_at=_dt(r[9]),  # type: ignore[arg-type]
            next_attempt=_dt(r[10]), attempts=r[11], last_error=r[12], sent_at=_dt(r[13]),  # type: ignore[arg-type]
            message_id=r[14], item=AlertItem.from_json(r[15]),
        )
