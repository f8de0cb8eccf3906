"""Splitting work (feeds) between several workers with Kafka's own group
membership, so no feed is polled by two ingest workers at once.

Every ingest worker joins one consumer group on a small control topic
(``news.feeds``, N partitions; nothing is ever written to it).  A feed
belongs to partition ``crc32(feed_id) % N``; a worker polls exactly the feeds
of the partitions the group gave it.  Kafka's (eager) rebalance protocol
revokes every member's partitions before handing any out again, and the
revoke callback returns only once this worker has stopped polling the feeds
it loses -- so two workers never own one feed at the same time.  A worker
that dies stops heart-beating; after the session timeout its partitions (and
feeds) move to the survivors.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable

from newswatch.pipeline.transport.broker import Broker, TopicPartition

log = logging.getLogger(__name__)

# called with (partitions owned now, partitions of the control topic)
OnChange = Callable[[set[int], int], None]


def partition_of(key: str, partitions: int) -> int:
    """Stable across processes and Python versions (not ``hash()``)."""
    return zlib.crc32(key.encode("utf-8")) % partitions


def owned_keys(keys: Iterable[str], owned: set[int], partitions: int) -> list[str]:
    return [k for k in keys if partition_of(k, partitions) in owned]


class PartitionOwnership:
    def __init__(self, broker: Broker, group_id: str, topic: str, on_change: OnChange) -> None:
        self.broker = broker
        self.topic = topic
        self.on_change = on_change
        self.partitions = broker.partitions(topic)
        if self.partitions < 1:
            raise RuntimeError(f"control topic {topic!r} does not exist; run `newswatch setup kafka`")
        self.owned: set[int] = set()
        self.assigned_once = False
        self._consumer = broker.consumer(group_id, max_poll_records=1)
        self._consumer.subscribe([topic], on_assign=self._assign, on_revoke=self._revoke)

    def _assign(self, tps: list[TopicPartition]) -> None:
        self.owned = {p for t, p in tps if t == self.topic}
        self.assigned_once = True
        log.info("owning %d of %d feed partitions: %s", len(self.owned), self.partitions, sorted(self.owned))
        self.on_change(set(self.owned), self.partitions)

    def _revoke(self, tps: list[TopicPartition]) -> None:
        lost = {p for t, p in tps if t == self.topic}
        self.owned -= lost
        # must return only once the lost feeds are no longer being polled
        self.on_change(set(self.owned), self.partitions)

    def poll(self, timeout: float = 1.0) -> None:
        """Keep the membership alive and run rebalances (call often)."""
        self._consumer.poll(timeout, 1)

    def close(self) -> None:
        self._consumer.close()
