"""A tiny HTTP server on 127.0.0.1 serving the demo feeds, so `newswatch
demo` exercises the real fetch path (HTTP, conditional GET) while offline."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from newswatch.demo.samples import FEEDS, render_feed


class DemoFeedServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._feeds: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                feed_id = self.path.strip("/").removesuffix(".xml")
                body = server._feeds.get(feed_id)
                if body is None:
                    self.send_error(404)
                    return
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                ctype = "application/atom+xml" if FEEDS[feed_id]["format"] == "atom" else "application/rss+xml"
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://{host}:{self.httpd.server_address[1]}"
        # rendered once: the same bytes (and ETag) for every request of a run
        self._feeds = {fid: render_feed(fid) for fid in FEEDS}
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="demo-feeds", daemon=True)

    def feed_url(self, feed_id: str) -> str:
        return f"{self.base_url}/{feed_id}.xml"

    def __enter__(self) -> "DemoFeedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
