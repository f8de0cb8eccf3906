"""The Kibana saved objects file: current, well-formed, every reference
resolvable; and ``newswatch setup kibana`` posting it the way Kibana's import
API expects.  Kibana cannot run here: the import is checked against a FAKE
Kibana (a local HTTP server that records the multipart request and answers
like the real API)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from click.testing import CliRunner

from newswatch.cli_kibana import DASHBOARD_ID, NDJSON, kibana, saved_objects, to_ndjson


def objects() -> list[dict]:
    return [json.loads(line) for line in NDJSON.read_text(encoding="utf-8").splitlines()]


def test_file_is_current_with_the_generator():
    assert NDJSON.read_text(encoding="utf-8") == to_ndjson(saved_objects()), \
        "run: python -m newswatch.cli_kibana"


def test_every_reference_resolves_and_ids_are_unique():
    objs = objects()
    by_id = {(o["type"], o["id"]): o for o in objs}
    assert len(by_id) == len(objs)
    seen: set[tuple[str, str]] = set()
    for o in objs:  # dependencies come first, as Kibana imports in order
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in seen, (o["id"], ref)
        seen.add((o["type"], o["id"]))
    dash = by_id[("dashboard", DASHBOARD_ID)]
    panels = json.loads(dash["attributes"]["panelsJSON"])
    names = {r["name"] for r in dash["references"]}
    assert {p["panelRefName"] for p in panels} == names
    assert {r["id"] for r in dash["references"]} == {o["id"] for o in objs if o["type"] == "visualization"}
    for o in objs:
        if o["type"] == "visualization":
            search = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            assert search["indexRefName"] in {r["name"] for r in o["references"]}
            state = json.loads(o["attributes"]["visState"])
            assert state["title"] == o["attributes"]["title"] and state["aggs"]


def test_data_views_and_required_visualisations():
    objs = objects()
    views = {o["attributes"]["title"]: o["attributes"]["timeFieldName"] for o in objs if o["type"] == "index-pattern"}
    assert views == {"newswatch-articles-*": "published_at", "newswatch-feeds": "updated_at",
                     "newswatch-alert-outbox": "created_at"}
    titles = {o["attributes"]["title"] for o in objs if o["type"] == "visualization"}
    assert {"Mentions over time per entity", "Top sources", "Topics", "Entity co-occurrence",
            "Latest alerts", "Feed health"} <= titles


def test_setup_kibana_posts_the_file_to_the_import_api(monkeypatch):
    seen: dict = {}

    class FakeKibana(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen["path"] = self.path
            seen["xsrf"] = self.headers.get("kbn-xsrf")
            seen["type"] = self.headers.get("content-type")
            seen["body"] = self.rfile.read(int(self.headers["content-length"]))
            out = json.dumps({"success": True, "successCount": len(objects()), "errors": []}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), FakeKibana)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("NEWSWATCH_SEARCH_INDEX_PREFIX", raising=False)
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        result = CliRunner().invoke(kibana, ["--url", url, "--space", "press"])
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    assert seen["path"] == "/s/press/api/saved_objects/_import?overwrite=true"
    assert seen["xsrf"] and seen["type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="newswatch.ndjson"' in seen["body"]
    assert NDJSON.read_bytes() in seen["body"]
    assert f"imported {len(objects())} saved objects" in result.output
