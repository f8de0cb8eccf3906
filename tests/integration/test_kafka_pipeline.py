"""Distributed mode on the real broker (`scripts/services up kafka`), with real
worker processes and the real stages:

- the fixture feeds through Kafka give the same index (ids, entities,
  topics, duplicate marks) as embedded mode;
- kill -9 an enrich worker mid-stream and start another: nothing lost, no
  duplicate document, no duplicate alert;
- the broker stopped and restarted mid-stream: the same;
- a poison message lands in the DLQ with its error and origin, the stream
  goes on, and `newswatch dlq list/replay` see and replay it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from newswatch.pipeline.query import parse_query
from support.kafka import REPO
from support.kafka_pipeline import Cluster, synthetic_articles, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def _snapshot(index) -> tuple[dict[str, tuple], set[frozenset[str]]]:
    """Per article: entities, topics, language; and the story groups.  Which
    copy of a syndicated story counts as the original depends on arrival
    order (parallel feed polls, several partitions), so the groups are
    compared, not the duplicate_of pointers."""
    res = index.search(parse_query("feed:demo-*"), limit=10_000)
    tags = {h.article.id: (sorted(h.article.entity_ids()), sorted(h.article.topic_ids()), h.article.language)
            for h in res.hits}
    stories: dict[str, set[str]] = {}
    for h in res.hits:
        stories.setdefault(h.article.story_id, set()).add(h.article.id)
    return tags, {frozenset(g) for g in stories.values()}


def test_fixture_feeds_over_kafka_index_the_same_as_embedded(tmp_path) -> None:
    from newswatch.app import build_embedded, run_once
    from newswatch.demo.samples import FEEDS
    from newswatch.demo.server import DemoFeedServer
    from newswatch.ingest import FeedConfig

    cluster = Cluster(tmp_path / "kafka", allow_private_hosts="127.0.0.1")
    with DemoFeedServer() as server:
        feeds_yaml = "feeds:\n" + "".join(
            f"  - id: {fid}\n    url: {server.feed_url(fid)}\n    name: {spec['name']}\n    tags: [demo]\n"
            for fid, spec in FEEDS.items())
        (cluster.config_dir / "feeds.yaml").write_text(feeds_yaml, encoding="utf-8")

        embedded_settings = cluster.settings.model_copy(update={"data_dir": tmp_path / "embedded",
                                                                "transport": "inline"})
        feeds = [FeedConfig(id=fid, url=server.feed_url(fid), name=spec["name"], tags=["demo"])
                 for fid, spec in FEEDS.items()]
        app = build_embedded(embedded_settings, feeds=feeds)
        try:
            run_once(app)
            embedded = _snapshot(app.index)
        finally:
            app.close()

        # `newswatch run --once` with NEWSWATCH_TRANSPORT=kafka: a worker process per stage, two for
        # enrich (sharing the partitions and the dedupe store: the story groups must still agree)
        run = subprocess.run([sys.executable, "-m", "newswatch", "run", "--once"],
                             env={**cluster.env, "NEWSWATCH_ENRICH_WORKERS": "2"}, cwd=REPO,
                             capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, run.stdout + run.stderr
        assert (run.stdout + run.stderr).count("starting newswatch worker enrich --once") == 2, run.stderr
    idx = cluster.index()
    try:
        distributed = _snapshot(idx)
    finally:
        idx.close()
    assert len(embedded[0]) >= 5, "the fixture feeds should give articles"
    assert any(e for e, *_ in embedded[0].values()), "some fixture articles should carry entity tags"
    assert distributed[0] == embedded[0]  # same ids, same tags
    assert distributed[1] == embedded[1]  # same story groups (duplicates)
    assert cluster.end_offsets(cluster.settings.kafka_topic_dlq) == 0


def _stream_then_disrupt(tmp_path, disrupt, *, n: int = 600, rate: float = 150.0):
    """Index + alerts + enrich workers; *n* articles streamed into news.raw at
    *rate*/s; *disrupt(cluster)* runs once about a third are in."""
    cluster = Cluster(tmp_path, kafka_batch_size=20)
    try:
        cluster.worker("index")
        cluster.worker("alerts")
        cluster.worker("enrich")
        articles = synthetic_articles(n)
        ids = [a.id for a in articles]
        producer = threading.Thread(target=cluster.produce_raw, args=(articles,), kwargs={"rate": rate})
        producer.start()
        wait_for(lambda: len(cluster.indexed(ids)) >= n // 6, 90, "a first part indexed", cluster)
        disrupt(cluster)
        producer.join(300)
        assert not producer.is_alive(), "producer stuck"
        wait_for(lambda: len(cluster.indexed(ids)) == n, 180, f"all {n} articles indexed", cluster, every=1.0)
        # alerts run in their own group; give them the time to catch up with the index
        expected = {a.story_id for a in cluster.indexed(ids).values() if "mek" in a.entity_ids()}
        wait_for(lambda: sum(len(u) for u in cluster.mail_urls()) >= len(expected), 90, "alerts delivered",
                 cluster, every=1.0)
        codes = cluster.stop_all()
    except BaseException:
        cluster.stop_all(5)
        raise
    return cluster, articles, expected, codes


def _assert_nothing_lost_nothing_twice(cluster: Cluster, articles, expected: set[str]) -> None:
    ids = [a.id for a in articles]
    indexed = cluster.indexed(ids)
    assert set(indexed) == set(ids)  # no article lost
    idx = cluster.index()
    try:
        assert idx.count() == len(ids)  # one document per article, none twice
    finally:
        idx.close()
    assert all(a.entities or a.topics or a.enriched_at for a in indexed.values())
    assert all(a.enriched_at is not None for a in indexed.values())  # every document went through enrich
    assert len(expected) >= len(ids) // 6, "the stream should match the alert rule often"
    by_url = {a.url: a.id for a in articles}
    mailed = Counter(by_url[u] for urls in cluster.mail_urls() for u in urls)
    assert set(mailed) == {s for s in expected}  # every matching story alerted...
    assert max(mailed.values()) == 1  # ...exactly once
    assert cluster.end_offsets(cluster.settings.kafka_topic_dlq) == 0


def test_kill_minus_9_enrich_worker_mid_stream_loses_and_duplicates_nothing(tmp_path) -> None:
    killed = {}

    def kill_enrich(cluster: Cluster) -> None:
        name, proc, _ = next(p for p in cluster.procs if p[0] == "worker enrich")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed["at_enriched"] = cluster.end_offsets(cluster.settings.kafka_topic_enriched)
        cluster.worker("enrich")  # a replacement, same group

    cluster, articles, expected, codes = _stream_then_disrupt(tmp_path, kill_enrich)
    assert killed["at_enriched"] < len(articles), "the kill must happen mid-stream"
    assert codes["worker index"] == 0 and codes["worker alerts"] == 0  # graceful SIGTERM exits
    _assert_nothing_lost_nothing_twice(cluster, articles, expected)


def test_broker_restart_mid_stream_loses_and_duplicates_nothing(tmp_path) -> None:
    at = {}

    def restart_broker(cluster: Cluster) -> None:
        at["enriched"] = cluster.end_offsets(cluster.settings.kafka_topic_enriched)
        out = subprocess.run([str(REPO / "scripts" / "services"), "restart", "kafka"], capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr

    cluster, articles, expected, codes = _stream_then_disrupt(tmp_path, restart_broker, n=450, rate=100.0)
    assert at["enriched"] < len(articles), "the restart must happen mid-stream"
    assert all(c == 0 for c in codes.values()), (codes, cluster.logs())
    _assert_nothing_lost_nothing_twice(cluster, articles, expected)


def test_poison_message_goes_to_dlq_and_the_stream_continues(tmp_path) -> None:
    cluster = Cluster(tmp_path)
    good = synthetic_articles(30, seed=11)
    p = cluster.broker.producer()
    for i, a in enumerate(good):
        p.produce(cluster.settings.kafka_topic_raw, a.to_bytes(), key=a.id.encode())
        if i == 10:
            p.produce(cluster.settings.kafka_topic_raw, b"\x00\x01 this is not an article", key=b"junk-1")
        if i == 20:
            p.produce(cluster.settings.kafka_topic_raw, b'{"schema_version": 42, "id": "from-the-future"}',
                      key=b"future-1")
    p.flush()
    p.close()
    for stage in ("enrich", "index"):
        done = subprocess.run([sys.executable, "-m", "newswatch", "worker", stage, "--once"], env=cluster.env,
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert set(cluster.indexed([a.id for a in good])) == {a.id for a in good}

    listed = subprocess.run([sys.executable, "-m", "newswatch", "dlq", "list", "--json"], env=cluster.env,
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    records = {r["key"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert set(records) == {"junk-1", "future-1"}
    assert records["junk-1"]["stage"] == "enrich"
    assert records["junk-1"]["origin_topic"] == cluster.settings.kafka_topic_raw
    assert "ContractError" in records["junk-1"]["error"]
    assert "newer" in records["future-1"]["error"]

    raw_before = cluster.end_offsets(cluster.settings.kafka_topic_raw)
    replay = subprocess.run([sys.executable, "-m", "newswatch", "dlq", "replay", "--offset",
                             str(records["future-1"]["dlq_offset"])], env=cluster.env, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    assert "1 message(s) replayed" in replay.stdout
    assert cluster.end_offsets(cluster.settings.kafka_topic_raw) == raw_before + 1


def test_two_ingest_workers_split_the_feeds(tmp_path) -> None:
    from support.feedserver import FeedServer

    cluster = Cluster(tmp_path, allow_private_hosts="127.0.0.1", kafka_feed_partitions=4)
    rss = ("<?xml version='1.0'?><rss version='2.0'><channel><title>F{n}</title>"
           "<item><title>Item of feed {n}</title><link>http://news.example.test/f{n}/1</link>"
           "<description>Text {n}</description></item></channel></rss>")
    with FeedServer() as srv:
        for n in range(12):
            srv.add(f"/f{n}.xml", rss.format(n=n).encode(), headers={"Content-Type": "application/rss+xml"})
        (cluster.config_dir / "feeds.yaml").write_text("feeds:\n" + "".join(
            f"  - id: feed-{n}\n    url: {srv.url(f'/f{n}.xml')}\n    interval: 60\n" for n in range(12)),
            encoding="utf-8")
        for _ in range(2):
            cluster.worker("ingest")
        try:
            wait_for(lambda: all(srv.hits(f"/f{n}.xml") >= 1 for n in range(12)), 90, "every feed polled", cluster)
            time.sleep(2)
            plans = [log.read_text() for _, _, log in cluster.procs]
        finally:
            codes = cluster.stop_all()
        hits = {n: srv.hits(f"/f{n}.xml") for n in range(12)}
    assert all(c == 0 for c in codes.values()), cluster.logs()
    assert all(h == 1 for h in hits.values()), hits  # each feed polled by one worker only, once
    # the last plan of each worker: both own some feeds, together all 12
    last = [int(re.findall(r"polling (\d+) of 12 feeds", text)[-1]) for text in plans]
    assert sum(last) == 12 and min(last) > 0, last
    assert cluster.end_offsets(cluster.settings.kafka_topic_raw) == 12
