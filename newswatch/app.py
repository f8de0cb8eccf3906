"""The composition root: builds the stages from settings and connects them.

The only place that imports several stage packages; each stage knows nothing
of the others or of how it is connected.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from newswatch.pipeline.quarantine import Quarantine
from newswatch.pipeline.settings import Settings
from newswatch.pipeline.transport.inline import InlinePipeline

log = logging.getLogger("newswatch")


@dataclass
class Embedded:
    """Every stage in one process: ingest -> enrich -> (index, alerts)."""

    settings: Settings
    ingester: Any
    enricher: Any
    index: Any
    alerts: Any
    pipeline: InlinePipeline

    def close(self) -> None:
        self.pipeline.close()


def build_alert_stage(settings: Settings, index: Any | None = None) -> Any:
    """The alerts sink with the ledger that fits the index: SQLite in the data
    dir for the embedded index, the search engine itself otherwise, so several
    alert workers share one atomic (rule, story) ledger."""
    from newswatch.alerts import build_alerts

    if settings.index == "sqlite":
        return build_alerts(settings)
    from newswatch.alerts.ledger_search import SearchLedger

    if index is None:
        from newswatch.index import open_index

        index = open_index(settings)
    return build_alerts(settings, ledger=SearchLedger(index, prefix=settings.search_index_prefix))


def build_embedded(settings: Settings, *, feeds: Sequence[Any] | None = None) -> Embedded:
    from newswatch.enrich import build_enricher
    from newswatch.index import open_index
    from newswatch.ingest import build_ingester, load_feeds

    settings.ensure_data_dir()
    feeds = list(feeds) if feeds is not None else load_feeds(settings.config_dir)
    enricher = build_enricher(settings)
    index = open_index(settings)
    alerts = build_alert_stage(settings, index)
    pipeline = InlinePipeline(enricher, [index, alerts], Quarantine(settings.data_dir / "quarantine.jsonl"))
    ingester = build_ingester(settings, pipeline, feeds=feeds)
    return Embedded(settings, ingester, enricher, index, alerts, pipeline)


def status_line(app: Embedded) -> str:
    c = app.pipeline.counters
    ing = getattr(app.ingester, "counters", None)
    polls = getattr(ing, "polls", "?")
    errors = getattr(ing, "errors", "?")
    sent = getattr(getattr(app.alerts, "counters", None), "sent", "?")
    return (
        f"polls {polls} (errors {errors}) | articles {c.enriched} (dupes {c.duplicates}, "
        f"quarantined {c.quarantined}) | indexed {c.written.get(app.index.name, 0)} | alerts sent {sent}"
    )


def run_forever(app: Embedded, *, status_every: float = 10.0, tick_every: float = 30.0) -> None:
    """Poll on schedule until SIGINT/SIGTERM, then finish in-flight work,
    persist state and exit."""
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("received %s: finishing in-flight work", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    app.ingester.start()
    log.info("running: %d feeds; Ctrl-C to stop", len(app.ingester.feeds))
    tty = sys.stderr.isatty()
    last_status = last_tick = time.monotonic()
    try:
        while not stop.wait(1.0):
            now = time.monotonic()
            if now - last_tick >= tick_every:
                last_tick = now
                try:
                    app.alerts.tick()
                except Exception:
                    log.exception("alert tick failed")
                publish_feed_health(app)
            if now - last_status >= status_every:
                last_status = now
                if tty:
                    sys.stderr.write("\r\x1b[2K" + status_line(app))
                    sys.stderr.flush()
                else:
                    log.info("status: %s", status_line(app))
    finally:
        if tty:
            sys.stderr.write("\n")
        app.ingester.stop()
        try:
            app.alerts.tick()
        finally:
            app.close()
        log.info("stopped cleanly: %s", status_line(app))


def publish_feed_health(app: Embedded) -> None:
    """Search-engine indexes keep feed-health documents for the dashboard, so
    a feed that works but yields nothing shows up there."""
    write = getattr(app.index, "write_feed_health", None)
    if write is None:
        return
    from newswatch.ingest import feed_health

    try:
        write(feed_health(app.settings))
    except Exception as exc:  # the dashboard lags; the pipeline goes on
        log.warning("could not index feed health: %s", exc)


def run_once(app: Embedded) -> list[Any]:
    """Poll every feed once, process everything, deliver due alerts.  The
    poll reports, one per feed."""
    reports = app.ingester.poll_all()
    app.alerts.tick()
    publish_feed_health(app)
    return list(reports or [])
