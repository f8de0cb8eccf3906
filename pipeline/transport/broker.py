"""The small broker interface the distributed transport is written against.

Two implementations: :mod:`.kafka` (kafka-python, the real thing) and
:mod:`.memory` (in-process, for unit tests).  One contract test suite runs
against both (tests/support/transport_contract.py), so the worker loop tested
in memory is the loop that runs on Kafka.

Kept deliberately narrow -- what an at-least-once stage worker needs and no
more: produce + flush; subscribe in a group, poll a batch, commit explicit
offsets, seek back; rebalance callbacks; and the admin bits the CLI uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

TopicPartition = tuple[str, int]
Headers = list[tuple[str, bytes]]
# called with the partitions given to / taken from this consumer
RebalanceCallback = Callable[[list[TopicPartition]], None]


class TransportError(Exception):
    """The broker could not be reached or refused an operation (retriable:
    the worker does not commit and tries again)."""


class CommitFailed(TransportError):
    """The group moved on (a rebalance) before our commit: the messages will
    be delivered again to the partition's new owner, which is safe because
    every sink is idempotent."""


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    timestamp_ms: int = 0

    @property
    def tp(self) -> TopicPartition:
        return (self.topic, self.partition)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode("utf-8", "replace") if v is not None else None
        return None


class Producer(Protocol):
    def produce(self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers | None = None) -> None:
        """Queue a message; delivery is only certain after :meth:`flush`."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Block until every queued message is acknowledged (acks=all), or
        raise TransportError: the caller must then not commit its input."""
        ...

    def close(self) -> None: ...


class Consumer(Protocol):
    def subscribe(self, topics: Sequence[str], *, on_assign: RebalanceCallback | None = None,
                  on_revoke: RebalanceCallback | None = None) -> None: ...

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        """The next messages of the assigned partitions.  Rebalance callbacks
        run inside this call (never in between two polls)."""
        ...

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit *next* offsets to read (last processed + 1)."""
        ...

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read *tp* again from *offset* (after a batch that was not done)."""
        ...

    def assignment(self) -> list[TopicPartition]: ...

    def lag(self) -> int | None:
        """Messages in the assigned partitions not yet committed by this
        group; None while unknown (no assignment yet)."""
        ...

    def close(self) -> None: ...


class Broker(Protocol):
    name: str

    def producer(self) -> Producer: ...

    def consumer(self, group_id: str, *, max_poll_records: int = 500) -> Consumer: ...

    def create_topics(self, partitions: dict[str, int]) -> list[str]:
        """Create the topics that do not exist yet (idempotent); the names
        created."""
        ...

    def partitions(self, topic: str) -> int:
        """How many partitions *topic* has (0 if it does not exist)."""
        ...

    def read(self, topic: str, *, limit: int | None = None, timeout: float = 5.0) -> list[Message]:
        """Every message of *topic* from the beginning, outside any group
        (for `newswatch dlq list`)."""
        ...

    def close(self) -> None: ...
