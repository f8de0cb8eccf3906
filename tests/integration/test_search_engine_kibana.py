"""Every Kibana visualisation's aggregations, replayed as query DSL against a
real engine (OpenSearch 2.19, Elasticsearch 7.10.2) holding the corpus, feed
health and alert ledger documents: each field exists in the mapping with an
aggregatable type, and each visualisation returns data.  (Kibana itself does
not run here; this proves the saved objects fit the index.)"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from support.corpus import articles
from support.searchengine import ENGINES, engine

from newswatch.alerts.items import AlertItem, NewDelivery
from newswatch.alerts.ledger_search import SearchLedger
from newswatch.cli_kibana import saved_objects

pytestmark = [pytest.mark.integration, pytest.mark.opensearch, pytest.mark.elasticsearch]


def to_dsl(aggs: list[dict]) -> dict:
    """Kibana's legacy visState aggs -> nested aggregations (buckets in order, metrics at the leaf)."""
    metrics = {a["id"]: {a["type"]: {"field": a["params"]["field"]}} for a in aggs
               if a["schema"] == "metric" and a["type"] != "count"}
    leaf: dict = {}
    for a in reversed([a for a in aggs if a["schema"] != "metric"]):
        p = a["params"]
        if a["type"] == "terms":
            order = {"_count": "desc"} if p["orderBy"] == "1" and "1" not in metrics else {p["orderBy"]: "desc"}
            body = {"terms": {"field": p["field"], "size": p["size"], "order": order}}
        elif a["type"] == "date_histogram":
            body = {"date_histogram": {"field": p["field"], "calendar_interval": "day",
                                       "min_doc_count": p["min_doc_count"]}}
        else:
            raise AssertionError(f"unexpected agg type {a['type']}")
        if leaf or metrics:  # Kibana computes the metrics at every bucket level (they may order it)
            body["aggs"] = {**metrics, **leaf}
        leaf = {a["id"]: body}
    return leaf


@pytest.mark.parametrize("kind", ENGINES)
def test_each_visualisation_runs_on_the_engine_and_returns_data(kind):
    with engine(kind) as ix:
        objs = saved_objects(ix.names.prefix)
        ix.write(articles())
        ix.write_feed_health([{"id": "harbor-main", "health": "ok", "consecutive_errors": 0, "items_last_poll": 0,
                               "last_success": "2024-03-01T10:00:00+00:00"}])
        ledger = SearchLedger(ix, prefix=ix.names.prefix)
        now = datetime(2024, 3, 1, tzinfo=timezone.utc)
        item = AlertItem("en-01", "en-01", "water", "Water", "water", "Water supply talks", "https://x/1",
                         "Harbor Gazette", None, "…")
        assert ledger.claim("water", "en-01", "en-01", [NewDelivery("email", "a@x.org", "immediate", now, item)], now)
        ix.refresh_all()
        views = {o["id"]: o["attributes"] for o in objs if o["type"] == "index-pattern"}
        checked = 0
        for o in objs:
            if o["type"] != "visualization":
                continue
            view = views[o["references"][0]["id"]]
            state = json.loads(o["attributes"]["visState"])
            fields = {a["params"]["field"] for a in state["aggs"] if "field" in a["params"]}
            caps = ix.request("GET", f"/{view['title']}/_field_caps", params={"fields": ",".join(fields)})["fields"]
            for f in fields:
                assert f in caps, (o["id"], f)
                assert all(c["aggregatable"] for c in caps[f].values()), (o["id"], f)
            tcaps = ix.request("GET", f"/{view['title']}/_field_caps", params={"fields": view["timeFieldName"]})
            assert view["timeFieldName"] in tcaps["fields"]
            resp = ix.request("POST", f"/{view['title']}/_search",
                              body={"size": 0, "aggs": to_dsl(state["aggs"]), "track_total_hits": True})
            first = next(a for a in state["aggs"] if a["schema"] != "metric")
            buckets = resp["aggregations"][first["id"]]["buckets"]
            assert buckets and all(b["doc_count"] > 0 for b in buckets), o["id"]
            checked += 1
        assert checked >= 6
