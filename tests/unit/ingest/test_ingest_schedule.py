"""Pure schedule arithmetic and the APScheduler wrapper (real scheduler, tiny delays)."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

from newswatch.ingest.schedule import (
    FeedScheduler, RETRY_AFTER_CEILING, adaptive_interval, backoff_delay, with_jitter,
)

NOW = datetime(2024, 6, 4, 12, 0, tzinfo=timezone.utc)
B = dict(min_interval=60, max_interval=6 * 3600)


def test_backoff_doubles_then_caps():
    delays = [backoff_delay(600, n, **B) for n in range(1, 8)]
    assert delays[:4] == [600, 1200, 2400, 4800]
    assert delays[-1] == 6 * 3600
    assert all(a <= b for a, b in zip(delays, delays[1:]))


def test_backoff_honours_longer_retry_after_even_past_max():
    assert backoff_delay(600, 1, retry_after=7200, **B) == 7200
    assert backoff_delay(600, 1, retry_after=10 * 3600, **B) == 10 * 3600
    assert backoff_delay(600, 1, retry_after=10 ** 9, **B) == RETRY_AFTER_CEILING


def test_backoff_never_shortened_by_small_retry_after():
    assert backoff_delay(600, 3, retry_after=5, **B) == 2400


def test_backoff_respects_min_interval():
    assert backoff_delay(1, 1, **B) == 60


def test_adaptive_busy_feed_polls_faster():
    times = [NOW - timedelta(minutes=10 * i) for i in range(1, 60)]  # one item every 10 min
    iv = adaptive_interval(900, times, NOW, **B)
    assert 225 <= iv < 900  # faster than configured, not below base/4
    assert iv == max(225, (590 * 60 / 59) / 2)


def test_adaptive_quiet_feed_slows_within_factor():
    iv = adaptive_interval(900, [], NOW, **B)
    assert iv == 3600
    one_old = adaptive_interval(900, [NOW - timedelta(days=3)], NOW, **B)
    assert 900 < one_old <= 3600


def test_adaptive_bounded_by_global_limits():
    times = [NOW - timedelta(seconds=i) for i in range(1, 500)]
    assert adaptive_interval(300, times, NOW, min_interval=200, max_interval=1000) == 200
    assert adaptive_interval(900, [], NOW, min_interval=60, max_interval=1000) == 1000


def test_adaptive_ignores_items_outside_window_and_future():
    times = [NOW - timedelta(days=30), NOW + timedelta(days=1)]
    assert adaptive_interval(900, times, NOW, **B) == adaptive_interval(900, [], NOW, **B)


def test_jitter_spreads_within_fraction():
    rng = random.Random(1)
    vals = [with_jitter(1000, 0.1, rng) for _ in range(200)]
    assert all(900 <= v <= 1100 for v in vals)
    assert max(vals) - min(vals) > 100  # actually spread


def test_feed_scheduler_runs_and_reschedules():
    runs: list[str] = []
    done = threading.Event()

    def run(feed_id: str):
        runs.append(feed_id)
        if runs.count("a") >= 3:
            done.set()
            return datetime.now(timezone.utc) + timedelta(hours=1)
        return datetime.now(timezone.utc) + timedelta(milliseconds=50)

    s = FeedScheduler(run, workers=2)
    s.add("a", datetime.now(timezone.utc))
    s.start()
    try:
        assert done.wait(10), runs
        time.sleep(0.2)
        assert runs.count("a") == 3
        nxt = s.next_run("a")
        assert nxt is not None and nxt > datetime.now(timezone.utc) + timedelta(minutes=50)
    finally:
        s.shutdown(wait=True)
    assert not s.running


def test_feed_scheduler_survives_a_crashing_poll():
    calls = []

    def run(feed_id: str):
        calls.append(1)
        raise RuntimeError("boom")

    s = FeedScheduler(run, workers=1, fallback_delay=0.05)
    s.add("x", datetime.now(timezone.utc))
    s.start()
    try:
        deadline = time.time() + 5
        while len(calls) < 2 and time.time() < deadline:
            time.sleep(0.02)
    finally:
        s.shutdown()
    assert len(calls) >= 2  # rescheduled after the crash
