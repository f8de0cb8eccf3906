"""The real search engines the integration tests talk to, started by
``scripts/services``:

- ``opensearch``: OpenSearch 2.19 (``scripts/services up opensearch``), through
  opensearch-py -- the OpenSearch backend as it runs in production;
- ``elasticsearch``: Elasticsearch 7.10.2 (``scripts/services up
  elasticsearch``), through the elasticsearch 9.x package's transport -- the
  Elasticsearch backend's code path byte for byte, against the newest
  Elasticsearch that can run here (8/9 cannot; see the README).

A test that finds no engine FAILS and says which command starts it.  Each
test gets its own index prefix, deleted afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from newswatch.index.elasticsearch import ElasticsearchIndex
from newswatch.index.opensearch import OpenSearchIndex
from newswatch.index.search_engine import SearchEngineIndex

ENGINES = ("opensearch", "elasticsearch")
_URL_ENV = {"opensearch": ("NEWSWATCH_OPENSEARCH_URL", "http://127.0.0.1:9201"),
            "elasticsearch": ("NEWSWATCH_ELASTICSEARCH7_URL", "http://127.0.0.1:9251")}


def engine_url(kind: str) -> str:
    """URL of a running engine of *kind*, or fail the test with the fix."""
    env, default = _URL_ENV[kind]
    url = os.environ.get(env, default)
    try:
        r = httpx.get(url + "/_cluster/health", timeout=5)
        status = r.json().get("status")
    except (httpx.HTTPError, ValueError) as exc:
        pytest.fail(f"no {kind} at {url} ({exc.__class__.__name__}) -- start it with "
                    f"`scripts/services up {kind}` (or set {env})", pytrace=False)
    if status not in ("green", "yellow"):
        pytest.fail(f"{kind} at {url} is {status!r}, not green/yellow -- see `scripts/services logs {kind}`",
                    pytrace=False)
    return url


def unique_prefix() -> str:
    return f"nwtest-{uuid.uuid4().hex[:10]}"


def make_engine(kind: str, prefix: str | None = None, **kw) -> SearchEngineIndex:
    url = engine_url(kind)
    cls = OpenSearchIndex if kind == "opensearch" else ElasticsearchIndex
    kw.setdefault("refresh", True)
    kw.setdefault("backoff", 0.05)
    return cls(url, prefix=prefix or unique_prefix(), **kw)


@contextmanager
def engine(kind: str, **kw) -> Iterator[SearchEngineIndex]:
    ix = make_engine(kind, **kw)
    try:
        yield ix
    finally:
        try:
            ix.drop_all()
        finally:
            ix.close()
