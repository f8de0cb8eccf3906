"""An enrich worker's dedupe loop, run in a *spawned* process by
tests/unit/enrich/test_dedupe_consistency.py.  Spawned, not forked: a fork
copies whatever locks other threads of the test process hold at that moment
(SQLite's, logging's), and the child can hang on them."""

from __future__ import annotations

import time
from pathlib import Path

from newswatch.enrich.dedupe import Deduplicator, SQLiteDedupeStore
from newswatch.pipeline.article import Article

WIRE = (Path(__file__).resolve().parents[1] / "fixtures" / "enrich" / "wire_story.txt").read_text(encoding="utf-8")


class SlowReadStore(SQLiteDedupeStore):
    """Widens the gap between looking for an original and recording the article."""

    def by_bands(self, bands):
        time.sleep(0.005)
        return super().by_bands(bands)


def run(path, prefix, rounds, start, out) -> None:
    """One enrich worker process: its own connection to the shared file."""
    w = Deduplicator(SlowReadStore(path))
    start.wait(timeout=60)
    for n in range(rounds):
        body = " ".join(f"{x}{n}" for x in WIRE.split())
        a = Article(id=f"{prefix}{n}", title=f"{prefix} headline {n}", content=body,
                    url=f"https://{prefix}.example/{n}", content_format="text")
        out.put((n, prefix, w.check(a)))
    w.close()
