"""The one message contract that flows through every stage.

An :class:`Article` is what ingest emits (``news.raw``) and what enrich emits
(``news.enriched``); index and alerts consume it.  It is plain JSON on the
wire, versioned by ``schema_version`` so a worker can refuse (and dead-letter)
a message from a newer producer instead of misreading it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1

# Publication dates outside this window are feed bugs (epoch zero, year 2099):
# they are clamped to fetched_at and flagged so dashboards stay readable.
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=timezone.utc)
FUTURE_TOLERANCE = timedelta(hours=2)


class ContractError(ValueError):
    """A message that is not a valid Article of a version we understand."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class Source(_Model):
    name: str = ""
    domain: str = ""


class EntityMatch(_Model):
    """One occurrence: which alias matched, in which field, and where.

    ``start``/``end`` are character offsets into that field of the Article
    (title, summary or content) as stored, so ``field_text[start:end]`` is the
    text that matched."""

    alias: str
    field: Literal["title", "summary", "content"]
    start: int
    end: int


class EntityTag(_Model):
    id: str
    name: str
    type: str = "organisation"
    count: int = 0
    matches: list[EntityMatch] = Field(default_factory=list)


class TopicTag(_Model):
    id: str
    name: str = ""
    score: float
    evidence: list[str] = Field(default_factory=list)


class Article(_Model):
    schema_version: int = SCHEMA_VERSION
    id: str
    url: str = ""
    canonical_url: str = ""
    guid: str | None = None
    feed_id: str = ""
    source: Source = Field(default_factory=Source)
    title: str = ""
    summary: str = ""
    content: str = ""
    # "html" while title/summary/content are as the feed delivered them;
    # enrich turns them into clean text and sets "text".
    content_format: Literal["html", "text"] = "html"
    published_at: datetime | None = None
    # why published_at was changed or guessed: "missing", "future", "too_old"
    published_flag: str | None = None
    fetched_at: datetime = Field(default_factory=utcnow)
    language: str | None = None
    language_hint: str | None = None
    authors: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    feed_tags: list[str] = Field(default_factory=list)
    # enrichment
    entities: list[EntityTag] = Field(default_factory=list)
    topics: list[TopicTag] = Field(default_factory=list)
    content_hash: str | None = None
    duplicate_of: str | None = None
    enriched_at: datetime | None = None

    @field_validator("published_at", "fetched_at", "enriched_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return as_utc(v) if v is not None else None

    # -- derived -----------------------------------------------------------
    @property
    def story_id(self) -> str:
        """The story this article belongs to: itself, or the first copy seen
        of a syndicated/duplicated story.  Alerts are keyed on this."""
        return self.duplicate_of or self.id

    @property
    def text(self) -> str:
        return "\n\n".join(p for p in (self.title, self.summary, self.content) if p)

    def entity_ids(self) -> list[str]:
        return [e.id for e in self.entities]

    def topic_ids(self) -> list[str]:
        return [t.id for t in self.topics]

    def clamp_published(self, now: datetime | None = None) -> None:
        """Flag and clamp missing, future or absurdly old publication dates."""
        ref = self.fetched_at or now or utcnow()
        if self.published_at is None:
            self.published_at, self.published_flag = ref, "missing"
        elif self.published_at > ref + FUTURE_TOLERANCE:
            self.published_at, self.published_flag = ref, "future"
        elif self.published_at < EARLIEST_PLAUSIBLE:
            self.published_at, self.published_flag = ref, "too_old"

    # -- wire format -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return self.model_dump_json()

    def to_bytes(self) -> bytes:
        # the serializer's own UTF-8 bytes: the same as model_dump_json().encode()
        return self.__pydantic_serializer__.to_json(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Article":
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ContractError(
                f"Article schema_version {version!r} is newer than this worker understands "
                f"({SCHEMA_VERSION}); upgrade newswatch"
            )
        try:
            return cls.model_validate(data)
        except Exception as exc:  # pydantic.ValidationError
            raise ContractError(f"not a valid Article: {exc}") from exc

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Article":
        # Fast path (every message of every worker comes through here): parse
        # and validate in one step in pydantic-core.  Strict mode accepts only
        # input that the lax path below would read the same way (a JSON int
        # schema_version, ISO date strings, ...); anything else -- including
        # every error -- takes the path below, so results and errors are as
        # before.
        try:
            article = cls.model_validate_json(raw, strict=True)
        except Exception:
            pass
        else:
            if article.schema_version <= SCHEMA_VERSION:
                return article
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ContractError(f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ContractError("an Article must be a JSON object")
        return cls.from_dict(data)
