"""Elasticsearch 8/9 backend: the shared :mod:`.search_engine` over the
official client's transport (``elasticsearch`` -> ``elastic_transport``).

Why the transport and not the client's API methods: every request body is
built in :mod:`.search_engine` anyway, and sending it through
``client.transport`` with plain ``application/json`` means the very same code
path also talks to the one Elasticsearch that can run on a build machine
(7.10.2, Apache-licensed, from Maven Central).  The 8/9 client's API layer
would refuse that server (no ``X-Elastic-Product`` header) and send
``compatible-with=9`` media types it does not know.  We identify the engine
ourselves instead (:meth:`ElasticsearchIndex.check_engine`): it must be
Elasticsearch (not OpenSearch) and at least 7.10.

Every API used (``_index_template``, ``_bulk``, ``_search`` with
``search_after``, ``_doc`` with ``op_type=create``, ``if_seq_no``) exists
unchanged from 7.10 to 9.x.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from newswatch.pipeline.settings import Settings

from newswatch.index.search_engine import SearchEngineError, SearchEngineIndex

log = logging.getLogger(__name__)


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(url without user:password, user, password): credentials in the URL are
    moved to a header so they never appear in a logged URL."""
    parts = urlsplit(url)
    if not parts.username:
        return url, None, None
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    from urllib.parse import unquote

    return (urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)),
            unquote(parts.username), unquote(parts.password or ""))


def auth_headers(username: str | None, password: str | None, api_key: str | None) -> dict[str, str]:
    if api_key:
        return {"authorization": f"ApiKey {api_key}"}
    if username:
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        return {"authorization": f"Basic {token}"}
    return {}


class ElasticsearchIndex(SearchEngineIndex):
    name = "elasticsearch"
    engine = "Elasticsearch"

    def __init__(self, url: str, *, prefix: str = "newswatch", username: str | None = None,
                 password: str | None = None, api_key: str | None = None, ca_certs: str | None = None,
                 verify_certs: bool = True, timeout: float = 30.0, refresh: bool = False,
                 max_attempts: int = 5, backoff: float = 0.5):
        super().__init__(prefix=prefix, refresh=refresh, max_attempts=max_attempts, backoff=backoff)
        try:
            from elasticsearch import Elasticsearch
        except ImportError as exc:  # pragma: no cover - depends on extras
            raise SearchEngineError("the elasticsearch client is not installed: pip install 'newswatch[elasticsearch]'") from exc
        url, url_user, url_password = split_credentials(url)
        self.url = url
        kwargs: dict[str, Any] = {"request_timeout": timeout, "max_retries": 2, "retry_on_timeout": True}
        if url.startswith("https"):
            kwargs["verify_certs"] = verify_certs
            if ca_certs:
                kwargs["ca_certs"] = ca_certs
        self.client = Elasticsearch(url, **kwargs)
        self._headers = {"accept": "application/json",
                         **auth_headers(username or url_user, password or url_password, api_key)}

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> "ElasticsearchIndex":
        return cls(
            settings.search_url, prefix=settings.search_index_prefix, username=settings.search_username,
            password=settings.search_password.get_secret_value() if settings.search_password else None,
            api_key=settings.search_api_key.get_secret_value() if settings.search_api_key else None,
            ca_certs=settings.search_ca_certs, verify_certs=settings.search_verify_certs, **kw,
        )

    def _request(self, method: str, path: str, *, body: Any = None,
                 params: dict[str, Any] | None = None) -> tuple[int, Any]:
        from elastic_transport import TransportError

        target = quote(path, safe="/*,-_.:") + (f"?{urlencode(params)}" if params else "")
        headers = dict(self._headers)
        if body is not None:
            headers["content-type"] = "application/x-ndjson" if isinstance(body, str) else "application/json"
        try:
            meta, resp = self.client.transport.perform_request(
                method, target, headers=headers, body=body, retry_on_status=(),
            )
        except TransportError as exc:
            raise SearchEngineError(f"Elasticsearch at {self.url} did not answer {method} {path}: {exc}") from exc
        return meta.status, resp

    def check_engine(self, info: dict[str, Any]) -> None:
        version = info.get("version", {})
        if version.get("distribution") == "opensearch":
            raise SearchEngineError(
                f"{self.url} is OpenSearch {version.get('number')}, not Elasticsearch -- set NEWSWATCH_INDEX=opensearch")
        try:
            major, minor = (int(x) for x in str(version.get("number", "0.0")).split(".")[:2])
        except ValueError:
            major, minor = 0, 0
        if (major, minor) < (7, 10):
            raise SearchEngineError(f"{self.url}: Elasticsearch {version.get('number')} is too old (need 7.10+; 8/9 supported)")
        log.debug("Elasticsearch %s at %s", version.get("number"), self.url)

    def close(self) -> None:
        self.client.close()
