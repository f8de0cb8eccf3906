"""Ingest stage: scheduled polling of RSS/Atom feeds into raw Articles.

Public API (the composition root uses only this):

- ``build_ingester(settings, emit, feeds=None) -> Ingester``
- ``load_feeds(config_dir) -> list[FeedConfig]``
- ``feed_health(settings) -> list[dict]``
- ``check_feed_url(settings, url, allow_private=False) -> CheckReport``
"""

from __future__ import annotations

from collections.abc import Sequence

from newswatch.pipeline.settings import Settings
from newswatch.pipeline.stage import Emit

from .feeds import FeedConfig, import_opml, load_feeds
from .service import CheckReport, Ingester, PollReport, check_feed_url, feed_health

__all__ = [
    "FeedConfig", "Ingester", "PollReport", "CheckReport", "build_ingester", "load_feeds",
    "feed_health", "check_feed_url", "import_opml",
]


def build_ingester(settings: Settings, emit: Emit, feeds: Sequence[FeedConfig] | None = None) -> Ingester:
    """An Ingester over *feeds* (default: feeds.yaml in settings.config_dir).

    Raises ``ConfigError`` (naming file, entry and fix) if feeds.yaml is invalid."""
    if feeds is None:
        feeds = load_feeds(settings.config_dir)
    return Ingester(settings, list(feeds), emit)
