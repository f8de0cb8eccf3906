"""When to poll each feed next.

The arithmetic is plain functions (easy to test, easy to tune); the
:class:`FeedScheduler` only turns "poll feed X at time T" into APScheduler
jobs.  Rules:

- a failing feed backs off exponentially from its interval up to
  ``max_interval``; a Retry-After from the server is honoured even when longer
  (up to a day), never shortened;
- a healthy feed adapts to how often it posts, but stays within a factor of
  :data:`ADAPT_FACTOR` of its configured interval and within the global
  ``[min_interval, max_interval]``;
- every delay gets a little jitter so feeds added together don't poll in step.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

ADAPT_FACTOR = 4.0
ADAPT_WINDOW = timedelta(days=7)
RETRY_AFTER_CEILING = 24 * 3600.0
MAX_BACKOFF_EXPONENT = 16


def clamp(value: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, value))


def backoff_delay(
    base: float,
    consecutive_errors: int,
    *,
    min_interval: float,
    max_interval: float,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait after the *consecutive_errors*-th failure in a row."""
    base = clamp(base, min_interval, max_interval)
    exp = min(max(consecutive_errors, 1) - 1, MAX_BACKOFF_EXPONENT)
    delay = min(max_interval, base * (2 ** exp))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(float(retry_after), RETRY_AFTER_CEILING))
    return delay


def adaptive_interval(
    base: float,
    item_times: Sequence[datetime],
    now: datetime,
    *,
    min_interval: float,
    max_interval: float,
    window: timedelta = ADAPT_WINDOW,
    factor: float = ADAPT_FACTOR,
) -> float:
    """Interval for a healthy feed given when its recent items were published.

    Polls about twice per expected new item: a feed posting every 10 minutes
    is polled every 5 (within bounds); one silent for a week drifts to
    ``base * factor``."""
    base = clamp(base, min_interval, max_interval)
    lo = max(min_interval, base / factor)
    hi = min(max_interval, base * factor)
    recent = [t for t in item_times if now - window <= t <= now]
    if not recent:
        return hi
    observed = max((now - min(recent)).total_seconds(), base)
    gap = observed / len(recent)
    return clamp(gap / 2.0, lo, hi)


def with_jitter(seconds: float, fraction: float = 0.1, rng: random.Random | None = None) -> float:
    r = (rng or random).uniform(-fraction, fraction)
    return max(1.0, seconds * (1.0 + r))


class FeedScheduler:
    """One APScheduler job per feed; each run returns when it wants to run next.

    Jobs use a long interval trigger whose next run time is moved after each
    poll (a date trigger would delete the job while it runs).  ``max_instances=1``
    keeps one poll per feed at a time; missed runs are coalesced, never dropped."""

    def __init__(self, run: Callable[[str], datetime | None], *, workers: int = 4,
                 fallback_delay: float = 300.0):
        self._run = run
        self._fallback = fallback_delay
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc,
        )
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def add(self, feed_id: str, first_run: datetime) -> None:
        self._scheduler.add_job(
            self._job, IntervalTrigger(days=3650, timezone=timezone.utc), args=[feed_id],
            id=feed_id, name=f"poll {feed_id}", next_run_time=first_run, replace_existing=True,
        )

    def remove(self, feed_id: str) -> None:
        try:
            self._scheduler.remove_job(feed_id)
        except JobLookupError:
            pass

    def next_run(self, feed_id: str) -> datetime | None:
        job = self._scheduler.get_job(feed_id)
        return job.next_run_time if job else None

    def job_ids(self) -> list[str]:
        return [j.id for j in self._scheduler.get_jobs()]

    def reschedule(self, feed_id: str, when: datetime) -> None:
        if self._stopping:
            return
        try:
            self._scheduler.modify_job(feed_id, next_run_time=when)
        except JobLookupError:
            pass

    def _job(self, feed_id: str) -> None:
        try:
            due = self._run(feed_id)
        except Exception:  # noqa: BLE001 -- a bug in one poll must not stop that feed forever
            log.exception("poll of feed %s failed unexpectedly", feed_id)
            due = None
        if due is None:
            due = datetime.now(timezone.utc) + timedelta(seconds=self._fallback)
        self.reschedule(feed_id, due)

    def start(self) -> None:
        self._stopping = False
        self._scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with *wait*, let running polls finish (each is bounded by the fetch deadline)."""
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
