"""Kibana: the saved objects (data views, visualisations, one dashboard) for
the Elasticsearch index, and ``newswatch setup kibana`` to import them.

The objects are generated here (one place to change) and written to
``config/kibana/newswatch.ndjson`` by ``python -m newswatch.cli_kibana``;
a test checks that file is current.  They are *legacy* visualisations
(``visState`` with aggregations) on purpose: every aggregation is plain
query DSL, so the tests replay each one against a real engine to prove its
fields exist and return data.  Objects carry ``migrationVersion`` so Kibana
8/9 migrate them on import.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

def _config_dir() -> Path:
    import newswatch.config as cfg  # config/ in a checkout, newswatch/config installed

    return Path(cfg.__file__).resolve().parent


NDJSON = _config_dir() / "kibana" / "newswatch.ndjson"

DASHBOARD_ID = "newswatch-overview"


def _ref(name: str, kind: str, obj_id: str) -> dict[str, str]:
    return {"name": name, "type": kind, "id": obj_id}


def _data_view(obj_id: str, title: str, time_field: str) -> dict[str, Any]:
    return {"type": "index-pattern", "id": obj_id, "migrationVersion": {"index-pattern": "7.6.0"},
            "attributes": {"title": title, "timeFieldName": time_field}, "references": []}


def _agg(i: int, kind: str, schema: str, **params: Any) -> dict[str, Any]:
    return {"id": str(i), "enabled": True, "type": kind, "schema": schema, "params": params}


def _terms(i: int, field: str, size: int, schema: str = "bucket", order_by: str = "1") -> dict[str, Any]:
    return _agg(i, "terms", schema, field=field, size=size, order="desc", orderBy=order_by,
                otherBucket=False, missingBucket=False)


def _vis(obj_id: str, title: str, vis_type: str, data_view: str, aggs: list[dict[str, Any]],
         params: dict[str, Any] | None = None, description: str = "") -> dict[str, Any]:
    vis_state = {"title": title, "type": vis_type, "aggs": aggs, "params": {"type": vis_type, **(params or {})}}
    search = {"query": {"query": "", "language": "kuery"}, "filter": [],
              "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"}
    return {
        "type": "visualization", "id": obj_id, "migrationVersion": {"visualization": "7.10.0"},
        "attributes": {
            "title": title, "description": description, "version": 1, "uiStateJSON": "{}",
            "visState": json.dumps(vis_state, sort_keys=True),
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(search, sort_keys=True)},
        },
        "references": [_ref("kibanaSavedObjectMeta.searchSourceJSON.index", "index-pattern", data_view)],
    }


def saved_objects(prefix: str = "newswatch") -> list[dict[str, Any]]:
    """Every saved object, dependencies first (Kibana imports in order)."""
    articles, feeds, alerts = f"{prefix}-articles", f"{prefix}-feeds", f"{prefix}-alerts"
    count = _agg(1, "count", "metric")
    over_time = _agg(2, "date_histogram", "segment", field="published_at", interval="auto",
                     min_doc_count=1, extended_bounds={})
    vis = [
        _vis("newswatch-mentions-over-time", "Mentions over time per entity", "line", articles,
             [count, over_time, _terms(3, "entities.id", 10, "group")],
             description="Articles per day for the 10 most mentioned entities"),
        _vis("newswatch-top-sources", "Top sources", "horizontal_bar", articles,
             [count, _terms(2, "source_label", 15, "segment")]),
        _vis("newswatch-topics", "Topics", "pie", articles,
             [count, _terms(2, "topics.id", 15, "segment")], params={"isDonut": True}),
        _vis("newswatch-entity-cooccurrence", "Entity co-occurrence", "table", articles,
             [count, _terms(2, "entities.id", 20, "bucket"), _terms(3, "entities.id", 20, "bucket")],
             params={"perPage": 20},
             description="Articles naming both entities (each row pair; an entity paired with itself is its total)"),
        _vis("newswatch-languages", "Languages", "pie", articles,
             [count, _terms(2, "language_label", 10, "segment")]),
        _vis("newswatch-latest-alerts", "Latest alerts", "table", alerts,
             [_agg(1, "max", "metric", field="created_at"),
              _terms(2, "title.keyword", 25, "bucket"), _terms(3, "rule_id", 5, "bucket"),
              _terms(4, "status", 3, "bucket")],
             params={"perPage": 25}),
        _vis("newswatch-feed-health", "Feed health", "table", feeds,
             [_agg(1, "max", "metric", field="consecutive_errors"),
              _agg(2, "max", "metric", field="items_last_poll"),
              _agg(3, "max", "metric", field="last_success"),
              _terms(4, "id", 200, "bucket"), _terms(5, "health", 5, "bucket")],
             params={"perPage": 50},
             description="A feed that is 'ok' with 0 items on its last poll answers but yields nothing"),
    ]
    panels, refs = [], []
    for i, v in enumerate(vis):
        panels.append({"panelIndex": str(i + 1), "panelRefName": f"panel_{i}", "embeddableConfig": {},
                       "gridData": {"x": (i % 2) * 24, "y": (i // 2) * 15, "w": 24, "h": 15, "i": str(i + 1)},
                       "version": "7.10.0"})
        refs.append(_ref(f"panel_{i}", "visualization", v["id"]))
    dashboard = {
        "type": "dashboard", "id": DASHBOARD_ID, "migrationVersion": {"dashboard": "7.9.3"},
        "attributes": {
            "title": "newswatch — coverage overview", "description": "Coverage by entity, source and topic; "
            "alerts; feed health", "version": 1, "timeRestore": True, "timeFrom": "now-30d", "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 60000},
            "panelsJSON": json.dumps(panels, sort_keys=True),
            "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"},
                                                                      "filter": []})},
        },
        "references": refs,
    }
    views = [
        _data_view(articles, f"{prefix}-articles-*", "published_at"),
        _data_view(feeds, f"{prefix}-feeds", "updated_at"),
        _data_view(alerts, f"{prefix}-alert-outbox", "created_at"),
    ]
    return [*views, *vis, dashboard]


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n" for o in objects)


def import_objects(url: str, ndjson: str, *, space: str | None = None, username: str | None = None,
                   password: str | None = None, api_key: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """POST the objects to Kibana's saved objects import API (overwrite)."""
    import httpx

    base = url.rstrip("/") + (f"/s/{space}" if space else "")
    headers = {"kbn-xsrf": "newswatch"}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    auth = (username, password or "") if username else None
    r = httpx.post(f"{base}/api/saved_objects/_import", params={"overwrite": "true"}, headers=headers, auth=auth,
                   files={"file": ("newswatch.ndjson", ndjson.encode("utf-8"), "application/ndjson")},
                   timeout=timeout)
    try:
        body = r.json()
    except ValueError:
        body = {"error": r.text[:500]}
    if r.status_code >= 300:
        raise click.ClickException(f"Kibana at {url} refused the import: HTTP {r.status_code}: {body}")
    return body


def wait_for_kibana(url: str, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            r = httpx.get(url.rstrip("/") + "/api/status", timeout=5)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise click.ClickException(f"Kibana at {url} not ready after {seconds:.0f} s")
        time.sleep(2)


@click.command("kibana")
@click.option("--url", required=True, help="Kibana base URL, e.g. http://localhost:5601")
@click.option("--space", default=None, help="Kibana space id (default: the default space)")
@click.option("--prefix", default=None, help="index prefix (default: NEWSWATCH_SEARCH_INDEX_PREFIX)")
@click.option("--wait", "wait_s", type=float, default=0, help="wait up to this many seconds for Kibana")
@click.option("--username", envvar="NEWSWATCH_KIBANA_USERNAME", default=None)
@click.option("--password", envvar="NEWSWATCH_KIBANA_PASSWORD", default=None)
@click.option("--api-key", envvar="NEWSWATCH_KIBANA_API_KEY", default=None)
def kibana(url: str, space: str | None, prefix: str | None, wait_s: float, username: str | None,
           password: str | None, api_key: str | None) -> None:
    """Import the newswatch data views, visualisations and dashboard into Kibana."""
    from newswatch.pipeline.settings import load_settings

    prefix = prefix or load_settings().search_index_prefix
    ndjson = NDJSON.read_text(encoding="utf-8") if prefix == "newswatch" and NDJSON.exists() \
        else to_ndjson(saved_objects(prefix))
    if wait_s:
        wait_for_kibana(url, wait_s)
    body = import_objects(url, ndjson, space=space, username=username, password=password, api_key=api_key)
    errors = body.get("errors") or []
    for e in errors:
        click.echo(f"error    {e.get('type')} {e.get('id')}: {e.get('error')}", err=True)
    if not body.get("success") or errors:
        raise click.ClickException(f"Kibana imported {body.get('successCount', 0)} objects with {len(errors)} errors")
    click.echo(f"imported {body.get('successCount', 0)} saved objects into Kibana at {url}"
               + (f" (space {space})" if space else "")
               + f"; dashboard: {url.rstrip('/')}{'/s/' + space if space else ''}/app/dashboards#/view/{DASHBOARD_ID}")


if __name__ == "__main__":  # regenerate config/kibana/newswatch.ndjson
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else NDJSON
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_ndjson(saved_objects()), encoding="utf-8")
    print(f"wrote {out}")
