"""Enriched Articles for alert tests, built by hand the way enrich would emit
them (clean text, entity tags with alias offsets, story ids), so the alerts
tests do not depend on enrich internals."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from newswatch.pipeline.article import Article, EntityMatch, EntityTag, Source
from newswatch.pipeline.urls import article_id
from support.seed import seed_text

SEED_TEXT = seed_text()
SEED_TITLE = "Seed article (test fixture)"

# id, display name, aliases (as enrich's watchlist has them)
ENTITIES = [
    ("mek", "Mojahedin-e Khalq (MEK)", ["Mojahedin Khalq", "MEK"]),
    ("ncri", "National Council of Resistance of Iran", ["National Council of Resistance of Iran", "NCRI"]),
    ("maryam-rajavi", "Maryam Rajavi", ["Maryam Rajavi"]),
]


def tag_entities(article: Article) -> list[EntityTag]:
    """Whole-word, case-sensitive alias search with offsets per field."""
    tags = []
    for eid, name, aliases in ENTITIES:
        matches = []
        for field in ("title", "summary", "content"):
            text = getattr(article, field)
            for alias in aliases:
                for m in re.finditer(r"(?<!\w)" + re.escape(alias) + r"(?!\w)", text):
                    matches.append(EntityMatch(alias=alias, field=field, start=m.start(), end=m.end()))
        if matches:
            tags.append(EntityTag(id=eid, name=name, count=len(matches), matches=matches))
    return tags


def enriched(url: str, *, title: str = SEED_TITLE, content: str = SEED_TEXT, summary: str = "",
             source: str = "Example Times", domain: str | None = None, duplicate_of: str | None = None,
             published: datetime | None = None, language: str = "en") -> Article:
    domain = domain or url.split("/")[2]
    a = Article(
        id=article_id(url, "feed-" + domain, None), url=url, canonical_url=url, feed_id="feed-" + domain,
        source=Source(name=source, domain=domain), title=title, summary=summary, content=content,
        content_format="text", published_at=published or datetime(2017, 6, 27, 9, 30, tzinfo=timezone.utc),
        language=language, duplicate_of=duplicate_of, enriched_at=datetime.now(timezone.utc),
    )
    a.entities = tag_entities(a)
    return a


def seed_article() -> Article:
    return enriched("https://example-times.test/2017/06/mek-europe")


def syndicated_copy(original: Article) -> Article:
    """The same story on another site, as enrich marks it: duplicate_of set."""
    return enriched("https://other-paper.test/world/mek-albania-copy", title=original.title,
                    content=original.content, source="Other Paper", duplicate_of=original.id)
