"""Alert matching throughput: many rules against ~5 KB articles.

Compares the alerts stage's matcher (RuleIndex: rules anchored on the keys
they require, Monitor/percolator style) with the naive evaluate-every-rule
loop, on the same synthetic corpus and rules, in the same run.  Both paths
build the DocView (the per-article cost every rule shares), and the results
are checked to be identical before any figure is printed.  Times are CPU
time of this process (time.process_time), i.e. per core, so a shared, busy
machine does not distort them.

    .venv/bin/python bench/bench_alerts.py            # 1,000 and 10,000 rules
    .venv/bin/python bench/bench_alerts.py --quick    # CI smoke (seconds)

Target: >= 1,000 articles/s on one core at 10,000 rules.
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import datetime, timezone

from newswatch.alerts.matching import RuleMatcher
from newswatch.alerts.rules import AlertRule
from newswatch.pipeline.article import Article, EntityTag, Source
from newswatch.pipeline.query import DocView

SEED = 20240603


def vocabulary(rng: random.Random, n: int = 100000) -> list[str]:
    syll = ["ka", "lo", "mi", "ran", "te", "sa", "vo", "dir", "na", "el", "ush", "qa", "be", "tor", "ni", "ze"]
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(syll) for _ in range(rng.randint(2, 5))))
    return sorted(words)


class Corpus:
    """Zipf-distributed words (a few very common, a long tail), like news text."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.words = vocabulary(rng)
        weights = [1.0 / (r + 1) ** 1.05 for r in range(len(self.words))]
        self.cum = list(_accumulate(weights))
        self.entities = [f"ent{i}" for i in range(1000)]  # a large shared watchlist
        self.sources = [f"paper{i}.test" for i in range(80)]

    def text(self, n_chars: int) -> str:
        out, size = [], 0
        while size < n_chars:
            sentence = " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=self.rng.randint(8, 20)))
            out.append(sentence.capitalize() + ".")
            size += len(sentence) + 2
        return " ".join(out)

    def article(self, i: int) -> Article:
        rng = self.rng
        ents = rng.sample(self.entities, rng.choice([0, 0, 1, 1, 2, 3]))
        src = rng.choice(self.sources)
        return Article(
            id=f"a{i}", url=f"https://{src}/{i}", feed_id=src, source=Source(name=src, domain=src),
            title=self.text(60), summary=self.text(200), content=self.text(4800), content_format="text",
            language=rng.choice(["en", "en", "en", "fr", "de", "fa"]),
            published_at=datetime(2024, 6, 1, tzinfo=timezone.utc),
            entities=[EntityTag(id=e, name=e.upper()) for e in ents],
        )

    def rule_word(self) -> str:
        # people write specific words (names, places, jargon), rarely "the":
        # log-uniform over ranks 2,000 .. 100,000 of the Zipf vocabulary
        rank = int(math.exp(self.rng.uniform(math.log(2000), math.log(len(self.words) - 1))))
        return self.words[rank]

    def rule(self, i: int) -> AlertRule:
        rng, w, e = self.rng, self.rule_word, lambda: rng.choice(self.entities)
        kind = rng.random()
        if kind < 0.30:
            q = f"entity:{e()}"
        elif kind < 0.45:
            q = f'entity:{e()} AND ({w()} OR "{w()} {w()}")'
        elif kind < 0.65:
            q = f'"{w()} {w()}" OR {w()}'
        elif kind < 0.85:
            q = f"({w()} OR {w()}) AND {w()} NOT {w()}"
        elif kind < 0.95:
            q = f"entity:{e()} AND language:{rng.choice(['fr', 'de', 'fa'])}"
        else:
            q = f'source:{rng.choice(self.sources)} AND "{w()} {w()}"~5'
        return AlertRule(id=f"r{i}", query=q, recipients=["a@example.org"])


def _accumulate(xs):
    t = 0.0
    for x in xs:
        t += x
        yield t


def run(n_rules: int, articles: list[Article], corpus: Corpus, naive_articles: int) -> dict:
    rules = [corpus.rule(i) for i in range(n_rules)]
    tracemalloc.start()
    t0 = time.process_time()
    matcher = RuleMatcher(rules)
    build_s = time.process_time() - t0
    index_mem = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    matchers = list(matcher.index.matchers.items())

    lat, hits, t0 = [], 0, time.process_time()
    results = {}
    for a in articles:
        s = time.process_time()
        doc = DocView.of(a)
        got = matcher.index.match(doc)
        lat.append(time.process_time() - s)
        hits += len(got)
        results[a.id] = set(got)
    fast_s = time.process_time() - t0

    naive = articles[:naive_articles]
    t0 = time.process_time()
    for a in naive:
        doc = DocView.of(a)
        got = {rid for rid, m in matchers if m.matches(doc)}
        assert got == results[a.id], f"RuleIndex disagrees with naive evaluation on {a.id}"
    naive_s = time.process_time() - t0

    t0 = time.process_time()
    for a in naive:
        DocView.of(a)
    docview_s = (time.process_time() - t0) / len(naive)

    lat.sort()
    return {
        "rules": n_rules, "build_s": build_s, "index_mb": index_mem / 2**20,
        "fast_aps": len(articles) / fast_s, "naive_aps": len(naive) / naive_s,
        "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))],
        "docview_ms": 1000 * docview_s, "hits_per_article": hits / len(articles),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run for CI smoke")
    ap.add_argument("--articles", type=int, default=None)
    args = ap.parse_args()
    rng = random.Random(SEED)
    corpus = Corpus(rng)
    n_articles = args.articles or (100 if args.quick else 1000)
    sizes = [1000] if args.quick else [1000, 10000]
    articles = [corpus.article(i) for i in range(n_articles)]
    avg_kb = statistics.mean(len(a.text.encode()) for a in articles) / 1024
    print(f"alert matching: {n_articles} articles of ~{avg_kb:.1f} KB, one core, Python {sys.version.split()[0]}")
    rows = [run(n, articles, corpus, naive_articles=min(n_articles, 100 if n <= 1000 else 30)) for n in sizes]
    head = (f"{'rules':>7} {'RuleIndex art/s':>16} {'naive art/s':>12} {'ratio':>7} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'DocView ms':>10} {'hits/art':>8} {'build s':>7} {'index MB':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['rules']:>7} {r['fast_aps']:>16.0f} {r['naive_aps']:>12.1f} {r['fast_aps'] / r['naive_aps']:>6.0f}x "
              f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['docview_ms']:>10.2f} {r['hits_per_article']:>8.2f} "
              f"{r['build_s']:>7.2f} {r['index_mb']:>8.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB; results of RuleIndex and naive evaluation identical on every compared article")
    last = rows[-1]
    target = 1000
    verdict = "meets" if last["fast_aps"] >= target else "BELOW"
    print(f"{verdict} the target of {target} articles/s at {last['rules']} rules ({last['fast_aps']:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
