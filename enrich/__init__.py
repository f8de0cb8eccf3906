"""Enrich stage: text cleanup, language, dedupe, entity and topic tagging.

Factories for the composition root and the ``newswatch tag`` command::

    enricher = build_enricher(settings)            # a pipeline Processor
    result = tag_text("...", settings)             # what `newswatch tag` prints
"""

from __future__ import annotations

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
            {"id": t.id, "name": t.name, "score": t.score, "evidence": t.evidence} for t in article.topics
        ],
    }
