"""The alerts stage: match, claim once per (rule, story), deliver.

    write(batch)  match each article -> claim (rule, story) in the ledger
                  together with its outbox rows -> flush what is due
    tick(now)     called by the scheduler (~30 s): digests that came due,
                  retries whose backoff expired, throttled alerts whose window
                  freed up

Why an outbox instead of sending inline: an alert counts as sent only once a
server accepted it.  Until then it is a row in the ledger that survives
restarts, is retried with exponential backoff, and shows up in
``newswatch alerts history --pending``.  Sending is at-least-once (a crash
between the server's "250 OK" and the ledger update resends, with the same
Message-ID); claiming is exactly-once.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from newswatch.pipeline.article import Article, utcnow
from newswatch.pipeline.stage import PermanentError
from newswatch.pipeline.urls import stable_id

from newswatch.alerts.delivery import EmailSender, SendError, WebhookPoster
from newswatch.alerts.items import NewDelivery, OutboxEntry
from newswatch.alerts.ledger import Ledger
from newswatch.alerts.matching import RuleMatcher, alert_item
from newswatch.alerts.render import render_email, render_webhook
from newswatch.alerts.rules import AlertRule

log = logging.getLogger(__name__)


class AlertStage:
    """A :class:`newswatch.pipeline.stage.Sink` named ``alerts``."""

    name = "alerts"

    def __init__(
        self,
        rules: Sequence[AlertRule],
        ledger: Ledger,
        email: EmailSender,
        *,
        sender_address: str = "newswatch@localhost",
        default_timezone: str = "UTC",
        webhook: WebhookPoster | None = None,
        clock: Callable[[], datetime] = utcnow,
        backoff_base: timedelta = timedelta(seconds=30),
        backoff_max: timedelta = timedelta(hours=1),
        max_attempts: int = 48,
        flush_on_write: bool = True,
    ):
        self.rules = {r.id: r for r in rules}
        self.matcher = RuleMatcher(rules)
        self.ledger = ledger
        self.email = email
        self.webhook = webhook
        self.sender_address = sender_address
        self.default_tz = default_timezone
        self.clock = clock
        self.backoff_base, self.backoff_max, self.max_attempts = backoff_base, backoff_max, max_attempts
        self.flush_on_write = flush_on_write
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._tzs = {r.id: r.tz(default_timezone) for r in rules}
        self._schedules = {r.id: r.schedule(default_timezone) for r in rules}

    @property
    def counters(self) -> SimpleNamespace:
        """Run totals for status lines: articles, matched, queued,
        already_alerted, sent (emails/posts accepted), retrying, held, failed."""
        keys = ("articles", "matched", "queued", "already_alerted", "sent", "retrying", "held", "failed", "errors")
        return SimpleNamespace(**{k: self.stats.get(k, 0) for k in keys})

    # -- Sink ----------------------------------------------------------------
    def write(self, batch: Sequence[Article]) -> None:
        """Claim and enqueue (durable, or raise), then try to deliver.  A
        delivery failure does not fail the batch: the alert is in the outbox.

        An article that cannot be matched or turned into an alert is not
        skipped silently: once the rest of the batch is claimed and flushed,
        :class:`PermanentError` names it, so the transport quarantines or
        dead-letters just that one."""
        now = self.clock()
        bad: list[str] = []
        bad_ids: set[str] = set()
        for article in batch:
            self.stats["articles"] += 1
            try:
                matched = self.matcher.match(article)
            except Exception as exc:
                self.stats["errors"] += 1
                log.exception("alerts: cannot match article %s", article.id)
                bad.append(f"{article.id}: cannot match: {exc!r}")
                bad_ids.add(article.id)
                continue
            for rule in matched:
                self.stats["matched"] += 1
                err = self._claim(rule, article, now)
                if err:
                    bad.append(err)
                    bad_ids.add(article.id)
        if self.flush_on_write:
            self.flush(self.clock())
        if bad:
            raise PermanentError(f"alerts: {len(bad)} alert(s) could not be built: " + "; ".join(bad[:5]),
                                 article_ids=sorted(bad_ids))

    def _claim(self, rule: AlertRule, article: Article, now: datetime) -> str | None:
        """Claim (rule, story); an error description if the alert cannot be built."""
        try:
            item = alert_item(rule, article)
        except Exception as exc:
            self.stats["errors"] += 1
            log.exception("alerts: cannot build the alert for rule %s, article %s", rule.id, article.id)
            return f"{article.id}: rule {rule.id}: {exc!r}"
        schedule = self._schedules.get(rule.id)
        kind = "digest" if schedule else "immediate"
        due = schedule.next_after(now) if schedule else now
        deliveries = [NewDelivery(ch, addr, kind, due, item) for ch, addr in rule.channels()]
        if self.ledger.claim(rule.id, article.story_id, article.id, deliveries, now):
            self.stats["queued"] += 1
            log.info("alerts: rule %s matched story %s (%s); %s", rule.id, article.story_id,
                     article.source.domain or article.feed_id, "sending" if kind == "immediate"
                     else f"in the digest due {due:%Y-%m-%d %H:%M} UTC")
        else:
            self.stats["already_alerted"] += 1
            log.debug("alerts: rule %s already alerted story %s (article %s)", rule.id, article.story_id, article.id)
        return None

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Deliver whatever is due now: digests, retries, held alerts."""
        return self.flush(now or self.clock())

    def close(self) -> None:
        close = getattr(self.webhook, "close", None)
        if close:
            close()
        self.ledger.close()

    # -- delivery ------------------------------------------------------------
    def flush(self, now: datetime) -> dict[str, int]:
        report: Counter[str] = Counter()
        with self._lock:
            for _ in range(20):  # bounded: each round only sees rows due now
                entries = self.ledger.due(now, limit=1000)
                if not entries:
                    break
                self._deliver(entries, now, report)
                if len(entries) < 1000:
                    break
        self.stats.update(report)
        return dict(report)

    def _deliver(self, entries: list[OutboxEntry], now: datetime, report: Counter[str]) -> None:
        groups: dict[tuple[str, str, str], list[OutboxEntry]] = defaultdict(list)
        for e in entries:
            groups[(e.rule_id, e.channel, e.recipient)].append(e)
        emails: list[tuple[EmailMessage, list[OutboxEntry]]] = []
        posts: list[tuple[str, dict, str, list[OutboxEntry]]] = []
        for (rule_id, channel, recipient), group in groups.items():
            rule = self.rules.get(rule_id)
            if rule is None or not rule.enabled:
                self.ledger.mark_retry([e.id for e in group], "rule removed from alerts.yaml or disabled; not sent",
                                       now, count_attempt=False, give_up=True)
                report["dropped"] += len(group)
                continue
            digest = any(e.kind == "digest" for e in group)
            for chunk in self._chunks(rule, channel, recipient, group, digest, now, report):
                items = [e.item for e in chunk]
                tz = self._tzs.get(rule.id) or ZoneInfo(self.default_tz)
                try:
                    if channel == "email":
                        emails.append((render_email(rule, items, recipient=recipient, sender=self.sender_address,
                                                    tz=tz, digest=digest, now=now), chunk))
                    else:
                        mid = f"<{stable_id('hook', rule.id, recipient, *sorted(i.story_id for i in items))}>"
                        posts.append((recipient, render_webhook(rule, items, tz=tz, digest=digest), mid, chunk))
                except Exception as exc:  # a rendering bug must not wedge the outbox
                    log.exception("alerts: cannot render rule %s for %s", rule.id, recipient)
                    self._failed(chunk, SendError(f"render error: {exc}"), now, report)
        # Each message is marked sent as soon as the server took it (the
        # sender yields one result at a time, on one connection): a crash
        # mid-batch resends at most the message in flight.
        # strict: a sender that answers for fewer messages is a bug, not silence (and the
        # generator is run to its end, so the SMTP connection closes right after the last)
        for (msg, chunk), err in zip(emails, self.email.send_each([m for m, _ in emails]), strict=True):
            if err is None:
                self._mark_sent(chunk, str(msg["Message-ID"]), now, report)
                report["sent"] += 1
                log.info("alerts: sent %r to %s via %s (%d %s)", str(msg["Subject"]), chunk[0].recipient,
                         self.email.description, len(chunk), "story" if len(chunk) == 1 else "stories")
            else:
                self._failed(chunk, err, now, report)
        if posts:
            if self.webhook is None:
                for *_, chunk in posts:
                    self._failed(chunk, SendError("no webhook sender configured", permanent=True), now, report)
            else:
                results = self.webhook.post_each([(url, payload) for url, payload, _, _ in posts])
                for (_, _, mid, chunk), err in zip(posts, results, strict=True):
                    if err is None:
                        self._mark_sent(chunk, mid, now, report)
                        report["sent"] += 1
                    else:
                        self._failed(chunk, err, now, report)

    def _mark_sent(self, chunk: list[OutboxEntry], message_id: str, now: datetime, report: Counter[str]) -> None:
        """Record an accepted delivery.  If the ledger fails here the message
        is out already: failing the batch would resend everything still
        pending, so log it loudly and go on (this one entry is resent once
        its lease runs out)."""
        try:
            self.ledger.mark_sent([e.id for e in chunk], message_id, now)
        except Exception:
            report["errors"] += 1
            log.critical("alerts: %s (rule %s to %s) was ACCEPTED but the ledger could not record it; it "
                         "will be sent again when its lease expires (entries %s)", message_id, chunk[0].rule_id,
                         chunk[0].recipient, ", ".join(e.id for e in chunk))

    def _chunks(self, rule: AlertRule, channel: str, recipient: str, group: list[OutboxEntry],
                digest: bool, now: datetime, report: Counter[str]) -> list[list[OutboxEntry]]:
        """Split due entries into emails, within the throttle.  Over the
        limit nothing is dropped: the surplus is folded into the last email
        allowed, or held until the window frees a slot."""
        allowed: float = math.inf
        t = rule.throttle
        if t is not None:
            times = self.ledger.sent_times(rule.id, channel, recipient, now - t.window)
            allowed = t.max - len(times)
            if allowed <= 0:
                free_at = times[len(times) - t.max] + t.window
                self.ledger.mark_retry([e.id for e in group],
                                       f"throttled ({t.max} per {t.per}); next email at {free_at:%Y-%m-%d %H:%M} UTC",
                                       free_at, count_attempt=False)
                report["held"] += len(group)
                return []
        if digest:
            return [group]
        if len(group) <= allowed:
            return [[e] for e in group]
        k = int(allowed)
        return [[e] for e in group[: k - 1]] + [group[k - 1 :]]

    def _failed(self, chunk: list[OutboxEntry], err: SendError, now: datetime, report: Counter[str]) -> None:
        attempts = max(e.attempts for e in chunk) + 1
        give_up = err.permanent or attempts >= self.max_attempts
        delay = min(self.backoff_base * (2 ** (attempts - 1)), self.backoff_max)
        self.ledger.mark_retry([e.id for e in chunk], err.message, now + delay, give_up=give_up)
        if give_up:
            report["failed"] += 1
            log.error("alerts: giving up on rule %s to %s after %d attempt(s): %s (requeue with "
                      "`newswatch alerts retry`)", chunk[0].rule_id, chunk[0].recipient, attempts, err.message)
        else:
            report["retrying"] += 1
            log.warning("alerts: delivery of rule %s to %s failed (attempt %d), retrying in %ds: %s",
                        chunk[0].rule_id, chunk[0].recipient, attempts, delay.total_seconds(), err.message)
