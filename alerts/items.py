"""What the ledger stores about an alert: a self-contained snapshot of the
story, so a pending email can be rendered after a restart without the index
(and without importing it: alerts never depends on another stage)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

Channel = Literal["email", "webhook"]
Kind = Literal["immediate", "digest"]
Status = Literal["pending", "sent", "failed"]


@dataclass
class AlertItem:
    """One story as an alert shows it.  ``snippet`` carries the shared
    \\x02..\\x03 markers; renderers escape first, then mark."""

    article_id: str
    story_id: str
    rule_id: str
    rule_name: str
    query: str
    title: str
    url: str
    source: str
    published_at: str | None  # ISO 8601, UTC
    snippet: str
    language: str | None = None
    entities: list[str] = field(default_factory=list)

    @property
    def published(self) -> datetime | None:
        if not self.published_at:
            return None
        try:
            dt = datetime.fromisoformat(self.published_at)
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> "AlertItem":
        data: dict[str, Any] = json.loads(raw)
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class NewDelivery:
    """An outbox row to create together with a claim."""

    channel: Channel
    recipient: str
    kind: Kind
    due_at: datetime
    item: AlertItem


@dataclass
class OutboxEntry:
    id: str
    rule_id: str
    story_id: str
    article_id: str
    channel: Channel
    recipient: str
    kind: Kind
    status: Status
    created_at: datetime
    due_at: datetime
    next_attempt: datetime
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    message_id: str | None
    item: AlertItem

    def to_json(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "id": self.id, "rule": self.rule_id, "story": self.story_id, "article": self.article_id,
            "channel": self.channel, "recipient": self.recipient, "kind": self.kind,
            "status": self.status, "created_at": iso(self.created_at), "due_at": iso(self.due_at),
            "next_attempt": iso(self.next_attempt), "attempts": self.attempts,
            "last_error": self.last_error, "sent_at": iso(self.sent_at), "message_id": self.message_id,
            "title": self.item.title, "url": self.item.url, "source": self.item.source,
        }
