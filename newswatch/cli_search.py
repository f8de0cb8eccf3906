"""``newswatch search`` and ``newswatch stats``: the index from the shell.

Both only need :class:`Settings` (from ``load_settings()``) and go through
:func:`newswatch.index.open_index`, so they work with whichever backend is
configured.  Feed content is untrusted: control characters (terminal escape
sequences) are removed before anything is printed.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from newswatch.pipeline.highlight import to_text
from newswatch.pipeline.query import QueryError, parse_query
from newswatch.pipeline.search import Hit, SearchBackend
from newswatch.pipeline.settings import Settings, load_settings

FeedHealth = Callable[[Settings], list[dict[str, Any]]]

# The lead may set this (or use stats_command(feed_health=...)): called with
# the settings, returns one dict per feed for the "feed health" table.
feed_health_provider: FeedHealth | None = None

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# C0/C1 controls except \x02/\x03 (our highlight markers) and tab
_CONTROL = re.compile(r"[\x00\x01\x04-\x08\x0a-\x1f\x7f-\x9f]")


def parse_when(value: str, *, end_of_day: bool = False, now: datetime | None = None) -> datetime:
    """'7d', '12h', '2w', '2024-01-31' or an ISO timestamp -> aware UTC datetime.

    A bare date given as an end bound means the end of that day, so
    ``--until 2024-01-31`` includes the 31st."""
    now = now or datetime.now(timezone.utc)
    m = _RELATIVE.match(value)
    if m:
        try:
            return now - timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})
        except OverflowError:
            return datetime.min.replace(tzinfo=timezone.utc)
    raw = value.strip()
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: use 7d, 12h, 2w, YYYY-MM-DD or an ISO timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    if end_of_day and len(raw) == 10:
        dt += timedelta(days=1)
    return dt.astimezone(timezone.utc)


def parse_since(value: str | None) -> datetime | None:
    """A --since value: None (no lower limit) for 'all' or nothing."""
    return None if value is None or value.strip().lower() in ("all", "") else parse_when(value)


def clean(text: str | None) -> str:
    """Untrusted text made safe for a terminal (no escape sequences)."""
    return _CONTROL.sub(" ", text or "")


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.find_object(Settings)
    if obj is not None:
        return obj
    if isinstance(ctx.obj, dict) and isinstance(ctx.obj.get("settings"), Settings):
        return ctx.obj["settings"]
    return load_settings()


def _open(settings: Settings) -> SearchBackend:
    from newswatch.index import BackendUnavailable, open_index

    try:
        return open_index(settings)
    except BackendUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _render_hit(hit: Hit, *, tty: bool) -> str:
    a = hit.article
    date = a.published_at.strftime("%Y-%m-%d %H:%M") if a.published_at else "????-??-?? ??:??"
    source = clean(a.source.name or a.source.domain or a.feed_id or "?")
    title = clean(a.title) or "(no title)"
    bold, off = ("\x1b[1m", "\x1b[0m") if tty else ("", "")
    lines = [f"{date}  {source}  {bold}{title}{off}"]
    tags = [f"entity:{e.id}" for e in a.entities] + [f"topic:{t.id}" for t in a.topics]
    if a.duplicate_of:
        tags.append(f"duplicate of {a.duplicate_of}")
    if tags:
        lines.append("  " + clean(" ".join(tags)))
    if hit.snippet:
        marked = clean(hit.snippet)
        lines.append("  " + (to_text(marked, "\x1b[1m", "\x1b[0m") if tty else to_text(marked)))
    if a.url:
        lines.append("  " + clean(a.url))
    return "\n".join(lines)


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--since", metavar="WHEN", help="Published at or after: 7d, 12h, 2w, 2024-01-01, ISO time ('all': no limit).")
@click.option("--until", metavar="WHEN", help="Published before (a bare date includes that day).")
@click.option("-n", "--limit", type=click.IntRange(0, 10_000), default=20, show_default=True)
@click.option("--sort", type=click.Choice(["date", "relevance"]), default="date", show_default=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"hits": [...], "total": N} as JSON.')
@click.option("--no-duplicates", is_flag=True, help="Hide copies of a story already indexed.")
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], since: str | None, until: str | None, limit: int,
           sort: str, as_json: bool, no_duplicates: bool) -> None:
    """Search indexed articles with the query language (Lucene syntax).

    \b
    Examples:
      newswatch search 'entity:mek AND (Albania OR "Camp Ashraf") NOT sport'
      newswatch search '"water supply"~3' --since 7d --sort relevance
      newswatch search 'language:fr AND topic:elections' --json
    """
    text = " ".join(query)
    try:
        node = parse_query(text)
    except QueryError as exc:
        click.echo(f"query error: {exc}", err=True)
        ctx.exit(2)
    start = parse_since(since)
    end = parse_when(until, end_of_day=True) if until else None
    index = _open(_settings(ctx))
    try:
        result = index.search(node, since=start, until=end, limit=limit, sort=sort,  # type: ignore[arg-type]
                              include_duplicates=not no_duplicates)
    except QueryError as exc:
        click.echo(f"query error: {exc}", err=True)
        ctx.exit(2)
    finally:
        index.close()
    if as_json:
        click.echo(json.dumps({"hits": [h.to_json() for h in result.hits], "total": result.total},
                              ensure_ascii=False, indent=2))
        return
    tty = sys.stdout.isatty()
    for hit in result.hits:
        click.echo(_render_hit(hit, tty=tty))
        click.echo()
    shown = len(result.hits)
    more = f" (showing {shown}; --limit for more)" if shown < result.total else ""
    click.echo(f"{result.total} article(s) match{more}", err=True)


def _table(title: str, rows: list[tuple[Any, ...]], headers: tuple[str, ...]) -> str:
    out = [title]
    if not rows:
        return title + "\n  (none)"
    cells = [tuple(clean(str(c)) for c in r) for r in rows]
    widths = [max(len(headers[i]), *(len(r[i]) for r in cells)) for i in range(len(headers))]

    def line(r: tuple[str, ...]) -> str:
        return "  " + "  ".join(c.rjust(w) if c.isdigit() else c.ljust(w) for c, w in zip(r, widths)).rstrip()

    out.append(line(headers))
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def stats_command(feed_health: FeedHealth | None = None) -> click.Command:
    """The ``stats`` command; *feed_health(settings)* (ingest's feed health,
    wired by the composition root) adds a per-feed table when given."""

    @click.command("stats")
    @click.option("--since", default="30d", show_default=True, metavar="WHEN",
                  help="Count articles published since: 7d, 2w, 2024-01-01 ('all' for everything).")
    @click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True,
                  help="Rows per entity/topic/source/language table.")
    @click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
    @click.pass_context
    def stats(ctx: click.Context, since: str, top: int, as_json: bool) -> None:
        """Coverage: articles per day, entity, topic, source and language; feed health."""
        settings = _settings(ctx)
        start = parse_since(since)
        index = _open(settings)
        try:
            s = index.stats(since=start, top=top)
        finally:
            index.close()
        health_fn = feed_health or feed_health_provider
        health: list[dict[str, Any]] | None = None
        if health_fn is not None:
            try:
                health = list(health_fn(settings))
            except Exception as exc:  # stats must still print
                click.echo(f"feed health unavailable: {exc}", err=True)
        if as_json:
            data: dict[str, Any] = {
                "since": start.isoformat() if start else None,
                "articles": s.articles,
                "stories": s.stories,
                "per_day": dict(s.per_day),
                "per_entity": dict(s.per_entity),
                "per_topic": dict(s.per_topic),
                "per_source": dict(s.per_source),
                "per_language": dict(s.per_language),
            }
            if health is not None:
                data["feeds"] = health
            click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
            return
        period = f"since {start:%Y-%m-%d %H:%M} UTC" if start else "all time"
        copies = (f" -- {s.stories} distinct stor{'y' if s.stories == 1 else 'ies'}; counts below include "
                  "syndicated copies (each copy is coverage)") if s.stories is not None and s.stories != s.articles else ""
        click.echo(f"{s.articles} article(s), {period}{copies}\n")
        blocks = [
            _table("Per day", s.per_day, ("day", "articles")),
            _table("Per entity", s.per_entity, ("entity", "articles")),
            _table("Per topic", s.per_topic, ("topic", "articles")),
            _table("Per source", s.per_source, ("source", "articles")),
            _table("Per language", s.per_language, ("language", "articles")),
        ]
        if health is not None:
            # the columns a person scans; --json has every field
            keys = [k for k in _HEALTH_COLUMNS if any(k in row for row in health)]
            if not keys:  # a provider with other fields: show them all
                keys = list(dict.fromkeys(k for row in health for k in row))
            rows = [tuple(_short(row.get(k)) for k in keys) for row in health]
            blocks.append(_table("Feed health", rows, tuple(keys)))
        click.echo("\n\n".join(blocks))

    return stats


_HEALTH_COLUMNS = ("feed_id", "health", "last_success", "consecutive_errors", "items_last_poll",
                   "items_total", "last_error")


def _short(value: Any) -> str:
    """Table cell: timestamps to the minute, long errors cut."""
    if value is None:
        return "-"
    text = str(value)
    if len(text) >= 16 and text[4:5] == "-" and text[10:11] == "T":
        return text[:16].replace("T", " ")
    return text if len(text) <= 60 else text[:57] + "..."


stats = stats_command()

__all__ = ["search", "stats", "stats_command", "feed_health_provider", "parse_when"]
