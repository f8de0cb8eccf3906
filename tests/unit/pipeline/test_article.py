"""The Article contract: JSON round trip, versioning, date clamping."""

from datetime import datetime, timedelta, timezone

import pytest

from newswatch.pipeline.article import (
    SCHEMA_VERSION, Article, ContractError, EntityMatch, EntityTag, Source, TopicTag,
)


def full_article() -> Article:
    return Article(
        id="abc",
        url="https://example.org/a?utm_source=x",
        canonical_url="https://example.org/a",
        guid="g-1",
        feed_id="f",
        source=Source(name="Example", domain="example.org"),
        title="Title é",
        summary="Sum",
        content="Body مجاهدین",
        content_format="text",
        published_at=datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        language="en",
        authors=["A"],
        categories=["c"],
        feed_tags=["t"],
        entities=[EntityTag(id="mek", name="MEK", type="organisation", count=1,
                            matches=[EntityMatch(alias="MEK", field="title", start=0, end=3)])],
        topics=[TopicTag(id="x", score=2.5, evidence=["q"])],
        content_hash="h",
        duplicate_of="zzz",
    )


def test_round_trip_is_lossless():
    a = full_article()
    b = Article.from_json(a.to_json())
    assert b == a
    assert Article.from_dict(a.to_dict()) == a
    assert b.published_at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert b.published_at.tzinfo == timezone.utc


def test_story_id_follows_duplicate_of():
    a = full_article()
    assert a.story_id == "zzz"
    a.duplicate_of = None
    assert a.story_id == "abc"


def test_newer_schema_is_refused():
    d = full_article().to_dict()
    d["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ContractError, match="newer"):
        Article.from_dict(d)


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"[1,2]", b'{"title": "no id"}', b"not json"])
def test_garbage_is_a_contract_error(raw):
    with pytest.raises(ContractError):
        Article.from_json(raw)


def test_unknown_fields_from_newer_minor_producers_are_ignored():
    d = full_article().to_dict()
    d["something_new"] = 1
    assert Article.from_dict(d).id == "abc"


def test_clamp_published():
    fetched = datetime(2025, 1, 1, tzinfo=timezone.utc)
    a = Article(id="1", fetched_at=fetched, published_at=fetched + timedelta(days=30))
    a.clamp_published()
    assert (a.published_at, a.published_flag) == (fetched, "future")
    b = Article(id="2", fetched_at=fetched, published_at=datetime(1970, 1, 1, tzinfo=timezone.utc))
    b.clamp_published()
    assert b.published_flag == "too_old" and b.published_at == fetched
    c = Article(id="3", fetched_at=fetched)
    c.clamp_published()
    assert c.published_flag == "missing"
    d = Article(id="4", fetched_at=fetched, published_at=fetched - timedelta(days=2))
    d.clamp_published()
    assert d.published_flag is None and d.published_at == fetched - timedelta(days=2)
