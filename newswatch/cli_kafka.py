"""CLI for distributed mode: `newswatch worker STAGE`, `newswatch setup kafka`,
`newswatch dlq list|replay`.

``setup`` is a click group other modules add to (e.g. ``setup kibana``):
``from newswatch.cli_kafka import setup; setup.add_command(...)``.
"""

from __future__ import annotations

import json
import sys

import click

from newswatch.pipeline.settings import load_settings
from newswatch.pipeline.transport.broker import TransportError


def _fail(exc: Exception) -> None:
    from newswatch.pipeline.transport.kafka import describe

    settings = load_settings()
    raise click.ClickException(
        f"Kafka at {describe(settings)}: {exc}\n"
        f"Is a broker running? Locally: scripts/services up kafka (sets up 127.0.0.1:9092); "
        f"elsewhere set NEWSWATCH_KAFKA_BOOTSTRAP."
    )


@click.command("worker")
@click.argument("stage", type=click.Choice(["ingest", "enrich", "index", "alerts"]))
@click.option("--once", is_flag=True,
              help="ingest: poll every owned feed once and exit; others: exit once the input topic is drained.")
@click.option("--idle-exit", type=float, metavar="SECONDS",
              help="Exit after SECONDS without a message (not for ingest).")
def worker(stage: str, once: bool, idle_exit: float | None) -> None:
    """Run one pipeline stage as a Kafka worker (scale out: start more).

    \b
    ingest  polls its share of feeds.yaml      -> news.raw
    enrich  news.raw -> tagged articles         -> news.enriched
    index   news.enriched -> the search index   (consumer group <prefix>-index)
    alerts  news.enriched -> alert emails       (consumer group <prefix>-alerts)

    SIGTERM/Ctrl-C finishes the batch in hand, commits and exits."""
    from newswatch.workers import run_worker

    settings = load_settings()
    try:
        run_worker(stage, settings, once=once, idle_exit=idle_exit)
    except TransportError as exc:
        _fail(exc)


@click.group("setup")
def setup() -> None:
    """Prepare external services for distributed mode."""


@setup.command("kafka")
@click.option("--partitions", type=click.IntRange(1, 1000),
              help="Partitions of news.raw and news.enriched [env NEWSWATCH_KAFKA_PARTITIONS].")
@click.option("--feed-partitions", type=click.IntRange(1, 1000),
              help="Partitions of the feed control topic (max ingest workers) [env NEWSWATCH_KAFKA_FEED_PARTITIONS].")
def setup_kafka(partitions: int | None, feed_partitions: int | None) -> None:
    """Create the topics (idempotent: existing topics are left as they are)."""
    from newswatch.workers import open_broker, topic_plan

    settings = load_settings(kafka_partitions=partitions, kafka_feed_partitions=feed_partitions)
    broker = open_broker(settings)
    try:
        plan = topic_plan(settings)
        created = set(broker.create_topics(plan))
        for topic, n in plan.items():
            have = broker.partitions(topic)
            state = "created" if topic in created else "exists "
            note = "" if have == n else f" (asked for {n}: an existing topic is left as it is)"
            click.echo(f"{state}  {topic}  partitions {have}{note}")
    except TransportError as exc:
        _fail(exc)


@click.group("dlq")
def dlq() -> None:
    """Inspect and replay dead-lettered messages (news.dlq)."""


@dlq.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def dlq_list(limit: int, as_json: bool) -> None:
    """Show dead-lettered messages: where from, why, how many attempts."""
    from newswatch.pipeline.transport.dlq import describe
    from newswatch.workers import open_broker

    settings = load_settings()
    try:
        msgs = open_broker(settings).read(settings.kafka_topic_dlq)
    except TransportError as exc:
        _fail(exc)
        return
    shown = msgs[-limit:] if limit else msgs
    if as_json:
        for m in shown:
            click.echo(json.dumps(describe(m)))
        return
    click.echo(f"{len(msgs)} message(s) in {settings.kafka_topic_dlq}" +
               (f", the last {len(shown)}:" if len(shown) < len(msgs) else ":"))
    for m in shown:
        d = describe(m)
        click.echo(f"@{d['dlq_offset']}  {d['failed_at']}  stage {d['stage']}  from {d['origin']}  "
                   f"attempts {d['attempts']}  key {d['key']}")
        click.echo(f"    error: {d['error']}")
        click.echo(f"    {d['bytes']} bytes: {d['preview']!s}")


@dlq.command("replay")
@click.option("--all", "replay_all", is_flag=True, help="Every message not replayed before (tracked per group).")
@click.option("--offset", "offsets", type=int, multiple=True, help="The DLQ offset(s) to replay (repeatable).")
def dlq_replay(replay_all: bool, offsets: tuple[int, ...]) -> None:
    """Put dead-lettered messages back on their origin topic (after fixing
    the cause, e.g. a watchlist error or a newer worker version)."""
    from newswatch.pipeline.transport import dlq as dlqmod
    from newswatch.workers import group_id, open_broker

    if not replay_all and not offsets:
        raise click.UsageError("say which: --all or --offset N (see `newswatch dlq list`)")
    settings = load_settings()
    broker = open_broker(settings)
    try:
        producer = broker.producer()
        n = 0
        if offsets:
            wanted = set(offsets)
            for m in broker.read(settings.kafka_topic_dlq):
                if m.offset in wanted:
                    to = dlqmod.replay(producer, m)
                    click.echo(f"replayed @{m.offset} -> {to}")
                    wanted.discard(m.offset)
                    n += 1
            producer.flush()
            for off in sorted(wanted):
                click.echo(f"no DLQ message at offset {off}", err=True)
        else:
            # a consumer group remembers what was replayed: --all twice replays nothing twice
            consumer = broker.consumer(group_id(settings, "dlq-replay"))
            consumer.subscribe([settings.kafka_topic_dlq])
            try:
                idle = 0
                while idle < 3:
                    msgs = consumer.poll(1.0, 500)
                    if not msgs:
                        idle += 1 if consumer.assignment() else 0
                        continue
                    idle = 0
                    for m in msgs:
                        to = dlqmod.replay(producer, m)
                        click.echo(f"replayed @{m.offset} -> {to}")
                        n += 1
                    producer.flush()
                    offsets_next: dict[tuple[str, int], int] = {}
                    for m in msgs:
                        offsets_next[m.tp] = max(offsets_next.get(m.tp, 0), m.offset + 1)
                    consumer.commit(offsets_next)
            finally:
                consumer.close()
        producer.close()
        click.echo(f"{n} message(s) replayed")
    except TransportError as exc:
        _fail(exc)
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
