"""Helpers for tests on the real Kafka broker that `scripts/services up kafka`
starts on 127.0.0.1:9092 (NEWSWATCH_KAFKA_BOOTSTRAP to point elsewhere).

No broker -> the test FAILS (never skips) and says how to start one.  Every
test uses its own topic names and group prefix, so tests never see each
other's messages."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = os.environ.get("NEWSWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def require_kafka() -> str:
    host, _, port = BOOTSTRAP.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"no Kafka broker at {BOOTSTRAP} ({exc}): start one with `scripts/services up kafka`",
                    pytrace=False)
    return BOOTSTRAP


def unique_prefix() -> str:
    return "t" + uuid.uuid4().hex[:10]


def kafka_env(prefix: str, data_dir: Path, **extra: Any) -> dict[str, str]:
    """NEWSWATCH_* variables for a worker subprocess on its own topics/groups."""
    env = {
        "NEWSWATCH_TRANSPORT": "kafka",
        "NEWSWATCH_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "NEWSWATCH_KAFKA_TOPIC_RAW": f"{prefix}.raw",
        "NEWSWATCH_KAFKA_TOPIC_ENRICHED": f"{prefix}.enriched",
        "NEWSWATCH_KAFKA_TOPIC_DLQ": f"{prefix}.dlq",
        "NEWSWATCH_KAFKA_TOPIC_FEEDS": f"{prefix}.feeds",
        "NEWSWATCH_KAFKA_GROUP_PREFIX": prefix,
        "NEWSWATCH_KAFKA_PARTITIONS": "3",
        "NEWSWATCH_KAFKA_FEED_PARTITIONS": "4",
        "NEWSWATCH_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "NEWSWATCH_KAFKA_RETRY_BACKOFF": "0.05",
        "NEWSWATCH_DATA_DIR": str(data_dir),
    }
    env.update({f"NEWSWATCH_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def kafka_settings(prefix: str, data_dir: Path, **extra: Any):
    from newswatch.pipeline.settings import Settings

    env = kafka_env(prefix, data_dir, **extra)
    return Settings(**{k.removeprefix("NEWSWATCH_").lower(): v for k, v in env.items()})
