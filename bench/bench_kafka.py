"""Distributed mode throughput and latency on the real Kafka broker.

produce -> [news.raw] -> enrich workers (--enrich-workers processes, default 2
= one per core here, each `newswatch worker enrich`) -> [news.enriched] ->
index worker (the real StageWorker + SQLite index, in this process so each
write can be timed) -- and, as the baseline in the same run, embedded mode
(InlinePipeline: the same enricher and index called in one process) over the
same articles.  The machine's busy CPU time over the throughput run, divided
by the articles, says what each article costs all processes together (broker
included) and so what this machine could carry at best.

1. throughput: N articles produced as fast as possible; articles/s until the
   last one is indexed.
2. latency: a steady 100 articles/s for D seconds; p50/p99 from produce to
   indexed (the article's fetched_at is set at produce time).
3. the same two with a pass-through "enrich" worker (its own process too):
   what the transport costs, apart from the enricher.

    scripts/services up kafka
    .venv/bin/python bench/bench_kafka.py          # N=4000, D=10 s
    .venv/bin/python bench/bench_kafka.py --quick  # CI smoke

Target: >= 1,000 articles/s through Kafka on this machine (2 cores).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from newswatch.pipeline.article import Article, Source
from newswatch.pipeline.runtime import settle_heap
from newswatch.pipeline.settings import BUNDLED_CONFIG_DIR, Settings
from newswatch.pipeline.urls import canonical_url

REPO = Path(__file__).resolve().parents[1]
WORDS = ("economy parliament minister election harbour festival weather market energy railway court budget "
         "museum river school border summit treaty mayor council strike farmers hospital bridge airport "
         "football novel concert vaccine drought export startup").split()


def articles(n: int, tag: str, seed: int) -> list[Article]:
    """Articles as ingest puts them on news.raw (the canonical URL and the
    dates are set there, at parse time)."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    out = []
    for i in range(n):
        body = " ".join(rng.choice(WORDS) + str(rng.randrange(10**7)) for _ in range(120))
        about = " Iran's opposition MEK met in Tirana, Albania." if i % 4 == 0 else ""
        url = f"http://bench.example.test/{tag}/{i}"
        out.append(Article(id=f"{tag}{i:06d}", url=url, canonical_url=canonical_url(url), feed_id="bench",
                           source=Source(name="Bench", domain="bench.example.test"), published_at=now,
                           title=f"Bench {i} {rng.choice(WORDS)}", content=f"<p>{body}.{about}</p>"))
    return out


class TimedSink:
    """Wraps the real index: records when each article's write returned."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name
        self.done: dict[str, float] = {}
        self.lock = threading.Lock()
        self.waiting: set[str] = set()  # ids wait_done is waiting for
        self.all_done = threading.Event()

    def write(self, batch) -> None:
        self.inner.write(batch)
        now = time.time()
        with self.lock:
            for a in batch:
                self.done.setdefault(a.id, now)
                self.waiting.discard(a.id)
            if not self.waiting:
                self.all_done.set()

    def close(self) -> None:
        self.inner.close()


class PassThrough:
    """An enrich stand-in that does nothing: what the transport alone costs."""

    name = "pass-through"

    def process(self, a: Article) -> list[Article]:
        return [a]

    def close(self) -> None:
        pass


def _pass_worker(settings: Settings, raw: str, enriched: str, group: str, stop) -> None:
    """The pass-through stage in its own process, as a real enrich worker is."""
    from newswatch.pipeline.transport.kafka import KafkaBroker
    from newswatch.pipeline.transport.worker import StageWorker

    worker = StageWorker(KafkaBroker(settings), stage="pass", group_id=group, input_topic=raw, output_topic=enriched,
                         dlq_topic=settings.kafka_topic_dlq, processor=PassThrough(), batch_size=500)
    settle_heap()
    threading.Thread(target=lambda: (stop.wait(), worker.stop()), daemon=True).start()
    try:
        worker.run()
    finally:
        worker.close()


def transport_only(broker, settings: Settings, prefix: str, n: int, data_dir: Path,
                   steady_s: float) -> tuple[float, list[float], float]:
    """articles/s through produce -> pass-through worker (its own process)
    -> index worker (a thread here), and the produce->indexed latencies (ms)
    at a steady 100/s: what the transport alone costs, laid out like the
    real run above."""
    import multiprocessing

    from newswatch.index import open_index
    from newswatch.pipeline.transport.worker import StageWorker

    raw, enriched = f"{prefix}.p.raw", f"{prefix}.p.enriched"
    broker.create_topics({raw: 2, enriched: 2})
    st = settings.model_copy(update={"data_dir": data_dir})
    st.ensure_data_dir()
    sink = TimedSink(open_index(st))
    ctx = multiprocessing.get_context("spawn")  # no Kafka client state copied across a fork
    stop = ctx.Event()
    passer = ctx.Process(target=_pass_worker, args=(settings, raw, enriched, f"{prefix}-p-enrich", stop), daemon=True)
    passer.start()
    worker = StageWorker(broker, stage="index", group_id=f"{prefix}-p-index", input_topic=enriched,
                         dlq_topic=settings.kafka_topic_dlq, sink=sink, batch_size=500)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        warm = articles(20, "pw", 4)
        produce(broker, raw, warm)
        wait_done(sink, [a.id for a in warm], 120)
        arts = articles(n, "p", 5)
        busy0 = machine_busy_s()
        t0 = time.time()
        produce(broker, raw, arts)
        ok = wait_done(sink, [a.id for a in arts], 300)
        rate = n / (max(sink.done.values()) - t0) if ok else 0.0
        cpu_ms = (machine_busy_s() - busy0) / n * 1000
        steady = articles(int(100 * steady_s), "ps", 6)
        produce(broker, raw, steady, rate=100.0)
        wait_done(sink, [a.id for a in steady], 120)
        lat = [(sink.done[a.id] - a.fetched_at.timestamp()) * 1000 for a in steady if a.id in sink.done]
        return rate, lat, cpu_ms
    finally:
        stop.set()
        worker.stop()
        thread.join(30)
        worker.close()
        passer.join(30)
        if passer.is_alive():
            passer.terminate()


def produce(broker, topic: str, arts: list[Article], rate: float | None = None) -> None:
    p = broker.producer()
    t0 = time.monotonic()
    for i, a in enumerate(arts):
        if rate:
            ahead = t0 + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        a.fetched_at = datetime.now(timezone.utc)
        p.produce(topic, a.to_bytes(), key=a.id.encode())
        if rate:
            p.flush()
    p.flush()
    p.close()


def wait_done(sink: TimedSink, ids: list[str], timeout: float) -> bool:
    """Wait until every id is indexed.  The sink ticks ids off as it writes
    them and wakes us at the end: the bench must not take the CPU it is
    measuring (polling 20,000 ids every 50 ms took a tenth of a core)."""
    with sink.lock:
        sink.waiting = {i for i in ids if i not in sink.done}
        if sink.waiting:
            sink.all_done.clear()
        else:
            sink.all_done.set()
    return sink.all_done.wait(timeout)


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (every process: broker,
    workers, this one), from /proc/stat; nan where there is none."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return float("nan")
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_members(broker, group: str, n: int, timeout: float) -> bool:
    """True once consumer group *group* is stable with *n* members."""
    admin = broker._admin()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            desc = admin.describe_groups([group]).get(group) or {}  # kafka-python 3: a dict
            if desc.get("group_state") == "Stable" and len(desc.get("members") or []) == n:
                return True
            time.sleep(0.5)
        return False
    finally:
        admin.close()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run for CI smoke")
    ap.add_argument("-n", type=int, help="articles for the throughput run")
    ap.add_argument("--seconds", type=float, help="duration of the steady 100/s run")
    ap.add_argument("--enrich-workers", type=int, default=2,
                    help="enrich worker processes (default 2: one per partition, one per core here)")
    args = ap.parse_args()
    n = args.n or (600 if args.quick else 4000)
    steady_s = args.seconds or (3.0 if args.quick else 10.0)

    from newswatch.enrich import build_enricher
    from newswatch.index import open_index
    from newswatch.pipeline.quarantine import Quarantine
    from newswatch.pipeline.transport.inline import InlinePipeline
    from newswatch.pipeline.transport.kafka import KafkaBroker
    from newswatch.pipeline.transport.worker import StageWorker
    from newswatch.workers import ensure_topics

    tmp = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    prefix = "bench" + uuid.uuid4().hex[:8]
    env = {
        "NEWSWATCH_KAFKA_BOOTSTRAP": os.environ.get("NEWSWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        "NEWSWATCH_KAFKA_TOPIC_RAW": f"{prefix}.raw", "NEWSWATCH_KAFKA_TOPIC_ENRICHED": f"{prefix}.enriched",
        "NEWSWATCH_KAFKA_TOPIC_DLQ": f"{prefix}.dlq", "NEWSWATCH_KAFKA_TOPIC_FEEDS": f"{prefix}.feeds",
        "NEWSWATCH_KAFKA_GROUP_PREFIX": prefix, "NEWSWATCH_KAFKA_PARTITIONS": str(max(2, args.enrich_workers)),
        "NEWSWATCH_DATA_DIR": str(tmp / "kafka"), "NEWSWATCH_CONFIG_DIR": str(BUNDLED_CONFIG_DIR),
        "NEWSWATCH_LOG_LEVEL": "WARNING",
    }
    settings = Settings(**{k.removeprefix("NEWSWATCH_").lower(): v for k, v in env.items()})
    broker = KafkaBroker(settings)
    try:
        ensure_topics(broker, settings)
    except Exception as exc:
        print(f"no Kafka at {settings.kafka_bootstrap} ({exc}); start one with `scripts/services up kafka`")
        return 1

    # -- baseline: embedded, same stages, same articles ------------------------
    base_settings = settings.model_copy(update={"data_dir": tmp / "embedded"})
    base_settings.ensure_data_dir()
    pipe = InlinePipeline(build_enricher(base_settings), [open_index(base_settings)],
                          Quarantine(tmp / "embedded" / "q.jsonl"))
    settle_heap()  # as `newswatch run` and every `newswatch worker` process do once built
    batch = articles(n, "e", 1)
    t0 = time.perf_counter()
    for i in range(0, n, 50):
        pipe(batch[i:i + 50])
    embedded_s = time.perf_counter() - t0
    pipe.close()

    # -- Kafka: enrich worker process + index worker here ----------------------
    log = open(tmp / "enrich.log", "wb")
    enrichers = [subprocess.Popen([sys.executable, "-m", "newswatch", "worker", "enrich"],
                                  env={**os.environ, **env}, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
                 for _ in range(args.enrich_workers)]
    sink = TimedSink(open_index(settings))
    worker = StageWorker(broker, stage="index", group_id=f"{prefix}-index", input_topic=settings.kafka_topic_enriched,
                         dlq_topic=settings.kafka_topic_dlq, sink=sink, batch_size=settings.kafka_batch_size)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        warm = articles(20, "w", 2)
        produce(broker, settings.kafka_topic_raw, warm)
        if not wait_done(sink, [a.id for a in warm], 120):
            print("warm-up did not get through; enrich log:\n" + (tmp / "enrich.log").read_text()[-2000:])
            return 1
        # every enrich worker in the group before the clock starts (a late
        # joiner would rebalance the group mid-run)
        if not wait_members(broker, f"{prefix}-enrich", args.enrich_workers, 60):
            print("not every enrich worker joined the group; enrich log:\n"
                  + (tmp / "enrich.log").read_text()[-2000:])
            return 1
        warm2 = articles(20, "w2", 2)
        produce(broker, settings.kafka_topic_raw, warm2)
        wait_done(sink, [a.id for a in warm2], 120)

        arts = articles(n, "k", 1)
        busy0 = machine_busy_s()
        t0 = time.time()
        produce(broker, settings.kafka_topic_raw, arts)
        ok = wait_done(sink, [a.id for a in arts], 300)
        kafka_s = max(sink.done.values()) - t0 if ok else float("nan")
        cpu_ms = (machine_busy_s() - busy0) / n * 1000

        steady = articles(int(100 * steady_s), "s", 3)
        produce(broker, settings.kafka_topic_raw, steady, rate=100.0)
        ok2 = wait_done(sink, [a.id for a in steady], 120)
        lat = [(sink.done[a.id] - a.fetched_at.timestamp()) * 1000 for a in steady if a.id in sink.done]
    finally:
        worker.stop()
        thread.join(30)
        worker.close()
        for e in enrichers:
            e.terminate()
        for e in enrichers:
            e.wait(30)
        log.close()

    transport_rate, transport_lat, transport_cpu_ms = transport_only(broker, settings, prefix, n, tmp / "transport", steady_s)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kafka_rate = n / kafka_s if ok else 0.0
    embedded_rate = n / embedded_s
    print(f"\nnewswatch distributed mode, Kafka at {settings.kafka_bootstrap}, {os.cpu_count()} cores")
    print(f"{'measure':<44}{'value':>14}")
    print("-" * 58)
    print(f"{'articles (throughput run)':<44}{n:>14,}")
    print(f"{'enrich worker processes':<44}{args.enrich_workers:>14}")
    print(f"{'Kafka: produce->enrich->index, articles/s':<44}{kafka_rate:>14,.0f}")
    print(f"{'embedded (InlinePipeline), articles/s':<44}{embedded_rate:>14,.0f}")
    print(f"{'ratio Kafka / embedded':<44}{kafka_rate / embedded_rate:>14.2f}")
    cores = os.cpu_count() or 1
    print(f"{'machine CPU per article, all processes (ms)':<44}{cpu_ms:>14.2f}")
    print(f"{'  ceiling: cores / CPU per article, art/s':<44}{cores * 1000 / cpu_ms:>14,.0f}")
    print(f"{'Kafka, pass-through enrich, articles/s':<44}{transport_rate:>14,.0f}")
    print(f"{'  machine CPU per article (ms)':<44}{transport_cpu_ms:>14.2f}")
    print(f"{'steady 100/s for (s)':<44}{steady_s:>14.0f}")
    print(f"{'  indexed':<44}{len(lat):>14,}")
    if lat:
        print(f"{'  latency p50 produce->indexed (ms)':<44}{statistics.median(lat):>14.1f}")
        print(f"{'  latency p99 produce->indexed (ms)':<44}{pct(lat, 0.99):>14.1f}")
    if transport_lat:
        print(f"{'  pass-through: latency p50 (ms)':<44}{statistics.median(transport_lat):>14.1f}")
        print(f"{'  pass-through: latency p99 (ms)':<44}{pct(transport_lat, 0.99):>14.1f}")
    print(f"{'peak RSS of this process (MiB)':<44}{rss:>14.0f}")
    limit = "" if kafka_rate >= 1000 else " (the machine's CPU is the limit: see the ceiling)"
    print(f"target >= 1,000 articles/s through Kafka: with the real enricher "
          f"{'met' if kafka_rate >= 1000 else 'NOT met'}{limit}; "
          f"transport alone {'met' if transport_rate >= 1000 else 'NOT met'}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
