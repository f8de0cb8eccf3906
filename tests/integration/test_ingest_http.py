"""Ingest against a REAL threaded HTTP server on 127.0.0.1 (tests/support/feedserver.py).

Every test here sends real HTTP over real sockets; nothing is mocked."""

from __future__ import annotations

import html
import random
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from newswatch.ingest import build_ingester, check_feed_url
from newswatch.ingest import fetcher as F
from newswatch.ingest.feeds import FeedConfig
from newswatch.ingest.service import PARSE_ERROR, Ingester
from newswatch.pipeline.article import utcnow
from newswatch.pipeline.settings import Settings
from support.feedserver import FeedServer
from support.seed import seed_path

pytestmark = pytest.mark.integration

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
SEED = seed_path()
RSS = {"Content-Type": "application/rss+xml"}


@pytest.fixture
def server():
    with FeedServer() as srv:
        yield srv


def settings_for(tmp_path, **kw) -> Settings:
    base = dict(data_dir=tmp_path / "data", config_dir=tmp_path, allow_private_hosts="127.0.0.1",
                fetch_timeout=2.0, fetch_max_bytes=64 * 1024, min_interval=1, max_interval=3600)
    base.update(kw)
    return Settings(**base)


class Collector:
    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def __call__(self, batch):
        with self.lock:
            self.items.extend(batch)


def ingester(tmp_path, feeds, **kw) -> tuple[Ingester, Collector]:
    out = Collector()
    ing = build_ingester(settings_for(tmp_path, **kw), out, feeds=feeds)
    ing.rng = random.Random(0)
    return ing, out


def feed(url: str, fid: str = "f", **kw) -> FeedConfig:
    return FeedConfig(id=fid, url=url, interval=kw.pop("interval", 60), **kw)


def rss(items: list[tuple[str, str]]) -> bytes:
    body = "".join(f"<item><title>{html.escape(t)}</title><link>{html.escape(l)}</link>"
                   f"<pubDate>Mon, 03 Jun 2024 10:00:00 GMT</pubDate></item>" for t, l in items)
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Srv</title>{body}</channel></rss>'.encode()


# -- happy path, validators, restart ------------------------------------------------

def test_etag_304_on_second_poll(server, tmp_path):
    url = server.add("/rss", (FIX / "rss20.xml").read_bytes(), etag='"abc"', gzip=True)
    ing, out = ingester(tmp_path, [feed(url)])
    r1 = ing.poll_feed("f")
    assert r1.status == F.OK and len(r1.new) == 5 and len(out.items) == 5
    r2 = ing.poll_feed("f")
    assert r2.status == F.NOT_MODIFIED and r2.http_status == 304 and len(out.items) == 5
    req = server.last_request("/rss")
    assert req.headers["if-none-match"] == '"abc"'
    assert req.headers["user-agent"].startswith("newswatch/") and "gzip" in req.headers["accept-encoding"]
    ing.close()


def test_last_modified_304_on_second_poll(server, tmp_path):
    lm = "Tue, 04 Jun 2024 10:00:00 GMT"
    url = server.add("/lm", (FIX / "atom.xml").read_bytes(), content_type="application/atom+xml", last_modified=lm)
    ing, out = ingester(tmp_path, [feed(url)])
    assert ing.poll_feed("f").status == F.OK
    assert ing.poll_feed("f").status == F.NOT_MODIFIED
    assert server.last_request("/lm").headers["if-modified-since"] == lm
    assert len(out.items) == 2
    ing.close()


def test_restart_does_not_reemit_seen_items(server, tmp_path):
    url = server.add("/plain", (FIX / "rss20.xml").read_bytes())  # no validators: full body every time
    ing, out = ingester(tmp_path, [feed(url)])
    assert len(ing.poll_feed("f").new) == 5
    ing.close()
    ing2, out2 = ingester(tmp_path, [feed(url)])  # a new process over the same data dir
    rep = ing2.poll_feed("f")
    assert rep.status == F.OK and rep.http_status == 200 and rep.entries == 6
    assert rep.new == [] and out2.items == []
    server.add("/plain", rss([("Fresh story", "https://news.example.org/fresh")]))
    assert [a.title for a in ing2.poll_feed("f").new] == ["Fresh story"]
    assert server.hits("/plain") == 3
    ing2.close()


# -- hostile or broken servers -------------------------------------------------------

def test_malformed_xml_still_yields_entries(server, tmp_path):
    url = server.add("/bad", (FIX / "malformed.xml").read_bytes())
    ing, out = ingester(tmp_path, [feed(url)])
    rep = ing.poll_feed("f")
    assert rep.status == F.OK and rep.warning and len(out.items) == 2
    ing.close()


def test_empty_body_is_parse_error(server, tmp_path):
    url = server.add("/empty", b"")
    ing, out = ingester(tmp_path, [feed(url)])
    rep = ing.poll_feed("f")
    assert rep.status == PARSE_ERROR and "empty" in rep.error and out.items == []
    assert ing.state.get("f").consecutive_errors == 1
    ing.close()


def test_huge_body_over_cap(server, tmp_path):
    url = server.add("/huge", b"<rss>" + b"x" * 200_000 + b"</rss>")
    ing, _ = ingester(tmp_path, [feed(url)])
    rep = ing.poll_feed("f")
    assert rep.status == F.TOO_LARGE and "cap" in rep.error
    ing.close()


def test_endless_stream_is_cut_by_the_cap(server, tmp_path):
    url = server.add_endless("/forever")
    ing, _ = ingester(tmp_path, [feed(url)])
    t0 = time.monotonic()
    rep = ing.poll_feed("f")
    assert rep.status == F.TOO_LARGE and time.monotonic() - t0 < 2.0
    ing.close()


def test_endless_trickle_is_cut_by_the_deadline(server, tmp_path):
    url = server.add_endless("/trickle", piece=b"<item/>", delay=0.05)
    ing, _ = ingester(tmp_path, [feed(url)], fetch_timeout=1.0)
    t0 = time.monotonic()
    rep = ing.poll_feed("f")
    took = time.monotonic() - t0
    assert rep.status == F.TIMEOUT and 0.9 <= took < 2.0
    ing.close()


def test_slow_body_hits_total_deadline(server, tmp_path):
    url = server.add_slow("/slow", (FIX / "rss20.xml").read_bytes(), delay=0.1, chunk=32)  # ~6.5 s in all
    ing, _ = ingester(tmp_path, [feed(url)], fetch_timeout=1.0)
    t0 = time.monotonic()
    rep = ing.poll_feed("f")
    assert rep.status == F.TIMEOUT and time.monotonic() - t0 < 2.0
    ing.close()


def test_slow_headers_time_out(server, tmp_path):
    url = server.add("/sleepy", (FIX / "rss20.xml").read_bytes(), delay=3)
    ing, _ = ingester(tmp_path, [feed(url)], fetch_timeout=1.0)
    t0 = time.monotonic()
    assert ing.poll_feed("f").status == F.TIMEOUT
    assert time.monotonic() - t0 < 2.0
    ing.close()


@pytest.mark.parametrize("code", [404, 410])
def test_gone(server, tmp_path, code):
    url = server.add("/gone", b"nope", status=code, content_type="text/plain")
    ing, _ = ingester(tmp_path, [feed(url)], max_interval=3600)
    rep = ing.poll_feed("f")
    assert rep.status == F.GONE and rep.http_status == code
    assert rep.interval >= 3600 * 0.9  # a vanished feed is retried rarely
    ing.close()


def test_429_retry_after_is_honoured(server, tmp_path):
    url = server.add("/limited", b"slow down", status=429, headers={"Retry-After": "1800"},
                     content_type="text/plain")
    ing, _ = ingester(tmp_path, [feed(url)])
    rep = ing.poll_feed("f")
    assert rep.status == F.RATE_LIMITED and rep.retry_after == 1800
    assert rep.next_due - utcnow() >= timedelta(seconds=1790)
    assert ing.state.get("f").next_due == rep.next_due  # persisted
    assert ing.poll_all(due_only=True) == []  # not due: the server is left alone
    assert server.hits("/limited") == 1
    ing.close()


def test_redirects_followed_and_loops_stopped(server, tmp_path):
    server.add("/real", (FIX / "rss10.rdf").read_bytes())
    ok_url = server.add_redirect("/moved", "/real", status=301)
    loop_url = server.add_redirect("/loop-a", server.url("/loop-b"))
    server.add_redirect("/loop-b", "/loop-a")
    ing, out = ingester(tmp_path, [feed(ok_url, "ok"), feed(loop_url, "loop")])
    assert ing.poll_feed("ok").status == F.OK and len(out.items) == 2
    rep = ing.poll_feed("loop")
    assert rep.status == F.REDIRECT_LOOP and "loop" in rep.error
    assert server.hits("/loop-a") == 1 and server.hits("/loop-b") == 1
    ing.close()


def test_encodings_from_header_declaration_or_guess(server, tmp_path):
    latin = (FIX / "latin1_nodecl.xml").read_bytes()
    server.add("/latin-header", latin, content_type="application/rss+xml; charset=ISO-8859-1")
    server.add("/latin-wrong", latin, content_type="application/rss+xml; charset=utf-8")  # server lies
    server.add("/latin-none", latin, content_type=None)
    server.add("/cp1252", (FIX / "windows1252.xml").read_bytes(), content_type="text/xml")
    feeds = [feed(server.url(p), p.strip("/")) for p in ("/latin-header", "/latin-wrong", "/latin-none", "/cp1252")]
    ing, out = ingester(tmp_path, feeds)
    titles = {r.feed_id: [a.title for a in r.new] for r in ing.poll_all()}
    assert titles["latin-header"] == titles["latin-wrong"] == titles["latin-none"] == ["\u00c9t\u00e9 \u00e0 Montr\u00e9al"]
    assert titles["cp1252"] == ["\u201cQuoted\u201d caf\u00e9 costs 5 \u20ac"]
    ing.close()


def test_html_page_instead_of_feed(server, tmp_path):
    url = server.add("/home", (FIX / "page.html").read_bytes(), content_type="text/html; charset=utf-8")
    ing, out = ingester(tmp_path, [feed(url)])
    rep = ing.poll_feed("f")
    assert rep.status == PARSE_ERROR and "HTML page" in rep.error
    assert server.url("/feeds/world.xml") in rep.error
    rep2 = check_feed_url(settings_for(tmp_path), url)
    assert not rep2.ok and rep2.alternates[0] == server.url("/feeds/world.xml")
    ing.close()


# -- SSRF guard ------------------------------------------------------------------------

def test_private_address_refused_without_connecting(server, tmp_path):
    url = server.add("/rss", (FIX / "rss20.xml").read_bytes())
    decimal = f"http://2130706433:{server.port}/rss"  # 127.0.0.1 spelled as a number
    ing, out = ingester(tmp_path, [feed(url, "a"), feed(decimal, "b")], allow_private_hosts="")
    reps = ing.poll_all()
    assert {r.status for r in reps} == {F.REFUSED_PRIVATE}
    assert server.hits() == 0 and out.items == []
    assert "loopback" in ing.state.get("a").last_error
    ing.close()


def test_redirect_to_disallowed_private_host_refused(server, tmp_path):
    url = server.add_redirect("/jump", f"http://127.0.0.2:{server.port}/rss")
    ing, _ = ingester(tmp_path, [feed(url)], allow_private_hosts="127.0.0.1")
    rep = ing.poll_feed("f")
    assert rep.status == F.REFUSED_PRIVATE and "127.0.0.2" in rep.error
    assert server.hits() == 1
    ing.close()


# -- full text and scheduling -----------------------------------------------------------

def test_full_text_fetched_for_summary_only_feed(server, tmp_path):
    text = SEED.read_text(encoding="utf-8")
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())
    page = (f"<html><head><title>Story</title></head><body><nav>Home | World | Sport</nav>"
            f"<article><h1>Story</h1>{paras}</article><footer>(c) Example</footer></body></html>")
    server.add("/story", page, content_type="text/html; charset=utf-8")
    url = server.add("/teaser", rss([("Story", server.url("/story"))]))
    ing, out = ingester(tmp_path, [feed(url, full_text=True)])
    rep = ing.poll_feed("f")
    assert rep.status == F.OK and len(out.items) == 1
    content = out.items[0].content
    first_sentence = text.split(".")[0]
    assert html.escape(first_sentence) in content and "Sport" not in content
    assert server.hits("/story") == 1
    ing.close()


def test_scheduler_polls_and_stops_gracefully(server, tmp_path):
    url = server.add("/a", rss([("A", "https://a.example/1")]), etag='"a1"')
    url2 = server.add("/b", rss([("B", "https://b.example/1")]))
    feeds_ = [feed(url, "a", interval=1), feed(url2, "b", interval=1)]
    ing, out = ingester(tmp_path, feeds_, min_interval=1)
    ing.start()
    try:
        deadline = time.monotonic() + 10
        while (server.hits("/a") < 2 or server.hits("/b") < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        ing.stop()
    assert server.hits("/a") >= 2 and server.hits("/b") >= 2
    assert sorted(a.title for a in out.items) == ["A", "B"]  # each emitted once despite repeated polls
    hits = server.hits()
    time.sleep(1.5)
    assert server.hits() == hits  # nothing polls after stop()
    assert ing.stats()["counters"]["polls"] >= 4
    ing.close()


def test_connect_time_guard_blocks_even_without_precheck(server, tmp_path):
    """The transport itself refuses private addresses (DNS-rebinding defence),
    independent of the pre-request URL check."""
    from newswatch.ingest.fetcher import Fetcher
    from newswatch.ingest.netguard import RefusedHost

    url = server.add("/rss", (FIX / "rss20.xml").read_bytes())
    fx = Fetcher(settings_for(tmp_path, allow_private_hosts=""))
    with pytest.raises(RefusedHost):
        fx.client.get(url)  # straight to httpx: no check_url on this path
    assert server.hits() == 0
    fx.close()
    fx = Fetcher(settings_for(tmp_path))  # 127.0.0.1 allowed: the same call connects
    assert fx.client.get(url).status_code == 200 and server.hits() == 1
    fx.close()


def test_cli_feeds_check_and_list(server, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from newswatch.cli_feeds import feeds as feeds_group

    good = server.add("/rss", (FIX / "rss20.xml").read_bytes(), etag='"e1"')
    home = server.add("/home", (FIX / "page.html").read_bytes(), content_type="text/html")
    (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - {{id: local, url: '{good}'}}\n")
    monkeypatch.setenv("NEWSWATCH_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSWATCH_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()

    r = runner.invoke(feeds_group, ["check", good])
    assert r.exit_code == 1 and "refused_private" in r.output and server.hits() == 0
    r = runner.invoke(feeds_group, ["check", "--allow-private", good])
    assert r.exit_code == 0, r.output
    assert "Example World News" in r.output and "Entries:      6" in r.output and '"e1"' in r.output
    assert "Talks resume in Geneva" in r.output
    r = runner.invoke(feeds_group, ["check", "--allow-private", home])
    assert r.exit_code == 1 and "HTML page" in r.output and server.url("/feeds/world.xml") in r.output

    monkeypatch.setenv("NEWSWATCH_ALLOW_PRIVATE_HOSTS", "127.0.0.1")
    from newswatch.ingest import build_ingester
    from newswatch.pipeline.settings import load_settings

    ing = build_ingester(load_settings(), lambda batch: None)
    ing.poll_all()
    ing.close()
    r = runner.invoke(feeds_group, ["list"])
    assert r.exit_code == 0 and "local" in r.output and " ok " in r.output
