"""`newswatch demo`, `newswatch search` and `newswatch stats` with
NEWSWATCH_INDEX=opensearch / elasticsearch, as a user runs them (separate
processes), against the real engines from scripts/services."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support.corpus import articles
from support.searchengine import engine, engine_url, unique_prefix

pytestmark = [pytest.mark.integration, pytest.mark.opensearch, pytest.mark.elasticsearch]


def run(env: dict, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "newswatch", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("kind", ["opensearch", "elasticsearch"])
def test_search_and_stats_commands_read_the_engine(kind):
    with engine(kind) as ix:
        ix.write(articles())
        env = {"NEWSWATCH_INDEX": kind, "NEWSWATCH_SEARCH_URL": engine_url(kind),
               "NEWSWATCH_SEARCH_INDEX_PREFIX": ix.names.prefix}
        out = run(env, "search", '"water supply"', "--json")
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        hits = got["hits"] if isinstance(got, dict) else got
        expected = [h.article.id for h in ix.search(__import__("newswatch.pipeline.query", fromlist=["x"])
                                                    .parse_query('"water supply"')).hits]
        assert [h["id"] for h in hits] == expected and expected
        assert all("[" in h["snippet"] for h in hits)
        stats = run(env, "stats", "--since", "all")
        assert stats.returncode == 0, stats.stderr
        assert f"{len(articles())} article(s)" in stats.stdout and "port-elvar" in stats.stdout


def test_demo_indexes_into_opensearch_and_search_finds_it(tmp_path):
    prefix = unique_prefix()
    env = {"NEWSWATCH_INDEX": "opensearch", "NEWSWATCH_SEARCH_URL": engine_url("opensearch"),
           "NEWSWATCH_SEARCH_INDEX_PREFIX": prefix, "NEWSWATCH_DATA_DIR": str(tmp_path)}
    try:
        demo = run(env, "demo")
        assert demo.returncode == 0, demo.stderr[-2000:]
        out = run(env, "search", "feed:demo-*", "--json")
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        hits = got["hits"] if isinstance(got, dict) else got
        assert hits and all(h["feed_id"].startswith("demo-") for h in hits)
    finally:
        from newswatch.index.opensearch import OpenSearchIndex

        OpenSearchIndex(engine_url("opensearch"), prefix=prefix).drop_all()
