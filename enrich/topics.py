"""Topic tagging: each topic is a set of weighted rules in the shared query
language and a threshold, as boolean media-monitoring categories are defined.
An article gets every topic whose matched rules' weights add up to the
threshold; the matched rules are the evidence.

All rules of all topics go into one :class:`RuleIndex`, so an article is only
evaluated against rules anchored on words it contains.  Rules may use
``entity:`` (topics run after entity tagging).
"""

from __future__ import annotations

from functools import cached_property

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newswatch.pipeline.article import Article, TopicTag
from newswatch.pipeline.config import ConfigError, load_entries
from newswatch.pipeline.query import DocView, QueryError, RuleIndex, parse_query, required_terms

from newswatch.enrich.watchlist import ID_RE


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str
    weight: float = 1.0


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str = ""
    description: str = ""
    threshold: float = Field(1.0, gt=0)
    rules: list[Rule]

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_RE.fullmatch(v):
            raise ValueError(f"id {v!r}: use lower-case letters, digits, '-', '_' or '.'")
        return v

    @field_validator("rules")
    @classmethod
    def _rules(cls, v: list[Rule]) -> list[Rule]:
        if not v:
            raise ValueError("rules: a topic needs at least one rule -- add one or remove the topic")
        return v


class TopicTagger:
    def __init__(self, topics: list[Topic], *, source: str = "topics.yaml") -> None:
        self.topics = {t.id: t for t in topics}
        self.index = RuleIndex()
        self._rules: dict[str, tuple[str, Rule]] = {}
        # anchor key -> rules; see _candidates
        self._anchors: dict[tuple[str, str], list[str]] = {}
        self._always: list[str] = []
        for ti, topic in enumerate(topics):
            for ri, rule in enumerate(topic.rules):
                try:
                    node = parse_query(rule.query)
                except QueryError as exc:
                    raise ConfigError(
                        source, f"rules[{ri}] ({rule.query!r}): {exc}", f"topics[{ti}] (id {topic.id!r})"
                    ) from None
                rid = f"{topic.id}#{ri}"
                self.index.add(rid, node)
                self._rules[rid] = (topic.id, rule)
                keys = required_terms(node)
                if keys is None:
                    self._always.append(rid)
                else:
                    for k in keys:
                        self._anchors.setdefault(k, []).append(rid)

    @cached_property
    def _order(self) -> dict[str, int]:
        return {rid: i for i, rid in enumerate(self._rules)}

    def tag_article(self, article: Article) -> list[TopicTag]:
        return self.tag_doc(DocView.of(article))

    def tag_doc(self, doc: DocView) -> list[TopicTag]:
        if not self._rules:
            return []
        scores: dict[str, float] = {}
        evidence: dict[str, list[str]] = {}
        matchers = self.index.matchers
        # in config order: candidates come from sets, and evidence order (and
        # the float sum) must not depend on the interpreter's hash seed
        for rid in sorted(self._candidates(doc), key=self._order.__getitem__):
            if not matchers[rid].matches(doc):
                continue
            tid, rule = self._rules[rid]
            scores[tid] = scores.get(tid, 0.0) + rule.weight
            evidence.setdefault(tid, []).append(rule.query)
        out = []
        for tid, topic in self.topics.items():  # config order, stable
            s = scores.get(tid)
            if s is not None and s >= topic.threshold:
                out.append(TopicTag(id=tid, name=topic.name or tid, score=round(s, 4), evidence=evidence[tid]))
        return out


    def _candidates(self, doc: DocView) -> list[str]:
        """Same answer as ``RuleIndex.candidates``, but walks the rules'
        anchors when there are fewer of them than words in the article (the
        usual case for a topic set: tens of rules, hundreds of words)."""
        if len(self._anchors) > len(doc.vocab("text")):
            return self.index.candidates(doc)
        out: list[str] = []
        seen: set[str] = set()
        # every body field's words in one set (built once per view, and the
        # compiled term rules use the same one)
        vocab, keywords = doc.vocab("text"), doc.keywords
        for (kind, value), rids in self._anchors.items():
            if kind == "tok":
                hit = value in vocab
            else:
                hit = value in keywords.get(kind, ())
            if hit:
                for rid in rids:
                    if rid not in seen:
                        seen.add(rid)
                        out.append(rid)
        out.extend(r for r in self._always if r not in seen)
        return out


def load_topics(path: Path) -> TopicTagger:
    return TopicTagger(load_entries(path, "topics", Topic, allow_empty=True), source=str(path))
