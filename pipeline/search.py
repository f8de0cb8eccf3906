"""What every index backend offers besides being a sink.

Defined here, in the shared spine, so the CLI and the alerts backtest can use
any backend (SQLite, Elasticsearch, OpenSearch) without importing index/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, Sequence

from newswatch.pipeline.article import Article
from newswatch.pipeline.query.ast import Node


@dataclass
class Hit:
    article: Article
    score: float = 0.0
    # text around the matched terms, matched terms wrapped in \x02 ... \x03
    # (renderers turn these into <mark> or ANSI after escaping the rest)
    snippet: str = ""

    def to_json(self) -> dict[str, Any]:
        from newswatch.pipeline.highlight import split_marks

        a = self.article
        plain, spans = split_marks(self.snippet or "")
        return {
            "id": a.id,
            "title": a.title,
            "url": a.url,
            "source": a.source.name or a.source.domain,
            "source_domain": a.source.domain,
            "feed_id": a.feed_id,
            "published_at": a.published_at.isoformat() if a.published_at else None,
            "language": a.language,
            "entities": [e.id for e in a.entities],
            "topics": [t.id for t in a.topics],
            "duplicate_of": a.duplicate_of,
            "score": self.score,
            "snippet": self.snippet.replace("\x02", "[").replace("\x03", "]"),
            # the same without markers, and where the matched words are in it
            "snippet_text": plain,
            "highlights": [list(span) for span in spans],
        }


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int


@dataclass
class Stats:
    articles: int = 0
    per_day: list[tuple[str, int]] = field(default_factory=list)
    per_entity: list[tuple[str, int]] = field(default_factory=list)
    per_topic: list[tuple[str, int]] = field(default_factory=list)
    per_source: list[tuple[str, int]] = field(default_factory=list)
    per_language: list[tuple[str, int]] = field(default_factory=list)
    # distinct stories: a syndicated copy is one more article, not one more story
    stories: int | None = None


class SearchBackend(Protocol):
    name: str

    def write(self, batch: Sequence[Article]) -> None: ...

    def search(
        self,
        query: Node,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        sort: Literal["date", "relevance"] = "date",
        include_duplicates: bool = True,
    ) -> SearchResult: ...

    def get(self, ids: Sequence[str]) -> list[Article]: ...

    def stats(self, *, since: datetime | None = None, top: int = 10) -> Stats: ...

    def close(self) -> None: ...
