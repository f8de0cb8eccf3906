"""Ingester logic with a FAKE HTTP layer (httpx.MockTransport); the real-server
versions of these flows are in tests/integration/test_ingest_http.py."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import httpx

from newswatch.ingest import fetcher as F
from newswatch.ingest.feeds import FeedConfig
from newswatch.ingest.fetcher import Fetcher
from newswatch.ingest.service import EMIT_FAILED, PARSE_ERROR, Ingester, check_feed_url, feed_health
from newswatch.pipeline.article import utcnow
from newswatch.pipeline.settings import Settings

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "feeds"
URL = "http://93.184.216.34/rss"


class FakeSite:
    def __init__(self):
        self.body = (FIX / "rss20.xml").read_bytes()
        self.status = 200
        self.headers = {"Content-Type": "application/rss+xml", "ETag": '"v1"'}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        etag = self.headers.get("ETag")
        if self.status == 200 and etag and request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers=self.headers)
        return httpx.Response(self.status, content=self.body, headers=self.headers)


def make(tmp_path, site, feeds=None, **kw):
    settings = Settings(data_dir=tmp_path / "data", config_dir=tmp_path, min_interval=60, max_interval=3600, **kw)
    feeds = feeds or [FeedConfig(id="ex", url=URL, name="Example", tags=["t1"], interval=600)]
    emitted: list = []
    ing = Ingester(settings, feeds, emitted.extend, fetcher=Fetcher(settings, transport=httpx.MockTransport(site)),
                   rng=random.Random(0))
    return ing, emitted, settings


def test_first_poll_emits_then_304_emits_nothing(tmp_path):
    site = FakeSite()
    ing, out, _ = make(tmp_path, site)
    rep = ing.poll_feed("ex")
    assert rep.status == F.OK and len(rep.new) == 5 and rep.skipped == 1
    assert len(out) == 5 and all(a.feed_tags == ["t1"] and a.source.name == "Example" for a in out)
    rep2 = ing.poll_feed("ex")
    assert rep2.status == F.NOT_MODIFIED and rep2.new == [] and len(out) == 5
    assert site.requests[1].headers["if-none-match"] == '"v1"'
    st = ing.state.get("ex")
    assert st.etag == '"v1"' and st.consecutive_errors == 0 and st.items_total == 5


def test_changed_feed_emits_only_new_items(tmp_path):
    site = FakeSite()
    ing, out, _ = make(tmp_path, site)
    ing.poll_feed("ex")
    site.headers["ETag"] = '"v2"'
    site.body = site.body.replace(b"<channel>", b"""<channel><item><title>Brand new</title>
        <link>https://news.example.org/new</link></item>""", 1)
    rep = ing.poll_feed("ex")
    assert [a.title for a in rep.new] == ["Brand new"] and len(out) == 6


def test_restart_does_not_reemit(tmp_path):
    site = FakeSite()
    site.headers.pop("ETag")  # no validators: the second process downloads the full feed again
    ing, out, _ = make(tmp_path, site)
    ing.poll_feed("ex")
    ing.close()
    ing2, out2, _ = make(tmp_path, site)
    rep = ing2.poll_feed("ex")
    assert rep.status == F.OK and rep.entries == 6 and rep.new == [] and out2 == []


def test_emit_failure_keeps_items_for_next_poll(tmp_path):
    site = FakeSite()
    ing, out, _ = make(tmp_path, site)
    calls = []

    def flaky(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("downstream down")
        out.extend(batch)
    ing.emit = flaky
    rep = ing.poll_feed("ex")
    assert rep.status == EMIT_FAILED and ing.state.get("ex").etag is None  # validators not stored
    rep = ing.poll_feed("ex")
    assert rep.status == F.OK and len(rep.new) == 5 and calls == [5, 5]


def test_emit_failures_do_not_back_the_feed_off(tmp_path):
    """The pipeline refusing items is not the feed's fault: backing the feed
    off (towards max_interval) would let a busy feed drop the unsent items off
    its end before the retry, so it is retried at its normal interval."""
    site = FakeSite()
    ing, out, _ = make(tmp_path, site)

    def refuse(batch):
        raise RuntimeError("pipeline down")
    ing.emit = refuse
    reps = [ing.poll_feed("ex") for _ in range(4)]
    assert all(r.status == EMIT_FAILED for r in reps)
    assert all(540 <= r.interval <= 660 for r in reps), [r.interval for r in reps]  # 600 with 10% jitter
    assert "pipeline down" in ing.state.get("ex").last_error
    ing.emit = out.extend  # the pipeline is back: every item is still offered
    rep = ing.poll_feed("ex")
    assert rep.ok and len(rep.new) == 5 and len(out) == 5


def test_errors_back_off_and_recover(tmp_path):
    site = FakeSite()
    site.status = 500
    ing, _, settings = make(tmp_path, site)
    r1 = ing.poll_feed("ex")
    r2 = ing.poll_feed("ex")
    assert r1.status == r2.status == F.HTTP_ERROR
    assert ing.state.get("ex").consecutive_errors == 2
    assert 1080 <= r2.interval <= 1320  # 600 * 2 with 10% jitter
    assert "500" in ing.state.get("ex").last_error
    site.status = 200
    r3 = ing.poll_feed("ex")
    assert r3.ok and ing.state.get("ex").consecutive_errors == 0 and ing.state.get("ex").last_error is None


def test_rate_limited_honours_retry_after(tmp_path):
    site = FakeSite()
    site.status = 429
    site.headers["Retry-After"] = "3000"
    ing, _, _ = make(tmp_path, site)
    rep = ing.poll_feed("ex")
    assert rep.status == F.RATE_LIMITED and rep.retry_after == 3000
    assert rep.interval >= 3000
    assert rep.next_due - utcnow() > timedelta(seconds=2990)


def test_html_page_is_parse_error(tmp_path):
    site = FakeSite()
    site.body = (FIX / "page.html").read_bytes()
    site.headers = {"Content-Type": "text/html"}
    ing, out, _ = make(tmp_path, site)
    rep = ing.poll_feed("ex")
    assert rep.status == PARSE_ERROR and "HTML page" in rep.error and out == []


def test_poll_all_skips_disabled_and_due_only(tmp_path):
    site = FakeSite()
    feeds = [FeedConfig(id="a", url=URL), FeedConfig(id="b", url=URL + "?b", enabled=False)]
    ing, out, _ = make(tmp_path, site, feeds=feeds)
    reps = ing.poll_all()
    assert [r.feed_id for r in reps] == ["a"]
    assert ing.poll_all(due_only=True) == []  # a is not due again yet
    stats = ing.stats()
    assert stats["counters"]["polls"] == 1 and ing.counters.items_emitted == 5 and ing.counters.errors == 0
    health = {h["id"]: h for h in stats["feeds"]}
    assert health["a"]["health"] == "ok" and health["b"]["health"] == "disabled"
    assert health["a"]["seen_items"] == 5


def test_feed_health_reads_state_file_and_config(tmp_path):
    site = FakeSite()
    (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - {{id: ex, url: '{URL}'}}\n  - {{id: new, url: '{URL}2'}}\n")
    ing, _, settings = make(tmp_path, site)
    site.status = 404
    ing.poll_feed("ex")
    rows = {r["id"]: r for r in feed_health(settings)}
    assert rows["ex"]["health"] == "failing" and rows["ex"]["consecutive_errors"] == 1
    assert rows["ex"]["last_status"] == F.GONE
    assert rows["new"]["health"] == "never polled"


def test_feed_health_without_state_file_creates_nothing(tmp_path):
    settings = Settings(data_dir=tmp_path / "nodata", config_dir=tmp_path)
    (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - {{id: ex, url: '{URL}'}}\n")
    assert [r["health"] for r in feed_health(settings)] == ["never polled"]
    assert not (tmp_path / "nodata").exists()


def test_check_feed_url_reports(tmp_path):
    site = FakeSite()
    settings = Settings(data_dir=tmp_path)
    rep = check_feed_url(settings, URL, fetcher=Fetcher(settings, transport=httpx.MockTransport(site)))
    assert rep.ok and rep.title == "Example World News" and rep.entries == 6 and rep.articles == 5
    assert rep.etag == '"v1"' and len(rep.titles) == 5
    text = rep.to_text()
    assert "Example World News" in text and "ETag" in text
    bad = check_feed_url(settings, "http://127.0.0.1:1/x")
    assert not bad.ok and bad.status == F.REFUSED_PRIVATE and "FAILED" in bad.to_text()
