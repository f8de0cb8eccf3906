"""Unit tests of the transport's small parts (no broker; the worker loop
itself is covered by the contract suite in test_contract_memory.py)."""

from __future__ import annotations

from newswatch.pipeline.settings import Settings
from newswatch.pipeline.transport.broker import Message
from newswatch.pipeline.transport.dlq import H_REPLAYED_FROM, describe, dlq_headers
from newswatch.pipeline.transport.kafka import client_config
from newswatch.pipeline.transport.kafka import describe as describe_conn
from newswatch.pipeline.transport.ownership import owned_keys, partition_of
from newswatch.workers import topic_plan


def test_feed_partition_is_stable_and_owned_sets_partition_the_feeds() -> None:
    ids = [f"feed-{i}" for i in range(50)]
    assert [partition_of(i, 7) for i in ids] == [partition_of(i, 7) for i in ids]
    a = owned_keys(ids, {0, 1, 2}, 7)
    b = owned_keys(ids, {3, 4, 5, 6}, 7)
    assert not set(a) & set(b) and sorted(a + b) == sorted(ids)


def test_sasl_secret_is_passed_to_the_client_and_never_in_what_is_logged() -> None:
    s = Settings(kafka_bootstrap="k1:9093,k2:9093", kafka_security_protocol="SASL_SSL",
                 kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="svc-newswatch",
                 kafka_sasl_password="hunter2-secret", kafka_ssl_cafile="/etc/ca.pem")
    cfg = client_config(s)
    assert cfg["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert cfg["sasl_plain_password"] == "hunter2-secret" and cfg["ssl_cafile"] == "/etc/ca.pem"
    shown = describe_conn(s) + repr(s) + str(s.model_dump())
    assert "hunter2-secret" not in shown
    assert "SASL_SSL" in describe_conn(s) and "svc-newswatch" not in describe_conn(s)


def test_dlq_headers_carry_error_and_origin_and_drop_an_earlier_failure() -> None:
    msg = Message("news.raw", 2, 41, b"id1", b"\xff", [("trace", b"x"), ("nw-error", b"old")])
    h = dict(dlq_headers(msg, "enrich", ValueError("boom"), 4))
    assert h["nw-error"] == b"ValueError: boom" and h["nw-origin-topic"] == b"news.raw"
    assert h["nw-origin-partition"] == b"2" and h["nw-origin-offset"] == b"41" and h["nw-attempts"] == b"4"
    assert h["trace"] == b"x"
    d = describe(Message("news.dlq", 0, 7, b"id1", b"\xff", list(h.items())))
    assert d["origin"] == "news.raw[2]@41" and d["stage"] == "enrich" and d["dlq_offset"] == 7
    assert H_REPLAYED_FROM.startswith("nw-")


def test_topic_plan_uses_configured_names_and_partitions() -> None:
    s = Settings(kafka_topic_raw="a.raw", kafka_topic_enriched="a.enr", kafka_topic_dlq="a.dlq",
                 kafka_topic_feeds="a.feeds", kafka_partitions=8, kafka_feed_partitions=3)
    assert topic_plan(s) == {"a.raw": 8, "a.enr": 8, "a.dlq": 1, "a.feeds": 3}


def test_compression_defaults_to_lz4_and_falls_back_to_gzip_without_the_package(monkeypatch, caplog) -> None:
    from kafka import codec

    from newswatch.pipeline.transport.kafka import compression

    assert compression(Settings()) == "lz4"
    assert compression(Settings(kafka_compression="none")) is None
    monkeypatch.setattr(codec, "has_lz4", lambda: False)
    assert compression(Settings()) == "gzip"
    assert "lz4 package is missing" in caplog.text


def test_run_starts_the_configured_number_of_enrich_workers(monkeypatch) -> None:
    """`newswatch run --once` over Kafka: each phase's processes (fakes for
    the processes and the broker: this tests the plan, not Kafka)."""
    import newswatch.workers as w

    started: list[tuple[str, tuple]] = []

    class Proc:
        def wait(self) -> int:
            return 0

    monkeypatch.setattr(w, "open_broker", lambda settings: object())
    monkeypatch.setattr(w, "ensure_topics", lambda broker, settings: None)
    monkeypatch.setattr(w, "_spawn", lambda stage, extra=(): started.append((stage, tuple(extra))) or Proc())
    assert w.run_all_workers(Settings(enrich_workers=3, kafka_partitions=2), once=True) == 0
    assert [s for s, _ in started] == ["ingest", "enrich", "enrich", "index", "alerts"]  # capped at the partitions
    assert all(extra == ("--once",) for _, extra in started)
