"""backtest() against a FAKE SearchBackend (a list of articles evaluated with
the Python matcher) -- the real SQLite index is exercised in
tests/integration/test_alerts_backtest.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from support.alert_articles import enriched, syndicated_copy

from newswatch.alerts import AlertRule, SqliteLedger, backtest
from newswatch.alerts.items import AlertItem, NewDelivery
from newswatch.pipeline.query import DocView, compile_query
from newswatch.pipeline.search import Hit, SearchResult

NOW = datetime(2024, 6, 3, tzinfo=timezone.utc)


class FakeIndex:
    name = "fake"

    def __init__(self, articles):
        self.articles = articles
        self.calls = []

    def search(self, query, *, since=None, until=None, limit=20, sort="date", include_duplicates=True):
        self.calls.append(dict(since=since, limit=limit, include_duplicates=include_duplicates))
        m = compile_query(query)
        found = [a for a in self.articles if m.matches(DocView.of(a))
                 and (since is None or a.published_at >= since)
                 and (include_duplicates or a.duplicate_of is None)]
        found.sort(key=lambda a: a.published_at, reverse=True)
        return SearchResult([Hit(a) for a in found[:limit]], len(found))


def test_backtest_folds_copies_marks_sent_and_respects_since(tmp_path):
    seed = enriched("https://a.test/1", published=NOW - timedelta(days=2))
    copy = syndicated_copy(seed)
    copy.published_at = NOW - timedelta(days=1)
    old = enriched("https://b.test/old", title="MEK old", content="MEK in Albania, long ago",
                   published=NOW - timedelta(days=90))
    other = enriched("https://c.test/2", title="Other", content="The MEK and the NCRI in Albania.",
                     published=NOW - timedelta(days=3))
    unrelated = enriched("https://d.test/3", title="Weather", content="Sunny in Tirana.", published=NOW)
    rule = AlertRule(id="r", query="entity:mek AND (entity:ncri OR Albania)", recipients=["a@example.org"])
    index = FakeIndex([seed, copy, old, other, unrelated])
    ledger = SqliteLedger(tmp_path / "l.sqlite3")
    item = AlertItem(article_id=other.id, story_id=other.story_id, rule_id="r", rule_name="r", query="q",
                     title="t", url="", source="s", published_at=None, snippet="")
    ledger.claim("r", other.story_id, other.id, [NewDelivery("email", "a@example.org", "immediate", NOW, item)], NOW)

    hits = backtest(rule, index, NOW - timedelta(days=30), ledger=ledger)
    assert [(h.hit.article.id, h.already_sent) for h in hits] == [(copy.id, False), (other.id, True)]
    assert "\x02MEK\x03" in hits[0].hit.snippet  # the alias is marked as in the email
    assert index.calls[0]["since"] == NOW - timedelta(days=30)
    assert hits[1].to_json()["already_sent"] is True
    assert len(backtest(rule, index, NOW - timedelta(days=30), limit=1)) == 1
    ledger.close()
