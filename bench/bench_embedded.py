"""Embedded pipeline end to end: raw Article as ingest emits it -> Enricher
(default config, SQLite dedupe store) -> SqliteIndex.write and the alerts
sink (default rules, Maildir sender), in batches as InlinePipeline runs them.

    .venv/bin/python bench/bench_embedded.py [--quick] [-n 3000] [--batch 25]

Articles are synthetic ~5 KB HTML pages: the seed article and prose in
several languages, watchlist names sprinkled in, and syndicated copies (same
body, another headline, site and boilerplate) so dedupe has work to do.
Everything runs in one process and one thread, in temp dirs: figures are per
core.  The per-stage figures are CPU time, measured by timing the real
Enricher's own steps (its module functions and taggers wrapped in timers),
so the breakdown and the total come from the same run.  The baseline is the
same raw articles written to a fresh index with no enrichment at all.
"""

from __future__ import annotations

import argparse
import logging
import random
import resource
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from newswatch.alerts import build_alerts  # noqa: E402
from newswatch.enrich import build_enricher  # noqa: E402
from newswatch.enrich import service as enrich_service  # noqa: E402
from newswatch.enrich.language import detect_language  # noqa: E402
from newswatch.enrich.watchlist import load_watchlist  # noqa: E402
from newswatch.index.sqlite import SqliteIndex  # noqa: E402
from newswatch.pipeline.article import Article, Source  # noqa: E402
from newswatch.pipeline.quarantine import Quarantine  # noqa: E402
from newswatch.pipeline.runtime import settle_heap  # noqa: E402
from newswatch.pipeline.settings import Settings  # noqa: E402
from newswatch.pipeline.transport.inline import InlinePipeline  # noqa: E402
from newswatch.pipeline.urls import article_id, canonical_url, domain_of  # noqa: E402

# shared/ sits beside the clone (and at /work/shared on a developer's machine)
SEED = next((p for p in (ROOT.parent / "shared" / "fixtures" / "seed-article.txt",
                         Path("/work/shared/fixtures/seed-article.txt")) if p.exists()),
            Path("/nonexistent"))
FALLBACK = ("The exiled opposition group held a rally in Paris on Saturday, and officials in Tirana said "
            "the camp near Durres would stay open while talks with the government continue. ")

# enough real words per language for the language model to tell them apart
WORDS = {
    "en": "the government said on Monday that the minister would meet officials from the region to discuss "
          "security and the economy while protesters gathered outside parliament demanding answers about "
          "the budget and new elections next year according to a statement".split(),
    "fr": "le gouvernement a déclaré lundi que le ministre rencontrerait les responsables de la région pour "
          "discuter de la sécurité et de l'économie tandis que des manifestants se rassemblaient devant le "
          "parlement pour exiger des réponses sur le budget et des élections l'année prochaine".split(),
    "de": "die Regierung erklärte am Montag dass der Minister sich mit Vertretern der Region treffen werde um "
          "über Sicherheit und Wirtschaft zu sprechen während sich Demonstranten vor dem Parlament "
          "versammelten und Antworten zum Haushalt und Neuwahlen im nächsten Jahr forderten".split(),
    "es": "el gobierno dijo el lunes que el ministro se reuniría con funcionarios de la región para discutir "
          "la seguridad y la economía mientras los manifestantes se reunían frente al parlamento exigiendo "
          "respuestas sobre el presupuesto y nuevas elecciones el próximo año".split(),
    "fa": "دولت روز دوشنبه اعلام کرد که وزیر با مقامات منطقه دیدار خواهد کرد تا درباره امنیت و اقتصاد گفتگو "
          "کنند در حالی که معترضان در مقابل مجلس تجمع کرده بودند و خواستار پاسخ درباره بودجه و انتخابات "
          "جدید در سال آینده بودند".split(),
    "ar": "قالت الحكومة يوم الاثنين إن الوزير سيلتقي بمسؤولين من المنطقة لمناقشة الأمن والاقتصاد بينما "
          "تجمع المتظاهرون أمام البرلمان مطالبين بإجابات حول الميزانية والانتخابات الجديدة في العام المقبل".split(),
}
LANG_MIX = ["en"] * 6 + ["fr", "de", "es", "fa", "ar", "en"]
SITES = ["news.example", "daily.example.org", "wire.example.net", "gazette.example", "tribune.example.com",
         "post.example.co.uk", "courrier.example.fr", "zeitung.example.de", "diario.example.es", "khabar.example.ir"]
BOILER_TOP = '<div class="share"><a href="/share">Share</a> <a href="/print">Print</a></div>'
BOILER_END = ('<div class="related"><h3>Related</h3><ul><li><a href="/a">More news</a></li>'
              '<li><a href="/b">Most read</a></li></ul></div>'
              '<script>window.ads = {"slot": "article-bottom", "n": 3};</script>'
              '<style>.share{display:flex}</style><p>&copy; 2024 The Publisher &amp; partners. All rights reserved.</p>')


class Corpus:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        seed = SEED.read_text(encoding="utf-8") if SEED.exists() else FALLBACK * 40
        self.seed_sentences = [s.strip() + "." for s in seed.replace("\n", " ").split(". ") if len(s) > 20]
        ents = load_watchlist(ROOT / "config" / "watchlist.yaml")
        self.names = [a.text for e in ents for a in e.alias_specs()]

    def sentence(self, lang: str, mentions: bool = False) -> str:
        rng = self.rng
        if lang == "en" and mentions and rng.random() < 0.3:
            return rng.choice(self.seed_sentences)
        words = rng.choices(WORDS[lang], k=rng.randint(10, 24))
        if mentions and rng.random() < 0.1:  # a watchlist name, in any language's prose
            words.insert(rng.randrange(len(words)), rng.choice(self.names))
        s = " ".join(words)
        return s[0].upper() + s[1:] + "."

    def body(self, lang: str, size: int, mentions: bool) -> list[str]:
        paras, n = [], 0
        while n < size:
            p = " ".join(self.sentence(lang, mentions) for _ in range(self.rng.randint(2, 5)))
            if self.rng.random() < 0.3:
                w = p.split(" ")
                k = self.rng.randrange(len(w))
                w[k] = f"<strong>{w[k]}</strong>" if self.rng.random() < 0.5 else f'<a href="/t/{k}">{w[k]}</a>'
                p = " ".join(w)
            paras.append(p)
            n += len(p) + 7
        return paras


def make_articles(n: int, seed: int = 11, size: int = 4600) -> list[Article]:
    """Raw Articles shaped as ingest.parser emits them (HTML content)."""
    rng = random.Random(seed)
    corpus = Corpus(rng)
    now = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)
    bodies: list[tuple[str, list[str]]] = []
    out: list[Article] = []
    for i in range(n):
        site = rng.choice(SITES)
        if bodies and rng.random() < 0.15:  # a syndicated copy of an earlier story
            lang, paras = rng.choice(bodies[-200:])
        else:
            lang = rng.choice(LANG_MIX)
            # a third of the stories are about the watchlist
            paras = corpus.body(lang, size, mentions=rng.random() < 0.33)
            bodies.append((lang, paras))
        title = corpus.sentence(lang)[:90].rstrip(".")
        html = (BOILER_TOP + f"<p><em>By staff writer {i % 37}</em></p>"
                + "".join(f"<p>{p}</p>" for p in paras) + BOILER_END)
        url = f"https://www.{site}/{now:%Y/%m}/story-{i}?utm_source=rss&id={i}"
        out.append(Article(
            id=article_id(url, f"feed-{site}", None), url=url, canonical_url=canonical_url(url),
            guid=url, feed_id=f"feed-{site}", source=Source(name=site.split(".")[0].title(), domain=domain_of(url)),
            title=title, summary=f"<p>{paras[0][:300]}</p>", content=html, content_format="html",
            published_at=now - timedelta(minutes=n - i), fetched_at=now,
            authors=[f"Staff writer {i % 37}"], categories=["world", rng.choice(["politics", "security"])],
            language_hint=rng.choice([lang, None, "en-US"]),
        ))
    return out


class Timers:
    """CPU time per named step, summed over the run."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, fn):
        cpu = self.cpu
        clock = time.process_time

        def timed(*args, **kwargs):
            t = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu[name] += clock() - t

        return timed


def instrument(enricher, index, alerts, timers: Timers) -> None:
    """Time the Enricher's own steps without changing what it runs."""
    for attr, name in (("normalize_article", "normalise"), ("detect_article_language", "language"),
                       ("fingerprint", "dedupe: fingerprint"), ("fingerprints", "dedupe: fingerprint")):
        setattr(enrich_service, attr, timers.wrap(name, getattr(enrich_service, attr)))
    if enricher.dedupe is not None:
        enricher.dedupe.check_many = timers.wrap("dedupe: store", enricher.dedupe.check_many)
    enricher.entities.tag_article = timers.wrap("entities", enricher.entities.tag_article)
    enricher.topics.tag_article = timers.wrap("topics", enricher.topics.tag_article)
    # process() goes through process_batch() too: one wrapper counts both
    enricher.process_batch = timers.wrap("enrich (all)", enricher.process_batch)
    index.write = timers.wrap("index write", index.write)
    if alerts is not None:
        alerts.write = timers.wrap("alerts", alerts.write)


def batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def run_pipeline(articles: list[Article], tmp: Path, batch: int, with_alerts: bool) -> dict:
    settings = Settings(config_dir=ROOT / "config", data_dir=tmp, index="sqlite", smtp_host=None)
    enricher = build_enricher(settings)
    index = SqliteIndex(tmp / "index.sqlite3")
    alerts = build_alerts(settings) if with_alerts else None
    timers = Timers()
    instrument(enricher, index, alerts, timers)
    sinks = [index] + ([alerts] if alerts is not None else [])
    pipe = InlinePipeline(enricher, sinks, Quarantine(tmp / "quarantine.jsonl"))
    settle_heap()  # as `newswatch run` does once built
    lat: list[float] = []
    c0, w0 = time.process_time(), time.perf_counter()
    for b in batches(articles, batch):
        s = time.perf_counter()
        pipe(b)
        # every article of a poll arrives together and is searchable when its batch commits
        lat.extend([time.perf_counter() - s] * len(b))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    out = {"cpu": cpu, "wall": wall, "lat": sorted(lat), "steps": dict(timers.cpu),
           "dupes": pipe.counters.duplicates, "indexed": pipe.counters.written.get(index.name, 0),
           "alerts": dict(alerts.stats) if alerts is not None else {},
           "langs": dict(sorted(enricher.stats.items()))}
    pipe.close()
    return out


def run_baseline(articles: list[Article], tmp: Path, batch: int) -> dict:
    index = SqliteIndex(tmp / "bare.sqlite3")
    lat: list[float] = []
    c0, w0 = time.process_time(), time.perf_counter()
    for b in batches(articles, batch):
        s = time.perf_counter()
        index.write(b)
        lat.extend([time.perf_counter() - s] * len(b))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    index.close()
    return {"cpu": cpu, "wall": wall, "lat": sorted(lat)}


def pct(lat: list[float], q: float) -> float:
    return lat[min(len(lat) - 1, int(len(lat) * q))] * 1e3


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small run for CI smoke (~10 s)")
    ap.add_argument("-n", type=int, default=None, help="articles (default 3000, 300 with --quick)")
    ap.add_argument("--batch", type=int, default=25, help="articles per batch (one feed poll)")
    ap.add_argument("--no-alerts", action="store_true", help="leave the alerts sink out")
    args = ap.parse_args()
    n = args.n or (300 if args.quick else 3000)
    logging.basicConfig(level=logging.ERROR)  # the Maildir notice and alert logs are not figures

    t0 = time.perf_counter()
    articles = make_articles(n)
    gen_s = time.perf_counter() - t0
    kb = sum(len(a.content) + len(a.summary) + len(a.title) for a in articles) / n / 1000
    # load the language model (once per process, lazily) outside the timings
    detect_language(" ".join(WORDS["en"]))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with tempfile.TemporaryDirectory(prefix="nw-bench-") as d:
        tmp = Path(d)
        base = run_baseline(articles, tmp, args.batch)
        full = run_pipeline(articles, tmp, args.batch, not args.no_alerts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"{n} raw HTML articles, ~{kb:.1f} KB each, batches of {args.batch}; generated in {gen_s:.1f} s; "
          f"{full['dupes']} marked duplicate, {full['indexed']} indexed"
          + (f", alert rule matches {full['alerts'].get('matched', 0)}" if full["alerts"] else ""))
    steps = full["steps"]
    enrich_parts = ("normalise", "language", "dedupe: fingerprint", "dedupe: store", "entities", "topics")
    rows = [(s, steps.get(s, 0.0)) for s in enrich_parts]
    rows.append(("enrich other (copy, bookkeeping)", steps["enrich (all)"] - sum(v for _, v in rows)))
    rows.append(("index write", steps.get("index write", 0.0)))
    if "alerts" in steps:
        rows.append(("alerts", steps["alerts"]))
    accounted = steps["enrich (all)"] + steps.get("index write", 0.0) + steps.get("alerts", 0.0)
    rows.append(("pipeline other", full["cpu"] - accounted))
    print(f"\n{'stage':<36}{'CPU ms/article':>16}{'share':>8}")
    for name, secs in rows:
        print(f"{name:<36}{secs / n * 1e3:>16.3f}{secs / full['cpu']:>8.0%}")
    print(f"{'total':<36}{full['cpu'] / n * 1e3:>16.3f}{1:>8.0%}")

    print(f"\n{'run':<40}{'art/s (CPU)':>12}{'art/s (wall)':>13}{'p50 ms':>9}{'p99 ms':>9}{'vs bare':>9}")
    base_rate = n / base["cpu"]
    for name, r in (("bare index write, no enrichment (baseline)", base),
                    ("full embedded pipeline" + ("" if full["alerts"] else " (no alerts)"), full)):
        rate = n / r["cpu"]
        print(f"{name:<40}{rate:>12.0f}{n / r['wall']:>13.0f}{pct(r['lat'], .5):>9.1f}{pct(r['lat'], .99):>9.1f}"
              f"{rate / base_rate:>9.2f}")
    print("\nlatency: an article's batch, from handing it to the pipeline to the index commit (and alerts)")
    print(f"peak RSS: {rss:.0f} MB ({rss0:.0f} MB with the articles generated and the language model loaded)")
    target = n / full["cpu"]
    print(f"target >= 500 articles/s end to end: {'MET' if target >= 500 else 'NOT MET'} ({target:.0f}/s per core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
