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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from newswatch.pipeline.article import Article
from newswatch.pipeline.text import tokens
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
            # the signature's bytes sliced directly: same rows as via numpy, no array per band
            sig, width, blake2b = self.signature, ROWS * 4, hashlib.blake2b
            bands = [
                int.from_bytes(blake2b(bytes([b]) + sig[b * width:(b + 1) * width], digest_size=8).digest(),
                               "big", signed=True)
                for b in range(BANDS)
            ]
            object.__setattr__(self, "_bands", bands)  # computed once: check() needs them twice
        return list(bands)


def minhash(tokens: list[str]) -> bytes:
    """MinHash signature of the set of SHINGLE-word shingles of *tokens*.
    Each token is hashed once; shingle hashes are combined in numpy."""
    th = np.fromiter(map(zlib.crc32, map(str.encode, tokens)), dtype=np.uint64, count=len(tokens))
    if len(th) >= SHINGLE:
        x = th[:1 - SHINGLE] * np.uint64(1000003)
        for k in range(1, SHINGLE):
            stop = len(th) - SHINGLE + 1 + k
            x = (x + th[k:stop]) * np.uint64(1000003) & np.uint64(0xFFFFFFFF)
    else:
        x = th
    # No np.unique: a repeated shingle cannot change a minimum, and sorting
    # costs more than the few extra columns.
    # (a*x + b) mod p for every permutation at once; a < 2**31, x < 2**32: no overflow.
    # v - (v // p) * p rather than v % p: numpy divides by a scalar with a
    # precomputed multiplier, but its remainder is a plain (~8x slower) division.
    v = np.multiply.outer(_A, x)
    v += _B[:, None]
    q = v // _PRIME
    q *= _PRIME
    v -= q
    return v.min(axis=1).astype(np.uint32).tobytes()


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
    title = tokens(article.title)
    content = tokens(article.content)
    body = content if len(content) >= MIN_NEAR_WORDS else tokens(article.summary) + content
    chash = _sha(" ".join(title) + "\x1f" + " ".join(body))
    bhash = _sha(" ".join(body)) if len(body) >= MIN_BODY_EXACT_WORDS else None
    sig = minhash(body) if len(body) >= MIN_NEAR_WORDS else None
    url = article.canonical_url or canonical_url(article.url)
    return Fingerprint(url, chash, bhash, sig, len(title) + len(body))


@dataclass(frozen=True)
class Record:
    id: str
    canonical_url: str
    content_hash: str
    body_hash: str | None
    signature: bytes | None
    duplicate_of: str | None
    seen_at: float


class DedupeStore(Protocol):
    """What the detector needs remembered, for ``window`` days."""

    def get(self, article_id: str) -> Record | None: ...
    def first_by(self, column: str, value: str) -> Record | None: ...
    def by_bands(self, bands: list[int]) -> list[Record]: ...
    def add(self, record: Record, bands: list[int]) -> None: ...
    def prune(self, before: float) -> int: ...
    def close(self) -> None: ...


_COLUMNS = ("canonical_url", "content_hash", "body_hash")


class MemoryDedupeStore:
    """For tests and one-shot runs."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.bands: dict[int, list[str]] = {}

    def get(self, article_id: str) -> Record | None:
        return self.records.get(article_id)

    def first_by(self, column: str, value: str) -> Record | None:
        assert column in _COLUMNS
        hits = [r for r in self.records.values() if getattr(r, column) == value]
        return min(hits, key=lambda r: r.seen_at) if hits else None

    def by_bands(self, bands: list[int]) -> list[Record]:
        ids = {i for b in bands for i in self.bands.get(b, ())}
        return [self.records[i] for i in ids if i in self.records]

    def add(self, record: Record, bands: list[int]) -> None:
        self.records[record.id] = record
        for b in bands:
            self.bands.setdefault(b, []).append(record.id)

    def prune(self, before: float) -> int:
        old = [i for i, r in self.records.items() if r.seen_at < before]
        for i in old:
            del self.records[i]
        return len(old)

    def close(self) -> None:
        pass


class SQLiteDedupeStore:
    """Durable store in ``data_dir/dedupe.sqlite3``, private to one enrich
    worker process (each worker of a distributed deployment has its own)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
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
            CREATE TABLE IF NOT EXISTS bands (band INTEGER NOT NULL, id TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS bands_band ON bands(band);
            CREATE INDEX IF NOT EXISTS bands_id ON bands(id);
            """
        )

    _SELECT = "SELECT id, canonical_url, content_hash, body_hash, signature, duplicate_of, seen_at FROM records"

    def get(self, article_id: str) -> Record | None:
        with self._lock:
            row = self.db.execute(self._SELECT + " WHERE id = ?", (article_id,)).fetchone()
        return Record(*row) if row else None

    def first_by(self, column: str, value: str) -> Record | None:
        if column not in _COLUMNS:
            raise ValueError(column)
        with self._lock:
            row = self.db.execute(
                self._SELECT + f" WHERE {column} = ? ORDER BY seen_at LIMIT 1", (value,)
            ).fetchone()
        return Record(*row) if row else None

    def by_bands(self, bands: list[int]) -> list[Record]:
        if not bands:
            return []
        marks = ",".join("?" * len(bands))
        with self._lock:
            rows = self.db.execute(
                self._SELECT + f" WHERE id IN (SELECT DISTINCT id FROM bands WHERE band IN ({marks}))",
                bands,
            ).fetchall()
        return [Record(*r) for r in rows]

    def add(self, record: Record, bands: list[int]) -> None:
        with self._lock:
            self.db.execute("BEGIN")
            try:
                self.db.execute(
                    "INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?)",
                    (record.id, record.canonical_url, record.content_hash, record.body_hash,
                     record.signature, record.duplicate_of, record.seen_at),
                )
                self.db.execute("DELETE FROM bands WHERE id = ?", (record.id,))
                self.db.executemany("INSERT INTO bands VALUES (?, ?)", [(b, record.id) for b in bands])
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def prune(self, before: float) -> int:
        with self._lock:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM bands WHERE id IN (SELECT id FROM records WHERE seen_at < ?)", (before,))
            n = self.db.execute("DELETE FROM records WHERE seen_at < ?", (before,)).rowcount
            self.db.execute("COMMIT")
        return n

    def close(self) -> None:
        with self._lock:
            self.db.close()


class Deduplicator:
    """Decides ``duplicate_of`` for each article, remembering what it saw."""

    PRUNE_EVERY = 1000

    def __init__(self, store: DedupeStore, *, threshold: float = 0.8, window_days: int = 7,
                 clock=time.time) -> None:
        self.store = store
        self.threshold = threshold
        self.window = window_days * 86400
        self.clock = clock
        self._since_prune = 0
        self.store.prune(self.clock() - self.window)

    def check(self, article: Article, fp: Fingerprint | None = None) -> str | None:
        """The id of the first copy of this article's story, or None if this
        is the first.  The same article id seen again (a replay) gets the
        answer it got the first time."""
        known = self.store.get(article.id)
        if known is not None:
            return known.duplicate_of
        fp = fp or fingerprint(article)
        original = self._find(article.id, fp)
        dup = (original.duplicate_of or original.id) if original else None
        self.store.add(
            Record(article.id, fp.canonical_url, fp.content_hash, fp.body_hash, fp.signature, dup, self.clock()),
            fp.bands(),
        )
        self._since_prune += 1
        if self._since_prune >= self.PRUNE_EVERY:
            self._since_prune = 0
            n = self.store.prune(self.clock() - self.window)
            if n:
                log.debug("dedupe: forgot %d articles older than the window", n)
        return dup

    def _find(self, article_id: str, fp: Fingerprint) -> Record | None:
        if fp.canonical_url:
            r = self.store.first_by("canonical_url", fp.canonical_url)
            if r is not None and r.id != article_id:
                return r
        if fp.words >= MIN_HASH_WORDS:
            r = self.store.first_by("content_hash", fp.content_hash)
            if r is not None and r.id != article_id:
                return r
        if fp.body_hash:
            r = self.store.first_by("body_hash", fp.body_hash)
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
