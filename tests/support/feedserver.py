"""A real threaded HTTP server on 127.0.0.1 for feed tests (ingest, e2e).

Register routes, then point feeds at ``server.url("/path")``::

    with FeedServer() as srv:
        srv.add("/rss", rss_bytes, headers={"Content-Type": "application/rss+xml"}, etag='"v1"')
        srv.add_redirect("/old", "/rss")
        srv.add_slow("/slow", b"<rss/>", delay=0.5)
        srv.add_endless("/forever")
        ...
        assert srv.hits("/rss") == 1

Every request is recorded (``srv.requests``) so a test can assert that
nothing was sent.  A route with ``etag``/``last_modified`` answers 304 to a
matching conditional request, like a real feed server.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Route:
    kind: str  # static | slow | endless | redirect | func
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    delay: float = 0.0  # slow: seconds between chunks; static: before answering
    chunk: int = 16
    location: str = ""
    func: Callable[["_Handler"], None] | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # quiet tests
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        fs = self.server.owner
        path = self.path.split("?", 1)[0]
        fs._record(Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = fs.routes.get(self.path) or fs.routes.get(path)
        if route is None:
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        try:
            getattr(self, "_" + route.kind)(route)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- route kinds ---------------------------------------------------------
    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _static(self, r: Route) -> None:
        if r.delay:
            time.sleep(r.delay)
        headers = dict(r.headers)
        if r.etag:
            headers["ETag"] = r.etag
        if r.last_modified:
            headers["Last-Modified"] = r.last_modified
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if (r.etag and inm == r.etag) or (not r.etag and r.last_modified and ims == r.last_modified):
            self._send(304, b"", headers)
            return
        body = r.body
        if r.gzip and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._send(r.status, body, headers)

    def _slow(self, r: Route) -> None:
        self.send_response(r.status)
        for k, v in r.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(r.body)))
        self.end_headers()
        for i in range(0, len(r.body), r.chunk):
            if self.server.owner._stopping.is_set():
                return
            self.wfile.write(r.body[i:i + r.chunk])
            self.wfile.flush()
            time.sleep(r.delay)

    def _endless(self, r: Route) -> None:
        self.send_response(200)
        for k, v in (r.headers or {"Content-Type": "application/rss+xml"}).items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = r.body or b"<item><title>more</title></item>\n" * 64
        while not self.server.owner._stopping.is_set():
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            if r.delay:
                time.sleep(r.delay)

    def _redirect(self, r: Route) -> None:
        self._send(r.status, b"", {"Location": r.location})

    def _func(self, r: Route) -> None:
        assert r.func is not None
        r.func(self)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "FeedServer"


class FeedServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.routes: dict[str, Route] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "FeedServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="feedserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FeedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- routes ----------------------------------------------------------------
    def add(self, path: str, body: bytes | str, *, status: int = 200, headers: dict[str, str] | None = None,
            content_type: str | None = "application/rss+xml", etag: str | None = None,
            last_modified: str | None = None, gzip: bool = False, delay: float = 0.0) -> str:
        h = dict(headers or {})
        if content_type and not any(k.lower() == "content-type" for k in h):
            h["Content-Type"] = content_type
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route("static", data, status, h, etag, last_modified, gzip, delay)
        return self.url(path)

    def add_slow(self, path: str, body: bytes, *, delay: float = 0.2, chunk: int = 16,
                 headers: dict[str, str] | None = None) -> str:
        self.routes[path] = Route("slow", body, headers=headers or {"Content-Type": "application/rss+xml"},
                                  delay=delay, chunk=chunk)
        return self.url(path)

    def add_endless(self, path: str, *, piece: bytes = b"", delay: float = 0.0) -> str:
        self.routes[path] = Route("endless", piece, delay=delay)
        return self.url(path)

    def add_redirect(self, path: str, to: str, *, status: int = 302) -> str:
        self.routes[path] = Route("redirect", status=status, location=to)
        return self.url(path)

    def add_func(self, path: str, func: Callable[[_Handler], None]) -> str:
        self.routes[path] = Route("func", func=func)
        return self.url(path)

    # -- what happened -----------------------------------------------------------
    def _record(self, r: Recorded) -> None:
        with self._lock:
            self.requests.append(r)

    def hits(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path.split("?", 1)[0] == path)

    def last_request(self, path: str) -> Recorded | None:
        with self._lock:
            for r in reversed(self.requests):
                if r.path.split("?", 1)[0] == path:
                    return r
        return None
