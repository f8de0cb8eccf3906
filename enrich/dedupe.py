"""Exact and near-duplicate detection.  Duplicates are *marked*
(``duplicate_of`` = the first copy seen), never dropped: the index keeps every
copy (coverage counts syndication) and alerts key on the story.

Exact: same canonical URL (tracking parameters removed), or the same folded
title + text.  Near: syndicated copies of one wire story carry the same body
under a different headline, byline and site boilerplate, so the body alone
(never the title) is compared, with MinHash over 3-word shingles and LSH
banding to find candidates, then the MinHash Jaccard estimate against
``near_duplicate_threshold``.  Short bodies (a one-sentence teaser) are only
matched when identical: two different stories on the same topic can share
most of a 20-word summary's vocabulary.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from newswatch.pipeline.article import Article
from newswatch.pipeline.text import tokens
from newswatch.pipeline.sqlite_tx import immediate
from newswatch.pipeline.urls import canonical_url

log = logging.getLogger(__name__)

SHINGLE = 3
NUM_PERM = 128
BANDS = 32
ROWS = NUM_PERM // BANDS
# below this many body words a text is only matched when identical
MIN_NEAR_WORDS = 30
MIN_BODY_EXACT_WORDS = 12
# a bare headline is not enough to call two items the same article
MIN_HASH_WORDS = 8

_PRIME = np.uint64(4294967291)  # largest prime < 2**32: signatures fit uint32
_rng = np.random.default_rng(20240601)  # fixed: signatures are stored across runs
_A = _rng.integers(1, 2**31 - 1, size=NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, 2**31 - 1, size=NUM_PERM, dtype=np.uint64)


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    canonical_url: str
    content_hash: str
    body_hash: str | None  # None: body too short to match on its own
    signature: bytes | None  # None: body too short for near-duplicate matching
    words: int

    def bands(self) -> list[int]:
        if self.signature is None:
            return []
        bands = self.__dict__.get("_bands")
        if bands is None:
            bands = band_keys(np.frombuffer(self.signature, dtype=np.uint32).reshape(1, -1))[0].tolist()
            object.__setattr__(self, "_bands", bands)  # computed once: check() needs them twice
        return list(bands)


def precompute_bands(fps: Sequence[Fingerprint]) -> None:
    """Fill in the band keys of many fingerprints with one numpy call (a
    call per signature costs more in numpy overhead than in arithmetic)."""
    todo = [fp for fp in fps if fp.signature is not None and "_bands" not in fp.__dict__]
    if len(todo) < 2 or any(len(fp.signature) != NUM_PERM * 4 for fp in todo):  # type: ignore[arg-type]
        return
    sigs = np.frombuffer(b"".join(fp.signature for fp in todo), dtype=np.uint32)  # type: ignore[misc]
    for fp, keys in zip(todo, band_keys(sigs.reshape(len(todo), NUM_PERM)).tolist()):
        object.__setattr__(fp, "_bands", keys)


_FNV_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0xFF51AFD7ED558CCD)


def band_keys(signatures: np.ndarray) -> np.ndarray:
    """LSH band keys (int64, BANDS per row) of an (n, NUM_PERM) uint32 array
    of signatures, all at once.  Kept in memory only (never stored), so the
    function may change between versions; a collision only adds a
    candidate, which is then compared on its signature."""
    v = signatures.reshape(len(signatures), BANDS, ROWS).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(v.shape[:2], 0xCBF29CE484222325, dtype=np.uint64)
        for r in range(ROWS):  # FNV-1a over the band's rows, then the band number
            h = (h ^ v[:, :, r]) * _FNV_PRIME
        h = (h ^ np.arange(BANDS, dtype=np.uint64)) * _FNV_PRIME
        h ^= h >> np.uint64(33)  # final avalanche (murmur3's)
        h *= _MIX
        h ^= h >> np.uint64(33)
    return h.view(np.int64)


class BandIndex:
    """LSH band key -> record rowids, in memory.  Most entries sit in two
    sorted numpy arrays (16 bytes per band, 512 per article: a week of
    news in tens of MB); recent ones in a dict, merged in now and then."""

    MERGE_AT = 64_000  # entries in the dict before a merge (~2,000 articles)

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.int64)
        self.rows = np.empty(0, dtype=np.int64)
        self.recent: dict[int, list[int]] = {}
        # the dict's entries again, flat, in the order added: what a merge moves into the arrays
        self._recent_keys: list[int] = []
        self._recent_rows: list[int] = []

    def __len__(self) -> int:
        return len(self.keys) + len(self._recent_keys)

    def add(self, rowid: int, bands: list[int]) -> None:
        for b in bands:
            got = self.recent.get(b)
            if got is None:
                self.recent[b] = [rowid]
            else:
                got.append(rowid)
        self._recent_keys.extend(bands)
        self._recent_rows.extend([rowid] * len(bands))
        if len(self._recent_keys) >= self.MERGE_AT:
            self._merge()

    def add_many(self, rowids: np.ndarray, bands: np.ndarray) -> None:
        """Bulk add: *bands* is (len(rowids), BANDS)."""
        self._insert_sorted(bands.ravel(), np.repeat(rowids.astype(np.int64), bands.shape[1]))

    def _merge(self) -> None:
        if not self._recent_keys:
            return
        keys = np.array(self._recent_keys, dtype=np.int64)
        rows = np.array(self._recent_rows, dtype=np.int64)
        self.recent, self._recent_keys, self._recent_rows = {}, [], []
        self._insert_sorted(keys, rows)

    def _insert_sorted(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Sort only the new entries and insert them into the sorted arrays:
        linear in the window, where re-sorting everything each merge grew
        as n log n with it."""
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
        at = np.searchsorted(self.keys, keys, side="right")
        self.keys, self.rows = np.insert(self.keys, at, keys), np.insert(self.rows, at, rows)

    def lookup(self, bands: list[int]) -> set[int]:
        out: set[int] = set()
        if len(self.keys):
            q = np.asarray(bands, dtype=np.int64)
            lo = np.searchsorted(self.keys, q, "left")
            hi = np.searchsorted(self.keys, q, "right")
            for a, b in zip(lo.tolist(), hi.tolist()):
                if b > a:
                    out.update(self.rows[a:b].tolist())
        for b in bands:
            out.update(self.recent.get(b, ()))
        return out

    def drop_below(self, rowid: int) -> None:
        """Forget rows below *rowid* (pruned: their signatures are gone)."""
        self._merge()
        keep = self.rows >= rowid
        self.keys, self.rows = self.keys[keep], self.rows[keep]


def _shingles(tokens: list[str]) -> np.ndarray:
    """32-bit hashes of the SHINGLE-word shingles of *tokens* (the tokens
    themselves when there are fewer).  Each token is hashed once; shingle
    hashes are combined in numpy."""
    th = np.fromiter(map(zlib.crc32, map(str.encode, tokens)), dtype=np.uint64, count=len(tokens))
    if len(th) < SHINGLE:
        return th
    x = th[:1 - SHINGLE] * np.uint64(1000003)
    for k in range(1, SHINGLE):
        stop = len(th) - SHINGLE + 1 + k
        x = (x + th[k:stop]) * np.uint64(1000003) & np.uint64(0xFFFFFFFF)
    return x


def _permuted(x: np.ndarray) -> np.ndarray:
    """(NUM_PERM, len(x)): every shingle hash under every permutation.

    No np.unique: a repeated shingle cannot change a minimum, and sorting
    costs more than the few extra columns.  (a*x + b) mod p for every
    permutation at once; a < 2**31, x < 2**32: no overflow.  v - (v // p) * p
    rather than v % p: numpy divides by a scalar with a precomputed
    multiplier, but its remainder is a plain (~8x slower) division."""
    v = np.multiply.outer(_A, x)
    v += _B[:, None]
    q = v // _PRIME
    q *= _PRIME
    v -= q
    return v


MINHASH_BLOCK = 512  # shingles hashed per numpy pass: 128 x 512 uint64 stays in the CPU cache


def minhash_many(token_lists: Sequence[list[str]]) -> list[bytes]:
    """``minhash()`` of each list (every list has at least one token).

    The shingles of all lists are hashed together in blocks of
    MINHASH_BLOCK columns: short texts share numpy's per-call cost (eight
    1.7 KB articles per pass: 16% less CPU than one by one), long ones are
    cut so the 128-row arrays stay in cache (a 5.6 KB article: 13% less)."""
    if not token_lists:
        return []
    xs = [_shingles(t) for t in token_lists]
    if len(xs) == 1 and len(xs[0]) <= MINHASH_BLOCK:  # one short text: no bookkeeping
        return [_permuted(xs[0]).min(axis=1).astype(np.uint32).tobytes()]
    x = np.concatenate(xs)
    ends = np.cumsum([len(s) for s in xs])
    starts = ends - [len(s) for s in xs]
    out = np.full((NUM_PERM, len(xs)), np.iinfo(np.uint64).max, dtype=np.uint64)
    for b0 in range(0, len(x), MINHASH_BLOCK):
        b1 = min(b0 + MINHASH_BLOCK, len(x))
        v = _permuted(x[b0:b1])
        # the lists with shingles in this block: each one's minimum over its part
        i0, i1 = int(np.searchsorted(ends, b0, "right")), int(np.searchsorted(starts, b1, "left"))
        cut = np.maximum(starts[i0:i1], b0) - b0
        np.minimum(out[:, i0:i1], np.minimum.reduceat(v, cut, axis=1), out=out[:, i0:i1])
    sigs = out.astype(np.uint32)
    return [sigs[:, i].tobytes() for i in range(len(xs))]


def minhash(tokens: list[str]) -> bytes:
    """MinHash signature of the set of SHINGLE-word shingles of *tokens*."""
    return minhash_many([tokens])[0]


def similarity(sig_a: bytes, sig_b: bytes) -> float:
    """MinHash estimate of the Jaccard similarity of the two shingle sets."""
    a = np.frombuffer(sig_a, dtype=np.uint32)
    b = np.frombuffer(sig_b, dtype=np.uint32)
    return int(np.count_nonzero(a == b)) / len(a)


def similarities(sig: bytes, others: list[bytes]) -> list[float]:
    """``[similarity(sig, o) for o in others]`` in one numpy pass: a story
    syndicated a hundred times has a hundred candidates."""
    if len(others) < 4 or any(len(o) != len(sig) for o in others):
        return [similarity(sig, o) for o in others]
    a = np.frombuffer(sig, dtype=np.uint32)
    m = np.frombuffer(b"".join(others), dtype=np.uint32).reshape(len(others), len(a))
    return [int(c) / len(a) for c in np.count_nonzero(m == a, axis=1)]


def fingerprint(article: Article) -> Fingerprint:
    return fingerprints([article])[0]


def fingerprints(articles: Sequence[Article]) -> list[Fingerprint]:
    """``fingerprint()`` of each article, the signatures computed together."""
    parts = []
    for article in articles:
        title = tokens(article.title)
        content = tokens(article.content)
        body = content if len(content) >= MIN_NEAR_WORDS else tokens(article.summary) + content
        chash = _sha(" ".join(title) + "\x1f" + " ".join(body))
        bhash = _sha(" ".join(body)) if len(body) >= MIN_BODY_EXACT_WORDS else None
        url = article.canonical_url or canonical_url(article.url)
        parts.append((url, chash, bhash, body if len(body) >= MIN_NEAR_WORDS else None, len(title) + len(body)))
    sigs = iter(minhash_many([body for _, _, _, body, _ in parts if body is not None]))
    return [Fingerprint(url, chash, bhash, next(sigs) if body is not None else None, n)
            for url, chash, bhash, body, n in parts]


@dataclass(frozen=True)
class Record:
    id: str
    # the match keys and signature are None once the record is past the
    # near-duplicate window: only the id -> duplicate_of decision is kept
    canonical_url: str | None
    content_hash: str | None
    body_hash: str | None
    signature: bytes | None
    duplicate_of: str | None
    seen_at: float


# How long the id -> duplicate_of decision of an article is kept after its
# match keys are forgotten.  A replay (DLQ replay, re-read of news.raw, a feed
# moved to another ingest machine) of a known id must get its first answer,
# or a syndicated copy becomes its own story and alerts a second time: the
# alert ledger keeps its (rule, story) claims far longer than the window.
DECISION_RETENTION_DAYS = 365

Decide = Callable[[], "tuple[Record, list[int]]"]


class DedupeStore(Protocol):
    """What the detector needs remembered.

    ``claim_many`` is the one write: it must be atomic against every other writer
    of the same store (other threads, other enrich processes sharing the
    file), so that of an original and its copy checked at the same moment
    exactly one is the original.  ``decide`` runs inside it and may call the
    read methods.  ``prune`` forgets match keys (URL, hashes, signature,
    bands) of records seen before ``before``, and whole records seen before
    ``forget_before`` (None: keep the decisions).
    """

    def get(self, article_id: str) -> Record | None: ...
    def first_by_each(self, keys: Sequence[tuple[str, str]]) -> list[Record | None]:
        """For each (column, value): the earliest record with that value."""
        ...
    def by_bands(self, bands: list[int]) -> list[Record]: ...
    def claim_many(self, claims: Sequence[tuple[str, Decide]]) -> list[Record]:
        """For each (id, decide) pair in order: the stored record of the id
        or, if there is none, the record ``decide()`` returns, stored with its
        bands -- all as one atomic step (one write lock and one commit for a
        batch).  A later claim sees the earlier ones (a copy later in the
        batch finds its original)."""
        ...
    def prune(self, before: float, forget_before: float | None = None) -> int: ...
    def close(self) -> None: ...


_COLUMNS = ("canonical_url", "content_hash", "body_hash")


def _strip(r: Record) -> Record:
    return replace(r, canonical_url=None, content_hash=None, body_hash=None, signature=None)


class MemoryDedupeStore:
    """For tests and one-shot runs (one process: a lock makes claim_many atomic)."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.bands: dict[int, list[str]] = {}
        self._lock = threading.RLock()

    def get(self, article_id: str) -> Record | None:
        return self.records.get(article_id)

    def first_by_each(self, keys: Sequence[tuple[str, str]]) -> list[Record | None]:
        out: list[Record | None] = []
        with self._lock:
            for column, value in keys:
                assert column in _COLUMNS
                hits = [r for r in self.records.values() if getattr(r, column) == value]
                out.append(min(hits, key=lambda r: r.seen_at) if hits else None)
        return out

    def by_bands(self, bands: list[int]) -> list[Record]:
        with self._lock:
            ids = {i for b in bands for i in self.bands.get(b, ())}
            return [self.records[i] for i in ids if i in self.records]

    def claim_many(self, claims: Sequence[tuple[str, Decide]]) -> list[Record]:
        with self._lock:  # all-or-nothing like the SQLite store: undo on error
            added: list[tuple[str, list[int]]] = []
            try:
                out = []
                for article_id, decide in claims:
                    known = self.records.get(article_id)
                    if known is None:
                        known, bands = decide()
                        self._add(known, bands)
                        added.append((known.id, bands))
                    out.append(known)
                return out
            except BaseException:
                for rid, bands in reversed(added):
                    self.records.pop(rid, None)
                    for b in bands:
                        ids = self.bands.get(b)
                        if ids and rid in ids:
                            ids.remove(rid)
                raise

    def _add(self, record: Record, bands: list[int]) -> None:
        self.records[record.id] = record
        for b in bands:
            self.bands.setdefault(b, []).append(record.id)

    def prune(self, before: float, forget_before: float | None = None) -> int:
        with self._lock:
            old = {i for i, r in self.records.items() if r.seen_at < before and r.content_hash is not None}
            for i in old:
                self.records[i] = _strip(self.records[i])
            if forget_before is not None:
                for i in [i for i, r in self.records.items() if r.seen_at < forget_before]:
                    del self.records[i]
            if old:
                self.bands = {b: kept for b, ids in self.bands.items()
                              if (kept := [i for i in ids if i not in old and i in self.records])}
        return len(old)

    def close(self) -> None:
        pass


class SQLiteDedupeStore:
    """Durable store in ``data_dir/dedupe.sqlite3``, shared by the enrich
    workers of one machine: ``claim_many`` runs its lookup and insert in one
    ``BEGIN IMMEDIATE`` transaction, so concurrent workers are serialised.

    The LSH bands are not stored: 32 random-key index rows per article made
    every commit rewrite pages all over the file, so the dedupe cost grew with
    the window (0.9 ms an article at 10k stored articles, 1.9 ms at 40k).
    Each process keeps a :class:`BandIndex` in memory instead, built from the
    stored signatures at start and brought up to date from the rows other
    workers added (``rowid`` order) each time it takes the write lock.  The
    index is only a hint: every candidate is read back and compared on its
    stored signature, so a stale entry costs a lookup, never a wrong answer.
    """

    BUSY_TIMEOUT_S = 30.0

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # re-entrant: claim_many() holds it while decide() calls the read methods
        self._lock = threading.RLock()
        self.db = sqlite3.connect(str(path), timeout=self.BUSY_TIMEOUT_S,
                                  check_same_thread=False, isolation_level=None)
        self.db.execute(f"PRAGMA busy_timeout={int(self.BUSY_TIMEOUT_S * 1000)}")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS records (
                id TEXT PRIMARY KEY, canonical_url TEXT, content_hash TEXT, body_hash TEXT,
                signature BLOB, duplicate_of TEXT, seen_at REAL NOT NULL);
            CREATE INDEX IF NOT EXISTS records_url ON records(canonical_url);
            CREATE INDEX IF NOT EXISTS records_chash ON records(content_hash);
            CREATE INDEX IF NOT EXISTS records_bhash ON records(body_hash);
            CREATE INDEX IF NOT EXISTS records_seen ON records(seen_at);
            CREATE INDEX IF NOT EXISTS records_live ON records(seen_at) WHERE content_hash IS NOT NULL;
            """
        )
        self.db.execute("PRAGMA cache_size=-32768")  # 32 MB: the hash indexes' pages stay in memory
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bands'").fetchone():
            log.info("dedupe: dropping the bands table of an older version (now kept in memory)")
            self.db.execute("DROP TABLE IF EXISTS bands")
        self._bands = BandIndex()
        self._seen_rowid = 0
        self._sync()

    _COLS = "id, canonical_url, content_hash, body_hash, signature, duplicate_of, seen_at"
    _SELECT = f"SELECT {_COLS} FROM records"

    def get(self, article_id: str) -> Record | None:
        with self._lock:
            row = self.db.execute(self._SELECT + " WHERE id = ?", (article_id,)).fetchone()
        return Record(*row) if row else None

    def first_by_each(self, keys: Sequence[tuple[str, str]]) -> list[Record | None]:
        """One statement for all the lookups (three separate ones cost twice
        as much, most of it in the calls around them)."""
        if not keys:
            return []
        parts = []
        for i, (column, _) in enumerate(keys):
            if column not in _COLUMNS:
                raise ValueError(column)
            parts.append(f"SELECT * FROM (SELECT {i}, {self._COLS} FROM records WHERE {column} = ? "
                         "ORDER BY seen_at LIMIT 1)")
        with self._lock:
            rows = self.db.execute(" UNION ALL ".join(parts), [v for _, v in keys]).fetchall()
        out: list[Record | None] = [None] * len(keys)
        for i, *rec in rows:
            out[i] = Record(*rec)
        return out

    def by_bands(self, bands: list[int]) -> list[Record]:
        if not bands:
            return []
        with self._lock:
            if not self.db.in_transaction:  # claim_many caught up when it took the lock
                self._sync()
            rowids = sorted(self._bands.lookup(bands))
            if not rowids:
                return []
            marks = ",".join("?" * len(rowids))
            rows = self.db.execute(
                self._SELECT + f" WHERE rowid IN ({marks}) AND signature IS NOT NULL", rowids
            ).fetchall()
        return [Record(*r) for r in rows]

    def _sync(self) -> None:
        """Add the signatures stored since we last looked (other workers')."""
        rows = self.db.execute(
            "SELECT rowid, signature FROM records WHERE rowid > ? ORDER BY rowid", (self._seen_rowid,)
        ).fetchall()
        if not rows:
            # rowids only go back if the newest rows were deleted (a store idle
            # past the retention, pruned to nothing): new rows could then hide
            # below what we have seen -- start over from the file
            newest = self.db.execute("SELECT max(rowid) FROM records").fetchone()[0] or 0
            if newest < self._seen_rowid:
                log.info("dedupe: the store's rowids went back (emptied by a prune); reloading its bands")
                self._bands, self._seen_rowid = BandIndex(), 0
                self._sync()
            return
        self._seen_rowid = rows[-1][0]
        width = NUM_PERM * 4
        live = [(r, sig) for r, sig in rows if sig is not None and len(sig) == width]
        if not live:
            return
        sigs = np.frombuffer(b"".join(sig for _, sig in live), dtype=np.uint32).reshape(len(live), NUM_PERM)
        keys = band_keys(sigs)
        if len(live) * BANDS < self._bands.MERGE_AT:
            # another worker's last batch: into the dict (a bulk add re-sorts everything)
            for (r, _), k in zip(live, keys.tolist()):
                self._bands.add(r, k)
        else:  # opening a store: everything at once
            self._bands.add_many(np.array([r for r, _ in live], dtype=np.int64), keys)

    def claim_many(self, claims: Sequence[tuple[str, Decide]]) -> list[Record]:
        with self._lock:
            seen: int | None = None
            try:
                # the write lock first, then the lookups: what another worker
                # committed before we got the lock is seen, nothing after it
                with immediate(self.db):
                    self._sync()  # what other workers stored up to now; nobody else writes until COMMIT
                    seen = self._seen_rowid  # rows above this are ours, from here on
                    out = []
                    for article_id, decide in claims:
                        known = self.get(article_id)
                        if known is None:
                            known, bands = decide()
                            self._insert(known, bands)
                        out.append(known)
                return out
            except BaseException:
                # SQLite hands our rolled-back rowids out again, maybe to
                # another worker: _sync must not skip them
                if seen is not None:
                    self._seen_rowid = seen
                raise

    def _insert(self, record: Record, bands: list[int]) -> None:
        """Under the write lock, after :meth:`_sync`: rows after this one are ours."""
        rowid = self.db.execute(
            "INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?)",
            (record.id, record.canonical_url, record.content_hash, record.body_hash,
             record.signature, record.duplicate_of, record.seen_at),
        ).lastrowid
        # seen now, so that a later article of this batch finds it; if the
        # transaction rolls back, the entry is a stale hint (see the class)
        if bands and rowid:
            self._bands.add(rowid, bands)
        self._seen_rowid = max(self._seen_rowid, rowid or 0)

    def prune(self, before: float, forget_before: float | None = None) -> int:
        with self._lock:
            with immediate(self.db):
                n = self.db.execute(
                    "UPDATE records SET canonical_url = NULL, content_hash = NULL, body_hash = NULL,"
                    " signature = NULL WHERE seen_at < ? AND content_hash IS NOT NULL", (before,)
                ).rowcount
                if forget_before is not None:
                    self.db.execute("DELETE FROM records WHERE seen_at < ?", (forget_before,))
            if n:
                # records mostly arrive in time order: drop the index entries
                # below the oldest row that still has a signature
                oldest = self.db.execute("SELECT min(rowid) FROM records WHERE signature IS NOT NULL").fetchone()[0]
                self._bands.drop_below(oldest if oldest is not None else self._seen_rowid + 1)
        return n

    def close(self) -> None:
        with self._lock:
            self.db.close()


class Deduplicator:
    """Decides ``duplicate_of`` for each article, remembering what it saw.

    Match keys are kept ``window_days`` (a copy later than that is a new
    story); the decision per article id ``retention_days`` (a replay of a
    known id gets its first answer)."""

    PRUNE_EVERY = 1000

    def __init__(self, store: DedupeStore, *, threshold: float = 0.8, window_days: int = 7,
                 retention_days: int = DECISION_RETENTION_DAYS, clock=time.time) -> None:
        self.store = store
        self.threshold = threshold
        self.window = window_days * 86400
        self.retention = max(retention_days, window_days) * 86400
        self.clock = clock
        self._since_prune = 0
        self.prune()

    def check(self, article: Article, fp: Fingerprint | None = None) -> str | None:
        """The id of the first copy of this article's story, or None if this
        is the first.  The same article id seen again (a replay) gets the
        answer it got the first time."""
        return self.check_many([(article, fp or fingerprint(article))])[0]

    def check_many(self, items: Sequence[tuple[Article, Fingerprint]]) -> list[str | None]:
        """``check`` for each (article, fingerprint) in order, in one store
        transaction: the same answers as one by one, one commit.  Fingerprints
        are computed by the caller, outside the store's write lock."""

        def decider(article: Article, fp: Fingerprint) -> Decide:
            def decide() -> tuple[Record, list[int]]:
                original = self._find(article.id, fp)
                dup = (original.duplicate_of or original.id) if original else None
                if dup == article.id:  # its own copy's original: it is the original
                    dup = None
                return (Record(article.id, fp.canonical_url, fp.content_hash, fp.body_hash, fp.signature,
                               dup, self.clock()), fp.bands())
            return decide

        precompute_bands([fp for _, fp in items])
        records = self.store.claim_many([(a.id, decider(a, fp)) for a, fp in items])
        # a record written before the self-duplicate guard above says None too
        out = [r.duplicate_of if r.duplicate_of != a.id else None for r, (a, _) in zip(records, items)]
        self._since_prune += len(items)
        if self._since_prune >= self.PRUNE_EVERY:
            self._since_prune = 0
            self.prune()
        return out

    def prune(self) -> int:
        """Forget what is past the window; never fails the caller (a failed
        prune is retried PRUNE_EVERY articles later)."""
        now = self.clock()
        try:
            n = self.store.prune(now - self.window, now - self.retention)
        except Exception as e:
            log.warning("dedupe: prune failed, will retry later: %s", e)
            return 0
        if n:
            log.debug("dedupe: forgot the match keys of %d articles older than the window", n)
        return n

    def _find(self, article_id: str, fp: Fingerprint) -> Record | None:
        keys = []  # in order of precedence: the same URL, the same text, the same body
        if fp.canonical_url:
            keys.append(("canonical_url", fp.canonical_url))
        if fp.words >= MIN_HASH_WORDS:
            keys.append(("content_hash", fp.content_hash))
        if fp.body_hash:
            keys.append(("body_hash", fp.body_hash))
        for r in self.store.first_by_each(keys):
            if r is not None and r.id != article_id:
                return r
        if fp.signature is None:
            return None
        best: tuple[float, float, Record] | None = None
        cands = [r for r in self.store.by_bands(fp.bands()) if r.id != article_id and r.signature is not None]
        for r, sim in zip(cands, similarities(fp.signature, [r.signature for r in cands])):  # type: ignore[misc]
            if sim >= self.threshold and (best is None or (sim, -r.seen_at) > best[:2]):
                best = (sim, -r.seen_at, r)
        return best[2] if best else None

    def close(self) -> None:
        self.store.close()
