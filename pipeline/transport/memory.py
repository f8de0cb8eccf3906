"""An in-process broker with Kafka's semantics that matter to the workers:
partitioned topics, keyed partitioning, consumer groups that split the
partitions between their members (eager rebalance: revoke, then assign, inside
``poll``), committed offsets per group, ``auto_offset_reset=earliest``.

Used by the unit tests and the contract suite; never in production.  It does
not imitate failures on its own -- tests inject them explicitly (``fail_flush``).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Sequence

from newswatch.pipeline.transport.broker import (
    CommitFailed, Headers, Message, RebalanceCallback, TopicPartition, TransportError,
)


def partition_for(key: bytes | None, partitions: int, counter: int = 0) -> int:
    """Stable key -> partition (keyless messages round-robin)."""
    if key is None:
        return counter % partitions
    return zlib.crc32(key) % partitions


class _Group:
    def __init__(self) -> None:
        self.members: list["MemoryConsumer"] = []
        self.generation = 0
        self.committed: dict[TopicPartition, int] = {}


class MemoryBroker:
    name = "memory"

    def __init__(self, default_partitions: int = 1) -> None:
        self.default_partitions = default_partitions
        self.topics: dict[str, list[list[Message]]] = {}
        self.groups: dict[str, _Group] = {}
        self.lock = threading.RLock()
        self._rr = 0

    # -- admin ---------------------------------------------------------------
    def create_topics(self, partitions: dict[str, int]) -> list[str]:
        created = []
        with self.lock:
            for name, n in partitions.items():
                if name not in self.topics:
                    self.topics[name] = [[] for _ in range(n)]
                    created.append(name)
        return created

    def partitions(self, topic: str) -> int:
        with self.lock:
            return len(self.topics.get(topic, []))

    def _topic(self, topic: str) -> list[list[Message]]:
        if topic not in self.topics:  # like auto.create.topics.enable
            self.create_topics({topic: self.default_partitions})
        return self.topics[topic]

    def append(self, topic: str, value: bytes | None, key: bytes | None, headers: Headers) -> Message:
        with self.lock:
            parts = self._topic(topic)
            self._rr += 1
            p = partition_for(key, len(parts), self._rr)
            msg = Message(topic, p, len(parts[p]), key, value, list(headers), int(time.time() * 1000))
            parts[p].append(msg)
            return msg

    def end_offset(self, tp: TopicPartition) -> int:
        with self.lock:
            parts = self.topics.get(tp[0], [])
            return len(parts[tp[1]]) if tp[1] < len(parts) else 0

    def read(self, topic: str, *, limit: int | None = None, timeout: float = 5.0) -> list[Message]:
        with self.lock:
            out = sorted((m for part in self.topics.get(topic, []) for m in part),
                         key=lambda m: (m.timestamp_ms, m.partition, m.offset))
        return out[:limit] if limit is not None else out

    # -- clients -------------------------------------------------------------
    def producer(self) -> "MemoryProducer":
        return MemoryProducer(self)

    def consumer(self, group_id: str, *, max_poll_records: int = 500) -> "MemoryConsumer":
        with self.lock:
            group = self.groups.setdefault(group_id, _Group())
        return MemoryConsumer(self, group, max_poll_records)

    def committed(self, group_id: str, tp: TopicPartition) -> int | None:
        with self.lock:
            g = self.groups.get(group_id)
            return g.committed.get(tp) if g else None

    def close(self) -> None:
        pass


class MemoryProducer:
    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self.pending: list[tuple[str, bytes, bytes | None, Headers]] = []
        self.fail_flush = 0  # tests: make the next N flushes fail
        self.lock = threading.Lock()

    def produce(self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers | None = None) -> None:
        with self.lock:
            self.pending.append((topic, value, key, list(headers or [])))

    def flush(self, timeout: float | None = None) -> None:
        with self.lock:
            if self.fail_flush:
                self.fail_flush -= 1
                self.pending.clear()  # like a timed-out batch: not delivered
                raise TransportError("injected flush failure")
            pending, self.pending = self.pending, []
        for topic, value, key, headers in pending:
            self.broker.append(topic, value, key, headers)

    def close(self) -> None:
        self.flush()


class MemoryConsumer:
    def __init__(self, broker: MemoryBroker, group: _Group, max_poll_records: int) -> None:
        self.broker = broker
        self.group = group
        self.max_poll_records = max_poll_records
        self.topics: list[str] = []
        self.on_assign: RebalanceCallback | None = None
        self.on_revoke: RebalanceCallback | None = None
        self._assigned: list[TopicPartition] = []
        self._generation = -1
        self.positions: dict[TopicPartition, int] = {}
        self.closed = False

    def subscribe(self, topics: Sequence[str], *, on_assign: RebalanceCallback | None = None,
                  on_revoke: RebalanceCallback | None = None) -> None:
        with self.broker.lock:
            self.topics = list(topics)
            self.on_assign, self.on_revoke = on_assign, on_revoke
            for t in self.topics:
                self.broker._topic(t)
            if self not in self.group.members:
                self.group.members.append(self)
            self.group.generation += 1

    def _plan(self) -> list[TopicPartition]:
        """Round-robin over the members, in join order (deterministic)."""
        tps = sorted((t, p) for t in self.topics for p in range(len(self.broker.topics.get(t, []))))
        members = self.group.members
        idx = members.index(self)
        return [tp for i, tp in enumerate(tps) if i % len(members) == idx]

    def _rebalance_if_needed(self) -> None:
        with self.broker.lock:
            if self._generation == self.group.generation:
                return
        if self._assigned and self.on_revoke:
            self.on_revoke(list(self._assigned))
        with self.broker.lock:
            self._generation = self.group.generation
            self._assigned = self._plan()
            self.positions = {tp: self.group.committed.get(tp, 0) for tp in self._assigned}
        if self.on_assign:
            self.on_assign(list(self._assigned))

    def poll(self, timeout: float, max_records: int | None = None) -> list[Message]:
        if self.closed:
            raise TransportError("consumer closed")
        limit = max_records or self.max_poll_records
        deadline = time.monotonic() + timeout
        while True:
            self._rebalance_if_needed()
            out: list[Message] = []
            with self.broker.lock:
                for tp in self._assigned:
                    part = self.broker.topics[tp[0]][tp[1]]
                    pos = self.positions.get(tp, 0)
                    take = part[pos: pos + limit - len(out)]
                    out.extend(take)
                    self.positions[tp] = pos + len(take)
                    if len(out) >= limit:
                        break
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        with self.broker.lock:
            if self._generation != self.group.generation:
                raise CommitFailed("group rebalanced since the last poll")
            for tp, off in offsets.items():
                if tp not in self._assigned:
                    raise CommitFailed(f"{tp} is not assigned to this consumer")
                self.group.committed[tp] = off

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def assignment(self) -> list[TopicPartition]:
        return list(self._assigned)

    def lag(self) -> int | None:
        if self._generation < 0:
            return None
        with self.broker.lock:
            return sum(self.broker.end_offset(tp) - self.group.committed.get(tp, 0) for tp in self._assigned)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with self.broker.lock:
            if self in self.group.members:
                self.group.members.remove(self)
                self.group.generation += 1
