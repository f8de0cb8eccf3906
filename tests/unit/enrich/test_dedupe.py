"""Exact and near-duplicate detection.  Uses the in-memory store (a fake of
the SQLite store) except where the SQLite store itself is tested."""

from pathlib import Path

import pytest

from newswatch.enrich.dedupe import (
    Deduplicator, MemoryDedupeStore, SQLiteDedupeStore, fingerprint,
)
from newswatch.pipeline.article import Article

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "enrich"
WIRE = (FIX / "wire_story.txt").read_text(encoding="utf-8")
OTHER = (FIX / "other_story.txt").read_text(encoding="utf-8")


def art(i, title="", content="", url="", summary=""):
    return Article(id=i, title=title, content=content, url=url, summary=summary, content_format="text")


@pytest.fixture(params=["memory", "sqlite"])
def dd(request, tmp_path):
    store = MemoryDedupeStore() if request.param == "memory" else SQLiteDedupeStore(tmp_path / "d.sqlite3")
    d = Deduplicator(store, threshold=0.8, window_days=7)
    yield d
    d.close()


def test_exact_url_with_tracking_params(dd):
    assert dd.check(art("a", "Title one", "body text", url="https://ex.com/story?id=3")) is None
    assert dd.check(art("b", "Other title", "other body", url="http://www.ex.com/story?utm_source=rss&id=3#x")) == "a"


def test_content_hash_same_text_different_url(dd):
    t = "Delegates met in Geneva on Tuesday to discuss water sharing quotas"
    assert dd.check(art("a", "Water talks", t, url="https://one.example/1")) is None
    assert dd.check(art("b", "WATER talks!", t + ".", url="https://two.example/9")) == "a"


def test_syndicated_copy_with_new_title_and_boilerplate_is_near_duplicate(dd):
    original = art("a", "Water deal closer, delegates say", WIRE, url="https://wire.example/a")
    copy_body = ("By Staff Writer | Published 3 March\n\n" + WIRE.replace("GENEVA, March 3 (Fictional Wire) - ", "")
                 + "\n\nCopyright 2024 Example Daily. Sign up for our newsletter to get the top stories.")
    copy = art("b", "Twelve nations near river accord", copy_body, url="https://daily.example/world/88")
    assert dd.check(original) is None
    assert dd.check(copy) == "a"


def test_different_story_on_same_topic_is_not_a_duplicate(dd):
    assert dd.check(art("a", "Water deal closer", WIRE, url="https://wire.example/a")) is None
    assert dd.check(art("b", "Groups criticise water deal", OTHER, url="https://wire.example/b")) is None


def test_short_texts_with_same_headline_are_not_merged(dd):
    assert dd.check(art("a", "Protests in capital", "Police said crowds gathered.", url="https://a.example/1")) is None
    assert dd.check(art("b", "Protests in capital", "Hundreds marched on Sunday.", url="https://b.example/2")) is None


def test_replay_keeps_earlier_answer(dd):
    a = art("a", "Water deal closer", WIRE, url="https://wire.example/a")
    b = art("b", "River accord near", WIRE + " Extra line.", url="https://x.example/b")
    assert dd.check(a) is None
    assert dd.check(b) == "a"
    assert dd.check(a) is None  # not a duplicate of itself
    assert dd.check(b) == "a"


def test_copy_of_a_copy_points_to_first(dd):
    dd.check(art("a", "t1", WIRE, url="https://1.example/"))
    dd.check(art("b", "t2", WIRE + " More.", url="https://2.example/"))
    assert dd.check(art("c", "t3", WIRE, url="https://2.example/")) == "a"


def test_window_forgets_old_articles():
    now = [1_000_000.0]
    d = Deduplicator(MemoryDedupeStore(), window_days=1, clock=lambda: now[0])
    d.check(art("a", "t", WIRE, url="https://1.example/"))
    now[0] += 2 * 86400
    d.store.prune(now[0] - d.window)
    assert d.check(art("b", "t", WIRE, url="https://1.example/")) is None


def test_sqlite_store_persists(tmp_path):
    p = tmp_path / "d.sqlite3"
    d = Deduplicator(SQLiteDedupeStore(p))
    d.check(art("a", "t", WIRE, url="https://1.example/"))
    d.close()
    d2 = Deduplicator(SQLiteDedupeStore(p))
    assert d2.check(art("b", "other", WIRE, url="https://2.example/")) == "a"
    d2.close()


def test_fingerprint_ignores_case_and_punctuation():
    f1 = fingerprint(art("a", "Hello World", "Some body, text here and more words to count."))
    f2 = fingerprint(art("b", "hello  world!", "Some body text here and more words to count"))
    assert f1.content_hash == f2.content_hash


def test_check_many_answers_like_one_by_one_in_one_step(dd, tmp_path):
    """A batch decides in order (a copy later in the batch finds its
    original in the same transaction), an id twice gets one answer, and the
    answers equal a one-by-one run on a fresh store."""
    items = [
        art("w1", "Wire story", WIRE, url="https://one.example/w"),
        art("o1", "Other story", OTHER, url="https://one.example/o"),
        art("w2", "Another headline", WIRE + " Copyright Example Daily.", url="https://two.example/w"),
        art("w1", "Wire story", WIRE, url="https://one.example/w"),  # replayed inside the batch
        art("u1", "Teaser", "short text", url="https://one.example/w?utm_source=x"),  # same URL as w1
    ]
    got = dd.check_many([(a, fingerprint(a)) for a in items])
    assert got == [None, None, "w1", None, "w1"]
    one_by_one = Deduplicator(SQLiteDedupeStore(tmp_path / "fresh.sqlite3"))
    assert [one_by_one.check(a) for a in items] == got
    one_by_one.close()


def test_check_many_is_all_or_nothing(dd):
    """A failure half-way through the batch leaves nothing decided: the
    transport retries those articles, and they must not find themselves."""
    a, b = art("a", "Wire", WIRE, url="https://one.example/a"), art("b", "Other", OTHER, url="https://one.example/b")

    class Boom(Exception):
        pass

    real_find = dd._find
    calls = []

    def failing_find(article_id, fp):
        calls.append(article_id)
        if article_id == "b":
            raise Boom("store fell over")
        return real_find(article_id, fp)

    dd._find = failing_find
    with pytest.raises(Boom):
        dd.check_many([(a, fingerprint(a)), (b, fingerprint(b))])
    assert calls == ["a", "b"]
    assert dd.store.get("a") is None and dd.store.get("b") is None
    dd._find = real_find
    assert dd.check_many([(a, fingerprint(a)), (b, fingerprint(b))]) == [None, None]


def _variant(n: int) -> str:
    """A story of its own per n (no near-duplicate of another n)."""
    return " ".join(f"{w}{n}" for w in WIRE.split())


def _near_copy(text: str) -> tuple[str, str]:
    """Same body plus a tagline and a different headline and URL: only the
    MinHash bands can find it (no shared URL, content hash or body hash)."""
    return text + " Reporting by Example Wire; editing by a desk.", "A different headline"


@pytest.mark.parametrize("merge_at", [64_000, 100])
def test_near_duplicates_are_found_after_reopen_and_across_connections(tmp_path, monkeypatch, merge_at):
    """The bands live in memory: a new process rebuilds them from the stored
    signatures (in bulk when there are many: merge_at=100), and a worker sees
    what another worker stored after it opened the file."""
    from newswatch.enrich.dedupe import BandIndex

    monkeypatch.setattr(BandIndex, "MERGE_AT", merge_at)
    p = tmp_path / "d.sqlite3"
    first = Deduplicator(SQLiteDedupeStore(p))
    for n in range(100):
        assert first.check(art(f"s{n}", f"story {n}", _variant(n), url=f"https://1.example/{n}")) is None
    other = Deduplicator(SQLiteDedupeStore(p))  # opened now: loads 100 signatures
    assert len(other.store._bands) == 100 * 32
    body, title = _near_copy(_variant(42))
    assert other.check(art("c42", title, body, url="https://2.example/x")) == "s42"
    # stored by `first` after `other` opened: found through the rowid catch-up
    assert first.check(art("late", "late story", _variant(500), url="https://1.example/late")) is None
    body, title = _near_copy(_variant(500))
    assert other.check(art("c500", title, body, url="https://3.example/y")) == "late"
    first.close()
    other.close()


def test_a_store_of_an_older_version_drops_its_bands_table_and_keeps_finding_copies(tmp_path):
    import sqlite3

    p = tmp_path / "d.sqlite3"
    d = Deduplicator(SQLiteDedupeStore(p))
    d.check(art("a", "t", WIRE, url="https://1.example/"))
    d.close()
    db = sqlite3.connect(p)  # what an older newswatch left in the file
    db.execute("CREATE TABLE bands (band INTEGER NOT NULL, id TEXT NOT NULL)")
    db.execute("INSERT INTO bands VALUES (1, 'a')")
    db.commit()
    db.close()
    d2 = Deduplicator(SQLiteDedupeStore(p))
    assert d2.store.db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'bands'").fetchone()[0] == 0
    body, title = _near_copy(WIRE)
    assert d2.check(art("b", title, body, url="https://2.example/")) == "a"
    d2.close()


def test_band_index_merges_looks_up_and_forgets():
    from newswatch.enrich.dedupe import BandIndex

    idx = BandIndex()
    idx.MERGE_AT = 10
    idx.add(1, [5, 6, 7])
    idx.add(2, [7, 8, 9])
    assert idx.lookup([7]) == {1, 2} and idx.lookup([100]) == set()
    idx.add(3, [9, 10, 11, 12])  # 10 entries: merged into the arrays
    assert not idx.recent and len(idx) == 10
    idx.add(4, [12])
    assert idx.lookup([12, 5]) == {1, 3, 4} and idx.lookup([9]) == {2, 3}
    idx.drop_below(3)
    assert idx.lookup([7, 9, 12]) == {3, 4} and len(idx) == 5


def test_prune_drops_the_forgotten_rows_from_the_band_index(tmp_path):
    now = [1_000_000.0]
    d = Deduplicator(SQLiteDedupeStore(tmp_path / "d.sqlite3"), window_days=1, clock=lambda: now[0])
    d.check(art("old", "t", _variant(1), url="https://1.example/1"))
    now[0] += 2 * 86400
    d.check(art("new", "t", _variant(2), url="https://1.example/2"))
    assert len(d.store._bands) == 64
    assert d.prune() == 1
    assert len(d.store._bands) == 32
    body, title = _near_copy(_variant(1))
    assert d.check(art("copy", title, body, url="https://2.example/1")) is None  # past the window
    d.close()


def test_band_keys_of_a_batch_equal_one_by_one():
    from newswatch.enrich.dedupe import precompute_bands

    fps = [fingerprint(art(f"s{n}", "t", _variant(n))) for n in range(5)]
    alone = [fingerprint(art(f"s{n}", "t", _variant(n))).bands() for n in range(5)]
    precompute_bands(fps)
    assert all("_bands" in fp.__dict__ for fp in fps)
    assert [fp.bands() for fp in fps] == alone and len(set(alone[0])) == 32


def test_a_store_emptied_by_another_worker_is_reloaded_not_trusted(tmp_path):
    """Another worker pruned everything (a store idle past the retention) and
    then stored new rows: their rowids restart below what this worker has
    seen; it must still find them."""
    p = tmp_path / "d.sqlite3"
    mine, other = Deduplicator(SQLiteDedupeStore(p)), Deduplicator(SQLiteDedupeStore(p))
    for n in range(5):
        mine.check(art(f"s{n}", f"story {n}", _variant(n), url=f"https://1.example/{n}"))
    other.store.prune(before=1e12, forget_before=1e12)  # every record forgotten
    assert other.check(art("fresh", "fresh story", _variant(77), url="https://3.example/f")) is None
    body, title = _near_copy(_variant(77))
    assert mine.check(art("copy", title, body, url="https://4.example/c")) == "fresh"
    mine.close()
    other.close()



def test_rowids_of_a_rolled_back_batch_given_to_another_worker_are_still_seen(tmp_path):
    """A failed batch rolls back its rows; SQLite hands their rowids out
    again, here to another worker.  The first worker must still catch up on
    that row, or a copy of its story becomes a second original."""
    p = tmp_path / "d.sqlite3"
    mine, other = Deduplicator(SQLiteDedupeStore(p)), Deduplicator(SQLiteDedupeStore(p))
    mine.check(art("s0", "story 0", _variant(0), url="https://1.example/0"))
    real_find = mine._find

    def failing_find(article_id, fp):
        if article_id == "boom":
            raise RuntimeError("store fell over")
        return real_find(article_id, fp)

    mine._find = failing_find
    batch = [art("s1", "story 1", _variant(1), url="https://1.example/1"), art("boom", "b", _variant(2))]
    with pytest.raises(RuntimeError):
        mine.check_many([(a, fingerprint(a)) for a in batch])  # s1 got rowid 2, then rolled back
    mine._find = real_find
    assert other.check(art("b2", "other story", _variant(3), url="https://2.example/3")) is None  # rowid 2
    body, title = _near_copy(_variant(3))
    assert mine.check(art("copy", title, body, url="https://4.example/c")) == "b2"
    mine.close()
    other.close()

def test_a_batch_processor_returning_the_wrong_number_of_results_fails_every_article():
    from newswatch.pipeline.stage import process_many

    class Broken:
        name = "broken"

        def process(self, a):
            return [a]

        def process_batch(self, articles):
            return [[a] for a in articles][:-1]

        def close(self):
            pass

    arts = [art("a", "t", "x"), art("b", "t", "y")]
    results = process_many(Broken(), arts)
    assert len(results) == 2 and all(isinstance(r, RuntimeError) for r in results)


def test_signatures_computed_together_equal_one_by_one_and_the_stored_ones():
    """Signatures are stored across versions: computing them in groups must
    not change a bit (the pinned digests are of the one-by-one code)."""
    import hashlib

    from newswatch.enrich.dedupe import MINHASH_BLOCK, minhash, minhash_many
    from newswatch.pipeline.text import tokens

    wire = tokens(WIRE)
    assert hashlib.sha256(minhash(wire)).hexdigest()[:16] == "e8e5e34579790339"
    assert hashlib.sha256(minhash(wire[:2])).hexdigest()[:16] == "f9bbaa68a6b4ceab"  # fewer words than a shingle
    long = (wire * (2 * MINHASH_BLOCK // len(wire) + 2))  # spans three blocks on its own
    assert len(long) == 1208 and hashlib.sha256(minhash(long)).hexdigest()[:16] == "6b73418ade6eaa7b"
    lists = [wire[i:] for i in range(11)] + [wire[:1], long, tokens(OTHER), wire[:3]]
    assert minhash_many(lists) == [minhash_many([t])[0] for t in lists]
    assert minhash_many([]) == []


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_first_by_each_answers_each_lookup_in_order_with_the_earliest_record(tmp_path, kind):
    from newswatch.enrich.dedupe import Record

    store = MemoryDedupeStore() if kind == "memory" else SQLiteDedupeStore(tmp_path / "d.sqlite3")
    later = Record("b", "https://x/1", "c2", "body", None, None, 20.0)
    first = Record("a", "https://x/0", "c1", "body", None, None, 10.0)
    store.claim_many([("b", lambda: (later, [])), ("a", lambda: (first, []))])
    got = store.first_by_each([("canonical_url", "https://x/1"), ("content_hash", "nowhere"), ("body_hash", "body")])
    assert [r.id if r else None for r in got] == ["b", None, "a"]  # body: the earliest seen, not the first stored
    assert store.first_by_each([]) == []
    store.close()
