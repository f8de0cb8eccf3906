"""SqliteLedger on a real SQLite file: claims are once-only and survive a
reopen; the outbox keeps pending deliveries until marked sent."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from newswatch.alerts.items import AlertItem, NewDelivery
from newswatch.alerts.ledger import SqliteLedger

T0 = datetime(2024, 6, 3, 8, 0, tzinfo=timezone.utc)


def delivery(story: str, to: str = "a@example.org", due: datetime = T0) -> NewDelivery:
    it = AlertItem(article_id=story, story_id=story, rule_id="r1", rule_name="R", query="x", title="T " + story,
                   url="https://e.example/" + story, source="S", published_at=T0.isoformat(), snippet="s")
    return NewDelivery("email", to, "immediate", due, it)


def test_claim_once_and_survives_reopen(tmp_path):
    path = tmp_path / "alerts.sqlite3"
    led = SqliteLedger(path)
    assert led.claim("r1", "s1", "a1", [delivery("s1")], T0)
    assert not led.claim("r1", "s1", "a2", [delivery("s1")], T0)  # syndicated copy, same story
    assert led.claim("r2", "s1", "a1", [], T0)  # another rule may alert the same story
    led.close()
    led = SqliteLedger(path)
    assert not led.claim("r1", "s1", "a1", [delivery("s1")], T0)
    assert led.alerted("r1", ["s1", "s2"]) == {"s1"}
    assert len(led.due(T0)) == 1  # the pending delivery survived the restart
    led.close()


def test_concurrent_claims_only_one_wins(tmp_path):
    path = tmp_path / "alerts.sqlite3"
    ledgers = [SqliteLedger(path) for _ in range(4)]
    wins = []
    barrier = threading.Barrier(4)

    def go(led):
        barrier.wait()
        wins.append(led.claim("r1", "s1", "a1", [delivery("s1")], T0))

    threads = [threading.Thread(target=go, args=(led,)) for led in ledgers]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(wins) == [False, False, False, True]
    assert len(ledgers[0].due(T0)) == 1
    [led.close() for led in ledgers]


def test_outbox_lifecycle(tmp_path):
    led = SqliteLedger(tmp_path / "a.sqlite3")
    led.claim("r1", "s1", "a1", [delivery("s1"), delivery("s1", "b@example.org")], T0)
    led.claim("r1", "s2", "a2", [delivery("s2", due=T0 + timedelta(hours=1))], T0)
    due = led.due(T0)
    assert [(e.story_id, e.recipient) for e in due] == [("s1", "a@example.org"), ("s1", "b@example.org")]
    a, b = due
    led.mark_sent([a.id], "<m1@x>", T0)
    led.mark_retry([b.id], "connection refused", T0 + timedelta(seconds=30))
    assert led.due(T0 + timedelta(seconds=10)) == []
    again = led.due(T0 + timedelta(seconds=30))
    assert [e.id for e in again] == [b.id] and again[0].attempts == 1 and again[0].last_error == "connection refused"
    # b is leased to the `again` caller until it reports back: only s2 is new
    assert [e.story_id for e in led.due(T0 + timedelta(hours=1))] == ["s2"]
    led.mark_retry([b.id], "550 no such user", T0, give_up=True)
    assert led.counts() == {"pending": 1, "sent": 1, "failed": 1, "claimed": 2}
    assert [e.id for e in led.entries(status="failed")] == [b.id]
    assert led.requeue_failed(T0 + timedelta(hours=2)) == 1
    assert led.counts()["failed"] == 0
    assert led.sent_times("r1", "email", "a@example.org", T0 - timedelta(hours=1)) == [T0]
    assert led.sent_times("r1", "email", "a@example.org", T0 + timedelta(seconds=1)) == []
    led.close()


class WallClock:
    """A settable wall clock for the lease (the ledger's only fake here)."""

    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_due_leases_rows_across_instances_until_reported_or_expired(tmp_path):
    path = tmp_path / "alerts.sqlite3"
    wall = WallClock()
    a = SqliteLedger(path, wall_clock=wall, lease=timedelta(minutes=5))
    b = SqliteLedger(path, wall_clock=wall, lease=timedelta(minutes=5))
    a.claim("r1", "s1", "a1", [delivery("s1")], T0)
    first = a.due(T0)
    assert [e.story_id for e in first] == ["s1"]
    assert b.due(T0) == [] and a.due(T0) == []  # leased, whoever asks
    wall.t += 301  # the flusher died: its lease ran out
    again = b.due(T0)
    assert [e.id for e in again] == [first[0].id]
    b.mark_retry([again[0].id], "421 later", T0)  # reporting back frees the row at once
    assert [e.id for e in a.due(T0)] == [first[0].id]
    a.close(), b.close()


def test_concurrent_flushers_get_disjoint_rows(tmp_path):
    path = tmp_path / "alerts.sqlite3"
    setup = SqliteLedger(path)
    for i in range(40):
        setup.claim("r1", f"s{i}", f"a{i}", [delivery(f"s{i}")], T0)
    setup.close()
    ledgers = [SqliteLedger(path) for _ in range(4)]
    got: list[str] = []
    barrier = threading.Barrier(4)

    def go(led):
        barrier.wait()
        for _ in range(10):
            got.extend(e.id for e in led.due(T0, limit=3))

    threads = [threading.Thread(target=go, args=(led,)) for led in ledgers]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(got) == 40 and len(set(got)) == 40  # every row handed out exactly once
    [led.close() for led in ledgers]


def test_a_late_retry_never_resurrects_a_sent_entry(tmp_path):
    led = SqliteLedger(tmp_path / "a.sqlite3")
    led.claim("r1", "s1", "a1", [delivery("s1")], T0)
    (e,) = led.due(T0)
    led.mark_sent([e.id], "<m1@x>", T0)
    led.mark_retry([e.id], "timeout", T0)
    assert led.counts()["sent"] == 1 and led.counts()["pending"] == 0
    led.close()


def test_an_old_file_without_lease_column_is_migrated(tmp_path):
    import sqlite3

    path = tmp_path / "alerts.sqlite3"
    led = SqliteLedger(path)
    led.claim("r1", "s1", "a1", [delivery("s1")], T0)
    led.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE outbox DROP COLUMN lease_until")  # as written by the previous version
    db.commit()
    db.close()
    led = SqliteLedger(path)
    assert [e.story_id for e in led.due(T0)] == ["s1"] and led.due(T0) == []
    led.close()
