"""AlertStage with a real SqliteLedger (tmp file) and a FAKE email sender
(an in-memory list that can be told to fail) plus an injected clock.  The
same paths against a real SMTP server are in
tests/integration/test_alerts_smtp.py."""

from __future__ import annotations

import logging
import threading
import time
import mailbox
from datetime import datetime, timedelta, timezone

import pytest
from support.alert_articles import enriched, seed_article, syndicated_copy

from newswatch.alerts import AlertRule, SqliteLedger, build_alerts
from newswatch.alerts.delivery import SendError
from newswatch.pipeline.settings import Settings
from newswatch.pipeline.stage import PermanentError

T0 = datetime(2024, 6, 3, 6, 30, tzinfo=timezone.utc)


class FakeSender:
    description = "fake"

    def __init__(self):
        self.sent = []
        self.fail: SendError | None = None

    def send_each(self, messages):
        for msg in messages:
            if self.fail:
                yield self.fail
            else:
                self.sent.append(msg)
                yield None


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def rule(**kw) -> AlertRule:
    base = dict(id="mek", name="MEK", query="entity:mek", recipients=["a@example.org"])
    base.update(kw)
    return AlertRule.model_validate(base)


def stage(tmp_path, rules, sender=None, clock=None):
    s = Settings(data_dir=tmp_path, config_dir=tmp_path)
    return build_alerts(s, rules=rules, sender=sender or FakeSender(), clock=clock or Clock(T0))


def story(n: int):
    return enriched(f"https://site{n}.test/story-{n}", title=f"MEK story {n}",
                    content=f"The MEK was mentioned in report number {n}.")


def test_replay_restart_and_copies_send_once(tmp_path):
    sender = FakeSender()
    st = stage(tmp_path, [rule()], sender)
    seed = seed_article()
    st.write([seed])
    st.write([seed])  # replay
    st.close()
    st = stage(tmp_path, [rule()], sender)  # restart on the same data dir
    st.write([seed, syndicated_copy(seed)])
    st.close()
    assert len(sender.sent) == 1
    assert sender.sent[0]["To"] == "a@example.org"
    assert st.counters.already_alerted == 2


def test_one_email_per_recipient_and_rule(tmp_path):
    sender = FakeSender()
    rules = [rule(recipients=["a@example.org", "b@example.org"]), rule(id="alb", query="Albania")]
    st = stage(tmp_path, rules, sender)
    st.write([seed_article()])
    assert sorted((m["X-Newswatch-Rule"], m["To"]) for m in sender.sent) == [
        ("alb", "a@example.org"), ("mek", "a@example.org"), ("mek", "b@example.org")]


def test_throttle_folds_surplus_and_holds_until_window_frees(tmp_path):
    sender, clock = FakeSender(), Clock(T0)
    st = stage(tmp_path, [rule(throttle={"max": 2, "per": "1h"})], sender, clock)
    st.write([story(i) for i in range(5)])
    # 2 emails allowed: one story alone, the other four folded into the second
    assert [m["Subject"] for m in sender.sent] == ["[newswatch] MEK: MEK story 0", "[newswatch] MEK: 4 new stories"]
    clock.t = T0 + timedelta(minutes=10)
    st.write([story(i) for i in range(5, 8)])
    assert len(sender.sent) == 2  # over the limit: held, not dropped
    held = st.ledger.entries(status="pending")
    assert len(held) == 3 and all("throttled" in e.last_error for e in held)
    assert st.tick(T0 + timedelta(minutes=59)) == {}
    report = st.tick(T0 + timedelta(hours=1))  # both slots free again
    assert report == {"sent": 2}
    assert [m["Subject"] for m in sender.sent[2:]] == ["[newswatch] MEK: MEK story 5", "[newswatch] MEK: 2 new stories"]
    assert st.ledger.counts()["pending"] == 0


def test_digest_waits_for_schedule_groups_and_is_silent_when_empty(tmp_path):
    sender, clock = FakeSender(), Clock(T0)  # 06:30 UTC = 08:30 in Paris
    r = rule(delivery={"digest": "daily 08:00", "timezone": "Europe/Paris"})
    st = stage(tmp_path, [r], sender, clock)
    st.write([story(1), story(2)])
    clock.t = T0 + timedelta(hours=5)
    st.write([story(3)])
    assert sender.sent == [] and st.tick(T0 + timedelta(hours=20)) == {}
    due = datetime(2024, 6, 4, 6, 0, tzinfo=timezone.utc)  # next 08:00 Paris
    assert st.tick(due) == {"sent": 1}
    (digest,) = sender.sent
    assert digest["Subject"] == "[newswatch] MEK: digest, 3 new stories"
    text = digest.get_body(("plain",)).get_content()
    assert all(f"MEK story {i}" in text for i in (1, 2, 3))
    assert st.tick(due + timedelta(days=1)) == {}  # nothing new: no email
    assert len(sender.sent) == 1


def test_failures_back_off_then_deliver_once(tmp_path):
    sender, clock = FakeSender(), Clock(T0)
    sender.fail = SendError("connection refused")
    st = stage(tmp_path, [rule()], sender, clock)
    st.write([seed_article()])
    (p,) = st.ledger.entries(status="pending")
    assert p.attempts == 1 and p.next_attempt == T0 + timedelta(seconds=30)
    assert st.tick(T0 + timedelta(seconds=29)) == {}  # backing off
    assert st.tick(T0 + timedelta(seconds=30)) == {"retrying": 1}
    (p,) = st.ledger.entries(status="pending")
    assert p.attempts == 2 and p.next_attempt == T0 + timedelta(seconds=90)  # doubled
    sender.fail = None
    assert st.tick(T0 + timedelta(minutes=5)) == {"sent": 1}
    assert st.tick(T0 + timedelta(hours=5)) == {}
    assert len(sender.sent) == 1


def test_permanent_failure_is_visible_and_not_retried(tmp_path):
    sender = FakeSender()
    sender.fail = SendError("recipient refused: 550", permanent=True)
    st = stage(tmp_path, [rule()], sender)
    st.write([seed_article()])
    (f,) = st.ledger.entries(status="failed")
    assert "550" in f.last_error
    assert st.tick(T0 + timedelta(days=1)) == {}


def test_rule_removed_while_pending_is_not_sent(tmp_path):
    sender = FakeSender()
    sender.fail = SendError("down")
    st = stage(tmp_path, [rule()], sender)
    st.write([seed_article()])
    st.close()
    sender.fail = None
    st = stage(tmp_path, [rule(id="other", query="Albania")], sender)
    assert st.tick(T0 + timedelta(hours=1)) == {"dropped": 1}
    assert sender.sent == []
    assert "removed" in st.ledger.entries(status="failed")[0].last_error


def test_bad_article_does_not_stop_the_batch(tmp_path):
    sender = FakeSender()
    st = stage(tmp_path, [rule()], sender)
    bad = seed_article()
    object.__setattr__(bad, "content", None)  # a broken message that slipped through
    with pytest.raises(PermanentError, match=bad.id) as info:  # the transport dead-letters / quarantines it
        st.write([bad, story(1)])
    assert info.value.article_ids == {bad.id}
    assert [m["Subject"] for m in sender.sent] == ["[newswatch] MEK: MEK story 1"]  # the rest went out
    assert st.counters.errors == 1


def test_maildir_when_no_smtp_and_startup_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="newswatch.alerts")
    st = build_alerts(Settings(data_dir=tmp_path, config_dir=tmp_path), rules=[rule()], clock=Clock(T0))
    assert any("no SMTP configured" in r.message and str(tmp_path / "maildir") in r.message for r in caplog.records)
    st.write([seed_article()])
    st.close()
    box = mailbox.Maildir(str(tmp_path / "maildir"), create=False)
    (msg,) = list(box)
    assert msg["Subject"].startswith("[newswatch] MEK: ")
    assert SqliteLedger(tmp_path / "alerts.sqlite3").counts()["sent"] == 1


def test_alias_is_highlighted_for_entity_rule(tmp_path):
    sender = FakeSender()
    st = stage(tmp_path, [rule()], sender)
    st.write([seed_article()])
    html = sender.sent[0].get_body(("html",)).get_content()
    assert "<mark>MEK</mark>" in html or "<mark>Mojahedin Khalq</mark>" in html


class CrashingSender(FakeSender):
    """Accepts *ok* messages, then the process "dies" mid-batch."""

    def __init__(self, ok: int):
        super().__init__()
        self.ok = ok

    def send_each(self, messages):
        for result in super().send_each(messages):
            yield result
            if len(self.sent) == self.ok:
                raise KeyboardInterrupt("killed")


def test_each_email_is_marked_sent_as_soon_as_accepted(tmp_path):
    sender = CrashingSender(ok=2)
    st = build_alerts(Settings(data_dir=tmp_path, config_dir=tmp_path), rules=[rule()], sender=sender,
                      clock=Clock(T0))
    st.flush_on_write = False
    st.write([story(n) for n in range(5)])
    with pytest.raises(KeyboardInterrupt):
        st.flush(T0)
    assert len(sender.sent) == 2
    assert st.ledger.counts()["sent"] == 2  # were all still "pending", all 5 would be resent


class FlakyLedger(SqliteLedger):
    def mark_sent(self, ids, message_id, now):
        if not getattr(self, "failed_once", False):
            self.failed_once = True
            raise OSError("disk I/O error")
        super().mark_sent(ids, message_id, now)


def test_a_failing_mark_sent_does_not_fail_the_batch(tmp_path, caplog):
    from newswatch.alerts import AlertStage

    sender = FakeSender()
    st = AlertStage([rule()], FlakyLedger(tmp_path / "alerts.sqlite3"), sender, clock=Clock(T0))
    st.write([story(1), story(2), story(3)])  # does not raise
    assert len(sender.sent) == 3
    assert st.ledger.counts()["sent"] == 2
    assert any(r.levelno == logging.CRITICAL and "ACCEPTED" in r.message for r in caplog.records)


class SlowSender(FakeSender):
    def send_each(self, messages):
        time.sleep(0.3)  # an SMTP round trip, so the second flusher runs meanwhile
        yield from super().send_each(messages)


def test_two_stages_on_one_ledger_file_send_once(tmp_path):
    """`newswatch run` beside `newswatch alerts flush`: both flush at once."""
    from newswatch.alerts import AlertStage

    sender = SlowSender()
    path = tmp_path / "alerts.sqlite3"
    a, b = (AlertStage([rule()], SqliteLedger(path), sender, clock=Clock(T0), flush_on_write=False)
            for _ in range(2))
    seed = seed_article()
    a.write([seed])
    b.write([seed])
    t = threading.Thread(target=a.tick)
    t.start()
    time.sleep(0.05)
    b.tick()
    t.join()
    assert len(sender.sent) == 1
    assert a.ledger.counts()["sent"] == 1
