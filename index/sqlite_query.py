"""The shared query tree -> one SQL WHERE clause over ``articles a``.

Why it is built this way (each point keeps SQLite in agreement with the
Python matcher, :mod:`newswatch.pipeline.query.match`):

- The FTS table holds the *token stream* of each field (``WORD_RE`` tokens of
  the folded text joined by single spaces) and uses FTS5's ``ascii``
  tokenizer, which splits on ASCII punctuation/space only.  So FTS5 sees
  exactly the Python tokens at exactly the Python positions.  (``unicode61``
  disagrees with ``WORD_RE`` on ~2,900 assigned code points -- its tables are
  Unicode 6.1 -- e.g. an emoji glued to a word.)
- Every text leaf is its own ``a.rowid IN (SELECT rowid FROM fts WHERE fts
  MATCH ?)``; every FTS5 token is double-quoted, so user input is never FTS5
  syntax.  Column filters keep phrases and NEAR inside one field, as the
  matcher checks per field.
- FTS5 ``NEAR(p1 .. pk, N)`` accepts when (last start - first start - 1) <= N,
  whatever k is; the matcher (like Lucene's unordered span_near) allows N
  *other* tokens in the window, i.e. last - first - (k - 1) <= N.  So slop N
  becomes ``NEAR(.., N + k - 2)``, exact for distinct tokens.  FTS5 may also
  let a repeated token use one position twice, so phrases with a repeated
  token add an exact check in Python (``nw_near``) on the FTS candidates.
- Every leaf yields 0 or 1, never NULL, so ``NOT`` is two-valued as in Python
  (an article without a date is not in any date range, and is in its NOT).
- Keyword fields use ``article_keywords``, filled from ``DocView.of(article)
  .keywords`` -- the very values the matcher compares against.
"""

from __future__ import annotations

import fnmatch
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from newswatch.pipeline.query.ast import (
    And, DateRange, FieldTerm, MatchAll, Node, Not, Or, Phrase, QueryError, Term,
)
from newswatch.pipeline.query.match import _near

TEXT_COLUMNS = ("title", "summary", "content")
KEYWORD_FIELD_NAMES = ("entity", "topic", "source", "language", "feed", "author", "category")
MAX_WILDCARD_TERMS = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_micros(dt: datetime) -> int:
    """Exact integer microseconds since the epoch (how dates are stored)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def quote(token: str) -> str:
    """An FTS5 string: whatever is inside is a token, never syntax."""
    return '"' + token.replace('"', '""') + '"'


def column_filter(field_name: str) -> str:
    if field_name == "text":
        return "{" + " ".join(TEXT_COLUMNS) + "}"
    if field_name in TEXT_COLUMNS:
        return field_name
    raise QueryError(f"unknown text field {field_name!r}")


@lru_cache(maxsize=256)
def _glob_rx(pattern: str) -> re.Pattern[str]:
    # the matcher's own glob rule (pipeline.query.match._glob)
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


def sql_glob(pattern: str, value: str | None) -> int:
    """``nw_glob(pattern, value)``: fnmatch exactly as the matcher does it."""
    return int(value is not None and bool(_glob_rx(pattern).match(value)))


def sql_near(column_text: str | None, tokens: str, slop: int) -> int:
    """``nw_near(fts_column, 'tok tok', slop)``: the matcher's _near on one
    column's token stream (space-joined tokens, so position = index)."""
    if not column_text:
        return 0
    pos: dict[str, list[int]] = {}
    for i, tok in enumerate(column_text.split(" ")):
        pos.setdefault(tok, []).append(i)
    return int(_near(pos, tuple(tokens.split(" ")), slop))


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("nw_glob", 2, sql_glob, deterministic=True)
    conn.create_function("nw_near", 3, sql_near, deterministic=True)


@dataclass
class Compiled:
    """``where`` (SQL over ``articles a``) with its ``params``; ``rank`` is an
    FTS5 expression OR-ing the positive text leaves (for bm25), or None."""

    where: str
    params: list[Any]
    rank: str | None
    _rank_parts: list[str] = field(default_factory=list, repr=False)


class _Compiler:
    def __init__(self, conn: sqlite3.Connection, fts: str, vocab: str):
        self.conn = conn
        self.fts = fts
        self.vocab = vocab
        self.params: list[Any] = []
        self.rank_parts: list[str] = []

    # -- leaves -----------------------------------------------------------
    def _match(self, expr: str, positive: bool, extra_sql: str = "", extra_params: tuple = ()) -> str:
        self.params.append(expr)
        self.params.extend(extra_params)
        if positive:
            self.rank_parts.append(expr)
        return f"a.rowid IN (SELECT rowid FROM {self.fts} WHERE {self.fts} MATCH ?{extra_sql})"

    def term(self, node: Term, positive: bool) -> str:
        cols = column_filter(node.field)
        if not node.wildcard:
            if not node.token:
                return "0"
            return self._match(f"{cols} : {quote(node.token)}", positive)
        pattern = node.token
        head = pattern.rstrip("*")
        if head and not any(c in head for c in "*?") and head != pattern:
            # plain prefix: FTS5 does it natively, unbounded
            return self._match(f"{cols} : {quote(head)} *", positive)
        terms = self.expand(pattern)
        if not terms:
            return "0"
        return self._match(f"{cols} : (" + " OR ".join(quote(t) for t in terms) + ")", positive)

    def expand(self, pattern: str) -> list[str]:
        """Indexed words matching a * / ? glob (FTS5 has only prefix queries)."""
        prefix = re.split(r"[*?]", pattern, maxsplit=1)[0]
        sql = f"SELECT term FROM {self.vocab} WHERE term GLOB ?"
        params: list[Any] = [pattern]
        if prefix:
            # fts5vocab uses a term range to avoid scanning the whole vocabulary
            sql += " AND term >= ? AND term < ?"
            params += [prefix, prefix + "\U0010ffff"]
        sql += f" LIMIT {MAX_WILDCARD_TERMS + 1}"
        terms = [t for (t,) in self.conn.execute(sql, params) if _glob_rx(pattern).match(t)]
        if len(terms) > MAX_WILDCARD_TERMS:
            raise QueryError(
                f"wildcard {pattern!r} matches more than {MAX_WILDCARD_TERMS} different words "
                f"-- make it more specific (e.g. more letters before the *)"
            )
        return terms

    def phrase(self, node: Phrase, positive: bool) -> str:
        cols = column_filter(node.field)
        toks = list(node.tokens)
        if not toks or not all(toks):
            return "0"
        if len(toks) == 1:
            return self.term(Term(node.field, toks[0]), positive)
        if not node.slop:
            return self._match(f"{cols} : " + quote(" ".join(toks)), positive)
        k = len(toks)
        expr = f"{cols} : NEAR(" + " ".join(quote(t) for t in toks) + f", {int(node.slop) + k - 2})"
        if max(Counter(toks).values()) == 1:
            return self._match(expr, positive)
        names = TEXT_COLUMNS if node.field == "text" else (node.field,)
        check = " OR ".join(f"nw_near({c}, ?, ?)" for c in names)
        extra: tuple = ()
        for _ in names:
            extra += (" ".join(toks), int(node.slop))
        return self._match(expr, positive, f" AND ({check})", extra)

    def field_term(self, node: FieldTerm) -> str:
        if node.field not in KEYWORD_FIELD_NAMES:
            raise QueryError(f"unknown keyword field {node.field!r}")
        self.params += [node.field, node.value]
        test = "nw_glob(?, value)" if node.wildcard else "value = ?"
        return f"a.id IN (SELECT article_id FROM article_keywords WHERE field = ? AND {test})"

    def date_range(self, node: DateRange) -> str:
        if node.field != "published":
            raise QueryError(f"ranges work on published only, not on {node.field!r}")
        parts = ["a.published_ts IS NOT NULL"]
        if node.start is not None:
            parts.append(f"a.published_ts {'>=' if node.include_start else '>'} ?")
            self.params.append(to_micros(node.start))
        if node.end is not None:
            parts.append(f"a.published_ts {'<=' if node.include_end else '<'} ?")
            self.params.append(to_micros(node.end))
        return "(" + " AND ".join(parts) + ")"

    # -- tree -------------------------------------------------------------
    def node(self, node: Node, positive: bool = True) -> str:
        if isinstance(node, Term):
            return self.term(node, positive)
        if isinstance(node, Phrase):
            return self.phrase(node, positive)
        if isinstance(node, FieldTerm):
            return self.field_term(node)
        if isinstance(node, DateRange):
            return self.date_range(node)
        if isinstance(node, And):
            return "(" + " AND ".join(self.node(c, positive) for c in node.children) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.node(c, positive) for c in node.children) + ")"
        if isinstance(node, Not):
            return "(NOT " + self.node(node.child, not positive) + ")"
        if isinstance(node, MatchAll):
            return "1"
        raise QueryError(f"unsupported query node {type(node).__name__}")


def compile_where(node: Node, conn: sqlite3.Connection, *, fts: str = "fts", vocab: str = "fts_vocab") -> Compiled:
    """Translate *node*; *conn* is needed to expand wildcards against the
    indexed vocabulary.  Raises QueryError for what cannot be searched."""
    c = _Compiler(conn, fts, vocab)
    where = c.node(node)
    rank = " OR ".join(f"({p})" for p in c.rank_parts) if c.rank_parts else None
    return Compiled(where, c.params, rank, c.rank_parts)
