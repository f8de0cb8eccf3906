"""Dedupe decisions under concurrency, replays past the window and a failing
prune.  Real SQLite files in tmp_path; the in-memory store where noted.  The
race test slows the store's reads (a subclass, not a fake) so that without an
atomic check-and-add both workers would read before either writes."""

import logging
import multiprocessing
import sqlite3
import threading

import pytest

from support.dedupe_worker import WIRE, SlowReadStore

from newswatch.enrich.dedupe import Deduplicator, MemoryDedupeStore, SQLiteDedupeStore
from newswatch.pipeline.article import Article

DAY = 86400


def art(i, title, content, url):
    return Article(id=i, title=title, content=content, url=url, content_format="text")


def test_two_workers_on_one_file_agree_on_the_original(tmp_path):
    path = tmp_path / "dedupe.sqlite3"
    w1, w2 = Deduplicator(SlowReadStore(path)), Deduplicator(SlowReadStore(path))
    rounds = 25
    for n in range(rounds):
        # a different story each round: the copy carries the body under another headline and site
        body = " ".join(f"{w}{n}" for w in WIRE.split())
        a = art(f"a{n}", f"Original headline {n}", body, f"https://one.example/{n}")
        c = art(f"c{n}", f"Copy headline {n}", body + " Copyright Example Daily.", f"https://two.example/{n}")
        barrier = threading.Barrier(2)
        res: dict[str, object] = {}

        def run(w, article):
            barrier.wait()
            res[article.id] = w.check(article)

        ts = [threading.Thread(target=run, args=(w1, a)), threading.Thread(target=run, args=(w2, c))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        originals = [i for i, dup in res.items() if dup is None]
        assert len(originals) == 1, f"round {n}: {res}"
        other = ({a.id, c.id} - set(originals)).pop()
        assert res[other] == originals[0]
    w1.close()
    w2.close()


def test_worker_processes_on_one_file_agree_on_the_original(tmp_path):
    from support import dedupe_worker

    ctx = multiprocessing.get_context("spawn")
    path, rounds = tmp_path / "dedupe.sqlite3", 15
    start, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=dedupe_worker.run, args=(path, p, rounds, start, out), daemon=True)
             for p in ("a", "c")]
    for p in procs:
        p.start()
    try:
        got = [out.get(timeout=60) for _ in range(2 * rounds)]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
    for n in range(rounds):
        res = {f"{prefix}{n}": dup for m, prefix, dup in got if m == n}
        originals = [i for i, dup in res.items() if dup is None]
        assert len(originals) == 1, f"round {n}: {res}"
        assert set(res.values()) == {None, originals[0]}


@pytest.fixture(params=["memory", "sqlite"])
def clocked(request, tmp_path):
    now = [1_000_000.0]

    def make(**kw):
        store = MemoryDedupeStore() if request.param == "memory" else SQLiteDedupeStore(tmp_path / "d.sqlite3")
        return Deduplicator(store, window_days=7, clock=lambda: now[0], **kw)
    return now, make


def test_replay_of_a_copy_after_the_window_keeps_its_story(clocked):
    now, make = clocked
    d = make()
    o = art("o", "Water deal closer", WIRE, "https://wire.example/o")
    c = art("c", "River accord near", WIRE + " Extra line.", "https://daily.example/c")
    assert d.check(o) is None
    now[0] += 1 * DAY
    assert d.check(c) == "o"
    now[0] += 9 * DAY
    d.prune()
    assert d.check(c) == "o"
    assert d.check(o) is None
    # past the window a new copy of the story is a new story, as before
    assert d.check(art("n", "Accord again", WIRE, "https://late.example/n")) is None
    d.close()


def test_replayed_original_is_never_its_own_duplicate(clocked):
    now, make = clocked
    d = make()
    a = art("a", "Headline", WIRE, "https://one.example/a")
    c = art("c", "Headline", WIRE, "https://two.example/c")
    assert d.check(a) is None
    now[0] += 3 * DAY
    assert d.check(c) == "a"
    now[0] += 5 * DAY  # a is past the window, c is not
    d.store.prune(now[0] - d.window)
    assert d.check(a) is None
    assert d.check(c) == "a"
    d.close()


def test_decisions_are_forgotten_after_the_retention(clocked):
    now, make = clocked
    d = make(retention_days=30)
    assert d.check(art("a", "t", WIRE, "https://one.example/a")) is None
    now[0] += 3 * DAY
    assert d.check(art("c", "t2", WIRE + " More.", "https://two.example/c")) == "a"
    now[0] += 40 * DAY
    d.prune()
    assert d.store.get("a") is None and d.store.get("c") is None


def test_failed_prune_is_rolled_back_and_does_not_fail_the_article(tmp_path, caplog):
    path = tmp_path / "d.sqlite3"
    now = [1_000_000.0]
    d = Deduplicator(SQLiteDedupeStore(path), window_days=1, clock=lambda: now[0])
    d.PRUNE_EVERY = 1
    assert d.check(art("a", "t", WIRE, "https://one.example/a")) is None
    assert d.store.get("a").signature is not None
    other = sqlite3.connect(path)
    other.execute("CREATE TRIGGER no_update BEFORE UPDATE ON records BEGIN SELECT RAISE(ABORT, 'boom'); END")
    other.commit()
    now[0] += 2 * DAY
    with caplog.at_level(logging.WARNING, logger="newswatch.enrich.dedupe"):
        assert d.check(art("b", "other", "a different short body", "https://two.example/b")) is None
    assert "prune failed" in caplog.text
    # rolled back: a's match keys are still there, and the connection takes new work
    assert d.store.get("a").signature is not None
    assert d.check(art("c", "t3", WIRE + " Copy.", "https://three.example/c")) == "a"
    other.execute("DROP TRIGGER no_update")
    other.commit()
    other.close()
    assert d.prune() >= 1  # a's match keys; c is inside the window
    assert d.store.get("a").signature is None and d.store.get("c").signature is not None
    d.close()
