"""The query tree every backend works from.

Deliberately small: backends translate these seven node types and nothing else,
which is what keeps the Python matcher, SQLite and the search engine in
agreement.

Text nodes (:class:`Term`, :class:`Phrase`) hold *folded* tokens (see
:func:`newswatch.pipeline.text.fold`), so no backend has to fold again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class QueryError(ValueError):
    """The query cannot be parsed or uses something we do not support."""


class Node:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Term(Node):
    """One word in a text field.  ``field`` is 'text' (title + summary +
    content), 'title', 'summary' or 'content'.  With ``wildcard`` the token is a
    glob pattern using * and ?."""

    field: str
    token: str
    wildcard: bool = False


@dataclass(frozen=True, slots=True)
class Phrase(Node):
    """Consecutive tokens (``slop`` 0), or with ``slop`` N all tokens inside a
    window with at most N other tokens between them, in any order (Lucene
    ``"a b"~N``; FTS5 ``NEAR(a b, N)``; span_near in_order=false)."""

    field: str
    tokens: tuple[str, ...]
    slop: int = 0


@dataclass(frozen=True, slots=True)
class FieldTerm(Node):
    """Exact (case-insensitive) value of a keyword field: entity, topic,
    source, language, feed, author, category.  ``value`` is folded; with
    ``wildcard`` it is a glob."""

    field: str
    value: str
    wildcard: bool = False


@dataclass(frozen=True, slots=True)
class DateRange(Node):
    field: str  # "published"
    start: datetime | None
    end: datetime | None
    include_start: bool = True
    include_end: bool = True


@dataclass(frozen=True, slots=True)
class And(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    child: Node


@dataclass(frozen=True, slots=True)
class MatchAll(Node):
    """``*`` or an empty query."""


def walk(node: Node):
    yield node
    if isinstance(node, (And, Or)):
        for c in node.children:
            yield from walk(c)
    elif isinstance(node, Not):
        yield from walk(node.child)


def to_string(node: Node) -> str:
    """Canonical Lucene-ish rendering, for logs and error messages."""
    if isinstance(node, Term):
        return f"{node.field}:{node.token}"
    if isinstance(node, Phrase):
        s = f'{node.field}:"{" ".join(node.tokens)}"'
        return s + (f"~{node.slop}" if node.slop else "")
    if isinstance(node, FieldTerm):
        return f"{node.field}:{node.value}"
    if isinstance(node, DateRange):
        a = node.start.isoformat() if node.start else "*"
        b = node.end.isoformat() if node.end else "*"
        return f"{node.field}:{'[' if node.include_start else '{'}{a} TO {b}{']' if node.include_end else '}'}"
    if isinstance(node, And):
        return "(" + " AND ".join(to_string(c) for c in node.children) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(to_string(c) for c in node.children) + ")"
    if isinstance(node, Not):
        return f"NOT {to_string(node.child)}"
    if isinstance(node, MatchAll):
        return "*"
    raise TypeError(node)
