"""Distributed mode: each stage as a worker process over Kafka.

    newswatch worker ingest    # polls the feeds this worker owns -> news.raw
    newswatch worker enrich    # news.raw -> news.enriched (scale: partitions)
    newswatch worker index     # news.enriched -> the index (its own group)
    newswatch worker alerts    # news.enriched -> alert emails (its own group)

The stage objects are the very ones embedded mode uses (built by the stage
factories); only the connection differs: Kafka topics and consumer groups
instead of function calls (see newswatch.pipeline.transport.worker for the
at-least-once rules).  ``run_all_workers`` starts one process per stage for
``newswatch run``; ``run_pipeline_once_over_kafka`` is what ``newswatch demo``
uses with NEWSWATCH_TRANSPORT=kafka.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from newswatch.pipeline.article import Article
from newswatch.pipeline.runtime import settle_heap
from newswatch.pipeline.settings import Settings
from newswatch.pipeline.transport.broker import Broker, TransportError
from newswatch.pipeline.transport.ownership import PartitionOwnership, owned_keys
from newswatch.pipeline.transport.worker import StageWorker, WorkerCounters

log = logging.getLogger(__name__)

STAGES = ("ingest", "enrich", "index", "alerts")


def open_broker(settings: Settings) -> Broker:
    from newswatch.pipeline.transport.kafka import KafkaBroker

    return KafkaBroker(settings)


def topic_plan(settings: Settings) -> dict[str, int]:
    """Topics and their partition counts (what `newswatch setup kafka` creates)."""
    return {
        settings.kafka_topic_raw: settings.kafka_partitions,
        settings.kafka_topic_enriched: settings.kafka_partitions,
        settings.kafka_topic_dlq: 1,
        settings.kafka_topic_feeds: settings.kafka_feed_partitions,
    }


def ensure_topics(broker: Broker, settings: Settings) -> list[str]:
    created = broker.create_topics(topic_plan(settings))
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created


def group_id(settings: Settings, stage: str) -> str:
    return f"{settings.kafka_group_prefix}-{stage}"


# -- enrich / index / alerts -------------------------------------------------
def build_stage_worker(stage: str, settings: Settings, broker: Broker, **overrides: Any) -> StageWorker:
    common: dict[str, Any] = dict(
        stage=stage,
        group_id=group_id(settings, stage),
        dlq_topic=settings.kafka_topic_dlq,
        batch_size=settings.kafka_batch_size,
        max_retries=settings.kafka_max_retries,
        backoff=settings.kafka_retry_backoff,
    )
    if stage == "enrich":
        from newswatch.enrich import build_enricher

        common.update(processor=build_enricher(settings), input_topic=settings.kafka_topic_raw,
                      output_topic=settings.kafka_topic_enriched)
    elif stage == "index":
        from newswatch.index import open_index

        common.update(sink=open_index(settings), input_topic=settings.kafka_topic_enriched)
    elif stage == "alerts":
        from newswatch.app import build_alert_stage

        sink = build_alert_stage(settings)  # the ledger on the search engine when there is one
        common.update(sink=sink, input_topic=settings.kafka_topic_enriched, tick=sink.tick)
    else:
        raise ValueError(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    common.update(overrides)
    return StageWorker(broker, **common)


# -- ingest ------------------------------------------------------------------
class KafkaEmit:
    """The ``emit`` callback ingest hands new Articles to: produced to
    news.raw keyed by article id and flushed (acks=all) before returning, so
    the ingester records them as seen only once Kafka has them.  Raises
    otherwise, and the ingester offers them again on its next poll."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.topic = topic
        self.producer = broker.producer()
        self.lock = threading.Lock()
        self.produced = 0

    def __call__(self, batch: Sequence[Article]) -> None:
        with self.lock:
            for a in batch:
                self.producer.produce(self.topic, a.to_bytes(), key=a.id.encode("utf-8"))
            self.producer.flush(timeout=60)
            self.produced += len(batch)

    def close(self) -> None:
        self.producer.close()


class IngestWorker:
    """Polls only the feeds whose partition of the control topic this worker
    owns (see pipeline/transport/ownership.py); re-plans on rebalance."""

    def __init__(self, settings: Settings, broker: Broker, feeds: Sequence[Any] | None = None) -> None:
        from newswatch.ingest import load_feeds

        self.settings = settings
        self.broker = broker
        self.all_feeds = list(feeds) if feeds is not None else load_feeds(settings.config_dir)
        self.emit = KafkaEmit(broker, settings.kafka_topic_raw)
        self.ingester: Any = None
        self.scheduled = False
        self.stop_event = threading.Event()
        self.polled: set[str] = set()
        self.ownership: PartitionOwnership | None = None

    def owned_feeds(self, owned: set[int], partitions: int) -> list[Any]:
        ids = set(owned_keys([f.id for f in self.all_feeds], owned, partitions))
        return [f for f in self.all_feeds if f.id in ids]

    def _replan(self, owned: set[int], partitions: int) -> None:
        from newswatch.ingest import build_ingester

        self._drop_ingester()  # returns once its in-flight polls are done
        feeds = self.owned_feeds(owned, partitions)
        log.info("ingest: polling %d of %d feeds: %s", len(feeds), len(self.all_feeds),
                 ", ".join(f.id for f in feeds) or "none")
        if feeds:
            self.ingester = build_ingester(self.settings, self.emit, feeds=feeds)
            if self.scheduled:
                self.ingester.start()

    def _drop_ingester(self) -> None:
        if self.ingester is not None:
            self.ingester.stop(wait=True)
            self.ingester.close()
            self.ingester = None

    def stop(self) -> None:
        self.stop_event.set()

    def publish_feed_health(self) -> None:
        """With a search-engine index, feed-health documents go there for the
        dashboard (a feed that works but yields nothing must show up)."""
        if self.settings.index == "sqlite":
            return
        from newswatch.index import open_index
        from newswatch.ingest import feed_health

        try:
            index = open_index(self.settings)
            try:
                index.write_feed_health(feed_health(self.settings))
            finally:
                index.close()
        except Exception as exc:  # the dashboard lags; ingest goes on
            log.warning("ingest: could not index feed health: %s", exc)

    def run(self, *, once: bool = False) -> int:
        """Until stopped; with *once*, poll each owned feed once and return.
        The number of articles produced."""
        self.scheduled = not once
        self.ownership = PartitionOwnership(self.broker, group_id(self.settings, "ingest"),
                                            self.settings.kafka_topic_feeds, self._replan)
        last_health = 0.0
        try:
            while not self.stop_event.is_set():
                self.ownership.poll(0.5)
                if time.monotonic() - last_health > 60 and self.ingester is not None:
                    last_health = time.monotonic()
                    self.publish_feed_health()
                if once and self.ownership.assigned_once:
                    if self.ingester is not None:
                        reports = self.ingester.poll_all()
                        failed = [r for r in reports if not r.ok]
                        log.info("ingest: polled %d feeds once (%d failed), %d articles produced",
                                 len(reports), len(failed), self.emit.produced)
                        self.publish_feed_health()
                    break
        finally:
            self._drop_ingester()
            self.ownership.close()
            self.emit.close()
        return self.emit.produced


# -- entry points ------------------------------------------------------------
def _install_signals(stop: Any) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("received %s: finishing the current batch, committing, closing", signal.Signals(signum).name)
        stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def run_worker(stage: str, settings: Settings, *, once: bool = False, idle_exit: float | None = None,
               broker: Broker | None = None, install_signals: bool = True) -> WorkerCounters | int:
    """Run one stage worker until SIGINT/SIGTERM (graceful: the batch in hand
    is finished and committed), or until drained (*once*) or idle."""
    from newswatch.pipeline.transport.kafka import describe

    broker = broker or open_broker(settings)
    log.info("worker %s: Kafka %s, group %s", stage, describe(settings), group_id(settings, stage))
    ensure_topics(broker, settings)
    if stage == "ingest":
        ingest = IngestWorker(settings, broker)
        if install_signals:
            _install_signals(ingest.stop)
            settle_heap()
        return ingest.run(once=once)
    worker = build_stage_worker(stage, settings, broker)
    if install_signals:  # i.e. the worker is this process, not a thread in a test
        settle_heap()
        _install_signals(worker.stop)
    try:
        return worker.run(once=once, idle_exit=idle_exit)
    finally:
        worker.close()


def _spawn(stage: str, extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "newswatch", "worker", stage, *extra]
    log.info("starting %s", " ".join(cmd[2:]))  # "newswatch worker enrich ..."
    return subprocess.Popen(cmd, env=dict(os.environ))


def run_all_workers(settings: Settings, once: bool = False) -> int:
    """Every stage as its own worker process over Kafka, in one command.

    Not *once*: one process per stage, signals forwarded (graceful stop), a
    worker that dies is restarted after a pause.  *once*: ingest polls every
    feed once, then enrich runs until news.raw is drained, then index and
    alerts until news.enriched is -- each stage a real worker process."""
    broker = open_broker(settings)
    ensure_topics(broker, settings)
    enrichers = min(settings.enrich_workers, settings.kafka_partitions)
    if once:
        for phase in (["ingest"], ["enrich"] * enrichers, ["index", "alerts"]):
            procs = [_spawn(s, ["--once"]) for s in phase]
            codes = [p.wait() for p in procs]
            if any(codes):
                log.error("worker(s) %s exited with %s", phase, codes)
                return max(codes)
        return 0

    stopping = threading.Event()
    # one entry per process: "enrich", "enrich#2", ... (each restarted on its own)
    names = [*STAGES, *(f"enrich#{i}" for i in range(2, enrichers + 1))]
    procs = {name: _spawn(name.split("#")[0]) for name in names}

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    while not stopping.is_set():
        for stage, p in list(procs.items()):
            code = p.poll()
            if code is not None and not stopping.is_set():
                log.error("worker %s exited with %s; restarting in 5s", stage, code)
                time.sleep(5)
                procs[stage] = _spawn(stage.split("#")[0])
        stopping.wait(1.0)
    codes = [p.wait() for p in procs.values()]
    return max(codes) if codes else 0


def run_pipeline_once_over_kafka(settings: Settings, feeds: Sequence[Any], *, broker: Broker | None = None
                                 ) -> dict[str, Any]:
    """Every stage once over Kafka, in this process (for `newswatch demo`
    with NEWSWATCH_TRANSPORT=kafka: its feeds live only in memory): ingest
    polls *feeds* once into news.raw, enrich drains news.raw into
    news.enriched, index and alerts drain news.enriched.  Counts per stage."""
    broker = broker or open_broker(settings)
    ensure_topics(broker, settings)
    started = time.perf_counter()
    produced = IngestWorker(settings, broker, feeds=feeds).run(once=True)
    result: dict[str, Any] = {"ingested": produced}
    for stage in ("enrich", "index", "alerts"):
        worker = build_stage_worker(stage, settings, broker)
        try:
            c = worker.run(once=True)
        finally:
            worker.close()
        result[stage] = c
    result["seconds"] = time.perf_counter() - started
    return result


__all__ = [
    "STAGES", "IngestWorker", "KafkaEmit", "build_stage_worker", "ensure_topics", "open_broker",
    "run_all_workers", "run_pipeline_once_over_kafka", "run_worker", "topic_plan", "TransportError",
]
