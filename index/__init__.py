"""Search backends: the embedded SQLite FTS5 index (here) and, later, the
Elasticsearch / OpenSearch backends (``index/search_engine.py``).

The composition root calls :func:`open_index`; nothing else needs to know
which backend is configured."""

from __future__ import annotations

from newswatch.pipeline.search import SearchBackend
from newswatch.pipeline.settings import Settings


class BackendUnavailable(NotImplementedError):
    """The configured index backend is not available in this build."""


def open_index(settings: Settings) -> SearchBackend:
    """The index backend chosen by ``settings.index`` (NEWSWATCH_INDEX)."""
    if settings.index == "sqlite":
        from newswatch.index.sqlite import SqliteIndex

        settings.ensure_data_dir()
        return SqliteIndex(settings.db_path)
    if settings.index == "elasticsearch":
        from newswatch.index.elasticsearch import ElasticsearchIndex

        return ElasticsearchIndex.from_settings(settings)
    if settings.index == "opensearch":
        from newswatch.index.opensearch import OpenSearchIndex

        return OpenSearchIndex.from_settings(settings)
    raise BackendUnavailable(f"unknown index backend {settings.index!r} -- use sqlite, elasticsearch or opensearch")


__all__ = ["BackendUnavailable", "open_index"]
