"""Evaluate a query tree against one Article, in Python.

Used by enrich (topic rules) and alerts (alert rules); the index backends
translate the same tree instead.  An article is first turned into a
:class:`DocView` (folded tokens with positions, keyword values) once, then any
number of compiled rules run against it cheaply.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from newswatch.pipeline.article import Article
from newswatch.pipeline.query.ast import (
    And, DateRange, FieldTerm, MatchAll, Node, Not, Or, Phrase, Term,
)
from newswatch.pipeline.text import fold, tokens

BODY_FIELDS = ("title", "summary", "content")


@dataclass
class DocView:
    """An article as the matcher sees it: per text field, its folded tokens
    (and, when a phrase asks, each token's positions); per keyword field,
    the set of folded values."""

    tokens: dict[str, list[str]]
    keywords: dict[str, set[str]]
    published: datetime | None = None
    _vocab: dict[str, frozenset[str]] = field(default_factory=dict)
    _positions: dict[str, dict[str, list[int]]] | None = None

    @classmethod
    def of(cls, article: Article) -> "DocView":
        toks = {name: tokens(getattr(article, name) or "") for name in BODY_FIELDS}
        keywords = {
            "entity": {e.id.casefold() for e in article.entities} | {fold(e.name) for e in article.entities},
            "topic": {t.id.casefold() for t in article.topics},
            "source": {v for v in (fold(article.source.name), article.source.domain.lower()) if v},
            "language": {article.language.lower()} if article.language else set(),
            "feed": {article.feed_id.casefold()} if article.feed_id else set(),
            "author": {fold(a) for a in article.authors},
            "category": {fold(c) for c in article.categories},
        }
        return cls(toks, keywords, article.published_at)

    @property
    def positions(self) -> dict[str, dict[str, list[int]]]:
        """Per text field, token -> its positions.  Built on first use: only
        phrases and proximity need it, words are looked up in :meth:`vocab`
        (most articles never match a phrase's words, so never build this)."""
        if self._positions is None:
            self._positions = {}
            for name, toks in self.tokens.items():
                pos: dict[str, list[int]] = {}
                get = pos.get  # plain dict and get(): ~2x faster than defaultdict here
                for i, tok in enumerate(toks):
                    at = get(tok)
                    if at is None:
                        pos[tok] = [i]
                    else:
                        at.append(i)
                self._positions[name] = pos
        return self._positions

    @classmethod
    def of_text(cls, text: str, *, title: str = "") -> "DocView":
        """A view of loose text (``newswatch tag``), all in ``content``."""
        return cls.of(Article(id="-", title=title, content=text, content_format="text"))

    def fields(self, name: str) -> Iterable[dict[str, list[int]]]:
        if name == "text":
            return [self.positions[f] for f in BODY_FIELDS]
        return (self.positions[name],)

    def vocab(self, name: str) -> frozenset[str]:
        """The distinct tokens of field *name* ("text": every body field)."""
        v = self._vocab.get(name)
        if v is None:
            names = BODY_FIELDS if name == "text" else (name,)
            v = frozenset().union(*(self.tokens[f] for f in names))
            self._vocab[name] = v
        return v

    def keys(self) -> set[tuple[str, str]]:
        """Everything a rule could be anchored on (see :class:`RuleIndex`)."""
        out = {("tok", t) for t in self.vocab("text")}
        for f, values in self.keywords.items():
            out.update((f, v) for v in values)
        return out


Predicate = Callable[[DocView], bool]


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


def _phrase_at(pos: dict[str, list[int]], tokens: tuple[str, ...]) -> bool:
    lists = [pos.get(t) for t in tokens]
    if not all(lists):
        return False
    # candidate starts: positions of the first token whose successor is the
    # second token, narrowed token by token (set intersections run in C)
    starts = set(lists[0])  # type: ignore[arg-type]
    for k, p in enumerate(lists[1:], 1):
        starts.intersection_update([i - k for i in p])  # type: ignore[union-attr]
        if not starts:
            return False
    return True


def _near(pos: dict[str, list[int]], tokens: tuple[str, ...], slop: int) -> bool:
    """All tokens (with multiplicity) inside a window with at most *slop*
    other tokens in it, any order -- FTS5 NEAR / unordered span_near."""
    need = Counter(tokens)
    if any(len(pos.get(t, ())) < n for t, n in need.items()):
        return False
    occ = sorted((p, t) for t in need for p in pos[t])
    have: Counter[str] = Counter()
    satisfied = 0
    k = len(tokens)
    lo = 0
    for hi, (p_hi, t_hi) in enumerate(occ):
        have[t_hi] += 1
        if have[t_hi] == need[t_hi]:
            satisfied += 1
        while satisfied == len(need):
            p_lo, t_lo = occ[lo]
            if (p_hi - p_lo + 1) - k <= slop:
                return True
            have[t_lo] -= 1
            if have[t_lo] < need[t_lo]:
                satisfied -= 1
            lo += 1
    return False


def _all_of(preds: list[Predicate]) -> Predicate:
    # plain closures, not all(genexpr): thousands of rules run per article
    if len(preds) == 2:
        a, b = preds
        return lambda d: a(d) and b(d)

    def all_of(d: DocView) -> bool:
        for p in preds:
            if not p(d):
                return False
        return True

    return all_of


def _any_of(preds: list[Predicate]) -> Predicate:
    if len(preds) == 2:
        a, b = preds
        return lambda d: a(d) or b(d)

    def any_of(d: DocView) -> bool:
        for p in preds:
            if p(d):
                return True
        return False

    return any_of


def compile_node(node: Node) -> Predicate:
    if isinstance(node, Term):
        f, tok = node.field, node.token
        if node.wildcard:
            rx = _glob(tok)
            return lambda d: any(rx.match(t) for t in d.vocab(f))
        return lambda d: tok in d.vocab(f)
    if isinstance(node, Phrase):
        f, toks, slop = node.field, node.tokens, node.slop
        check = (lambda p: _near(p, toks, slop)) if slop else (lambda p: _phrase_at(p, toks))
        distinct = frozenset(toks)

        def phrase(d: DocView) -> bool:
            # most phrases fail on a missing word: one set test, not per field
            if not distinct <= d.vocab(f):
                return False
            for p in d.fields(f):
                if check(p):
                    return True
            return False

        return phrase
    if isinstance(node, FieldTerm):
        f, v = node.field, node.value
        if node.wildcard:
            rx = _glob(v)
            return lambda d: any(rx.match(x) for x in d.keywords[f])
        return lambda d: v in d.keywords[f]
    if isinstance(node, DateRange):
        def in_range(d: DocView, n: DateRange = node) -> bool:
            p = d.published
            if p is None:
                return False
            if n.start is not None and (p < n.start or (p == n.start and not n.include_start)):
                return False
            if n.end is not None and (p > n.end or (p == n.end and not n.include_end)):
                return False
            return True
        return in_range
    if isinstance(node, And):
        return _all_of([compile_node(c) for c in node.children])
    if isinstance(node, Or):
        return _any_of([compile_node(c) for c in node.children])
    if isinstance(node, Not):
        pred = compile_node(node.child)
        return lambda d: not pred(d)
    if isinstance(node, MatchAll):
        return lambda d: True
    raise TypeError(f"unknown query node {node!r}")


@dataclass
class Matcher:
    node: Node
    predicate: Predicate

    def matches(self, doc: DocView) -> bool:
        return self.predicate(doc)


def compile_query(node: Node) -> Matcher:
    return Matcher(node, compile_node(node))


def required_terms(node: Node) -> frozenset[tuple[str, str]] | None:
    """Keys of which a matching document must contain at least one, or None
    when the rule cannot be anchored (pure negation, wildcard, date range).

    This is the pre-filter of Lucene's Monitor / the percolator: an article is
    only evaluated against rules anchored on a key it has."""
    if isinstance(node, Term):
        return None if node.wildcard else frozenset({("tok", node.token)})
    if isinstance(node, Phrase):
        return frozenset({("tok", max(node.tokens, key=len))})
    if isinstance(node, FieldTerm):
        return None if node.wildcard else frozenset({(node.field, node.value)})
    if isinstance(node, And):
        options = [r for r in (required_terms(c) for c in node.children) if r is not None]
        return min(options, key=len) if options else None
    if isinstance(node, Or):
        out: set[tuple[str, str]] = set()
        for c in node.children:
            r = required_terms(c)
            if r is None:
                return None
            out |= r
        return frozenset(out)
    return None


class RuleIndex:
    """Many compiled rules, evaluated only where they could match.

    ``candidates(doc)`` returns the ids of rules anchored on a key the document
    has, plus the rules that cannot be anchored.  The result is exact: the
    pre-filter only skips rules that would have evaluated to False."""

    def __init__(self) -> None:
        # word anchors and keyword anchors apart, so candidates() can
        # intersect the article's vocabulary with the anchors in C instead of
        # building a key tuple per distinct word
        self._by_token: dict[str, list[str]] = defaultdict(list)
        self._by_keyword: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._always: list[str] = []
        self.matchers: dict[str, Matcher] = {}
        self._predicates: dict[str, Predicate] = {}

    def add(self, rule_id: str, node: Node) -> None:
        self.matchers[rule_id] = m = compile_query(node)
        self._predicates[rule_id] = m.predicate
        keys = required_terms(node)
        if keys is None:
            self._always.append(rule_id)
        else:
            for field_name, value in keys:
                if field_name == "tok":
                    self._by_token[value].append(rule_id)
                else:
                    self._by_keyword[(field_name, value)].append(rule_id)

    def __len__(self) -> int:
        return len(self.matchers)

    def candidates(self, doc: DocView) -> list[str]:
        by_token, by_keyword = self._by_token, self._by_keyword
        lists = [by_token[t] for t in by_token.keys() & doc.vocab("text")]
        for f, values in doc.keywords.items():
            for v in values:
                rids = by_keyword.get((f, v))
                if rids:
                    lists.append(rids)
        lists.append(self._always)
        return list(dict.fromkeys(rid for rids in lists for rid in rids))

    def match(self, doc: DocView) -> list[str]:
        """Ids of all rules the document matches."""
        preds = self._predicates
        return [rid for rid in self.candidates(doc) if preds[rid](doc)]
