"""Matching every article against every rule, cheaply.

Rules go into the shared :class:`RuleIndex` (Monitor/percolator style: each
rule is anchored on the keys it requires, so an article is only evaluated
against rules that could match; exact, never a false negative).  The
predicates are the same code the topic tagger uses, and evaluate the same tree
the search backends translate, so `alerts test` and live alerts agree.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from newswatch.pipeline.article import Article
from newswatch.pipeline.highlight import snippet
from newswatch.pipeline.query import DocView, FieldTerm, Node, Not, RuleIndex
from newswatch.pipeline.query.ast import walk
from newswatch.pipeline.text import fold, tokens

from newswatch.alerts.items import AlertItem
from newswatch.alerts.rules import AlertRule

_MARKS = str.maketrans("", "", "\x02\x03")


class RuleMatcher:
    def __init__(self, rules: Sequence[AlertRule]):
        self.rules = {r.id: r for r in rules if r.enabled}
        self.index = RuleIndex()
        for r in self.rules.values():
            self.index.add(r.id, r.node)

    def __len__(self) -> int:
        return len(self.rules)

    def match(self, article: Article, doc: DocView | None = None) -> list[AlertRule]:
        if not self.rules:
            return []
        doc = doc or DocView.of(article)
        return [self.rules[rid] for rid in self.index.match(doc)]


def _positive_entity_terms(node: Node) -> list[FieldTerm]:
    negated = {id(n) for x in walk(node) if isinstance(x, Not) for n in walk(x.child)}
    return [n for n in walk(node) if isinstance(n, FieldTerm) and n.field == "entity" and id(n) not in negated]


def entity_spans(article: Article, node: Node) -> dict[str, list[tuple[int, int]]]:
    """Where, per field, the aliases that made an ``entity:`` clause match
    are -- from enrich's evidence offsets, so an email for ``entity:mek``
    highlights "MEK" and "Mojahedin Khalq" exactly as written."""
    terms = _positive_entity_terms(node)
    out: dict[str, list[tuple[int, int]]] = {"title": [], "summary": [], "content": []}
    if not terms:
        return out
    for ent in article.entities:
        keys = {ent.id.casefold(), fold(ent.name)}
        if not any((fnmatch.fnmatchcase(k, t.value) if t.wildcard else t.value == k) for t in terms for k in keys):
            continue
        for m in ent.matches:
            text = getattr(article, m.field, "") or ""
            if 0 <= m.start < m.end <= len(text):  # stale offsets are ignored, never trusted
                out[m.field].append((m.start, m.end))
    return out


def alias_words(article: Article, node: Node) -> set[str]:
    """Folded words of the matched aliases (for backends that only take words)."""
    words: set[str] = set()
    for field, spans in entity_spans(article, node).items():
        text = getattr(article, field) or ""
        for s, e in spans:
            words.update(tokens(text[s:e]))
    return words


def rule_snippet(article: Article, node: Node, width: int = 220) -> str:
    """The shared snippet (query words marked), plus the matched entity
    aliases marked as whole spans; the lead of the text when nothing is."""
    return snippet(article, node, width=width, extra_spans=entity_spans(article, node))


def _without_markers(article: Article) -> Article:
    if any("\x02" in s or "\x03" in s for s in (article.title, article.summary, article.content)):
        return article.model_copy(update={
            "title": article.title.translate(_MARKS),
            "summary": article.summary.translate(_MARKS),
            "content": article.content.translate(_MARKS),
        })
    return article


def alert_item(rule: AlertRule, article: Article) -> AlertItem:
    """The snapshot stored in the outbox for one (rule, story)."""
    clean = _without_markers(article)
    return AlertItem(
        article_id=article.id,
        story_id=article.story_id,
        rule_id=rule.id,
        rule_name=rule.title,
        query=rule.query,
        title=clean.title,
        url=article.url or article.canonical_url,
        source=article.source.name or article.source.domain,
        published_at=(article.published_at or article.fetched_at).isoformat(),
        snippet=rule_snippet(clean, rule.node),
        language=article.language,
        entities=[e.name or e.id for e in article.entities],
    )
