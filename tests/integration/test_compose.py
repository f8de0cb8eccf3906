"""docker-compose.yml wiring, checked by parsing it (Docker cannot run on the
build machines, so `docker compose up` itself is not exercised here): the
images, ports, environment, dependencies and health checks a working stack
needs, and that the Dockerfile installs what the commands use."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from newswatch.pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("ingest", "enrich", "index", "alerts")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def image(svc: dict) -> str:
    return svc.get("image", "")


def test_services_and_images(compose):
    s = compose["services"]
    assert {"kafka", "kafka-setup", "elasticsearch", "kibana", "kibana-setup", "mailpit", *WORKERS} <= set(s)
    assert image(s["elasticsearch"]).startswith("docker.elastic.co/elasticsearch/elasticsearch:8.")
    assert image(s["kibana"]).split(":")[1] == image(s["elasticsearch"]).split(":")[1]  # same version
    assert image(s["kafka"]).startswith("apache/kafka:")
    assert image(s["mailpit"]).startswith("axllent/mailpit")


def test_engines_are_configured_for_a_local_single_node(compose):
    s = compose["services"]
    es = s["elasticsearch"]["environment"]
    assert es["discovery.type"] == "single-node" and es["xpack.security.enabled"] == "false"
    k = s["kafka"]["environment"]
    assert set(k["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}  # KRaft, no ZooKeeper
    assert "PLAINTEXT://kafka:9092" in k["KAFKA_ADVERTISED_LISTENERS"]
    assert s["kibana"]["environment"]["ELASTICSEARCH_HOSTS"] == '["http://elasticsearch:9200"]'
    ports = {p for svc in s.values() for p in svc.get("ports", [])}
    assert {"127.0.0.1:9200:9200", "127.0.0.1:5601:5601", "127.0.0.1:8025:8025"} <= ports


def test_workers_env_names_real_settings_and_point_at_the_services(compose):
    s = compose["services"]
    fields = set(Settings.model_fields)
    for name in (*WORKERS, "kafka-setup", "kibana-setup"):
        svc = s[name]
        env = svc["environment"]
        assert env["NEWSWATCH_TRANSPORT"] == "kafka" and env["NEWSWATCH_INDEX"] == "elasticsearch"
        assert env["NEWSWATCH_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["NEWSWATCH_SEARCH_URL"] == "http://elasticsearch:9200"
        assert env["NEWSWATCH_SMTP_HOST"] == "mailpit" and env["NEWSWATCH_SMTP_PORT"] == "1025"
        for key in env:  # a typo in a variable name would be silently ignored by pydantic-settings
            assert key.startswith("NEWSWATCH_") and key[len("NEWSWATCH_"):].lower() in fields, key
        assert svc["build"] == "." and "./config:/config:ro" in svc["volumes"]
    # stages with state on disk keep it in a named volume: a recreated enrich
    # container that forgot its dedupe store would re-alert syndicated copies
    for w in ("ingest", "enrich", "alerts"):
        assert any(v.endswith(":/data") and not v.startswith((".", "/")) for v in s[w]["volumes"]), w
    for w in WORKERS:
        assert s[w]["command"] == ["worker", w]
        deps = s[w]["depends_on"]
        assert deps["kafka-setup"]["condition"] == "service_completed_successfully"
        assert deps["elasticsearch"]["condition"] == "service_healthy"
        assert "mailpit" in deps


def test_setup_jobs_wait_for_healthy_services(compose):
    s = compose["services"]
    assert s["kafka-setup"]["command"] == ["setup", "kafka"]
    assert s["kafka-setup"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert s["kibana-setup"]["command"][:4] == ["setup", "kibana", "--url", "http://kibana:5601"]
    assert s["kibana-setup"]["depends_on"]["kibana"]["condition"] == "service_healthy"
    assert s["kibana"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    for name in ("kafka", "elasticsearch", "kibana"):
        hc = s[name]["healthcheck"]
        assert hc["test"][0] == "CMD-SHELL" and hc["retries"] >= 10
    for name in ("kafka-setup", "kibana-setup"):
        assert s[name]["restart"] == "no"


def test_every_named_volume_is_declared(compose):
    declared = set(compose.get("volumes") or {})
    used = {v.split(":")[0] for svc in compose["services"].values() for v in svc.get("volumes", [])
            if not v.startswith((".", "/"))}
    assert used <= declared


def test_dockerfile_installs_the_package_with_all_extras():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("# ") and "FROM python:3.12-slim" in text
    assert "pip install '.[all]'" in text and 'ENTRYPOINT ["newswatch"]' in text
    for folder in ("newswatch", "pipeline", "ingest", "enrich", "index", "alerts", "config"):
        assert f"COPY {folder} ./{folder}" in text
