"""The transport contract (tests/support/transport_contract.py) on the real
Kafka broker from `scripts/services up kafka` -- the same test functions the
in-memory broker passes in tests/unit/transport."""

from __future__ import annotations

import pytest

from newswatch.pipeline.transport.kafka import KafkaBroker
from support.kafka import kafka_settings, require_kafka, unique_prefix
from support.transport_contract import *  # noqa: F401,F403 -- the shared contract tests
from support.transport_contract import TransportEnv

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


@pytest.fixture
def transport(tmp_path) -> TransportEnv:
    require_kafka()
    prefix = unique_prefix()
    return TransportEnv(KafkaBroker(kafka_settings(prefix, tmp_path)), prefix=prefix)
