"""`newswatch search` / `newswatch stats` through click's CliRunner, on a real
SQLite index in a temporary data dir (settings come from NEWSWATCH_DATA_DIR)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from newswatch import cli_search
from newswatch.index.sqlite import SqliteIndex
from newswatch.pipeline.article import Article, Source
from newswatch.pipeline.settings import Settings
from support.corpus import articles


@pytest.fixture
def env(tmp_path):
    data = tmp_path / "data"
    ix = SqliteIndex(Settings(data_dir=data).db_path)
    arts = articles()
    arts.append(Article(id="evil", title="Evil \x1b[31mred\x1b]0;pwned\x07 title", content="evil payload text",
                        content_format="text", url="https://x.example/\x1b[2J",
                        published_at=datetime(2024, 2, 26, tzinfo=timezone.utc),
                        source=Source(name="Bad\x1bSource")))
    ix.write(arts)
    ix.close()
    return {"NEWSWATCH_DATA_DIR": str(data)}


def run(env, *args):
    return CliRunner().invoke(cli_search.search if args[0] == "search" else cli_search.stats, list(args[1:]),
                              env=env, catch_exceptions=False)


def test_search_json_shape(env):
    r = run(env, "search", "entity:northwind AND water", "--json", "--limit", "3")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert set(data) == {"hits", "total"}
    assert data["total"] >= len(data["hits"]) == 3
    for h in data["hits"]:
        assert {"id", "title", "url", "source", "published_at", "entities", "topics", "snippet"} <= set(h)
        assert "northwind" in h["entities"]
        assert "\x02" not in h["snippet"]
        # offsets for programs: each highlight is the word "water" in the plain snippet
        assert h["highlights"] and "\x02" not in h["snippet_text"]
        assert all(h["snippet_text"][a:b].lower() == "water" for a, b in h["highlights"])
    dates = [h["published_at"] for h in data["hits"]]
    assert dates == sorted(dates, reverse=True)


def test_search_since_until_and_duplicates(env):
    r = run(env, "search", "football", "--json", "--since", "2024-01-15", "--until", "2024-01-15")
    hits = json.loads(r.output)["hits"]
    assert sorted(h["id"] for h in hits) == ["en-09", "en-10"]
    r = run(env, "search", "title:football", "--json", "--no-duplicates")
    assert [h["id"] for h in json.loads(r.output)["hits"]] == ["en-09"]
    r = run(env, "search", "water", "--json", "--since", "36500d")
    assert json.loads(r.output)["total"] > 0
    r = run(env, "search", "water", "--json", "--since", "99999999d")  # before year 1: everything
    assert json.loads(r.output)["total"] > 0


def test_search_human_output_brackets_when_not_a_tty(env):
    r = run(env, "search", "Manëz", "--sort", "relevance", "--limit", "1")
    assert r.exit_code == 0
    assert "[Manëz]" in r.output or "[Manez]" in r.output or "[MANEZ]" in r.output
    assert "\x1b" not in r.output
    assert "https://" in r.output


def test_untrusted_text_cannot_drive_the_terminal(env):
    r = run(env, "search", "evil")
    assert r.exit_code == 0
    assert "Evil" in r.output and "\x1b" not in r.output and "\x07" not in r.output


@pytest.mark.parametrize("bad", ['"unbalanced', "title:(", "nosuchfield:x", "Rajavi~2"])
def test_query_error_exits_2(env, bad):
    r = CliRunner().invoke(cli_search.search, [bad], env=env)
    assert r.exit_code == 2
    assert "query error" in r.output


def test_bad_since_is_a_usage_error(env):
    r = CliRunner().invoke(cli_search.search, ["water", "--since", "yesterday"], env=env)
    assert r.exit_code == 2 and "7d" in r.output


def test_stats_json_and_tables(env):
    r = run(env, "stats", "--since", "all", "--json")
    data = json.loads(r.output)
    assert data["articles"] == len(articles()) + 1
    assert data["per_language"]["en"] > data["per_language"]["fr"] > 0
    assert sum(data["per_day"].values()) == data["articles"] - 1  # one article is undated
    assert 0 < data["stories"] < data["articles"]  # the corpus has syndicated copies
    r = run(env, "stats", "--since", "all")
    assert f"{data['stories']} distinct stories; counts below include syndicated copies" in r.output
    assert "Per entity" in r.output and "northwind" in r.output and "Harbor Gazette" in r.output
    r = run(env, "stats", "--json")  # default: last 30 days; the corpus is from 2024
    assert json.loads(r.output)["articles"] == 0


def test_stats_feed_health_hook(env):
    cmd = cli_search.stats_command(lambda s: [{"feed": "harbor-main", "status": "ok", "errors": 0},
                                              {"feed": "valley-main", "status": "failing", "errors": 3}])
    r = CliRunner().invoke(cmd, ["--since", "all"], env=env)
    assert "Feed health" in r.output and "valley-main" in r.output and "failing" in r.output
    r = CliRunner().invoke(cmd, ["--json"], env=env)
    assert json.loads(r.output)["feeds"][1]["errors"] == 3

    def broken(_settings):
        raise OSError("state file missing")

    r = CliRunner().invoke(cli_search.stats_command(broken), [], env=env)
    assert r.exit_code == 0 and "feed health unavailable" in r.output


def test_parse_when():
    now = datetime(2024, 3, 10, 12, tzinfo=timezone.utc)
    assert cli_search.parse_when("7d", now=now) == datetime(2024, 3, 3, 12, tzinfo=timezone.utc)
    assert cli_search.parse_when("2w", now=now) == datetime(2024, 2, 25, 12, tzinfo=timezone.utc)
    assert cli_search.parse_when("2024-01-31", end_of_day=True) == datetime(2024, 2, 1, tzinfo=timezone.utc)
    assert cli_search.parse_when("2024-01-31T10:00:00+01:00") == datetime(2024, 1, 31, 9, tzinfo=timezone.utc)
