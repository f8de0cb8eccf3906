"""The alert ledger on real engines (OpenSearch 2.19, Elasticsearch 7.10.2):
claims are atomic across workers (threads with their own clients racing on
the same stories), the outbox works like the SQLite ledger's, and a pending
delivery is leased to one flusher only."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from support.searchengine import ENGINES, make_engine, unique_prefix

from newswatch.alerts.items import AlertItem, NewDelivery
from newswatch.alerts.ledger_search import SearchLedger

pytestmark = [pytest.mark.integration, pytest.mark.opensearch, pytest.mark.elasticsearch]
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def delivery(story: str, recipient: str = "a@example.org") -> NewDelivery:
    item = AlertItem(article_id=story, story_id=story, rule_id="r1", rule_name="R1", query="water",
                     title=f"Story {story}", url=f"https://x.example/{story}", source="X", published_at=None,
                     snippet="…")
    return NewDelivery("email", recipient, "immediate", NOW, item)


@pytest.fixture(params=ENGINES)
def engines(request):
    prefix = unique_prefix()
    made = [make_engine(request.param, prefix=prefix) for _ in range(4)]
    yield prefix, made
    made[0].drop_all()
    for e in made:
        e.close()


def test_claims_are_atomic_across_workers(engines):
    prefix, made = engines
    ledgers = [SearchLedger(e, prefix=prefix) for e in made]
    stories = [f"s{i}" for i in range(10)]
    wins: list[tuple[str, int]] = []
    barrier = threading.Barrier(len(ledgers))

    def worker(n: int) -> None:
        barrier.wait()
        for s in stories:
            if ledgers[n].claim("r1", s, s, [delivery(s)], NOW):
                wins.append((s, n))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(ledgers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for s, _ in wins) == stories  # each story won exactly once
    assert ledgers[0].alerted("r1", stories + ["other"]) == set(stories)
    assert ledgers[1].counts() == {"pending": 10, "sent": 0, "failed": 0, "claimed": 10}


def test_outbox_lease_send_retry_and_requeue(engines):
    prefix, made = engines
    a, b = SearchLedger(made[0], prefix=prefix), SearchLedger(made[1], prefix=prefix)
    assert a.claim("r1", "s1", "s1", [delivery("s1"), delivery("s1", "b@example.org")], NOW)
    assert not b.claim("r1", "s1", "s1-copy", [delivery("s1")], NOW)
    first = a.due(NOW)
    assert len(first) == 2 and first[0].item.title == "Story s1"
    assert b.due(NOW) == []  # leased to a
    a.mark_sent([first[0].id], "<m1@x>", NOW)
    a.mark_retry([first[1].id], "421 try later", NOW + timedelta(minutes=5))
    assert b.due(NOW) == []
    again = b.due(NOW + timedelta(minutes=6))
    assert [e.id for e in again] == [first[1].id] and again[0].attempts == 1
    b.mark_retry([again[0].id], "550 no such user", NOW, give_up=True)
    assert a.counts() == {"pending": 0, "sent": 1, "failed": 1, "claimed": 1}
    assert a.sent_times("r1", "email", "a@example.org", NOW - timedelta(hours=1)) == [NOW]
    assert sorted(e.status for e in a.entries(rule_id="r1")) == ["failed", "sent"]
    assert [e.status for e in a.entries(status="sent")] == ["sent"]
    assert a.requeue_failed(NOW) == 1
    assert [e.recipient for e in b.due(NOW)] == ["b@example.org"]


def test_a_claim_whose_worker_died_gets_its_outbox(engines):
    prefix, made = engines
    a = SearchLedger(made[0], prefix=prefix)
    a._materialize = lambda cid, claim: None  # the worker "dies" right after winning the claim
    assert a.claim("r1", "s9", "s9", [delivery("s9")], NOW)
    b = SearchLedger(made[1], prefix=prefix)
    assert [e.story_id for e in b.due(NOW)] == ["s9"]


def test_lease_runs_on_a_fresh_clock_not_the_callers_now(engines):
    """The stage passes a `now` taken before its claim loop; the lease must
    still run from when it was taken, so another flusher whose `now` is
    already 6 minutes later does not get the entry."""
    prefix, made = engines
    a, b = SearchLedger(made[0], prefix=prefix), SearchLedger(made[1], prefix=prefix)
    assert a.claim("r1", "s1", "s1", [delivery("s1")], NOW)
    assert len(a.due(NOW)) == 1
    assert b.due(NOW + timedelta(minutes=6)) == []
    later = SearchLedger(made[2], prefix=prefix, clock=lambda: datetime.now(timezone.utc) + timedelta(minutes=6))
    assert [e.story_id for e in later.due(NOW)] == ["s1"]  # a lease that really ran out is taken over


def test_a_late_failure_never_moves_a_sent_entry_back_to_pending(engines):
    prefix, made = engines
    a, b = SearchLedger(made[0], prefix=prefix), SearchLedger(made[1], prefix=prefix)
    assert a.claim("r1", "s1", "s1", [delivery("s1")], NOW)
    (e,) = a.due(NOW)
    b.mark_sent([e.id], "<m1@x>", NOW)  # e.g. the worker that took over the expired lease
    a.mark_retry([e.id], "timeout", NOW, give_up=False)  # the first worker's late report
    a.mark_retry([e.id], "timeout", NOW, give_up=True)
    assert a.counts() == {"pending": 0, "sent": 1, "failed": 0, "claimed": 1}
    assert b.due(NOW + timedelta(hours=1)) == []
    a.mark_retry(["no-such-entry"], "x", NOW)  # unknown ids are ignored, as before
