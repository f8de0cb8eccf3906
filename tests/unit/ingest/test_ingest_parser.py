"""Parser unit tests over the fixture feeds in tests/fixtures/feeds (no network)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from newswatch.ingest.parser import find_alternates, parse_feed
from newswatch.pipeline.urls import article_id, canonical_url

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "feeds"
FETCHED = datetime(2024, 6, 4, 12, 0, tzinfo=timezone.utc)


def parse(name: str, **kw):
    kw.setdefault("feed_id", "test")
    kw.setdefault("fetched_at", FETCHED)
    return parse_feed((FIX / name).read_bytes(), **kw)


def by_title(res, needle):
    return next(a for a in res.articles if needle in a.title)


def test_rss20_fields_and_entities():
    res = parse("rss20.xml", base_url="https://news.example.org/rss.xml", feed_name="Example",
                feed_tags=["world", "eu"])
    assert res.ok and res.version == "rss20"
    assert res.entries_total == 6
    assert res.skipped == 1  # the item with neither link nor guid
    assert len(res.articles) == 5
    a = by_title(res, "Talks resume")
    assert a.title == 'Talks resume in Geneva & Vienna \u2014 "cautious" hopes'
    assert a.guid == "ex-1001"
    assert a.url.startswith("https://news.example.org/world/talks-resume")
    assert a.canonical_url == canonical_url(a.url)
    assert "utm_source" not in a.canonical_url
    assert a.id == article_id(a.url, "test", "ex-1001")
    assert a.published_at == datetime(2024, 6, 4, 6, 30, tzinfo=timezone.utc)  # +0200 -> UTC
    assert a.published_flag is None
    assert a.categories == ["Europe", "Diplomacy"]
    assert a.authors and "Jane Doe" in a.authors[0]
    assert "<b>Tuesday</b>" in a.summary and "Geneva" in a.content
    assert a.content_format == "html"
    assert a.source.name == "Example" and a.source.domain == "news.example.org"
    assert a.feed_tags == ["world", "eu"] and a.feed_id == "test"
    assert a.language_hint == "en"  # from <language>en-GB</language>
    assert a.fetched_at == FETCHED


def test_relative_link_resolved_against_feed_url():
    res = parse("rss20.xml", base_url="https://news.example.org/rss.xml")
    assert by_title(res, "Relative link").url == "https://news.example.org/world/relative-story"


def test_missing_and_future_dates_clamped_and_flagged():
    res = parse("rss20.xml")
    undated = by_title(res, "without any date")
    future = by_title(res, "from the future")
    assert (undated.published_at, undated.published_flag) == (FETCHED, "missing")
    assert (future.published_at, future.published_flag) == (FETCHED, "future")


def test_guid_only_item_gets_feed_scoped_id():
    res = parse("rss20.xml")
    a = by_title(res, "Guid-only")
    assert a.url == "" and a.guid == "urn:example:guid-only-42"
    assert a.id == article_id(None, "test", "urn:example:guid-only-42")
    assert a.published_at == datetime(2024, 6, 3, 22, 15, tzinfo=timezone.utc)


def test_source_name_defaults_to_feed_title():
    res = parse("rss20.xml")
    assert res.articles[0].source.name == "Example World News"


def test_config_language_wins_over_feed_language():
    res = parse("rss20.xml", language="fr")
    assert {a.language_hint for a in res.articles} == {"fr"}


def test_atom_relative_links_authors_updated_date():
    res = parse("atom.xml")
    assert res.version == "atom10" and len(res.articles) == 2
    a = by_title(res, "conomie")
    assert a.url == "https://actu.example.fr/articles/economie-crise"  # xml:base
    assert a.authors == ["Marie Curie", "Pierre Dupont"]
    assert a.published_at == datetime(2024, 6, 4, 7, 45, tzinfo=timezone.utc)  # updated, +02:00
    assert "é è à ç" in a.content and "Résumé" in a.summary
    assert a.language_hint == "fr"
    b = by_title(res, "Deuxième")
    assert b.published_at == datetime(2024, 6, 3, 18, 0, tzinfo=timezone.utc)  # published wins


def test_rss10():
    res = parse("rss10.rdf")
    assert res.version == "rss10" and res.title == "RDF Wire"
    a = by_title(res, "Erste")
    assert a.published_at == datetime(2024, 6, 2, 11, 0, tzinfo=timezone.utc)
    assert a.authors == ["Max Mustermann"] and a.categories == ["Politik"]
    assert a.language_hint == "de"
    assert by_title(res, "Zweite").published_flag == "missing"


def test_windows_1252_declared_in_xml():
    res = parse("windows1252.xml", content_type="application/rss+xml")
    assert res.title == "Caf\u00e9 \u201cNews\u201d"
    assert res.articles[0].title == "\u201cQuoted\u201d caf\u00e9 costs 5 \u20ac"


def test_latin1_without_declaration_uses_http_charset():
    res = parse("latin1_nodecl.xml", content_type="application/rss+xml; charset=ISO-8859-1")
    assert res.ok and res.bozo is None
    assert res.articles[0].title == "\u00c9t\u00e9 \u00e0 Montr\u00e9al"
    assert "\u00ab bref \u00bb" in res.articles[0].summary


def test_latin1_without_any_charset_still_readable():
    res = parse("latin1_nodecl.xml", content_type="application/rss+xml")
    assert res.articles and res.articles[0].title == "\u00c9t\u00e9 \u00e0 Montr\u00e9al"


def test_utf8_without_declaration():
    res = parse("utf8_nodecl.xml")
    assert res.articles[0].title == "\u0627\u0644\u0639\u0627\u0644\u0645 \u2014 Zo\u00eb"
    assert res.bozo is None  # a missing Content-Type alone is not a warning


def test_malformed_xml_still_yields_entries_with_warning():
    res = parse("malformed.xml")
    assert res.ok
    assert res.bozo and "not well-formed" in res.bozo
    assert [a.title for a in res.articles][:2] == ["First story & an unescaped ampersand", "Second story"]


def test_html_page_is_a_clear_error_listing_alternates():
    res = parse("page.html", content_type="text/html; charset=utf-8", base_url="https://news.example.org/")
    assert not res.ok and not res.articles
    assert "HTML page" in res.error
    assert res.alternates == ["https://news.example.org/feeds/world.xml", "https://news.example.org/feeds/all.atom"]
    assert "https://news.example.org/feeds/world.xml" in res.error


@pytest.mark.parametrize("body", [b"", b"   \n", b"\x00\x01garbage\xff", b"just some text"])
def test_empty_or_garbage_is_an_error_not_a_crash(body):
    res = parse_feed(body, feed_id="x")
    assert res.error and not res.articles


def test_bytes_that_look_like_a_path_are_not_opened(tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_bytes((FIX / "rss20.xml").read_bytes())
    res = parse_feed(str(secret).encode(), feed_id="x")
    assert not res.articles and res.error


def test_non_http_links_are_dropped():
    body = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>js</title><link>javascript:alert(1)</link><guid>g1</guid></item>
      <item><title>none</title><link>javascript:alert(2)</link></item></channel></rss>"""
    res = parse_feed(body, feed_id="x")
    assert [a.title for a in res.articles] == ["js"] and res.articles[0].url == ""
    assert res.skipped == 1


def test_find_alternates_ignores_other_links():
    html = b'<html><head><link rel="alternate" hreflang="fr" href="/fr/"><link rel="alternate" type="application/atom+xml" href="a.atom"></head></html>'
    assert find_alternates(html, "https://x.example/news/") == ["https://x.example/news/a.atom"]


def test_ancient_date_flagged_too_old():
    body = b"""<rss version="2.0"><channel><title>t</title><item><title>old</title>
      <link>https://x.example/old</link><pubDate>Thu, 01 Jan 1970 00:00:00 GMT</pubDate></item></channel></rss>"""
    a = parse_feed(body, feed_id="x", fetched_at=FETCHED).articles[0]
    assert a.published_flag == "too_old" and a.published_at == FETCHED
    assert a.fetched_at - a.published_at < timedelta(seconds=1)


def test_hostile_channel_title_and_huge_titles_are_tamed():
    from newswatch.ingest.parser import MAX_TITLE, parse_feed

    big = "B" * 20_000
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile &lt;b&gt;Feed&lt;/b&gt; &amp; co</title>'
        f"<item><title>{big}</title><link>https://h.example/1</link>"
        "<author>&lt;script&gt;x&lt;/script&gt;Jo</author><category>&lt;i&gt;World&lt;/i&gt;</category></item>"
        "</channel></rss>"
    ).encode()
    res = parse_feed(body, feed_id="h")
    (a,) = res.articles
    assert a.source.name == "Hostile Feed & co"
    assert len(a.title) == MAX_TITLE
    assert "<" not in a.authors[0] and a.categories == ["World"]
