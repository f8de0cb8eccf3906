"""The ingest stage: poll feeds, emit only articles not seen before, remember
enough to be cheap and polite next time.

The order inside one poll matters for "never lose, never repeat": articles
are emitted first and only then marked seen and the new validators stored.
If ``emit`` raises, nothing is recorded, so the next poll fetches the full
feed again and re-offers the same articles (downstream sinks are idempotent).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from newswatch.pipeline.article import Article, utcnow
from newswatch.pipeline.config import ConfigError
from newswatch.pipeline.settings import Settings
from newswatch.pipeline.stage import Emit

from . import fetcher as F
from .feeds import FeedConfig, load_feeds
from .fetcher import Fetcher
from .fulltext import add_full_text
from .parser import parse_feed
from .schedule import ADAPT_WINDOW, FeedScheduler, adaptive_interval, backoff_delay, clamp, with_jitter
from .state import STATE_FILE, FeedState, FeedStateStore

log = logging.getLogger(__name__)

PARSE_ERROR = "parse_error"
EMIT_FAILED = "emit_failed"
ALLOW_ALL = "0.0.0.0/0,::/0"


class Counters(Counter):
    """Ingest counters, readable as ``counters["polls"]`` or ``counters.polls``
    (polls, errors, items_emitted, entries_skipped, status.<status>)."""

    def __getattr__(self, name: str) -> int:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]


@dataclass
class PollReport:
    feed_id: str
    status: str  # a fetcher status, or parse_error / emit_failed
    new: list[Article] = field(default_factory=list)
    entries: int = 0  # entries in the feed document
    skipped: int = 0  # entries without link/guid or broken
    http_status: int | None = None
    error: str | None = None
    warning: str | None = None  # e.g. malformed XML that was read anyway
    retry_after: float | None = None
    interval: float | None = None  # seconds until next poll (jitter included)
    next_due: datetime | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in (F.OK, F.NOT_MODIFIED)


@dataclass
class CheckReport:
    """What `newswatch feeds check URL` prints."""

    url: str
    ok: bool
    status: str
    reason: str = ""
    http_status: int | None = None
    final_url: str = ""
    redirects: list[str] = field(default_factory=list)
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    size: int = 0
    elapsed: float = 0.0
    title: str = ""
    link: str = ""
    version: str = ""
    language: str | None = None
    entries: int = 0
    articles: int = 0
    skipped: int = 0
    titles: list[str] = field(default_factory=list)
    warning: str | None = None
    alternates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def to_text(self) -> str:
        lines = [f"URL:          {self.url}"]
        if self.final_url and self.final_url != self.url:
            lines.append(f"Final URL:    {self.final_url} (after {len(self.redirects)} redirect(s))")
        if self.http_status is not None:
            lines.append(f"HTTP:         {self.http_status}  {self.content_type}  {self.size} bytes  "
                         f"{self.elapsed * 1000:.0f} ms")
        if not self.ok:
            lines.append(f"FAILED:       {self.status}: {self.reason}")
            for alt in self.alternates:
                lines.append(f"  try:        newswatch feeds check {alt}")
            return "\n".join(lines)
        lines.append(f"Feed:         {self.title or '(no title)'}  [{self.version or 'unknown format'}]"
                     + (f"  language {self.language}" if self.language else ""))
        if self.link:
            lines.append(f"Site:         {self.link}")
        lines.append(f"Entries:      {self.entries} ({self.articles} usable, {self.skipped} skipped "
                     "without link or id)")
        for t in self.titles:
            lines.append(f"  - {t}")
        lines.append(f"ETag:         {self.etag or '(none)'}")
        lines.append(f"Last-Modified: {self.last_modified or '(none)'}")
        if not (self.etag or self.last_modified):
            lines.append("              (no validators: every poll downloads the whole feed)")
        if self.warning:
            lines.append(f"Warning:      feed is malformed but was read: {self.warning}")
        return "\n".join(lines)


def check_feed_url(settings: Settings, url: str, *, allow_private: bool = False,
                   fetcher: Fetcher | None = None) -> CheckReport:
    """Fetch and parse one URL without touching feed state."""
    own = fetcher is None
    fx = fetcher or Fetcher(settings, allow_private=ALLOW_ALL if allow_private else None)
    try:
        res = fx.fetch(url)
    finally:
        if own:
            fx.close()
    rep = CheckReport(url=url, ok=False, status=res.status, reason=res.reason, http_status=res.http_status,
                      final_url=res.final_url, redirects=res.redirects, content_type=res.content_type,
                      etag=res.etag, last_modified=res.last_modified, size=len(res.body), elapsed=res.elapsed)
    if res.status == F.NOT_MODIFIED:  # cannot happen without validators, but be exact
        rep.reason = "server answered 304 Not Modified to an unconditional request"
        return rep
    if not res.ok:
        return rep
    pr = parse_feed(res.body, feed_id="check", content_type=res.content_type, base_url=res.final_url)
    rep.title, rep.link, rep.version, rep.language = pr.title, pr.link, pr.version, pr.language
    rep.entries, rep.articles, rep.skipped = pr.entries_total, len(pr.articles), pr.skipped
    rep.titles = [a.title or a.url for a in pr.articles[:5]]
    rep.alternates, rep.warning = pr.alternates, pr.bozo
    if pr.error:
        rep.status, rep.reason = PARSE_ERROR, pr.error
        return rep
    rep.ok, rep.status = True, F.OK
    return rep


class Ingester:
    """Polls *feeds* and hands new raw Articles to *emit*.

    ``emit`` is called from worker threads, one call at a time (serialised
    here), with the new articles of one feed poll."""

    name = "ingest"

    def __init__(self, settings: Settings, feeds: Sequence[FeedConfig], emit: Emit, *,
                 fetcher: Fetcher | None = None, state: FeedStateStore | None = None,
                 rng: random.Random | None = None):
        self.settings = settings
        self.feeds: dict[str, FeedConfig] = {f.id: f for f in feeds}
        self.emit = emit
        self.fetcher = fetcher or Fetcher(settings)
        self.state = state or FeedStateStore.in_dir(settings.ensure_data_dir())
        self.rng = rng or random.Random()
        self._emit_lock = threading.Lock()
        self._feed_locks: dict[str, threading.Lock] = {f: threading.Lock() for f in self.feeds}
        self._counter_lock = threading.Lock()
        self.counters = Counters()
        self._scheduler: FeedScheduler | None = None

    # -- one poll ----------------------------------------------------------
    def poll_feed(self, feed: FeedConfig | str) -> PollReport:
        feed = self.feeds[feed] if isinstance(feed, str) else feed
        lock = self._feed_locks.setdefault(feed.id, threading.Lock())
        with lock:
            return self._poll(feed)

    def _poll(self, feed: FeedConfig) -> PollReport:
        started = time.monotonic()
        now = utcnow()
        st = self.state.get(feed.id)
        if st.url != feed.url:  # new feed or URL changed: old validators belong to another document
            st.url, st.etag, st.last_modified = feed.url, None, None
        st.last_attempt = now
        res = self.fetcher.fetch(feed.url, etag=st.etag, last_modified=st.last_modified)
        rep = PollReport(feed_id=feed.id, status=res.status, http_status=res.http_status)

        if res.status == F.OK:
            pr = parse_feed(res.body, feed_id=feed.id, content_type=res.content_type,
                            base_url=res.final_url or feed.url, feed_name=feed.name, feed_tags=feed.tags,
                            language=feed.language, fetched_at=now)
            rep.entries, rep.skipped, rep.warning = pr.entries_total, pr.skipped, pr.bozo
            if pr.error:
                rep.status, rep.error = PARSE_ERROR, pr.error
            else:
                self._emit_new(feed, pr.articles, rep, now)
            if rep.status == F.OK:
                st.etag, st.last_modified = res.etag, res.last_modified
        elif res.status != F.NOT_MODIFIED:
            rep.error, rep.retry_after = res.reason, res.retry_after

        st.last_status = rep.status
        if rep.ok:
            st.last_success, st.consecutive_errors, st.last_error = now, 0, None
            st.items_last_poll = len(rep.new)
            st.items_total += len(rep.new)
            if rep.skipped:
                log.info("feed %s: %d entries without link or id skipped", feed.id, rep.skipped)
            base = adaptive_interval(feed.interval, self.state.recent_item_times(feed.id, now - ADAPT_WINDOW),
                                     now, min_interval=self.settings.min_interval,
                                     max_interval=self.settings.max_interval)
        elif rep.status == EMIT_FAILED:
            # The feed answered fine; the pipeline refused the items.  Backing
            # the *feed* off (up to max_interval) would let a busy feed push
            # the unsent items off its end before the retry, so retry at the
            # feed's normal pace; the items stay unseen and are offered again.
            st.last_error = f"{rep.status}: {rep.error}"
            st.items_last_poll = 0
            base = clamp(float(feed.interval), float(self.settings.min_interval), float(self.settings.max_interval))
            log.warning("feed %s: the pipeline refused its new items (%s) -- offering them again in %.0fs",
                        feed.id, rep.error, base)
        else:
            st.consecutive_errors += 1
            st.last_error = f"{rep.status}: {rep.error}"
            st.items_last_poll = 0
            if rep.status == F.GONE:
                base = float(self.settings.max_interval)
            else:
                base = backoff_delay(feed.interval, st.consecutive_errors, retry_after=rep.retry_after,
                                     min_interval=self.settings.min_interval,
                                     max_interval=self.settings.max_interval)
            log.warning("feed %s (%s) failed (%d in a row): %s -- next try in %.0fs", feed.id, feed.url,
                        st.consecutive_errors, st.last_error, base)
        # never jitter below what the server asked for
        delay = with_jitter(base, rng=self.rng)
        if rep.retry_after:
            delay = max(delay, base)
        st.interval = delay
        st.next_due = now + timedelta(seconds=delay)
        self.state.save(st)
        rep.interval, rep.next_due = delay, st.next_due
        rep.elapsed = time.monotonic() - started
        with self._counter_lock:
            self.counters["polls"] += 1
            self.counters[f"status.{rep.status}"] += 1
            if not rep.ok:
                self.counters["errors"] += 1
            self.counters["items_emitted"] += len(rep.new)
            self.counters["entries_skipped"] += rep.skipped
        log.debug("feed %s: %s, %d new, next in %.0fs", feed.id, rep.status, len(rep.new), delay)
        return rep

    def _emit_new(self, feed: FeedConfig, articles: list[Article], rep: PollReport, now: datetime) -> None:
        fresh = self.state.unseen(feed.id, [a.id for a in articles])
        new: list[Article] = []
        for a in articles:
            if a.id in fresh:
                fresh.discard(a.id)  # the same item twice in one document: once
                new.append(a)
        if new and feed.full_text:
            for a in new:
                try:
                    add_full_text(a, self.fetcher)
                except Exception as exc:  # noqa: BLE001
                    log.info("full text for %s failed: %s", a.url, exc)
        if new:
            try:
                with self._emit_lock:
                    self.emit(new)
            except Exception as exc:  # noqa: BLE001 -- downstream trouble: retry these next poll
                log.exception("feed %s: emitting %d articles failed; they will be offered again", feed.id,
                              len(new))
                rep.status, rep.error = EMIT_FAILED, f"{type(exc).__name__}: {exc}"
                return
        self.state.mark_seen(feed.id, [(a.id, None if a.published_flag else a.published_at) for a in new],
                             now=now)
        rep.new = new

    # -- many polls --------------------------------------------------------
    def enabled_feeds(self) -> list[FeedConfig]:
        return [f for f in self.feeds.values() if f.enabled]

    def poll_all(self, *, due_only: bool = False) -> list[PollReport]:
        """Poll every enabled feed once (or only those due) on a small thread pool."""
        feeds = self.enabled_feeds()
        if due_only:
            now = utcnow()
            feeds = [f for f in feeds if (d := self.state.get(f.id).next_due) is None or d <= now]
        if not feeds:
            return []
        with ThreadPoolExecutor(max_workers=min(self.settings.ingest_workers, len(feeds)),
                                thread_name_prefix="ingest") as pool:
            return list(pool.map(self.poll_feed, feeds))

    # -- scheduled running -------------------------------------------------
    def _scheduled(self, feed_id: str) -> datetime | None:
        return self.poll_feed(feed_id).next_due

    def start(self) -> None:
        """Schedule every enabled feed (first polls spread over up to a minute,
        or at the persisted next_due when that is still ahead)."""
        if self._scheduler is not None:
            return
        sched = FeedScheduler(self._scheduled, workers=self.settings.ingest_workers,
                              fallback_delay=float(self.settings.min_interval))
        now = utcnow()
        for f in self.enabled_feeds():
            due = self.state.get(f.id).next_due
            if due is None or due <= now:
                due = now + timedelta(seconds=self.rng.uniform(0, min(60.0, f.interval / 2)))
            sched.add(f.id, due)
        sched.start()
        self._scheduler = sched
        log.info("ingest: scheduled %d feeds", len(self.enabled_feeds()))

    def stop(self, wait: bool = True) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None

    @property
    def scheduler(self) -> FeedScheduler | None:
        return self._scheduler

    def close(self) -> None:
        self.stop()
        self.fetcher.close()
        self.state.close()

    # -- reporting -----------------------------------------------------------
    def check_url(self, url: str, *, allow_private: bool = False) -> CheckReport:
        return check_feed_url(self.settings, url, allow_private=allow_private,
                              fetcher=None if allow_private else self.fetcher)

    def stats(self) -> dict[str, Any]:
        with self._counter_lock:
            counters = dict(self.counters)
        return {"counters": counters, "feeds": self.health()}

    def health(self) -> list[dict[str, Any]]:
        return _health_rows(list(self.feeds.values()), self.state)


def _health_rows(feeds: list[FeedConfig], store: FeedStateStore | None) -> list[dict[str, Any]]:
    states = {s.feed_id: s for s in store.all()} if store is not None else {}
    rows = []
    for f in feeds:
        st = states.pop(f.id, None) or FeedState(feed_id=f.id)
        rows.append(_health_row(st, f, store))
    for st in states.values():  # state for feeds no longer configured
        rows.append(_health_row(st, None, store))
    return rows


def _health_row(st: FeedState, feed: FeedConfig | None, store: FeedStateStore | None) -> dict[str, Any]:
    if feed is not None and not feed.enabled:
        health = "disabled"
    elif feed is None:
        health = "not configured"
    elif st.last_attempt is None:
        health = "never polled"
    elif st.consecutive_errors:
        health = "failing"
    else:
        health = "ok"
    row = st.to_dict()
    row.update(id=st.feed_id, name=feed.display_name if feed else st.feed_id,
               url=feed.url if feed else st.url, enabled=bool(feed and feed.enabled), health=health,
               configured_interval=feed.interval if feed else None,
               seen_items=store.seen_count(st.feed_id) if store is not None else 0)
    return row


def feed_health(settings: Settings) -> list[dict[str, Any]]:
    """Per-feed health for ``newswatch stats`` / ``feeds list``, read from the
    state file (never created here) and the configured feed list."""
    try:
        feeds = load_feeds(settings.config_dir, allow_empty=True)
    except ConfigError as exc:
        log.warning("feed list not readable: %s", exc)
        feeds = []
    path = settings.data_dir / STATE_FILE
    store = FeedStateStore(path) if path.exists() else None
    try:
        return _health_rows(feeds, store)
    finally:
        if store is not None:
            store.close()
