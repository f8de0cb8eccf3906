"""feeds.yaml validation and OPML import (files in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.ingest.feeds import import_opml, load_feeds, parse_duration, parse_opml
from newswatch.pipeline.config import ConfigError

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "feeds"
BUNDLED = Path(__file__).resolve().parents[3] / "config"


def write(tmp_path, text):
    (tmp_path / "feeds.yaml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("value,seconds", [(900, 900), ("900", 900), ("15m", 900), ("1h", 3600),
                                           ("1d", 86400), ("30s", 30), ("1.5h", 5400), (" 2 min ", 120)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "0", "-5m", True, "5 weeks"])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_bundled_feeds_yaml_is_valid():
    feeds = load_feeds(BUNDLED)
    assert len(feeds) >= 5
    assert all(f.url.startswith("https://") for f in feeds)
    assert len({f.id for f in feeds}) == len(feeds)


def test_full_entry(tmp_path):
    f = load_feeds(write(tmp_path, """
feeds:
  - id: a_b-1
    url: https://x.example/rss
    name: X
    interval: 1h
    tags: world, europe
    language: pt_BR
    full_text: true
    enabled: false
"""))[0]
    assert (f.id, f.interval, f.tags, f.language, f.full_text, f.enabled) == \
        ("a_b-1", 3600, ["world", "europe"], "pt-br", True, False)


def test_defaults(tmp_path):
    f = load_feeds(write(tmp_path, "feeds:\n  - {id: x, url: 'http://x.example/'}\n"))[0]
    assert (f.interval, f.tags, f.language, f.full_text, f.enabled, f.display_name) == (900, [], None, False, True, "x")


@pytest.mark.parametrize("entry,needle", [
    ("{id: Bad Id, url: 'https://x.example/'}", "not a valid id"),
    ("{id: x, url: 'ftp://x.example/'}", "must start with http"),
    ("{id: x, url: 'https://x.example/', interval: often}", "not a duration"),
    ("{id: x, url: 'https://x.example/', intervall: 5m}", "not a known setting"),
    ("{id: x}", "url: is required"),
    ("{id: x, url: 'https://x.example/', language: english!}", "not a language code"),
])
def test_errors_name_file_entry_and_fix(tmp_path, entry, needle):
    write(tmp_path, f"feeds:\n  - {{id: ok, url: 'https://ok.example/'}}\n  - {entry}\n")
    with pytest.raises(ConfigError) as ei:
        load_feeds(tmp_path)
    msg = str(ei.value)
    assert "feeds.yaml" in msg and "feeds[1]" in msg and needle in msg


def test_duplicate_ids_rejected(tmp_path):
    write(tmp_path, "feeds:\n  - {id: x, url: 'https://a.example/'}\n  - {id: x, url: 'https://b.example/'}\n")
    with pytest.raises(ConfigError, match="duplicate id"):
        load_feeds(tmp_path)


def test_parse_opml_folders_become_tags():
    entries = parse_opml(FIX / "subscriptions.opml")
    assert [e["url"] for e in entries] == [
        "https://news.example.org/world/rss.xml", "https://actu.example.fr/atom.xml",
        "https://other.example.org/rss", "http://plain.example.com/feed"]
    assert entries[0]["tags"] == ["world-news"] and entries[1]["language"] == "fr"
    assert "tags" not in entries[3]


def test_import_opml_new_file_then_merge(tmp_path):
    out = tmp_path / "feeds.yaml"
    added, skipped = import_opml(FIX / "subscriptions.opml", out)
    assert (added, skipped) == (4, 0)
    feeds = load_feeds(tmp_path)
    ids = [f.id for f in feeds]
    assert ids == ["example-world", "actualites", "example-world-2", "no-folder-feed"]
    with pytest.raises(ConfigError, match="--merge"):
        import_opml(FIX / "subscriptions.opml", out)


def test_merge_keeps_comments_and_skips_known_urls(tmp_path):
    out = write(tmp_path, "# my comment\nfeeds:\n  # inner comment\n  - id: example-world\n"
                          "    url: https://news.example.org/world/rss.xml\n") / "feeds.yaml"
    added, skipped = import_opml(FIX / "subscriptions.opml", out, merge=True)
    assert (added, skipped) == (3, 1)
    text = out.read_text()
    assert "# my comment" in text and "# inner comment" in text
    ids = [f.id for f in load_feeds(tmp_path)]
    assert ids[0] == "example-world" and len(ids) == 4 and len(set(ids)) == 4


def test_bad_opml(tmp_path):
    p = tmp_path / "x.opml"
    p.write_text("<html><body/></html>")
    with pytest.raises(ConfigError, match="not an OPML"):
        parse_opml(p)
    p.write_text("<opml><body><outline")
    with pytest.raises(ConfigError, match="not valid OPML"):
        parse_opml(p)
