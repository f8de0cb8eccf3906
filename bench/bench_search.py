"""Benchmark the embedded SQLite index: indexing throughput and search latency.

    .venv/bin/python bench/bench_search.py            # 2,000 articles of ~5 KB
    .venv/bin/python bench/bench_search.py --quick    # 500, for a CI smoke run

Baseline, computed in the same run: the Python matcher scanning every article
(DocView built ahead, as alerts would hold them) for the same queries -- what
search would cost without an index.  Synthetic text from a fixed seed.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import newswatch.index.sqlite as sqlite_backend
from newswatch.index.sqlite import SqliteIndex
from newswatch.pipeline.article import Article, EntityTag, Source, TopicTag
from newswatch.pipeline.query import DocView, compile_query, parse_query

WORDS = (
    "water supply river dam energy price council election vote festival culture harbour port city "
    "official report study agency minister talks meeting budget school hospital road bridge rail "
    "market trade export farm weather storm flood drought court judge police museum music film "
    "north south east west new old small large first last public private local national"
).split()
QUERIES = {
    "term": "water",
    "rare term": "zanzibarite",
    "phrase": '"water supply"',
    "near ~3": '"council election"~3',
    "boolean": "(energy OR water) AND NOT storm",
    "entity+text": "entity:ent3 AND budget",
    "prefix": "elect*",
    "infix ?": "w?ter",
    "date range": "published:[2024-02-01 TO 2024-02-10] AND flood",
}


def make_articles(n: int, seed: int = 1) -> list[Article]:
    rng = random.Random(seed)
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        words = rng.choices(WORDS, k=800)  # ~5 KB of text
        if i % 997 == 0:
            words[rng.randrange(len(words))] = "zanzibarite"
        out.append(Article(
            id=f"a{i}", title=" ".join(rng.choices(WORDS, k=8)), summary=" ".join(rng.choices(WORDS, k=30)),
            content=" ".join(words), content_format="text", language="en",
            published_at=t0 + timedelta(minutes=rng.randrange(90 * 24 * 60)),
            source=Source(name=f"Source {i % 20}", domain=f"s{i % 20}.example"), feed_id=f"f{i % 20}",
            entities=[EntityTag(id=f"ent{rng.randrange(10)}", name="Entity", count=1)],
            topics=[TopicTag(id=rng.choice(["water", "energy", "elections"]), score=1.0)],
        ))
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="500 articles, 10 repetitions")
    ap.add_argument("-n", type=int, default=None, help="articles to index (default 2000)")
    ap.add_argument("--reps", type=int, default=None, help="searches per query (default 8)")
    args = ap.parse_args()
    n = args.n or (500 if args.quick else 2000)
    reps = args.reps or (5 if args.quick else 8)

    arts = make_articles(n)
    size_kb = sum(len(a.content) + len(a.summary) + len(a.title) for a in arts) / n / 1024
    with tempfile.TemporaryDirectory() as tmp:
        ix = SqliteIndex(Path(tmp) / "bench.sqlite3")
        t = time.perf_counter()
        for i in range(0, n, 100):
            ix.write(arts[i : i + 100])
        index_s = time.perf_counter() - t
        t = time.perf_counter()
        ix.write(arts[:500])  # replay: upsert over existing rows
        replay_s = time.perf_counter() - t
        ix._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6

        t = time.perf_counter()
        views = [DocView.of(a) for a in arts]
        views_s = time.perf_counter() - t

        print(f"indexed {n} articles (~{size_kb:.1f} KB text each) in {index_s:.2f} s: "
              f"{n / index_s:,.0f} docs/s; re-upsert of 500: {500 / replay_s:,.0f} docs/s; "
              f"db {db_mb:.1f} MB")
        print(f"baseline setup: DocView for {n} articles in {views_s:.2f} s\n")
        print(f"{'query':<14}{'hits':>7}{'search p50 ms':>15}{'p99':>8}{'relevance':>11}"
              f"{'no snippets':>13}{'matcher scan':>14}{'speed-up':>10}")
        for label, q in QUERIES.items():
            node = parse_query(q)
            lat, rel, bare = [], [], []
            total = 0
            real_snippet = sqlite_backend.snippet
            for _ in range(reps):
                t = time.perf_counter()
                total = ix.search(node, limit=20).total
                lat.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                ix.search(node, limit=20, sort="relevance")
                rel.append((time.perf_counter() - t) * 1000)
                sqlite_backend.snippet = lambda article, node: ""  # SQL + loading only
                try:
                    t = time.perf_counter()
                    ix.search(node, limit=20)
                    bare.append((time.perf_counter() - t) * 1000)
                finally:
                    sqlite_backend.snippet = real_snippet
            m = compile_query(node)
            scan = []
            for _ in range(max(3, reps // 10)):
                t = time.perf_counter()
                found = sum(1 for v in views if m.matches(v))
                scan.append((time.perf_counter() - t) * 1000)
            if found != total:
                print(f"  !! {label}: sqlite found {total}, matcher {found}", file=sys.stderr)
            p50, scan50 = statistics.median(lat), statistics.median(scan)
            print(f"{label:<14}{total:>7}{p50:>15.1f}{pct(lat, 99):>8.1f}{statistics.median(rel):>11.1f}"
                  f"{statistics.median(bare):>13.1f}{scan50:>14.1f}{scan50 / p50:>9.1f}x")
        ix.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nlatencies in ms for 20 hits; 'no snippets' = SQL + loading the 20 articles; 'matcher scan' ="
          f" baseline: the Python matcher over all {n} prepared DocViews; speed-up = scan / search p50")
    print(f"peak RSS {peak:.0f} MB (includes the {n} articles and DocViews held for the baseline)")


if __name__ == "__main__":
    main()
