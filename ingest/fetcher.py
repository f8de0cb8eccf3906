"""HTTP fetching for feeds and article pages.

A feed server is not trusted to behave: it may be slow, send an endless or
huge body, redirect in circles, or point at our own network.  So every fetch
has a total deadline, a byte cap (on the decoded body), a bounded and checked
redirect chain, and ends in a :class:`FetchResult` whose ``status`` says
plainly what happened -- the scheduler and ``feeds check`` both act on it.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from newswatch.pipeline.settings import Settings

from .netguard import Allowlist, RefusedHost, check_url, install_guard

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
REDIRECT_CODES = {301, 302, 303, 307, 308}

# statuses a FetchResult can have
OK = "ok"
NOT_MODIFIED = "not_modified"
GONE = "gone"
RATE_LIMITED = "rate_limited"
TOO_LARGE = "too_large"
TIMEOUT = "timeout"
REFUSED_PRIVATE = "refused_private"
REDIRECT_LOOP = "redirect_loop"
TOO_MANY_REDIRECTS = "too_many_redirects"
HTTP_ERROR = "http_error"
NETWORK_ERROR = "network_error"
INVALID_URL = "invalid_url"


@dataclass
class FetchResult:
    status: str
    url: str  # as requested
    final_url: str = ""  # after redirects
    http_status: int | None = None
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds, for rate_limited
    reason: str = ""  # human explanation when not ok
    redirects: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def failed(self) -> bool:
        return self.status not in (OK, NOT_MODIFIED)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


class Fetcher:
    """One pooled HTTP client for the whole ingester (thread-safe)."""

    def __init__(
        self,
        settings: Settings,
        *,
        allow_private: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.settings = settings
        self.allow = Allowlist(settings.allow_private_hosts if allow_private is None else allow_private)
        self.timeout = settings.fetch_timeout
        self.max_bytes = settings.fetch_max_bytes
        self.max_redirects = settings.fetch_max_redirects
        if transport is None:
            # trust_env=False: an environment proxy would hide the real
            # destination from the connect-time guard.
            transport = httpx.HTTPTransport(trust_env=False, retries=0)
            install_guard(transport, self.allow)
        self.client = httpx.Client(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            headers={
                "User-Agent": settings.user_agent,
                "Accept-Encoding": "gzip, deflate",
            },
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -----------------------------------------------------------------
    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
    ) -> FetchResult:
        start = time.monotonic()
        deadline = start + self.timeout
        result = self._fetch(url, etag, last_modified, accept, deadline)
        result.elapsed = time.monotonic() - start
        if result.failed:
            log.debug("fetch %s -> %s: %s", url, result.status, result.reason)
        return result

    def _fetch(self, url: str, etag: str | None, last_modified: str | None, accept: str,
               deadline: float) -> FetchResult:
        res = FetchResult(status=NETWORK_ERROR, url=url, final_url=url)
        seen = {url}
        current = url
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        while True:
            parts = urlsplit(current)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                return self._fail(res, INVALID_URL, f"not an http(s) URL: {current!r}")
            try:
                check_url(current, self.allow)
            except RefusedHost as exc:
                return self._fail(res, REFUSED_PRIVATE, str(exc))
            except (socket.gaierror, UnicodeError) as exc:
                return self._fail(res, NETWORK_ERROR, f"cannot resolve {parts.hostname}: {exc}")

            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._fail(res, TIMEOUT, f"no complete response within {self.timeout:g}s")
            try:
                request = self.client.build_request("GET", current, headers=headers, timeout=remaining)
                response = self.client.send(request, stream=True)
            except RefusedHost as exc:  # from the connect-time guard (DNS changed)
                return self._fail(res, REFUSED_PRIVATE, str(exc))
            except httpx.TimeoutException:
                return self._fail(res, TIMEOUT, f"no response within {self.timeout:g}s")
            except httpx.InvalidURL as exc:
                return self._fail(res, INVALID_URL, str(exc))
            except (httpx.HTTPError, OSError) as exc:
                return self._fail(res, NETWORK_ERROR, f"{type(exc).__name__}: {exc}")

            try:
                res.http_status = response.status_code
                res.final_url = current
                code = response.status_code
                if code in REDIRECT_CODES and response.headers.get("location"):
                    target = urljoin(current, response.headers["location"].strip())
                    res.redirects.append(target)
                    if target in seen:
                        return self._fail(res, REDIRECT_LOOP,
                                          f"redirect loop: {' -> '.join([url, *res.redirects])}")
                    if len(res.redirects) > self.max_redirects:
                        return self._fail(res, TOO_MANY_REDIRECTS,
                                          f"more than {self.max_redirects} redirects (last to {target})")
                    seen.add(target)
                    current = target
                    continue
                res.etag = response.headers.get("etag")
                res.last_modified = response.headers.get("last-modified")
                res.content_type = response.headers.get("content-type", "")
                if code == 304:
                    res.status = NOT_MODIFIED
                    return res
                if code in (404, 410):
                    return self._fail(res, GONE, f"HTTP {code} {response.reason_phrase}: the feed is not there "
                                      "(check the URL; 410 means it was removed for good)")
                if code in (429, 503):
                    res.retry_after = parse_retry_after(response.headers.get("retry-after"))
                    wait = f"; server asks to wait {res.retry_after:.0f}s" if res.retry_after is not None else ""
                    return self._fail(res, RATE_LIMITED, f"HTTP {code} {response.reason_phrase}{wait}")
                if not 200 <= code < 300:
                    return self._fail(res, HTTP_ERROR, f"HTTP {code} {response.reason_phrase}")
                return self._read_body(res, response, deadline)
            finally:
                response.close()

    def _read_body(self, res: FetchResult, response: httpx.Response, deadline: float) -> FetchResult:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes and not response.headers.get("content-encoding"):
            return self._fail(res, TOO_LARGE, f"body of {int(declared)} bytes exceeds the {self.max_bytes}-byte cap")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    return self._fail(res, TOO_LARGE, f"body exceeds the {self.max_bytes}-byte cap")
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    return self._fail(res, TIMEOUT, f"body not complete within {self.timeout:g}s "
                                      f"({size} bytes received)")
        except httpx.TimeoutException:
            return self._fail(res, TIMEOUT, f"body stalled; not complete within {self.timeout:g}s")
        except httpx.DecodingError as exc:
            return self._fail(res, NETWORK_ERROR, f"cannot decode the compressed body: {exc}")
        except (httpx.HTTPError, OSError) as exc:
            return self._fail(res, NETWORK_ERROR, f"connection broke while reading: {type(exc).__name__}: {exc}")
        res.body = b"".join(chunks)
        res.status = OK
        return res

    @staticmethod
    def _fail(res: FetchResult, status: str, reason: str) -> FetchResult:
        res.status, res.reason, res.body = status, reason, b""
        return res
