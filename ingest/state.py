"""Per-feed state that must survive a restart: HTTP validators (so the next
poll can be a cheap 304), health (last success, consecutive errors, last
error), when the feed is next due, and the ids of recently seen items (so a
restart does not re-emit old articles).

SQLite in WAL mode, one connection guarded by a lock: polls run on a few
worker threads and each write is tiny.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from newswatch.pipeline.sqlite_tx import immediate

STATE_FILE = "feedstate.sqlite3"
SEEN_LIMIT = 5000  # per feed; far more than any feed carries at once

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_state (
    feed_id TEXT PRIMARY KEY,
    url TEXT NOT NULL DEFAULT '',
    etag TEXT,
    last_modified TEXT,
    last_success REAL,
    last_attempt REAL,
    last_status TEXT,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_due REAL,
    interval REAL,
    items_last_poll INTEGER NOT NULL DEFAULT 0,
    items_total INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen_item (
    feed_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    first_seen REAL NOT NULL,
    published REAL,
    PRIMARY KEY (feed_id, item_id)
);
CREATE INDEX IF NOT EXISTS seen_item_age ON seen_item (feed_id, first_seen);
"""


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None


@dataclass
class FeedState:
    feed_id: str
    url: str = ""
    etag: str | None = None
    last_modified: str | None = None
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_status: str | None = None
    consecutive_errors: int = 0
    last_error: str | None = None
    next_due: datetime | None = None
    interval: float | None = None
    items_last_poll: int = 0
    items_total: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, datetime):
                d[k] = v.isoformat()
        return d


class FeedStateStore:
    def __init__(self, path: Path | str, *, seen_limit: int = SEEN_LIMIT):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.seen_limit = seen_limit
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30,
                                   isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    @classmethod
    def in_dir(cls, data_dir: Path | str) -> "FeedStateStore":
        return cls(Path(data_dir) / STATE_FILE)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- feed rows ---------------------------------------------------------
    def get(self, feed_id: str) -> FeedState:
        with self._lock:
            row = self._db.execute(
                "SELECT feed_id, url, etag, last_modified, last_success, last_attempt, last_status, "
                "consecutive_errors, last_error, next_due, interval, items_last_poll, items_total "
                "FROM feed_state WHERE feed_id=?", (feed_id,)).fetchone()
        if row is None:
            return FeedState(feed_id=feed_id)
        return FeedState(row[0], row[1], row[2], row[3], _dt(row[4]), _dt(row[5]), row[6], row[7],
                         row[8], _dt(row[9]), row[10], row[11], row[12])

    def all(self) -> list[FeedState]:
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT feed_id FROM feed_state ORDER BY feed_id")]
        return [self.get(i) for i in ids]

    def save(self, st: FeedState) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO feed_state (feed_id, url, etag, last_modified, last_success, last_attempt, "
                "last_status, consecutive_errors, last_error, next_due, interval, items_last_poll, items_total) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(feed_id) DO UPDATE SET "
                "url=excluded.url, etag=excluded.etag, last_modified=excluded.last_modified, "
                "last_success=excluded.last_success, last_attempt=excluded.last_attempt, "
                "last_status=excluded.last_status, consecutive_errors=excluded.consecutive_errors, "
                "last_error=excluded.last_error, next_due=excluded.next_due, interval=excluded.interval, "
                "items_last_poll=excluded.items_last_poll, items_total=excluded.items_total",
                (st.feed_id, st.url, st.etag, st.last_modified, _ts(st.last_success), _ts(st.last_attempt),
                 st.last_status, st.consecutive_errors, st.last_error, _ts(st.next_due), st.interval,
                 st.items_last_poll, st.items_total))

    # -- seen items ----------------------------------------------------------
    def unseen(self, feed_id: str, item_ids: Sequence[str]) -> set[str]:
        """The ids in *item_ids* not yet recorded for this feed."""
        if not item_ids:
            return set()
        found: set[str] = set()
        ids = list(dict.fromkeys(item_ids))
        with self._lock:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                q = "SELECT item_id FROM seen_item WHERE feed_id=? AND item_id IN (%s)" % ",".join("?" * len(chunk))
                found.update(r[0] for r in self._db.execute(q, (feed_id, *chunk)))
        return set(ids) - found

    def mark_seen(self, feed_id: str, items: Iterable[tuple[str, datetime | None]],
                  now: datetime | None = None) -> None:
        """Record (item_id, published_at) pairs and forget the oldest beyond the limit."""
        now_ts = (now or datetime.now(timezone.utc)).timestamp()
        rows = [(feed_id, i, now_ts, _ts(p)) for i, p in items]
        if not rows:
            return
        with self._lock, immediate(self._db) as db:
            db.executemany(
                "INSERT OR IGNORE INTO seen_item (feed_id, item_id, first_seen, published) VALUES (?,?,?,?)",
                rows)
            db.execute(
                "DELETE FROM seen_item WHERE feed_id=? AND rowid NOT IN (SELECT rowid FROM seen_item "
                "WHERE feed_id=? ORDER BY first_seen DESC, rowid DESC LIMIT ?)",
                (feed_id, feed_id, self.seen_limit))

    def seen_count(self, feed_id: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM seen_item WHERE feed_id=?", (feed_id,)).fetchone()[0]

    def recent_item_times(self, feed_id: str, since: datetime) -> list[datetime]:
        """Publication times of items seen for this feed since *since* -- the
        posting rate the adaptive schedule works from."""
        with self._lock:
            rows = self._db.execute(
                "SELECT COALESCE(published, first_seen) AS t FROM seen_item WHERE feed_id=? AND t>=? ORDER BY t",
                (feed_id, since.timestamp())).fetchall()
        return [_dt(r[0]) for r in rows]  # type: ignore[misc]
