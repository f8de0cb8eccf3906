"""The embedded index: one SQLite file with FTS5, nothing to install.

A sink (``write`` upserts by article id, idempotent: a replayed article
replaces its rows, never duplicates them) and a search backend
(:class:`newswatch.pipeline.search.SearchBackend`).  The query tree is
translated by :mod:`.sqlite_query`, which explains how it stays in agreement
with the Python matcher.

Threads: each thread gets its own connection (sqlite3 connections are not to
be shared); WAL lets readers run while one writer writes, and busy_timeout
makes a second writer wait instead of failing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from newswatch.pipeline.article import Article, ContractError
from newswatch.pipeline.highlight import snippet
from newswatch.pipeline.query.ast import Node
from newswatch.pipeline.query.match import BODY_FIELDS, DocView
from newswatch.pipeline.search import Hit, SearchResult, Stats
from newswatch.pipeline.sqlite_tx import immediate
from newswatch.pipeline.stage import PermanentError
from newswatch.pipeline.text import fold, tokens

from newswatch.index.sqlite_query import compile_where, register_functions, to_micros

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    published_ts INTEGER,          -- microseconds since the epoch, UTC
    fetched_ts INTEGER,
    feed_id TEXT NOT NULL DEFAULT '',
    source_name TEXT NOT NULL DEFAULT '',
    source_domain TEXT NOT NULL DEFAULT '',
    language TEXT,
    duplicate_of TEXT,
    story_id TEXT NOT NULL,
    indexed_ts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_published ON articles (published_ts DESC, id);
CREATE INDEX IF NOT EXISTS articles_story ON articles (story_id);

-- every keyword value the matcher sees (DocView.keywords), for field:value
CREATE TABLE IF NOT EXISTS article_keywords (
    article_id TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS article_keywords_lookup ON article_keywords (field, value);
CREATE INDEX IF NOT EXISTS article_keywords_article ON article_keywords (article_id);

-- for stats (counts and names), not for matching
CREATE TABLE IF NOT EXISTS article_entities (
    article_id TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    entity_name TEXT NOT NULL,
    entity_name_folded TEXT NOT NULL,
    mentions INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS article_entities_article ON article_entities (article_id);
CREATE INDEX IF NOT EXISTS article_entities_entity ON article_entities (entity_id);
CREATE TABLE IF NOT EXISTS article_topics (
    article_id TEXT NOT NULL,
    topic_id TEXT NOT NULL,
    score REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS article_topics_article ON article_topics (article_id);

-- token streams (see sqlite_query): the ascii tokenizer splits on the spaces
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5 (title, summary, content, tokenize = 'ascii');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab (fts, 'row');
"""


def token_stream(text: str) -> str:
    """What FTS5 stores for a field: the matcher's tokens, one space apart."""
    return " ".join(tokens(text or ""))


@dataclass
class _Prepared:
    article: Article
    row: tuple[Any, ...]
    fts: tuple[str, str, str]
    keywords: list[tuple[str, str]]


def _prepare(article: Article, now_ts: int) -> _Prepared:
    # the matcher's own keyword values, without tokenising the text again
    view = DocView.of(article.model_copy(update={"title": "", "summary": "", "content": ""}))
    keywords = sorted((f, v) for f, values in view.keywords.items() for v in values)
    row = (
        article.id,
        article.to_json(),
        to_micros(article.published_at) if article.published_at else None,
        to_micros(article.fetched_at) if article.fetched_at else None,
        article.feed_id,
        article.source.name,
        article.source.domain,
        article.language,
        article.duplicate_of,
        article.story_id,
        now_ts,
    )
    fts = tuple(token_stream(getattr(article, f)) for f in BODY_FIELDS)
    return _Prepared(article, row, fts, keywords)  # type: ignore[arg-type]


class SqliteIndex:
    """SQLite + FTS5 search backend and sink."""

    name = "sqlite"

    def __init__(self, path: str | Path):
        # a file, never ":memory:": every thread opens its own connection
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.written = 0
        self.skipped = 0
        conn = self._conn()
        with self._lock, immediate(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer newswatch (index schema {version}); upgrade newswatch"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- connections --------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("SqliteIndex is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            register_functions(conn)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:  # closed from its own thread already
                pass

    # -- sink ---------------------------------------------------------------
    def write(self, batch: Sequence[Article]) -> None:
        """Upsert the batch in one transaction (all or nothing: an error
        means nothing was written, retry).  An article that cannot be turned
        into rows is left out and named in a PermanentError after the rest
        is written."""
        now_ts = to_micros(datetime.now(timezone.utc))
        prepared: list[_Prepared] = []
        refused: dict[str, str] = {}
        for article in batch:
            try:
                prepared.append(_prepare(article, now_ts))
            except Exception as exc:  # one odd article must not block the batch
                self.skipped += 1
                refused[article.id] = f"{article.id} ({type(exc).__name__}: {exc})"
                log.exception("not indexing article %r: cannot prepare it", article.id)
        if prepared:
            self._write_prepared(prepared)
        if refused:
            # the rest is written; the transport parks these (quarantine / DLQ)
            raise PermanentError(f"cannot index {len(refused)} article(s): {'; '.join(refused.values())}",
                                 article_ids=list(refused))

    def _write_prepared(self, prepared: list[_Prepared]) -> None:
        with immediate(self._conn()) as conn:
            for p in prepared:
                self._upsert(conn, p)
        self.written += len(prepared)

    def _upsert(self, conn: sqlite3.Connection, p: _Prepared) -> None:
        a = p.article
        old = conn.execute("SELECT rowid FROM articles WHERE id = ?", (a.id,)).fetchone()
        if old is not None:
            rowid = old[0]
            conn.execute(
                "UPDATE articles SET json=?, published_ts=?, fetched_ts=?, feed_id=?, source_name=?, "
                "source_domain=?, language=?, duplicate_of=?, story_id=?, indexed_ts=? WHERE rowid=?",
                p.row[1:] + (rowid,),
            )
            conn.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
            for table in ("article_keywords", "article_entities", "article_topics"):
                conn.execute(f"DELETE FROM {table} WHERE article_id = ?", (a.id,))
        else:
            cur = conn.execute(
                "INSERT INTO articles (id, json, published_ts, fetched_ts, feed_id, source_name, source_domain, "
                "language, duplicate_of, story_id, indexed_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                p.row,
            )
            rowid = cur.lastrowid
        conn.execute("INSERT INTO fts (rowid, title, summary, content) VALUES (?,?,?,?)", (rowid, *p.fts))
        conn.executemany(
            "INSERT INTO article_keywords (article_id, field, value) VALUES (?,?,?)",
            [(a.id, f, v) for f, v in p.keywords],
        )
        conn.executemany(
            "INSERT INTO article_entities (article_id, entity_id, entity_name, entity_name_folded, mentions) "
            "VALUES (?,?,?,?,?)",
            [(a.id, e.id, e.name, fold(e.name), e.count) for e in a.entities],
        )
        conn.executemany(
            "INSERT INTO article_topics (article_id, topic_id, score) VALUES (?,?,?)",
            [(a.id, t.id, t.score) for t in a.topics],
        )

    # -- search -------------------------------------------------------------
    def search(
        self,
        query: Node,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        sort: Literal["date", "relevance"] = "date",
        include_duplicates: bool = True,
    ) -> SearchResult:
        """Articles matching *query*; *since* inclusive, *until* exclusive
        (published date).  Raises QueryError for an unsearchable query."""
        conn = self._conn()
        compiled = compile_where(query, conn)
        where = [compiled.where]
        params: list[Any] = list(compiled.params)
        if since is not None:
            where.append("a.published_ts >= ?")
            params.append(to_micros(since))
        if until is not None:
            where.append("a.published_ts < ?")
            params.append(to_micros(until))
        if not include_duplicates:
            where.append("a.duplicate_of IS NULL")
        where_sql = " AND ".join(where)
        total = conn.execute(f"SELECT count(*) FROM articles a WHERE {where_sql}", params).fetchone()[0]
        limit = max(0, int(limit))
        if sort == "relevance" and compiled.rank:
            sql = (
                "SELECT a.json, r.score FROM articles a "
                "LEFT JOIN (SELECT rowid AS rid, bm25(fts) AS score FROM fts WHERE fts MATCH ?) r "
                f"ON r.rid = a.rowid WHERE {where_sql} "
                "ORDER BY r.score IS NULL, r.score, a.published_ts DESC, a.id LIMIT ?"
            )
            rows = conn.execute(sql, [compiled.rank, *params, limit]).fetchall()
        elif sort in ("date", "relevance"):
            sql = f"SELECT a.json, NULL FROM articles a WHERE {where_sql} ORDER BY a.published_ts DESC, a.id LIMIT ?"
            rows = conn.execute(sql, [*params, limit]).fetchall()
        else:
            raise ValueError(f"sort must be 'date' or 'relevance', not {sort!r}")
        hits: list[Hit] = []
        for raw, score in rows:
            article = self._load(raw)
            if article is None:
                continue
            hits.append(Hit(article, -float(score) if score is not None else 0.0, snippet(article, query)))
        return SearchResult(hits, total)

    @staticmethod
    def _load(raw: str) -> Article | None:
        try:
            return Article.from_json(raw)
        except ContractError:
            log.warning("index holds an article this version cannot read; skipped", exc_info=True)
            return None

    def get(self, ids: Sequence[str]) -> list[Article]:
        """Articles by id, in the order asked; unknown ids are left out."""
        ids = list(dict.fromkeys(ids))
        found: dict[str, Article] = {}
        conn = self._conn()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for aid, raw in conn.execute(f"SELECT id, json FROM articles WHERE id IN ({marks})", chunk):
                art = self._load(raw)
                if art is not None:
                    found[aid] = art
        return [found[i] for i in ids if i in found]

    def count(self) -> int:
        return self._conn().execute("SELECT count(*) FROM articles").fetchone()[0]

    # -- stats --------------------------------------------------------------
    def stats(self, *, since: datetime | None = None, top: int = 10) -> Stats:
        """Coverage counts (duplicates included: each copy is coverage)."""
        conn = self._conn()
        cond, params = ("a.published_ts >= ?", [to_micros(since)]) if since is not None else ("1", [])
        top = max(0, int(top))

        def pairs(sql: str, extra: list[Any] | None = None) -> list[tuple[str, int]]:
            return [(str(k), int(n)) for k, n in conn.execute(sql, params + (extra or []))]

        total, stories = conn.execute(
            f"SELECT count(*), count(DISTINCT a.story_id) FROM articles a WHERE {cond}", params).fetchone()
        per_day = pairs(
            "SELECT strftime('%Y-%m-%d', a.published_ts / 1000000, 'unixepoch') AS day, count(*) "
            f"FROM articles a WHERE {cond} AND a.published_ts IS NOT NULL GROUP BY day ORDER BY day"
        )
        per_entity = pairs(
            "SELECT e.entity_id, count(DISTINCT a.id) AS n FROM articles a JOIN article_entities e "
            f"ON e.article_id = a.id WHERE {cond} GROUP BY e.entity_id ORDER BY n DESC, e.entity_id LIMIT ?",
            [top],
        )
        per_topic = pairs(
            "SELECT t.topic_id, count(DISTINCT a.id) AS n FROM articles a JOIN article_topics t "
            f"ON t.article_id = a.id WHERE {cond} GROUP BY t.topic_id ORDER BY n DESC, t.topic_id LIMIT ?",
            [top],
        )
        per_source = pairs(
            "SELECT COALESCE(NULLIF(a.source_name, ''), NULLIF(a.source_domain, ''), '(unknown)') AS s, "
            f"count(*) AS n FROM articles a WHERE {cond} GROUP BY s ORDER BY n DESC, s LIMIT ?",
            [top],
        )
        per_language = pairs(
            "SELECT COALESCE(NULLIF(a.language, ''), '(unknown)') AS l, count(*) AS n FROM articles a "
            f"WHERE {cond} GROUP BY l ORDER BY n DESC, l LIMIT ?",
            [top],
        )
        return Stats(total, per_day, per_entity, per_topic, per_source, per_language, stories=stories)
