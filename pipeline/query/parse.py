"""Lucene query syntax -> :mod:`.ast` tree, via luqum.

Supported: terms, ``"phrases"``, ``"proximity phrases"~N``, ``field:value``,
``field:(a OR b)``, ``AND``/``OR``/``NOT``/``+``/``-``, grouping, ``*`` and
``?`` wildcards, ``published:[2024-01-01 TO now]``.  Juxtaposed terms are
ANDed (``Albania MEK`` means both), as in media-monitoring boolean search.
Unsupported syntax (fuzzy ``~``, regex ``/../``) is an error, never silently
ignored.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from luqum import tree as lt
from luqum.exceptions import ParseError
from luqum.parser import parser as _luqum_parser

from newswatch.pipeline.query.ast import (
    And, DateRange, FieldTerm, MatchAll, Node, Not, Or, Phrase, QueryError, Term,
)
from newswatch.pipeline.text import WORD_RE, fold

# field name as typed -> canonical field
TEXT_FIELDS = {"text": "text", "body": "text", "title": "title", "summary": "summary", "content": "content"}
KEYWORD_FIELDS = {
    "entity": "entity", "entities": "entity",
    "topic": "topic", "topics": "topic",
    "source": "source", "domain": "source",
    "language": "language", "lang": "language",
    "feed": "feed",
    "author": "author",
    "category": "category", "tag": "category",
}
DATE_FIELDS = {"published": "published", "date": "published", "published_at": "published"}

_ESCAPE_RE = re.compile(r"\\(.)")
_WILDCARD_RE = re.compile(r"(?<!\\)[*?]")
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RELATIVE_RE = re.compile(r"^now(?:-(\d+)([smhdw]))?$")


def _unescape(s: str) -> str:
    return _ESCAPE_RE.sub(r"\1", s)


def _parse_date(raw: str, field: str) -> datetime | None:
    raw = raw.strip()
    if raw == "*":
        return None
    m = _RELATIVE_RE.match(raw.lower())
    if m:
        now = datetime.now(timezone.utc)
        if not m.group(1):
            return now
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        return now - timedelta(**{unit: int(m.group(1))})
    try:
        dt = datetime.fromisoformat(_unescape(raw).replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"{field}: cannot read date {raw!r} -- use YYYY-MM-DD, an ISO timestamp, * or now-7d"
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class _Converter:
    def __init__(self, query: str):
        self.query = query

    def convert(self, node: lt.Item, field: str) -> Node:
        if isinstance(node, (lt.AndOperation, lt.UnknownOperation)):
            return _flatten(And, [self.convert(c, field) for c in node.children])
        if isinstance(node, lt.OrOperation):
            return _flatten(Or, [self.convert(c, field) for c in node.children])
        if isinstance(node, (lt.Not, lt.Prohibit)):
            return Not(self.convert(node.a, field))
        if isinstance(node, lt.Plus):
            return self.convert(node.a, field)
        if isinstance(node, (lt.Group, lt.FieldGroup)):
            return self.convert(node.expr, field)
        if isinstance(node, lt.Boost):
            return self.convert(node.expr, field)
        if isinstance(node, lt.SearchField):
            return self.convert(node.expr, _canonical_field(node.name))
        if isinstance(node, lt.Proximity):
            inner = self.convert(node.term, field)
            slop = int(node.degree) if node.degree is not None else 1
            if isinstance(inner, Phrase):
                return Phrase(inner.field, inner.tokens, slop)
            return inner  # a one-word phrase with ~N is just the word
        if isinstance(node, lt.Fuzzy):
            raise QueryError(f"fuzzy search ({node}) is not supported -- use a wildcard such as Rajav* instead")
        if isinstance(node, lt.Regex):
            raise QueryError(f"regular expressions ({node}) are not supported -- use * and ? wildcards")
        if isinstance(node, lt.Range):
            if field not in DATE_FIELDS.values():
                raise QueryError(f"ranges work on published only, not on {field!r}")
            return _date_range(field, str(node.low), str(node.high), bool(node.include_low),
                               bool(node.include_high))
        if isinstance(node, (lt.From, lt.To)):  # published:>2024-01-01, published:<=now-7d
            if field not in DATE_FIELDS.values():
                raise QueryError(f"comparisons work on published only, not on {field!r}")
            if isinstance(node, lt.From):
                return _date_range(field, str(node.a), "*", bool(node.include), True)
            return _date_range(field, "*", str(node.a), True, bool(node.include))
        if isinstance(node, lt.Phrase):
            return self.value(node.value[1:-1], field, phrase=True)
        if isinstance(node, lt.Word):
            return self.value(node.value, field, phrase=False)
        raise QueryError(f"unsupported query syntax: {node!s}")

    def value(self, raw: str, field: str, *, phrase: bool) -> Node:
        if field in KEYWORD_FIELDS.values():
            wildcard = not phrase and bool(_WILDCARD_RE.search(raw))
            return FieldTerm(field, fold(_unescape(raw)).strip(), wildcard)
        if field in DATE_FIELDS.values():
            day = _parse_date(raw, field)
            if day is None:
                return MatchAll()
            return DateRange(field, day, day + timedelta(days=1), True, False)
        if not phrase and _WILDCARD_RE.search(raw):
            pattern = fold(_unescape(raw.replace("\\*", "\x00").replace("\\?", "\x01")))
            if pattern.strip("*") == "":
                return MatchAll()
            if re.search(r"[^\w*?\x00\x01]|_", pattern):
                raise QueryError(
                    f"wildcard {raw!r} spans several words -- wildcards work inside one word (e.g. Rajav*)"
                )
            return Term(field, pattern.replace("\x00", "*").replace("\x01", "?"), wildcard=True)
        toks = WORD_RE.findall(fold(_unescape(raw)))
        if not toks:
            raise QueryError(f"{raw!r} has no letters or digits to search for")
        if len(toks) == 1:
            return Term(field, toks[0])
        return Phrase(field, tuple(toks), 0)


def _canonical_field(name: str) -> str:
    key = name.lower()
    for table in (TEXT_FIELDS, KEYWORD_FIELDS, DATE_FIELDS):
        if key in table:
            return table[key]
    known = sorted(set(TEXT_FIELDS) | set(KEYWORD_FIELDS) | set(DATE_FIELDS))
    raise QueryError(f"unknown field {name!r} -- known fields: {', '.join(known)}")


def _flatten(kind: type, children: list[Node]) -> Node:
    flat: list[Node] = []
    for c in children:
        if isinstance(c, kind):
            flat.extend(c.children)  # type: ignore[attr-defined]
        elif isinstance(c, MatchAll) and kind is And:
            continue
        else:
            flat.append(c)
    if kind is Or and any(isinstance(c, MatchAll) for c in flat):
        return MatchAll()
    if not flat:
        return MatchAll()
    if len(flat) == 1:
        return flat[0]
    return kind(tuple(flat))


# Lucene's && and || aliases, outside quoted phrases (a quote is matched whole and kept)
_OPERATORS_RE = re.compile(r'"(?:\\.|[^"\\])*"|&&|\|\|')
_ALIASES = {"&&": " AND ", "||": " OR "}


def _diagnose(q: str) -> str:
    """A plain-words reason for a query luqum refused."""
    if q.count('"') % 2:
        return 'a quote (") is not closed -- close the phrase or escape it as \\"'
    depth = 0
    for ch in q:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return "a ')' has no matching '(' -- check the parentheses"
    if depth:
        return "a '(' is not closed -- check the parentheses"
    words = q.split()
    if words and words[-1].upper() in ("AND", "OR", "NOT", "TO"):
        return f"nothing after {words[-1]!r} -- finish the expression or remove the operator"
    if words and words[0].upper() in ("AND", "OR"):
        return f"nothing before {words[0]!r} -- start with a term"
    if re.search(r":\s*[<>]", q):
        return "a comparison needs a date right after it, with no space: published:>=2024-01-01"
    return ("not valid query syntax -- use words, \"phrases\", field:value, AND / OR / NOT and ( ); "
            "special characters such as : / [ ] { } ^ ~ need a backslash")


def _date_range(field: str, low: str, high: str, include_start: bool, include_end: bool) -> DateRange:
    """A bare day means the whole day: [2024-01-01 TO 2024-01-31] and <=2024-01-31
    include the 31st; {2024-01-01 TO *] and >2024-01-01 start on the 2nd."""
    start, end = _parse_date(low, field), _parse_date(high, field)
    if end is not None and _DAY_RE.match(high) and include_end:
        end, include_end = end + timedelta(days=1), False
    if start is not None and _DAY_RE.match(low) and not include_start:
        start, include_start = start + timedelta(days=1), True
    return DateRange(field, start, end, include_start, include_end)


def parse_query(query: str) -> Node:
    """Parse *query* (Lucene syntax) into the shared tree.  Raises QueryError
    with a message fit to show the user."""
    q = (query or "").strip()
    if not q or q == "*" or q == "*:*":
        return MatchAll()
    q = _OPERATORS_RE.sub(lambda m: _ALIASES.get(m.group(), m.group()), q)
    try:
        tree = _luqum_parser.parse(q)
    except (ParseError, Exception):  # luqum raises a few kinds, with parser jargon
        raise QueryError(f"cannot parse query {query!r}: {_diagnose(q)}") from None
    return _Converter(q).convert(tree, "text")
