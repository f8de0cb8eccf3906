"""``newswatch feeds ...``: list configured feeds with their health, check one
URL, import a reader's OPML export.

Needs only :class:`Settings` from ``load_settings()``.  Feed text is
untrusted: control characters (terminal escape sequences) are removed before
anything from a feed is printed.
"""

from __future__ import annotations

from collections.abc import Sequence

import json
import re
from datetime import datetime
from pathlib import Path

import click

from newswatch.pipeline.config import ConfigError
from newswatch.pipeline.settings import Settings, load_settings

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _safe(text: object) -> str:
    return _CONTROL.sub("", str(text))


def _settings() -> Settings:
    return load_settings()


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60:
        return f"{round(seconds / 60)}m"
    return f"{round(seconds)}s"


def _every(row: dict) -> str:
    """The interval the feed is polled at now, starred when it is not the
    configured one (adaptive polling or error backoff moved it)."""
    configured, current = row.get("configured_interval"), row.get("interval")
    if not configured:  # no longer (or never) in feeds.yaml: what it was polled at
        return _duration(current) if current else "-"
    if current and abs(current - configured) > 1:
        return f"{_duration(current)}*"
    return _duration(configured)


def _when(value: object) -> str:
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(str(value)).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(value)


@click.group("feeds")
def feeds() -> None:
    """RSS/Atom feeds: config/feeds.yaml, their health, and checking a URL.

    \b
      newswatch feeds list
      newswatch feeds check https://feeds.bbci.co.uk/news/world/rss.xml
      newswatch feeds import-opml subscriptions.opml --merge
    """


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_feeds(as_json: bool) -> None:
    """Configured feeds (validated) and how each is doing."""
    from newswatch.ingest import feed_health, load_feeds

    settings = _settings()
    try:
        load_feeds(settings.config_dir, allow_empty=True)  # report config errors, not an empty table
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    rows = feed_health(settings)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(f"No feeds in {settings.config_dir / 'feeds.yaml'}.")
        return
    headers = ("ID", "HEALTH", "LAST OK", "NEXT", "EVERY", "ERR", "NEW", "SEEN", "URL")
    table = [(_safe(r["id"])[:40], r["health"], _when(r["last_success"]), _when(r["next_due"]), _every(r),
              str(r["consecutive_errors"]), str(r["items_last_poll"]), str(r["seen_items"]), _safe(r["url"]))
             for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    right = {5, 6, 7}  # the counts

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(out).rstrip()

    click.echo(line(headers))
    for r, cells in zip(rows, table):
        click.echo(line(cells))
        if r.get("last_error") and r["consecutive_errors"]:
            click.echo(f"{'':<{widths[0]}}  last error: {_safe(r['last_error'])}")
    if any("*" in t[4] for t in table):
        click.echo("\n* polled at another interval than configured: adapted to how often the feed has news "
                   "(within 4x either way), or backing off after errors")
    click.echo(f"\nconfig: {settings.config_dir / 'feeds.yaml'}   state: {settings.data_dir}")


@feeds.command("check")
@click.argument("url")
@click.option("--allow-private", is_flag=True,
              help="Allow loopback/private addresses for this check (e.g. a feed on your intranet).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check(url: str, allow_private: bool, as_json: bool) -> None:
    """Fetch and parse one feed URL: what was found, or exactly why it failed.

    Exits 1 when the URL is not a usable feed."""
    from newswatch.ingest import check_feed_url

    rep = check_feed_url(_settings(), url, allow_private=allow_private)
    if as_json:
        click.echo(json.dumps(rep.to_dict(), indent=2, default=str))
    else:
        click.echo(_safe_text(rep.to_text()))
    if not rep.ok:
        raise SystemExit(1)


def _safe_text(text: str) -> str:
    return "\n".join(_safe(line) for line in text.split("\n"))


@feeds.command("import-opml")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="feeds.yaml to write (default: the one in NEWSWATCH_CONFIG_DIR).")
@click.option("--merge", is_flag=True, help="Add to an existing feeds.yaml, skipping URLs already in it.")
def import_opml_cmd(file: Path, output: Path | None, merge: bool) -> None:
    """Turn a feed reader's OPML export into feeds.yaml entries (folders become tags)."""
    from newswatch.ingest import import_opml

    out = output or (_settings().config_dir / "feeds.yaml")
    try:
        added, skipped = import_opml(file, out, merge=merge)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{added} feed(s) written to {out}" + (f"; {skipped} already present, skipped" if skipped else ""))
    if added:
        click.echo("Check them with `newswatch feeds list` and `newswatch feeds check URL`.")
