"""Enrich stage: text cleanup, language, dedupe, entity and topic tagging.

Factories for the composition root and the ``newswatch tag`` command::

    enricher = build_enricher(settings)            # a pipeline Processor
    result = tag_text("...", settings)             # what `newswatch tag` prints
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from newswatch.pipeline.article import Article
from newswatch.pipeline.settings import Settings

from newswatch.enrich.dedupe import DedupeStore, Deduplicator, MemoryDedupeStore, SQLiteDedupeStore
from newswatch.enrich.entities import EntityTagger
from newswatch.enrich.language import detect_language
from newswatch.enrich.service import Enricher
from newswatch.enrich.topics import TopicTagger, load_topics
from newswatch.enrich.watchlist import load_watchlist

__all__ = [
    "Enricher", "EntityTagger", "TopicTagger", "DedupeStore", "MemoryDedupeStore",
    "SQLiteDedupeStore", "build_enricher", "build_taggers", "tag_text",
]


def build_taggers(config_dir: Path) -> tuple[EntityTagger, TopicTagger]:
    """Taggers from ``watchlist.yaml`` and ``topics.yaml`` in *config_dir*.
    Raises ConfigError (naming file, entry and fix) on a bad file."""
    entities = EntityTagger(load_watchlist(config_dir / "watchlist.yaml"))
    topics = load_topics(config_dir / "topics.yaml")
    return entities, topics


def build_enricher(settings: Settings, *, dedupe_store: DedupeStore | None = None) -> Enricher:
    entities, topics = build_taggers(settings.config_dir)
    if dedupe_store is None:
        settings.ensure_data_dir()
        dedupe_store = SQLiteDedupeStore(settings.data_dir / "dedupe.sqlite3")
    dedupe = Deduplicator(
        dedupe_store,
        threshold=settings.near_duplicate_threshold,
        window_days=settings.dedupe_window_days,
    )
    return Enricher(entities, topics, dedupe)


def tag_text(text: str, settings: Settings, title: str = "") -> dict[str, Any]:
    """Entities and topics of a loose text, as ``newswatch tag --json`` prints
    them.  The text is tagged as given (no cleanup), so offsets point into it."""
    entity_tagger, topic_tagger = build_taggers(settings.config_dir)
    article = Article(id="-", title=title, content=text, content_format="text")
    article.entities = entity_tagger.tag_article(article)
    article.topics = topic_tagger.tag_article(article)
    article.language = detect_language(f"{title}\n\n{text}")
    fields = {"title": title, "content": text}
    return {
        "language": article.language,
        "entities": [
            {
                "id": e.id, "name": e.name, "type": e.type, "count": e.count,
                "matches": [
                    {"alias": m.alias, "field": m.field, "start": m.start, "end": m.end,
                     "text": fields[m.field][m.start:m.end]}
                    for m in e.matches
                ],
            }
            for e in article.entities
        ],
        "topics": [
            {"id": t.id, "name": t.name, "score": t.score, "evidence": t.evidence,
             # per matched rule, the words of the text that made it match
             "matched_words": [_words_for(rule, fields) for rule in t.evidence]}
            for t in article.topics
        ],
    }


def _words_for(rule: str, fields: dict[str, str]) -> list[str]:
    """What in *fields* made rule *rule* match, as written there (first
    occurrence, in order): its words, and its phrases where the whole phrase
    is present -- what a user checking topics.yaml wants to see, rather than
    the rule's whole OR-list."""
    import fnmatch

    from newswatch.pipeline.highlight import positive_nodes, token_spans
    from newswatch.pipeline.query import parse_query

    terms, phrase_nodes = positive_nodes(parse_query(rule))
    words = {t.token for t in terms if not t.wildcard}
    globs = [fnmatch.translate(t.token) for t in terms if t.wildcard]
    pattern = re.compile("|".join(f"(?:{g})" for g in globs)) if globs else None
    phrases = [p.tokens for p in phrase_nodes]
    found: list[str] = []

    def add(word: str) -> None:
        if word not in found:
            found.append(word)

    for text in fields.values():
        spans = token_spans(text or "")
        toks = [t for _, _, t in spans]
        for i, (start, end, tok) in enumerate(spans):
            if tok in words or (pattern is not None and pattern.match(tok)):
                add(text[start:end])
            for ph in phrases:  # slop ignored here: exact runs are what a reader checks
                if ph and tuple(toks[i:i + len(ph)]) == ph:
                    add(text[start:spans[i + len(ph) - 1][1]])
    return found
