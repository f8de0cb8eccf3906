"""`newswatch alerts ...`: list rules, backtest one, see what was sent or is
pending, deliver what is due, requeue failures.

Needs only :func:`load_settings`; the index is opened lazily, here in the
composition layer, because the alerts package never imports index/.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import click

from newswatch.pipeline.settings import Settings, load_settings


def _settings() -> Settings:
    return load_settings()


def _rules(settings: Settings):
    from newswatch.alerts import load_rules

    return load_rules(settings.config_dir)


def _delivery(rule) -> str:
    d = rule.delivery
    if d.mode == "digest":
        return f"digest {d.digest}" + (f" ({d.timezone})" if d.timezone else "")
    return "immediate"


def _when(d: datetime | None) -> str:
    return d.astimezone().strftime("%Y-%m-%d %H:%M") if d else "-"


@click.group("alerts")
def alerts() -> None:
    """Email alerts: rules in alerts.yaml, one alert per story and rule.

    \b
      newswatch alerts list
      newswatch alerts test mek-albania --since 30d   # what would have been sent
      newswatch alerts history --pending               # waiting for the mail server
    """


@alerts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_rules(as_json: bool) -> None:
    """The rules in alerts.yaml (validated) and what each has sent."""
    from newswatch.alerts import open_ledger

    settings = _settings()
    rules = _rules(settings)
    ledger = open_ledger(settings)
    try:
        rows = []
        for r in rules:
            sent = ledger.entries(rule_id=r.id, status="sent", limit=100000)
            pending = ledger.entries(rule_id=r.id, status="pending", limit=100000)
            rows.append((r, len({e.story_id for e in sent}), len(pending)))
    finally:
        ledger.close()
    if as_json:
        click.echo(json.dumps([
            {"id": r.id, "name": r.title, "query": r.query, "enabled": r.enabled, "recipients": r.recipients,
             "webhook": bool(r.webhook), "delivery": _delivery(r),
             "throttle": f"{r.throttle.max}/{r.throttle.per}" if r.throttle else None,
             "stories_sent": n_sent, "pending": n_pending}
            for r, n_sent, n_pending in rows], indent=2))
        return
    if not rules:
        click.echo(f"no alert rules in {settings.config_dir / 'alerts.yaml'}")
        return
    for r, n_sent, n_pending in rows:
        state = "" if r.enabled else "  [disabled]"
        click.echo(f"{r.id}{state}  {r.title}")
        click.echo(f"    query     {r.query}")
        to = ", ".join(r.recipients + (["webhook"] if r.webhook else []))
        click.echo(f"    to        {to}")
        throttle = f", at most {r.throttle.max} per {r.throttle.per}" if r.throttle else ""
        click.echo(f"    delivery  {_delivery(r)}{throttle}")
        click.echo(f"    sent      {n_sent} stories, {n_pending} deliveries pending")


@alerts.command("test")
@click.argument("rule_id")
@click.option("--since", default="30d", show_default=True, metavar="WHEN",
              help="How far back: 12h, 7d, 30d, 8w, a date (2024-01-01) or an ISO time.")
@click.option("--limit", default=50, show_default=True, help="At most this many stories.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def test_rule(rule_id: str, since: str, limit: int, as_json: bool) -> None:
    """Backtest RULE_ID on the index: the stories it would have alerted on.

    Nothing is sent and nothing is recorded."""
    from newswatch.alerts import backtest, open_ledger
    from newswatch.index import open_index
    from newswatch.pipeline.highlight import to_text

    settings = _settings()
    rules = {r.id: r for r in _rules(settings)}
    if rule_id not in rules:
        known = ", ".join(sorted(rules)) or "none"
        raise click.UsageError(f"no rule {rule_id!r} in {settings.config_dir / 'alerts.yaml'} (rules: {known})")
    from newswatch.cli_search import parse_when  # the same WHEN forms as search and stats

    try:
        start = parse_when(since)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="--since") from None
    rule = rules[rule_id]
    index = open_index(settings)
    ledger = open_ledger(settings)
    try:
        hits = backtest(rule, index, start, ledger=ledger, limit=limit)
    finally:
        index.close()
        ledger.close()
    if as_json:
        click.echo(json.dumps({"rule": rule.id, "query": rule.query, "since": start.isoformat(),
                               "stories": [h.to_json() for h in hits]}, indent=2, ensure_ascii=False))
        return
    new = sum(1 for h in hits if not h.already_sent)
    how = "one email each" if rule.delivery.mode == "immediate" else f"in the {rule.delivery.digest} digest"
    click.echo(f"rule {rule.id}: {rule.query}")
    click.echo(f"{len(hits)} stories since {_when(start)} ({new} not alerted yet, {how}):\n")
    for h in hits:
        a = h.hit.article
        mark = "sent " if h.already_sent else "new  "
        click.echo(f"{mark} {_when(a.published_at)}  {a.source.name or a.source.domain}  {a.title}")
        click.echo(f"       {to_text(h.hit.snippet)}")
        if a.url:
            click.echo(f"       {a.url}")
    if len(hits) >= limit:
        click.echo(f"\n(showing the first {limit}; --limit for more)")


@alerts.command("history")
@click.option("--limit", default=20, show_default=True)
@click.option("--pending", is_flag=True, help="Only deliveries not yet accepted by the server.")
@click.option("--failed", is_flag=True, help="Only deliveries given up on.")
@click.option("--rule", "rule_id", help="Only this rule.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history(limit: int, pending: bool, failed: bool, rule_id: str | None, as_json: bool) -> None:
    """What was sent, what is waiting (with the last error), what failed."""
    from newswatch.alerts import open_ledger

    settings = _settings()
    status = "pending" if pending else "failed" if failed else None
    ledger = open_ledger(settings)
    try:
        entries = ledger.entries(status=status, rule_id=rule_id, limit=limit)
        counts = ledger.counts()
    finally:
        ledger.close()
    if as_json:
        click.echo(json.dumps({"counts": counts, "entries": [e.to_json() for e in entries]}, indent=2,
                              ensure_ascii=False))
        return
    click.echo(f"{counts['claimed']} stories alerted; deliveries: {counts['sent']} sent, "
               f"{counts['pending']} pending, {counts['failed']} failed\n")
    for e in entries:
        if e.status == "sent":
            when = f"sent {_when(e.sent_at)}"
        elif e.status == "pending":
            when = f"pending, next try {_when(e.next_attempt)}" + (f" ({e.attempts} tries)" if e.attempts else "")
        else:
            when = f"FAILED after {e.attempts} tries"
        click.echo(f"{when:<34} {e.rule_id:<18} {e.channel}:{e.recipient if e.channel == 'email' else 'webhook'}")
        click.echo(f"{'':<34} {e.item.source}: {e.item.title}")
        if e.last_error and e.status != "sent":
            click.echo(f"{'':<34} last error: {e.last_error}")


@alerts.command("flush")
def flush() -> None:
    """Deliver everything due now (digests, retries), then exit."""
    from newswatch.alerts import build_alerts

    stage = build_alerts(_settings())
    try:
        report = stage.tick()
    finally:
        stage.close()
    click.echo(", ".join(f"{k} {v}" for k, v in sorted(report.items())) or "nothing due")


@alerts.command("retry")
@click.option("--rule", "rule_id", help="Only this rule.")
def retry(rule_id: str | None) -> None:
    """Put failed deliveries back in the queue (after fixing SMTP settings)."""
    from newswatch.alerts import open_ledger

    ledger = open_ledger(_settings())
    try:
        n = ledger.requeue_failed(datetime.now(timezone.utc), rule_id)
    finally:
        ledger.close()
    click.echo(f"{n} deliveries back in the queue; `newswatch alerts flush` sends them now")
    sys.exit(0)
