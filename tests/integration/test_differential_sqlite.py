"""The SQLite index and the Python matcher agree on a labelled corpus.

Real SQLite (the one the package runs on), a real file, no fakes: for every
query of tests/support/corpus.py, the ids SqliteIndex.search returns must be
exactly the ids for which the matcher says True.  The expected sets are
computed by the matcher, never written down by hand."""

from __future__ import annotations

import pytest

from newswatch.index.sqlite import SqliteIndex
from newswatch.pipeline.query import DocView, compile_query, parse_query
from support.corpus import QUERIES, articles

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory):
    arts = articles()
    index = SqliteIndex(tmp_path_factory.mktemp("diff") / "index.sqlite3")
    index.write(arts[:20])
    index.write(arts)  # overlapping second write: upsert must not change anything
    yield index, arts
    index.close()


def expected_ids(arts, query: str) -> set[str]:
    matcher = compile_query(parse_query(query))
    return {a.id for a in arts if matcher.matches(DocView.of(a))}


@pytest.mark.parametrize("query", QUERIES)
def test_sqlite_agrees_with_matcher(corpus_index, query):
    index, arts = corpus_index
    want = expected_ids(arts, query)
    result = index.search(parse_query(query), limit=1000)
    got = [h.article.id for h in result.hits]
    assert len(got) == len(set(got)), f"duplicate hits for {query!r}"
    assert set(got) == want, f"{query!r}: only sqlite {sorted(set(got) - want)}, only matcher {sorted(want - set(got))}"
    assert result.total == len(want)


@pytest.mark.parametrize("query", QUERIES)
def test_relevance_sort_returns_same_set(corpus_index, query):
    index, arts = corpus_index
    got = {h.article.id for h in index.search(parse_query(query), limit=1000, sort="relevance").hits}
    assert got == expected_ids(arts, query)


def test_corpus_is_discriminating():
    """The queries must split the corpus, not all match nothing or everything."""
    arts = articles()
    sizes = [len(expected_ids(arts, q)) for q in QUERIES]
    partial = sum(1 for n in sizes if 0 < n < len(arts))
    assert partial >= 0.8 * len(QUERIES), sizes
    assert len(arts) >= 40
