"""OpenSearch 2/3 backend: the shared :mod:`.search_engine` over
``opensearch-py``'s transport (one HTTP request per call; all bodies are built
in :mod:`.search_engine`, see there)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from newswatch.pipeline.settings import Settings

from newswatch.index.elasticsearch import auth_headers, split_credentials
from newswatch.index.search_engine import SearchEngineError, SearchEngineIndex

log = logging.getLogger(__name__)


class OpenSearchIndex(SearchEngineIndex):
    name = "opensearch"
    engine = "OpenSearch"

    def __init__(self, url: str, *, prefix: str = "newswatch", username: str | None = None,
                 password: str | None = None, api_key: str | None = None, ca_certs: str | None = None,
                 verify_certs: bool = True, timeout: float = 30.0, refresh: bool = False,
                 max_attempts: int = 5, backoff: float = 0.5):
        super().__init__(prefix=prefix, refresh=refresh, max_attempts=max_attempts, backoff=backoff)
        try:
            from opensearchpy import OpenSearch
        except ImportError as exc:  # pragma: no cover - depends on extras
            raise SearchEngineError("opensearch-py is not installed: pip install 'newswatch[opensearch]'") from exc
        url, url_user, url_password = split_credentials(url)
        self.url = url
        kwargs: dict[str, Any] = {"timeout": timeout, "max_retries": 2, "retry_on_timeout": True,
                                  "retry_on_status": ()}
        if url.startswith("https"):
            kwargs["use_ssl"] = True
            kwargs["verify_certs"] = verify_certs
            kwargs["ssl_show_warn"] = verify_certs
            if ca_certs:
                kwargs["ca_certs"] = ca_certs
        self.client = OpenSearch(hosts=[url], **kwargs)
        self._headers = auth_headers(username or url_user, password or url_password, api_key)

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> "OpenSearchIndex":
        return cls(
            settings.search_url, prefix=settings.search_index_prefix, username=settings.search_username,
            password=settings.search_password.get_secret_value() if settings.search_password else None,
            api_key=settings.search_api_key.get_secret_value() if settings.search_api_key else None,
            ca_certs=settings.search_ca_certs, verify_certs=settings.search_verify_certs, **kw,
        )

    def _request(self, method: str, path: str, *, body: Any = None,
                 params: dict[str, Any] | None = None) -> tuple[int, Any]:
        from opensearchpy import TransportError
        from opensearchpy.exceptions import ConnectionError as OSConnectionError

        headers = dict(self._headers)
        if body is not None:
            headers["content-type"] = "application/x-ndjson" if isinstance(body, str) else "application/json"
        try:
            resp = self.client.transport.perform_request(
                method, quote(path, safe="/*,-_.:"), params=params, body=body, headers=headers)
        except OSConnectionError as exc:
            raise SearchEngineError(f"OpenSearch at {self.url} did not answer {method} {path}: {exc}") from exc
        except TransportError as exc:
            if not isinstance(exc.status_code, int):
                raise SearchEngineError(f"OpenSearch at {self.url}: {method} {path}: {exc}") from exc
            return exc.status_code, exc.info
        if method == "HEAD":
            return (200 if resp else 404), None
        return 200, resp

    def check_engine(self, info: dict[str, Any]) -> None:
        version = info.get("version", {})
        if version.get("distribution") != "opensearch":
            raise SearchEngineError(
                f"{self.url} is not OpenSearch (Elasticsearch {version.get('number')}?) -- set NEWSWATCH_INDEX=elasticsearch")
        log.debug("OpenSearch %s at %s", version.get("number"), self.url)

    def close(self) -> None:
        self.client.close()
