"""Fetcher logic against httpx.MockTransport -- a FAKE server in-process.

These test status mapping, redirects, caps and headers; the same behaviours
against a real HTTP server are in tests/integration/test_ingest_http.py.
Hosts are public IP literals so the SSRF pre-check resolves them offline."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from newswatch.ingest import fetcher as F
from newswatch.ingest.fetcher import Fetcher, parse_retry_after
from newswatch.pipeline.settings import Settings

HOST = "http://93.184.216.34"


def make(handler, **kw) -> tuple[Fetcher, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def wrapped(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    kw.setdefault("fetch_max_bytes", 64 * 1024)
    s = Settings(data_dir="/tmp/unused", fetch_timeout=5, **kw)
    return Fetcher(s, transport=httpx.MockTransport(wrapped)), seen


def test_ok_with_validators_and_headers():
    f, seen = make(lambda r: httpx.Response(200, content=b"<rss/>", headers={
        "ETag": '"v1"', "Last-Modified": "Tue, 04 Jun 2024 10:00:00 GMT", "Content-Type": "application/rss+xml"}))
    res = f.fetch(HOST + "/rss", etag='"v0"', last_modified="Mon, 03 Jun 2024 10:00:00 GMT")
    assert res.status == F.OK and res.body == b"<rss/>" and res.http_status == 200
    assert (res.etag, res.last_modified) == ('"v1"', "Tue, 04 Jun 2024 10:00:00 GMT")
    assert res.content_type == "application/rss+xml"
    h = seen[0].headers
    assert h["if-none-match"] == '"v0"' and h["if-modified-since"] == "Mon, 03 Jun 2024 10:00:00 GMT"
    assert h["user-agent"].startswith("newswatch/") and h["accept-encoding"] == "gzip, deflate"
    assert "application/rss+xml" in h["accept"]


def test_gzip_body_is_decoded():
    f, _ = make(lambda r: httpx.Response(200, content=gzip.compress(b"<rss>hello</rss>"),
                                         headers={"Content-Encoding": "gzip"}))
    assert f.fetch(HOST + "/").body == b"<rss>hello</rss>"


@pytest.mark.parametrize("code,status", [(304, F.NOT_MODIFIED), (404, F.GONE), (410, F.GONE),
                                         (500, F.HTTP_ERROR), (403, F.HTTP_ERROR), (429, F.RATE_LIMITED),
                                         (503, F.RATE_LIMITED)])
def test_status_mapping(code, status):
    f, _ = make(lambda r: httpx.Response(code, content=b"x"))
    res = f.fetch(HOST + "/")
    assert res.status == status and res.http_status == code
    assert res.body == b""
    if status not in (F.NOT_MODIFIED,):
        assert str(code) in res.reason


def test_retry_after_seconds_and_date():
    f, _ = make(lambda r: httpx.Response(429, headers={"Retry-After": "120"}))
    assert f.fetch(HOST + "/").retry_after == 120
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    f, _ = make(lambda r: httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    ra = f.fetch(HOST + "/").retry_after
    assert 3590 <= ra <= 3600


def test_parse_retry_after_edge_cases():
    now = datetime(2024, 6, 4, 12, 0, tzinfo=timezone.utc)
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Tue, 04 Jun 2024 11:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("Tue, 04 Jun 2024 12:05:00 GMT", now) == 300.0


def test_redirects_followed_and_recorded():
    def h(r):
        if r.url.path == "/a":
            return httpx.Response(301, headers={"Location": "/b"})
        if r.url.path == "/b":
            return httpx.Response(302, headers={"Location": HOST + "/c"})
        return httpx.Response(200, content=b"done")
    f, seen = make(h)
    res = f.fetch(HOST + "/a")
    assert res.ok and res.body == b"done" and res.final_url == HOST + "/c"
    assert res.redirects == [HOST + "/b", HOST + "/c"] and len(seen) == 3


def test_redirect_loop_detected():
    f, seen = make(lambda r: httpx.Response(302, headers={"Location": "/b" if r.url.path == "/a" else "/a"}))
    res = f.fetch(HOST + "/a")
    assert res.status == F.REDIRECT_LOOP and "/a -> " in res.reason and len(seen) == 2


def test_too_many_redirects():
    f, seen = make(lambda r: httpx.Response(302, headers={"Location": r.url.path + "x"}),
                   fetch_max_redirects=3)
    res = f.fetch(HOST + "/start")
    assert res.status == F.TOO_MANY_REDIRECTS and len(seen) == 4


def test_redirect_to_private_address_refused_before_request():
    f, seen = make(lambda r: httpx.Response(302, headers={"Location": "http://127.0.0.1/admin"}))
    res = f.fetch(HOST + "/a")
    assert res.status == F.REFUSED_PRIVATE and "loopback" in res.reason
    assert [str(r.url) for r in seen] == [HOST + "/a"]  # the private hop was never requested


def test_private_url_refused_without_any_request():
    f, seen = make(lambda r: httpx.Response(200))
    for url in ("http://127.0.0.1/", "http://2130706433/", "http://[::ffff:10.0.0.1]/"):
        assert f.fetch(url).status == F.REFUSED_PRIVATE
    assert seen == []


def test_size_cap_by_content_length_and_by_stream():
    f, _ = make(lambda r: httpx.Response(200, content=b"x" * 70_000))
    res = f.fetch(HOST + "/")
    assert res.status == F.TOO_LARGE and res.body == b""

    def gen():
        while True:
            yield b"y" * 4096
    f, _ = make(lambda r: httpx.Response(200, content=gen()))  # chunked, no length
    assert f.fetch(HOST + "/").status == F.TOO_LARGE


def test_gzip_bomb_capped_on_decoded_size():
    bomb = gzip.compress(b"\0" * 1_000_000)
    assert len(bomb) < 64 * 1024
    f, _ = make(lambda r: httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"}))
    assert f.fetch(HOST + "/").status == F.TOO_LARGE


def test_network_errors_mapped():
    def boom(r):
        raise httpx.ConnectError("connection refused")
    f, _ = make(boom)
    res = f.fetch(HOST + "/")
    assert res.status == F.NETWORK_ERROR and "refused" in res.reason

    def slow(r):
        raise httpx.ReadTimeout("read timed out")
    f, _ = make(slow)
    assert f.fetch(HOST + "/").status == F.TIMEOUT


def test_invalid_urls():
    f, seen = make(lambda r: httpx.Response(200))
    assert f.fetch("not a url").status == F.INVALID_URL
    assert f.fetch("ftp://93.184.216.34/x").status == F.INVALID_URL
    assert seen == []
