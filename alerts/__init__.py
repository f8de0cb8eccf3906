"""Keyword alerts: rules (config/alerts.yaml), matching, the ledger that
makes every (rule, story) alert exactly once, and delivery by email (SMTP or
a local Maildir), digests, throttling and webhooks.

    from newswatch.alerts import build_alerts
    stage = build_alerts(settings)       # a Sink named "alerts"
    stage.write(batch); stage.tick()     # tick() every ~30 s for digests/retries
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from newswatch.pipeline.config import ConfigError
from newswatch.pipeline.settings import Settings

from newswatch.alerts.backtest import BacktestHit, backtest
from newswatch.alerts.delivery import EmailSender, MaildirSender, SmtpSender, WebhookSender
from newswatch.alerts.ledger import Ledger, SqliteLedger
from newswatch.alerts.rules import AlertRule, load_rules, parse_duration
from newswatch.alerts.service import AlertStage

log = logging.getLogger(__name__)

__all__ = [
    "AlertRule", "AlertStage", "BacktestHit", "Ledger", "SqliteLedger", "SmtpSender", "MaildirSender",
    "WebhookSender", "backtest", "build_alerts", "build_sender", "load_rules", "open_ledger", "parse_duration",
]


def open_ledger(settings: Settings) -> Ledger:
    """The embedded ledger (``<data_dir>/alerts.sqlite3``)."""
    return SqliteLedger.in_data_dir(settings.data_dir)


def build_sender(settings: Settings) -> EmailSender:
    """SMTP when NEWSWATCH_SMTP_HOST is set, else a local Maildir -- said
    once, loudly, at start-up so nobody waits for mail that is on disk."""
    if settings.smtp_host:
        try:
            password = settings.smtp_secret()
        except OSError as exc:
            raise ConfigError(str(settings.smtp_password_file), f"cannot read the SMTP password file: "
                              f"{exc.strerror} -- fix NEWSWATCH_SMTP_PASSWORD_FILE") from None
        sender = SmtpSender(settings.smtp_host, settings.smtp_port, security=settings.smtp_security,
                            user=settings.smtp_user, password=password, timeout=settings.smtp_timeout)
        log.info("alerts: email via %s, from %s", sender.description, settings.smtp_from)
        return sender
    path = settings.data_dir / "maildir"
    log.warning("alerts: no SMTP configured (NEWSWATCH_SMTP_HOST unset): alert emails go to the local "
                "Maildir %s (read it with `mutt -f %s`)", path, path)
    return MaildirSender(path)


def build_alerts(settings: Settings, *, rules: Sequence[AlertRule] | None = None,
                 sender: EmailSender | None = None, ledger: Ledger | None = None,
                 webhook: object | None = None, clock: Callable[[], datetime] | None = None) -> AlertStage:
    """The alerts sink, wired from settings; every part can be injected."""
    if rules is None:
        rules = load_rules(settings.config_dir)
    settings.ensure_data_dir()
    sender = sender or build_sender(settings)
    ledger = ledger or open_ledger(settings)
    if webhook is None and any(r.webhook for r in rules):
        webhook = WebhookSender()
    kwargs = {"clock": clock} if clock else {}
    stage = AlertStage(rules, ledger, sender, sender_address=settings.smtp_from,
                       default_timezone=settings.timezone, webhook=webhook, **kwargs)  # type: ignore[arg-type]
    counts = ledger.counts()
    log.info("alerts: %d rule(s) enabled of %d; ledger: %d stories alerted, %d pending, %d failed",
             len(stage.matcher), len(rules), counts.get("claimed", 0), counts.get("pending", 0),
             counts.get("failed", 0))
    return stage
