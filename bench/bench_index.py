"""Bench: bulk indexing into a real search engine through our sink vs the
client's own bulk helper, and search latency.

    .venv/bin/python bench/bench_index.py            # ~60 s: 1.5k docs per writer, 6k for latency
    .venv/bin/python bench/bench_index.py --quick    # CI smoke
    .venv/bin/python bench/bench_index.py --latency-articles 100000   # the issue's 100k (minutes)

Engine: OpenSearch from ``scripts/services up opensearch`` (NEWSWATCH_OPENSEARCH_URL,
default http://127.0.0.1:9201) -- the engine that runs on build machines.

- *ours*: ``OpenSearchIndex.write`` in batches of 500 (builds the documents:
  folding, keyword values; looks up existing ids; bulk with retries).
- *baseline*: ``opensearchpy.helpers.bulk`` sending the very same, pre-built
  documents (so the baseline does strictly less work) into indices created
  from the same template.  The ratio ours/baseline is the figure (target >= 0.8).
- search latency p50/p99: a mix of term, phrase, proximity, entity, wildcard
  and date queries through ``OpenSearchIndex.search`` (limit 20, snippets).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

from newswatch.index.opensearch import OpenSearchIndex
from newswatch.index.search_engine import article_document
from newswatch.pipeline.article import Article, EntityTag, Source, TopicTag
from newswatch.pipeline.query import parse_query

WORDS = ("water supply talks river dam city council election budget energy price report minister "
         "harbour port festival culture museum court ruling protest strike union school hospital "
         "weather storm flood drought farm market trade export import bank loan rate crisis peace "
         "border refugee camp aid agency research science climate policy reform vote campaign").split()
ENTITIES = [("northwind", "Northwind Cooperative"), ("lumen", "Lumen Institute"), ("elvar", "Port Elvar"),
            ("manez", "Ana Manëz"), ("orbis", "Orbis Group")]
SOURCES = [("Harbor Gazette", "harbor.example"), ("Valley Post", "valley.example"),
           ("Le Courrier", "courrier.example"), ("Der Bote", "bote.example")]
QUERIES = ["water", '"water supply"', '"dam river"~3', "entity:elvar AND budget", "flood* NOT storm",
           "title:election", "published:[2024-02-01 TO 2024-03-01} AND energy", "source:valley.example AND aid"]


def make_articles(n: int, seed: int = 7, chars: int = 5000) -> list[Article]:
    rnd = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        body, size = [], 0
        while size < chars:
            w = rnd.choice(WORDS)
            body.append(w)
            size += len(w) + 1
        content = " ".join(body)
        ents = rnd.sample(ENTITIES, 2)
        src = rnd.choice(SOURCES)
        when = start + timedelta(minutes=7 * i)
        out.append(Article(
            id=f"b{i:07d}", url=f"https://{src[1]}/a/{i}", feed_id=src[1], source=Source(name=src[0], domain=src[1]),
            title=" ".join(rnd.choices(WORDS, k=8)).capitalize(), summary=" ".join(rnd.choices(WORDS, k=30)),
            content=content, content_format="text", published_at=when, fetched_at=when, language="en",
            entities=[EntityTag(id=e, name=nm, count=1) for e, nm in ents],
            topics=[TopicTag(id=rnd.choice(["water", "energy", "politics"]), score=1.0)],
        ))
    return out


def write_ours(ix: OpenSearchIndex, articles: list[Article], batch: int) -> float:
    t = time.perf_counter()
    for i in range(0, len(articles), batch):
        ix.write(articles[i : i + batch])
    return time.perf_counter() - t


def write_helper(ix: OpenSearchIndex, articles: list[Article], batch: int) -> float:
    from opensearchpy import helpers

    docs = [({"_index": ix.names.month(a.published_at), "_id": a.id}, article_document(a)) for a in articles]
    actions = ({**meta, "_source": doc} for meta, doc in docs)
    t = time.perf_counter()
    ok, errors = helpers.bulk(ix.client, actions, chunk_size=batch, max_chunk_bytes=200 * 1024 * 1024)
    elapsed = time.perf_counter() - t
    if errors or ok != len(articles):
        raise SystemExit(f"baseline bulk failed: {ok} ok, {errors!r:.300}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for CI smoke")
    ap.add_argument("--articles", type=int, default=None, help="articles per writer (throughput)")
    ap.add_argument("--latency-articles", type=int, default=None, help="articles in the index for latency")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--url", default=os.environ.get("NEWSWATCH_OPENSEARCH_URL", "http://127.0.0.1:9201"))
    args = ap.parse_args()
    n = args.articles or (500 if args.quick else 1500)
    n_lat = args.latency_articles or (1000 if args.quick else 6000)
    searches = 40 if args.quick else 200

    run = uuid.uuid4().hex[:8]
    ours = OpenSearchIndex(args.url, prefix=f"nwbench-{run}-ours")
    base = OpenSearchIndex(args.url, prefix=f"nwbench-{run}-helper")
    try:
        try:
            ours.ensure_setup()
            base.ensure_setup()
        except Exception as exc:
            print(f"no OpenSearch at {args.url}: {exc} -- run `scripts/services up opensearch`", file=sys.stderr)
            return 1
        articles = make_articles(max(n, n_lat))
        warm = articles[:200]
        write_ours(ours, warm, args.batch)
        write_helper(base, warm, args.batch)
        rows = []
        # alternate the order to even out the engine's own warm-up and merges
        t_helper = write_helper(base, articles[200 : 200 + n], args.batch)
        t_ours = write_ours(ours, articles[200 : 200 + n], args.batch)
        size_kb = statistics.mean(len(a.content) + len(a.title) + len(a.summary) for a in articles[:200]) / 1024
        rows.append(("bulk index: opensearchpy.helpers.bulk", f"{n / t_helper:,.0f} docs/s", f"{n} docs, {size_kb:.1f} KB text"))
        rows.append(("bulk index: newswatch sink (write)", f"{n / t_ours:,.0f} docs/s", f"batch {args.batch}"))
        ratio = (n / t_ours) / (n / t_helper)
        rows.append(("ratio sink / helper", f"{ratio:.2f}", "target >= 0.80"))

        rest = articles[200 + n : n_lat] if n_lat > 200 + n else []
        if rest:
            write_ours(ours, rest, args.batch)
        ours.refresh_all()
        total = ours.count()
        nodes = [parse_query(q) for q in QUERIES]
        for node in nodes:  # warm caches
            ours.search(node, limit=20)
        lat = []
        for i in range(searches):
            t = time.perf_counter()
            ours.search(nodes[i % len(nodes)], limit=20)
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        rows.append((f"search p50 over {total:,} articles", f"{p50:.1f} ms", f"{searches} searches, {len(QUERIES)} query kinds"))
        rows.append((f"search p99 over {total:,} articles", f"{p99:.1f} ms", "limit 20, with snippets"))
        rows.append(("peak RSS (this process)", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", ""))
        engine = f"OpenSearch {ours.version} at {args.url}"
        print(f"\nbench_index — {engine}")
        w = max(len(r[0]) for r in rows)
        for name, value, note in rows:
            print(f"  {name:<{w}}  {value:>14}  {note}")
        return 0 if ratio >= 0.8 or args.quick else 2
    finally:
        for ix in (ours, base):
            try:
                ix.drop_all()
            finally:
                ix.close()


if __name__ == "__main__":
    sys.exit(main())
