"""`alerts test` and the live matcher against the REAL embedded index
(SqliteIndex, FTS5) on one corpus: they must agree on every rule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from support.alert_articles import enriched, syndicated_copy

from newswatch.alerts import AlertRule, backtest, build_alerts
from newswatch.alerts.matching import RuleMatcher
from newswatch.cli_alerts import alerts
from newswatch.index.sqlite import SqliteIndex
from newswatch.pipeline.settings import Settings

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(microsecond=0)

RULES = [
    "entity:mek AND (entity:ncri OR Albania)",
    "entity:mek",
    '"Camp Ashraf" OR Tirana',
    "Albania NOT entity:ncri",
    '"regime change"~3 AND title:mek',
    "Rajav* AND -sport",
    "source:other-paper.test OR entity:maryam-rajavi",
    "language:fr",
]


def corpus():
    seed = enriched("https://example-times.test/mek", published=NOW - timedelta(days=1))
    return [
        seed,
        syndicated_copy(seed),
        enriched("https://a.test/1", title="Sport in Tirana", content="Albania won the match. Rajavi sport.",
                 published=NOW - timedelta(days=2)),
        enriched("https://b.test/2", title="The MEK in Camp Ashraf", content="Reports from Camp Ashraf and Albania.",
                 published=NOW - timedelta(days=3)),
        enriched("https://c.test/3", title="Le NCRI à Paris", content="Le National Council of Resistance of Iran "
                 "et Maryam Rajavi.", language="fr", published=NOW - timedelta(days=4)),
        enriched("https://d.test/4", title="Nothing here", content="Markets and weather.",
                 published=NOW - timedelta(days=5)),
    ]


@pytest.fixture
def index(tmp_path):
    idx = SqliteIndex(tmp_path / "newswatch.sqlite3")
    idx.write(corpus())
    yield idx
    idx.close()


@pytest.mark.parametrize("query", RULES)
def test_backtest_agrees_with_the_live_matcher(index, query):
    rule = AlertRule(id="r", query=query, recipients=["a@example.org"])
    live = RuleMatcher([rule])
    expected = {a.story_id for a in corpus() if live.match(a)}
    found = {h.hit.article.story_id for h in backtest(rule, index, NOW - timedelta(days=30))}
    assert found == expected


def test_cli_test_history_and_list(tmp_path, monkeypatch):
    data, conf = tmp_path / "data", tmp_path / "conf"
    conf.mkdir()
    (conf / "alerts.yaml").write_text(
        "rules:\n  - {id: mek-albania, name: MEK and Albania, query: 'entity:mek AND (entity:ncri OR Albania)',"
        " recipients: [a@example.org]}\n", encoding="utf-8")
    monkeypatch.setenv("NEWSWATCH_DATA_DIR", str(data))
    monkeypatch.setenv("NEWSWATCH_CONFIG_DIR", str(conf))
    monkeypatch.delenv("NEWSWATCH_SMTP_HOST", raising=False)
    settings = Settings()
    idx = SqliteIndex(settings.db_path)
    articles = corpus()
    idx.write(articles)
    idx.close()
    runner = CliRunner()

    before = runner.invoke(alerts, ["test", "mek-albania", "--since", "30d", "--json"])
    assert before.exit_code == 0, before.output
    stories = json.loads(before.output)["stories"]
    assert len(stories) == 2 and not any(s["already_sent"] for s in stories)

    stage = build_alerts(settings)  # no SMTP: Maildir
    stage.write(articles)
    stage.close()
    after = json.loads(runner.invoke(alerts, ["test", "mek-albania", "--json"]).output)["stories"]
    assert all(s["already_sent"] for s in after) and len(after) == 2

    hist = runner.invoke(alerts, ["history"])
    assert hist.exit_code == 0 and "2 stories alerted" in hist.output and "2 sent" in hist.output
    listed = runner.invoke(alerts, ["list"])
    assert "mek-albania" in listed.output and "2 stories" in listed.output
    bad = runner.invoke(alerts, ["test", "nope"])
    assert bad.exit_code != 0 and "mek-albania" in bad.output
