"""`newswatch demo`: the whole embedded pipeline over bundled sample feeds,
offline, into the configured data dir, then a report of what was tagged.

Runs the real code paths (HTTP fetch from a local server, feedparser,
enrichment, SQLite index, alert rules and delivery) so what the demo shows is
what `newswatch run` does with real feeds.
"""

from __future__ import annotations

import shlex
import time

import click

from newswatch.demo.samples import FEEDS
from newswatch.demo.server import DemoFeedServer
from newswatch.pipeline.query import parse_query
from newswatch.pipeline.settings import Settings


def _allow_loopback(settings: Settings) -> Settings:
    allowed = {h for h in settings.allow_private_hosts.split(",") if h.strip()}
    allowed.add("127.0.0.1")
    return settings.model_copy(update={"allow_private_hosts": ",".join(sorted(allowed))})


def run_demo(settings: Settings, *, keep_serving: bool = False) -> None:
    from newswatch.ingest import FeedConfig

    settings = _allow_loopback(settings)
    settings.ensure_data_dir()
    echo = click.echo
    with DemoFeedServer() as server:
        feeds = [
            FeedConfig(id=fid, url=server.feed_url(fid), name=spec["name"], interval=300, tags=["demo"])
            for fid, spec in FEEDS.items()
        ]
        echo(f"Serving {len(feeds)} sample feeds at {server.base_url}; data dir {settings.data_dir}; "
             f"transport {settings.transport}, index {settings.index}")
        if settings.transport == "kafka":
            _run_over_kafka(settings, feeds, echo)
        else:
            _run_embedded(settings, feeds, echo)
        if keep_serving:
            echo("Feed server still up; Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    # the commands must find what the demo wrote, wherever that was
    import os

    nw = "newswatch"
    if os.environ.get("NEWSWATCH_DATA_DIR"):
        nw += f" --data-dir {shlex.quote(str(settings.data_dir))}"
    echo("\nTry next:")
    echo(f"  {nw} search 'entity:mek AND Albania'")
    echo(f"  {nw} search '\"National Council of Resistance\" OR entity:ncri' --json")
    echo(f"  {nw} stats")
    echo("  newswatch tag - <<< 'The PMOI held a rally in Tirana.'")


def _run_embedded(settings: Settings, feeds: list, echo) -> None:  # type: ignore[type-arg]
    from newswatch import app as appmod

    app = appmod.build_embedded(settings, feeds=feeds)
    started = time.perf_counter()
    try:
        appmod.run_once(app)
        elapsed = time.perf_counter() - started
        c = app.pipeline.counters
        echo(f"Fetched and processed {c.received} new articles in {elapsed:.2f}s "
             f"({c.duplicates} marked duplicate, {c.quarantined} quarantined)."
             + ("" if c.received else " (All already seen: the data dir has them from an earlier run.)"))
        _report(app.index, echo)
        sent = getattr(getattr(app.alerts, "counters", None), "sent", 0)
        _report_alerts(sent, settings, echo)
    finally:
        app.close()


def _run_over_kafka(settings: Settings, feeds: list, echo) -> None:  # type: ignore[type-arg]
    """Every stage over Kafka, in this process (the demo's feeds exist only
    here, so no separate ingest worker could poll them)."""
    from newswatch.index import open_index
    from newswatch.workers import run_pipeline_once_over_kafka

    result = run_pipeline_once_over_kafka(settings, feeds)
    echo(f"Over Kafka ({settings.kafka_bootstrap}) in {result['seconds']:.2f}s: "
         f"{result['ingested']} articles produced to {settings.kafka_topic_raw}")
    for stage in ("enrich", "index", "alerts"):
        echo(f"  {stage:7s} {result[stage].line()}")
    index = open_index(settings)
    try:
        _report(index, echo)
    finally:
        index.close()
    echo("Alerts: `newswatch alerts history` lists what the alerts worker sent "
         f"({'SMTP ' + settings.smtp_host if settings.smtp_host else 'Maildir ' + str(settings.data_dir / 'maildir')}).")


def _report(index: "object", echo) -> None:  # type: ignore[type-arg]
    result = index.search(parse_query("feed:demo-*"), limit=50)
    echo(f"\nIndexed sample articles: {result.total}\n")
    for hit in result.hits:
        a = hit.article
        flag = f"  [duplicate of {a.duplicate_of[:8]}]" if a.duplicate_of else ""
        echo(f"* {a.title}  ({a.source.name}, {a.language or '?'}){flag}")
        if not a.entities:
            echo("    entities: none")
        for e in a.entities:
            m = e.matches[0] if e.matches else None
            where = ""
            if m is not None:
                text = getattr(a, m.field)
                ctx = text[max(0, m.start - 30): m.end + 30].replace("\n", " ")
                where = f' first at {m.field}[{m.start}:{m.end}] "{text[m.start:m.end]}" in "…{ctx}…"'
            echo(f"    {e.id} ({e.type}) x{e.count}{where}")
        if a.topics:
            echo("    topics: " + ", ".join(f"{t.id} ({t.score:g})" for t in a.topics))
    echo("")


def _report_alerts(sent: int, settings: Settings, echo) -> None:  # type: ignore[type-arg]
    where = (f"SMTP {settings.smtp_host}:{settings.smtp_port}" if settings.smtp_host
             else f"the Maildir {settings.data_dir / 'maildir'} (no SMTP configured)")
    echo(f"Alerts delivered this run: {sent}, through {where}.")
    if not sent:
        echo("(A second run on the same data dir sends nothing new: every story was alerted once.)")
