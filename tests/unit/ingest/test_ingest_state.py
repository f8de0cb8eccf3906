"""Feed state persistence on a real SQLite file in tmp_path."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from newswatch.ingest.state import FeedState, FeedStateStore

NOW = datetime(2024, 6, 4, 12, 0, tzinfo=timezone.utc)


def test_roundtrip_survives_reopen(tmp_path):
    s = FeedStateStore.in_dir(tmp_path)
    st = FeedState("f1", url="https://x.example/rss", etag='"abc"', last_modified="Tue, 04 Jun 2024 10:00:00 GMT",
                   last_success=NOW, last_attempt=NOW, last_status="ok", consecutive_errors=0,
                   next_due=NOW + timedelta(minutes=15), interval=900.0, items_last_poll=3, items_total=10)
    s.save(st)
    s.close()
    s2 = FeedStateStore.in_dir(tmp_path)
    assert s2.get("f1") == st
    assert s2.get("unknown") == FeedState("unknown")
    assert [x.feed_id for x in s2.all()] == ["f1"]
    s2.close()


def test_save_updates_existing_row(tmp_path):
    s = FeedStateStore.in_dir(tmp_path)
    s.save(FeedState("f1", consecutive_errors=1, last_error="timeout: slow"))
    s.save(FeedState("f1", consecutive_errors=2, last_error="gone: 404"))
    assert s.get("f1").consecutive_errors == 2 and s.get("f1").last_error == "gone: 404"


def test_seen_items_and_unseen(tmp_path):
    s = FeedStateStore.in_dir(tmp_path)
    assert s.unseen("f", ["a", "b"]) == {"a", "b"}
    s.mark_seen("f", [("a", NOW), ("b", None)], now=NOW)
    assert s.unseen("f", ["a", "b", "c"]) == {"c"}
    assert s.unseen("other", ["a"]) == {"a"}  # per feed
    s.close()
    s = FeedStateStore.in_dir(tmp_path)
    assert s.unseen("f", ["a", "c"]) == {"c"}


def test_seen_bounded_per_feed_keeps_newest(tmp_path):
    s = FeedStateStore(tmp_path / "st.sqlite3", seen_limit=10)
    for i in range(25):
        s.mark_seen("f", [(f"id{i}", None)], now=NOW + timedelta(seconds=i))
    s.mark_seen("g", [("g0", None)], now=NOW)
    assert s.seen_count("f") == 10
    assert s.unseen("f", ["id24", "id15", "id14", "id0"]) == {"id14", "id0"}
    assert s.seen_count("g") == 1


def test_large_unseen_query_chunks(tmp_path):
    s = FeedStateStore.in_dir(tmp_path)
    ids = [f"x{i}" for i in range(1500)]
    s.mark_seen("f", [(i, None) for i in ids[:700]], now=NOW)
    assert s.unseen("f", ids) == set(ids[700:])


def test_recent_item_times_prefers_published(tmp_path):
    s = FeedStateStore.in_dir(tmp_path)
    s.mark_seen("f", [("a", NOW - timedelta(days=1)), ("b", None), ("c", NOW - timedelta(days=30))], now=NOW)
    got = s.recent_item_times("f", NOW - timedelta(days=7))
    assert got == [NOW - timedelta(days=1), NOW]  # b falls back to first_seen; c is too old


def test_thread_safety(tmp_path):
    s = FeedStateStore.in_dir(tmp_path)
    errors = []

    def work(n: int):
        try:
            for i in range(50):
                s.mark_seen(f"f{n}", [(f"{n}-{i}", None)])
                s.save(FeedState(f"f{n}", items_total=i))
                s.unseen(f"f{n}", [f"{n}-{i}"])
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(s.seen_count(f"f{n}") == 50 and s.get(f"f{n}").items_total == 49 for n in range(6))
