"""A whole distributed pipeline for integration tests: real Kafka, real
worker processes (`python -m newswatch worker STAGE`), the real stages (enrich
with the bundled watchlist/topics, SQLite index, alerts to a Maildir).

Each Cluster has its own topics, consumer groups, data dir and config dir."""

from __future__ import annotations

import email
import mailbox
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from newswatch.pipeline.article import Article, Source
from newswatch.pipeline.settings import BUNDLED_CONFIG_DIR
from support.kafka import REPO, kafka_env, kafka_settings, require_kafka, unique_prefix

ALERTS_YAML = """\
rules:
  - id: mek-watch
    name: MEK watch
    query: 'entity:mek'
    recipients: [analyst@example.org]
    delivery: immediate
"""

_WORDS = ("economy parliament minister election harbour festival weather market energy railway "
          "court budget museum river school border summit treaty mayor council strike farmers "
          "hospital bridge airport football novel concert vaccine drought export startup").split()


def synthetic_articles(n: int, *, seed: int = 7, mek_every: int = 3) -> list[Article]:
    """Distinct articles (never near-duplicates of each other); every
    *mek_every*-th one is about the MEK in an Iran context, so alerts fire."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(_WORDS) + str(rng.randrange(10**6)) for _ in range(40))
        about = (" Iran's opposition group MEK held a rally in Tirana, Albania, against Tehran."
                 if i % mek_every == 0 else "")
        out.append(Article(
            id=f"syn{i:05d}", url=f"http://news.example.test/story/{i}", feed_id="synthetic",
            source=Source(name="Synthetic", domain="news.example.test"),
            title=f"Report {i} on {rng.choice(_WORDS)}", content=f"<p>{words}.{about}</p>",
        ))
    return out


class Cluster:
    def __init__(self, tmp: Path, **settings_extra: object) -> None:
        require_kafka()
        self.tmp = tmp
        self.prefix = unique_prefix()
        self.data_dir = tmp / "data"
        self.config_dir = tmp / "config"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for name in ("watchlist.yaml", "topics.yaml"):
            shutil.copyfile(BUNDLED_CONFIG_DIR / name, self.config_dir / name)
        (self.config_dir / "alerts.yaml").write_text(ALERTS_YAML, encoding="utf-8")
        (self.config_dir / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
        extra = {"config_dir": self.config_dir, **settings_extra}
        self.env = {**os.environ, **kafka_env(self.prefix, self.data_dir, **extra)}
        self.env.pop("NEWSWATCH_SMTP_HOST", None)
        self.settings = kafka_settings(self.prefix, self.data_dir, **extra)
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        from newswatch.pipeline.transport.kafka import KafkaBroker
        from newswatch.workers import ensure_topics

        self.broker = KafkaBroker(self.settings)
        ensure_topics(self.broker, self.settings)

    # -- processes -------------------------------------------------------------
    def start(self, *args: str) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        log = self.tmp / f"proc{n}-{'-'.join(a.strip('-') for a in args)}.log"
        p = subprocess.Popen([sys.executable, "-m", "newswatch", *args], env=self.env, cwd=REPO,
                             stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.procs.append((" ".join(args), p, log))
        return p

    def worker(self, stage: str, *extra: str) -> subprocess.Popen[bytes]:
        return self.start("worker", stage, *extra)

    def logs(self) -> str:
        return "\n".join(f"--- {name} (exit {p.poll()})\n{log.read_text(errors='replace')[-3000:]}"
                         for name, p, log in self.procs)

    def stop_all(self, timeout: float = 30) -> dict[str, int | None]:
        for _, p, _ in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, p, _ in self.procs:
            try:
                codes[name] = p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                codes[name] = None
        return codes

    # -- data --------------------------------------------------------------------
    def produce_raw(self, articles: list[Article], *, rate: float | None = None,
                    started: threading.Event | None = None) -> None:
        """To news.raw keyed by id; at *rate* articles/s when given."""
        p = self.broker.producer()
        t0 = time.monotonic()
        for i, a in enumerate(articles):
            p.produce(self.settings.kafka_topic_raw, a.to_bytes(), key=a.id.encode())
            if rate:
                if i % 10 == 9:
                    p.flush(timeout=180)
                    if started is not None:
                        started.set()
                ahead = t0 + (i + 1) / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        p.flush(timeout=180)
        p.close()

    def index(self):
        from newswatch.index import open_index

        return open_index(self.settings)

    def indexed(self, ids: list[str]) -> dict[str, Article]:
        idx = self.index()
        try:
            return {a.id: a for a in idx.get(ids)}
        finally:
            idx.close()

    def end_offsets(self, topic: str) -> int:
        from kafka import KafkaConsumer
        from kafka.structs import TopicPartition

        from newswatch.pipeline.transport.kafka import client_config

        c = KafkaConsumer(**client_config(self.settings), group_id=None)
        try:
            tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
            return sum(c.end_offsets(tps).values()) if tps else 0
        finally:
            c.close()

    def mail_urls(self) -> list[list[str]]:
        """For each delivered alert email, the story URLs it lists."""
        box = self.data_dir / "maildir"
        if not box.exists():
            return []
        out = []
        for msg in mailbox.Maildir(box, factory=None, create=False):
            parsed = email.message_from_bytes(msg.as_bytes())
            text = ""
            for part in parsed.walk():
                if part.get_content_type() == "text/plain":
                    text += part.get_payload(decode=True).decode("utf-8", "replace")
            out.append(sorted(set(re.findall(r"http://news\.example\.test/story/\d+", text))))
        return out


def wait_for(cond, timeout: float, what: str, cluster: Cluster | None = None, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n" + (cluster.logs() if cluster else ""))
