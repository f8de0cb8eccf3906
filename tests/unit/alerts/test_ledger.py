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
    assert [e.story_id for e in led.due(T0 + timedelta(hours=1))] == ["s1", "s2"]
    led.mark_retry([b.id], "550 no such user", T0, give_up=True)
    assert led.counts() == {"pending": 1, "sent": 1, "failed": 1, "claimed": 2}
    assert [e.id for e in led.entries(status="failed")] == [b.id]
    assert led.requeue_failed(T0 + timedelta(hours=2)) == 1
    assert led.counts()["failed"] == 0
    assert led.sent_times("r1", "email", "a@example.org", T0 - timedelta(hours=1)) == [T0]
    assert led.sent_times("r1", "email", "a@example.org", T0 + timedelta(seconds=1)) == []
    led.close()
