"""The transport contract (tests/support/transport_contract.py) on the
in-memory broker.  The same test functions run on real Kafka in
tests/integration/test_kafka_contract.py."""

from __future__ import annotations

import pytest

from newswatch.pipeline.transport.memory import MemoryBroker
from support.transport_contract import *  # noqa: F401,F403 -- the shared contract tests
from support.transport_contract import TransportEnv


@pytest.fixture
def transport() -> TransportEnv:
    return TransportEnv(MemoryBroker())
