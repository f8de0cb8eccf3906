"""``newswatch feeds ...``: list configured feeds with their health, check one
URL, import a reader's OPML export.

Needs only :class:`Settings` from ``load_settings()``.  Feed text is
untrusted: control characters (terminal escape sequences) are removed before
anything from a feed is printed.
"""

from __future__ import annotations

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
    click.echo(f"{'ID':<22} {'HEALTH':<13} {'LAST OK':<16} {'NEXT':<16} {'ERR':>3} {'NEW':>4} {'SEEN':>5}  URL")
    for r in rows:
        click.echo(f"{r['id'][:22]:<22} {r['health']:<13} {_when(r['last_success']):<16} "
                   f"{_when(r['next_due']):<16} {r['consecutive_errors']:>3} {r['items_last_poll']:>4} "
                   f"{r['seen_items']:>5}  {r['url']}")
        if r.get("last_error") and r["consecutive_errors"]:
            click.echo(f"{'':<22} last error: {_safe(r['last_error'])}")
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
