"""The transport contract: one set of tests run against the in-memory broker
(tests/unit/transport/test_contract_memory.py) and the real Kafka broker
(tests/integration/test_kafka_contract.py).

A module that imports these tests provides a ``transport`` fixture
(:class:`TransportEnv`).  The processor and sink here are small fakes (they
test the transport's rules, not the stages); the broker is whichever the
fixture gives -- real Kafka in the integration run.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from newswatch.pipeline.article import Article
from newswatch.pipeline.stage import PermanentError
from newswatch.pipeline.transport.broker import Broker, TransportError
from newswatch.pipeline.transport.dlq import H_ATTEMPTS, H_ERROR, H_OFFSET, H_STAGE, H_TOPIC, replay
from newswatch.pipeline.transport.ownership import PartitionOwnership
from newswatch.pipeline.transport.worker import StageWorker

WAIT = 30.0  # seconds a test waits for the broker before failing


@dataclass
class TransportEnv:
    broker: Broker
    prefix: str = field(default_factory=lambda: "c" + uuid.uuid4().hex[:8])

    def topics(self, **partitions: int) -> dict[str, str]:
        names = {k: f"{self.prefix}.{k}" for k in partitions}
        self.broker.create_topics({names[k]: n for k, n in partitions.items()})
        return names

    def group(self, name: str) -> str:
        return f"{self.prefix}-{name}"


def wait_until(cond: Callable[[], bool], *, timeout: float = WAIT, step: Callable[[], object] | None = None,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if step is not None:
            step()
        if cond():
            return
        if step is None:
            time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def art(i: int, title: str | None = None) -> Article:
    return Article(id=f"a{i:04d}", url=f"http://example.test/{i}", title=title or f"title {i}",
                   content=f"body {i}")


def produce(broker: Broker, topic: str, articles: Sequence[Article]) -> None:
    p = broker.producer()
    for a in articles:
        p.produce(topic, a.to_bytes(), key=a.id.encode())
    p.flush()
    p.close()


def poll_all(consumer, n: int, timeout: float = WAIT) -> list:
    got: list = []
    wait_until(lambda: len(got) >= n, timeout=timeout, step=lambda: got.extend(consumer.poll(0.2, 500)),
               what=f"{n} messages (have {len(got)})")
    return got


class Upper:
    """Fake processor: upper-cases the title; 'permanent*' titles are bad
    data; 'flaky*' titles fail a given number of times first."""

    name = "upper"

    def __init__(self, flaky_failures: int = 0) -> None:
        self.flaky_failures = flaky_failures
        self.calls: Counter[str] = Counter()

    def process(self, a: Article) -> list[Article]:
        self.calls[a.id] += 1
        if a.title.startswith("permanent"):
            raise PermanentError("cannot be processed")
        if a.title.startswith("flaky") and self.calls[a.id] <= self.flaky_failures:
            raise RuntimeError("a bad moment")
        return [a.model_copy(update={"title": a.title.upper()})]

    def close(self) -> None:
        pass


class RecordingSink:
    """Fake sink: upserts by id (idempotent, like the real ones); 'poison*'
    titles make any batch holding them fail; ``down`` fails everything."""

    name = "recording"

    def __init__(self) -> None:
        self.docs: dict[str, Article] = {}
        self.writes = 0
        self.calls = 0
        self.tries: Counter[str] = Counter()  # write calls each article was part of
        self.down = False

    def write(self, batch: Sequence[Article]) -> None:
        self.calls += 1
        self.tries.update(a.id for a in batch)
        if self.down:
            raise ConnectionError("sink unreachable")
        if any(a.title.startswith("poison") for a in batch):
            raise ValueError("mapping error on a field")
        self.writes += 1
        for a in batch:
            self.docs[a.id] = a

    def close(self) -> None:
        pass


def _worker(t: TransportEnv, names: dict[str, str], **kw) -> StageWorker:
    base = dict(stage="test", group_id=t.group("w"), input_topic=names["raw"], dlq_topic=names["dlq"],
                batch_size=50, max_retries=2, backoff=0.01, poll_timeout=0.2)
    base.update(kw)
    return StageWorker(t.broker, **base)


# -- broker primitives ---------------------------------------------------------
def test_roundtrip_keeps_key_value_headers_and_per_key_order(transport: TransportEnv) -> None:
    names = transport.topics(raw=3)
    p = transport.broker.producer()
    for i in range(20):
        p.produce(names["raw"], f"v{i}".encode(), key=f"k{i % 4}".encode(), headers=[("h", str(i).encode())])
    p.flush()
    c = transport.broker.consumer(transport.group("g"))
    c.subscribe([names["raw"]])
    got = poll_all(c, 20)
    c.close()
    assert sorted(m.value for m in got) == sorted(f"v{i}".encode() for i in range(20))
    for m in got:
        i = int(m.value[1:])
        assert m.key == f"k{i % 4}".encode() and m.header("h") == str(i)
    for k in range(4):  # one key -> one partition, in produce order
        same = [m for m in got if m.key == f"k{k}".encode()]
        assert len({m.partition for m in same}) == 1
        assert [int(m.value[1:]) for m in sorted(same, key=lambda m: m.offset)] == sorted(int(m.value[1:]) for m in same)


def test_committed_offsets_resume_and_uncommitted_are_read_again(transport: TransportEnv) -> None:
    names = transport.topics(raw=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(10)])
    c1 = transport.broker.consumer(transport.group("g"), max_poll_records=10)
    c1.subscribe([names["raw"]])
    got = poll_all(c1, 10)
    c1.commit({got[3].tp: got[3].offset + 1})  # processed 0..3 only
    c1.close()
    c2 = transport.broker.consumer(transport.group("g"))
    c2.subscribe([names["raw"]])
    again = poll_all(c2, 6)
    c2.close()
    assert [m.offset for m in again] == list(range(4, 10))


def test_each_group_gets_every_message(transport: TransportEnv) -> None:
    names = transport.topics(raw=2)
    produce(transport.broker, names["raw"], [art(i) for i in range(12)])
    for g in ("index", "alerts"):
        c = transport.broker.consumer(transport.group(g))
        c.subscribe([names["raw"]])
        assert len({m.key for m in poll_all(c, 12)}) == 12
        c.close()


def test_seek_reads_again(transport: TransportEnv) -> None:
    names = transport.topics(raw=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(3)])
    c = transport.broker.consumer(transport.group("g"))
    c.subscribe([names["raw"]])
    first = poll_all(c, 3)
    c.seek(first[0].tp, 1)
    again = poll_all(c, 2)
    c.close()
    assert [m.offset for m in again] == [1, 2]


def test_members_of_a_group_split_the_partitions(transport: TransportEnv) -> None:
    names = transport.topics(raw=4)
    a = transport.broker.consumer(transport.group("g"))
    b = transport.broker.consumer(transport.group("g"))
    a.subscribe([names["raw"]])
    b.subscribe([names["raw"]])

    def both() -> None:
        a.poll(0.1, 10)
        b.poll(0.1, 10)

    wait_until(lambda: len(a.assignment()) + len(b.assignment()) == 4 and a.assignment() and b.assignment(),
               step=both, what="both members assigned")
    assert not set(a.assignment()) & set(b.assignment())
    assert {p for _, p in a.assignment() + b.assignment()} == {0, 1, 2, 3}
    a.close()
    b.close()


# -- the stage worker ------------------------------------------------------------
def test_processor_worker_moves_every_article_and_commits_after_producing(transport: TransportEnv) -> None:
    names = transport.topics(raw=3, out=3, dlq=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(30)])
    w = _worker(transport, names, processor=Upper(), output_topic=names["out"])
    counters = w.run(once=True)
    w.close()
    assert counters.consumed == 30 and counters.produced == 30 and counters.dead_lettered == 0
    c = transport.broker.consumer(transport.group("check"))
    c.subscribe([names["out"]])
    out = poll_all(c, 30)
    c.close()
    assert sorted(m.key for m in out) == sorted(a.id.encode() for a in map(art, range(30)))
    assert all(Article.from_json(m.value).title.isupper() for m in out)
    # a second worker in the same group finds nothing left: everything was committed
    again = _worker(transport, names, processor=Upper(), output_topic=names["out"])
    assert again.run(once=True).consumed == 0
    again.close()


def test_poison_messages_go_to_the_dlq_with_headers_and_the_stream_continues(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, out=1, dlq=1)
    p = transport.broker.producer()
    p.produce(names["raw"], art(0).to_bytes(), key=b"a0000")
    p.produce(names["raw"], b"\xff\xfe not json", key=b"garbage")
    p.produce(names["raw"], b'{"schema_version": 99, "id": "future"}', key=b"future")
    p.produce(names["raw"], art(3, "permanent failure").to_bytes(), key=b"a0003")
    p.produce(names["raw"], art(4, "flaky forever").to_bytes(), key=b"a0004")
    p.produce(names["raw"], art(5).to_bytes(), key=b"a0005")
    p.flush()
    proc = Upper(flaky_failures=100)
    w = _worker(transport, names, processor=proc, output_topic=names["out"], max_retries=2)
    counters = w.run(once=True)
    w.close()
    assert counters.dead_lettered == 4 and counters.produced == 2
    assert proc.calls["a0004"] == 3  # 1 try + 2 retries, then the DLQ
    dead = poll_all(_subscribed(transport, names["dlq"]), 4)
    by_key = {m.key: m for m in dead}
    assert set(by_key) == {b"garbage", b"future", b"a0003", b"a0004"}
    assert by_key[b"garbage"].value == b"\xff\xfe not json"  # original bytes, untouched
    assert "ContractError" in by_key[b"garbage"].header(H_ERROR)
    assert "newer" in by_key[b"future"].header(H_ERROR)
    assert "PermanentError" in by_key[b"a0003"].header(H_ERROR)
    assert by_key[b"a0004"].header(H_ATTEMPTS) == "3"
    assert by_key[b"a0004"].header(H_TOPIC) == names["raw"]
    assert by_key[b"a0004"].header(H_OFFSET) == "4"
    assert by_key[b"a0004"].header(H_STAGE) == "test"
    out = poll_all(_subscribed(transport, names["out"]), 2)
    assert sorted(m.key for m in out) == [b"a0000", b"a0005"]


def test_transient_failures_are_retried_not_dead_lettered(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, out=1, dlq=1)
    produce(transport.broker, names["raw"], [art(1, "flaky once")])
    w = _worker(transport, names, processor=Upper(flaky_failures=2), output_topic=names["out"], max_retries=2)
    counters = w.run(once=True)
    w.close()
    assert counters.produced == 1 and counters.dead_lettered == 0 and counters.retries == 2


class BatchUpper(Upper):
    """Upper with a ``process_batch`` (as enrich has): counts batch calls;
    'batchfail*' titles fail inside the batch only (a locked store at that
    moment), so the transport must retry them one by one."""

    def __init__(self, flaky_failures: int = 0) -> None:
        super().__init__(flaky_failures)
        self.batches: list[int] = []

    def process_batch(self, articles: Sequence[Article]) -> list:
        self.batches.append(len(articles))
        out: list = []
        for a in articles:
            if a.title.startswith("batchfail"):
                out.append(sqlite3.OperationalError("database is locked"))
                continue
            try:
                out.append(self.process(a))
            except Exception as exc:
                out.append(exc)
        return out


def test_a_batch_processor_gets_the_batch_and_failures_are_retried_alone(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, out=1, dlq=1)
    arts = [art(0), art(1, "batchfail then fine"), art(2, "permanent failure"), art(3, "flaky once"), art(4)]
    produce(transport.broker, names["raw"], arts)
    proc = BatchUpper(flaky_failures=1)
    w = _worker(transport, names, processor=proc, output_topic=names["out"], max_retries=2)
    counters = w.run(once=True)
    w.close()
    assert sum(proc.batches) == 5 and max(proc.batches) > 1  # one call for the batch, not five
    assert counters.produced == 4 and counters.dead_lettered == 1
    assert proc.calls["a0001"] == 1  # failed in the batch, then once alone: fine
    assert proc.calls["a0002"] == 1  # poison: straight to the DLQ, not tried again
    assert proc.calls["a0003"] == 2  # the batch try failed, one retry alone
    out = poll_all(_subscribed(transport, names["out"]), 4)
    assert [m.key for m in out] == [b"a0000", b"a0001", b"a0003", b"a0004"]  # input order kept
    dead = poll_all(_subscribed(transport, names["dlq"]), 1)
    assert dead[0].key == b"a0002" and dead[0].header(H_ATTEMPTS) == "1"


class LockedBatchUpper(Upper):
    """The store was locked for the whole batch call; alone, each works."""

    def process_batch(self, articles: Sequence[Article]) -> list:
        return [sqlite3.OperationalError("database is locked") for _ in articles]


def test_a_batch_that_failed_as_a_whole_waits_one_backoff_not_one_per_article(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, out=1, dlq=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(10)])
    slept: list[float] = []
    w = _worker(transport, names, processor=LockedBatchUpper(), output_topic=names["out"], batch_size=10,
                sleep=slept.append)
    wait_until(lambda: w.counters.produced >= 10, step=w.step, what="10 articles")
    w.close()
    assert w.counters.dead_lettered == 0
    assert 1 <= len(slept) <= 2  # one per polled batch (a real broker may hand the 10 over in two), not 10


def test_a_large_batch_goes_to_the_processor_in_chunks_each_produced_before_the_next(
        transport: TransportEnv) -> None:
    names = transport.topics(raw=1, out=1, dlq=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(10)])
    proc = BatchUpper()
    w = _worker(transport, names, processor=proc, output_topic=names["out"], batch_size=10, chunk_size=4)
    produced_before: list[int] = []
    real = proc.process_batch

    def watching(articles):
        produced_before.append(w.counters.produced)
        return real(articles)

    proc.process_batch = watching  # type: ignore[method-assign]
    wait_until(lambda: w.counters.produced >= 10, step=w.step, what="10 articles")
    w.close()
    chunks = proc.batches
    assert all(c <= 4 for c in chunks) and sum(chunks) == 10
    # each chunk's outputs were handed to the producer before the next chunk was processed
    assert produced_before == [sum(chunks[:k]) for k in range(len(chunks))]
    out = poll_all(_subscribed(transport, names["out"]), 10)
    assert [m.key for m in out] == [a.id.encode() for a in map(art, range(10))]


def test_replayed_dlq_message_goes_back_to_its_origin(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, out=1, dlq=1)
    produce(transport.broker, names["raw"], [art(1, "permanent until fixed")])
    w = _worker(transport, names, processor=Upper(), output_topic=names["out"])
    w.run(once=True)
    w.close()
    dead = poll_all(_subscribed(transport, names["dlq"]), 1)
    p = transport.broker.producer()
    assert replay(p, dead[0]) == names["raw"]
    p.flush()
    raw = poll_all(_subscribed(transport, names["raw"]), 2)
    assert raw[-1].value == dead[0].value and raw[-1].key == b"a0001"
    assert not any(k.startswith("nw-error") for k, _ in raw[-1].headers)


def test_sink_poison_is_isolated_by_bisection(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, dlq=1)
    arts = [art(i, "poison pill" if i == 7 else None) for i in range(20)]
    produce(transport.broker, names["raw"], arts)
    sink = RecordingSink()
    w = _worker(transport, names, sink=sink, batch_size=20, max_retries=1)
    counters = w.run(once=True)
    w.close()
    assert set(sink.docs) == {a.id for a in arts} - {"a0007"}
    assert counters.dead_lettered == 1
    dead = poll_all(_subscribed(transport, names["dlq"]), 1)
    assert dead[0].key == b"a0007" and "mapping error" in dead[0].header(H_ERROR)
    assert dead[0].header(H_ATTEMPTS) == str(sink.tries["a0007"])  # every write it was part of
    assert sink.tries["a0007"] > 2  # the batch's own tries and then some


class NamingSink(RecordingSink):
    """Fake sink like the real ones: writes the rest of the batch and names
    the 'poison*' articles it refused."""

    def write(self, batch: Sequence[Article]) -> None:
        self.calls += 1
        self.tries.update(a.id for a in batch)
        bad = [a.id for a in batch if a.title.startswith("poison")]
        self.writes += 1
        for a in batch:
            if a.id not in bad:
                self.docs[a.id] = a
        if bad:
            raise PermanentError(f"cannot index {bad}", article_ids=bad)


def test_a_sink_that_names_what_it_refused_has_only_those_dead_lettered(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, dlq=1)
    arts = [art(i, "poison pill" if i in (3, 11) else None) for i in range(20)]
    produce(transport.broker, names["raw"], arts)
    sink = NamingSink()
    w = _worker(transport, names, sink=sink, batch_size=20, max_retries=1)
    counters = w.run(once=True)
    w.close()
    assert set(sink.docs) == {a.id for a in arts} - {"a0003", "a0011"}
    assert sink.calls == 1  # no bisection: the good ones are not written again
    assert counters.dead_lettered == 2 and counters.written == 18
    dead = poll_all(_subscribed(transport, names["dlq"]), 2)
    assert {m.key for m in dead} == {b"a0003", b"a0011"} and "cannot index" in dead[0].header(H_ERROR)


class FlappingSink(RecordingSink):
    """Fake sink that times out on the given call numbers (an overloaded
    engine: 429s, SQLite busy) and writes otherwise."""

    def __init__(self, failing_calls: set[int]) -> None:
        super().__init__()
        self.failing_calls = failing_calls

    def write(self, batch: Sequence[Article]) -> None:
        if self.calls + 1 in self.failing_calls:
            self.calls += 1
            self.tries.update(a.id for a in batch)
            raise TimeoutError("engine busy (HTTP 429)")
        super().write(batch)


def test_flapping_sink_dead_letters_nothing(transport: TransportEnv) -> None:
    # the whole batch and the lone article 4 time out repeatedly while its
    # siblings write: a timeout is never the article's fault
    names = transport.topics(raw=1, dlq=1)
    arts = [art(i) for i in range(8)]
    produce(transport.broker, names["raw"], arts)
    sink = FlappingSink({1, 2, 3, 4, 6, 7, 8, 9, 10, 11})
    w = _worker(transport, names, sink=sink, max_retries=3, sleep=lambda s: None)
    counters = w.run(once=True)
    w.close()
    assert counters.dead_lettered == 0
    assert set(sink.docs) == {a.id for a in arts}


def test_lone_article_timing_out_is_not_dead_lettered(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, dlq=1)
    arts = [art(i, "slow" if i == 3 else None) for i in range(6)]
    produce(transport.broker, names["raw"], arts)
    sink = RecordingSink()
    slow = {"on": True}
    real_write = sink.write

    def write(batch: Sequence[Article]) -> None:
        if slow["on"] and any(a.title == "slow" for a in batch):
            sink.calls += 1
            raise TimeoutError("read timed out")
        real_write(batch)
    sink.write = write  # type: ignore[method-assign]
    w = _worker(transport, names, sink=sink, max_retries=1)
    wait_until(lambda: w.counters.redelivered_batches >= 2, step=w.step, what="two re-reads")
    assert w.counters.dead_lettered == 0 and "a0003" not in sink.docs
    slow["on"] = False
    wait_until(lambda: "a0003" in sink.docs, step=w.step, what="the slow article written")
    w.close()
    assert w.counters.dead_lettered == 0 and set(sink.docs) == {a.id for a in arts}


def test_sink_outage_costs_few_write_calls_not_two_per_article(transport: TransportEnv) -> None:
    for n, error in enumerate((ConnectionError("down"), ValueError("500 internal error"))):
        t = transport.topics(**{f"raw{n}": 1, f"dlq{n}": 1})
        names = {"raw": t[f"raw{n}"], "dlq": t[f"dlq{n}"]}
        produce(transport.broker, names["raw"], [art(i) for i in range(40)])
        sink = RecordingSink()

        def write(batch: Sequence[Article], error: Exception = error) -> None:
            sink.calls += 1
            raise error
        sink.write = write  # type: ignore[method-assign]
        w = _worker(transport, names, sink=sink, batch_size=40, max_retries=1, group_id=transport.group(
            type(error).__name__))
        wait_until(lambda: w.counters.redelivered_batches >= 1, step=w.step, what="one failed batch")
        w.close()
        assert w.counters.dead_lettered == 0
        # the batch of 40 (2 tries), then a few halves and lone tries: not ~80 calls
        assert sink.calls <= 20, (error, sink.calls)


class LockedUpper(Upper):
    """Fake processor whose state DB is locked while ``locked`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.locked = True

    def process(self, a: Article) -> list[Article]:
        if self.locked:
            self.calls[a.id] += 1
            raise sqlite3.OperationalError("database is locked")
        return super().process(a)


def test_processor_outage_dead_letters_nothing_and_reads_again(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, out=1, dlq=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(6)])
    proc = LockedUpper()
    w = _worker(transport, names, processor=proc, output_topic=names["out"], max_retries=1)
    wait_until(lambda: w.counters.redelivered_batches >= 2, step=w.step, what="two failed attempts")
    assert w.counters.dead_lettered == 0 and w.counters.produced == 0
    proc.locked = False
    wait_until(lambda: w.counters.produced >= 6, step=w.step, what="recovery")
    w.close()
    assert w.counters.dead_lettered == 0
    out = poll_all(_subscribed(transport, names["out"]), 6)
    assert {m.key for m in out} == {a.id.encode() for a in map(art, range(6))}


class BrokenUpper(Upper):
    """Fake processor with a bug of the stage (not of the data) while
    ``broken``: every article fails with an error that is not transient."""

    broken = True

    def process(self, a: Article) -> list[Article]:
        if self.broken and not a.title.startswith("permanent"):
            self.calls[a.id] += 1
            raise RuntimeError("stage bug")
        return super().process(a)


def test_bad_data_between_two_failures_does_not_clear_the_suspect(transport: TransportEnv) -> None:
    """a0 fails all its retries (a suspect), a1 is bad data, a2 fails too:
    two failures with only bad data between them is the stage, not a0 --
    a0 must not be dead-lettered because a1 was."""
    names = transport.topics(raw=1, out=1, dlq=1)
    produce(transport.broker, names["raw"], [art(0), art(1, "permanent one"), art(2)])
    proc = BrokenUpper()
    w = _worker(transport, names, processor=proc, output_topic=names["out"], max_retries=1)
    wait_until(lambda: w.counters.redelivered_batches >= 1, step=w.step, what="a failed attempt")
    proc.broken = False
    wait_until(lambda: w.counters.produced >= 2, step=w.step, what="recovery")
    w.close()
    dead = poll_all(_subscribed(transport, names["dlq"]), 1)
    assert {m.key for m in dead} == {b"a0001"}
    # the batch was read again after the outage: its bad-data article is dead-lettered once, not twice
    assert w.counters.dead_lettered == 1 and w.counters.redelivered_batches >= 1
    out = poll_all(_subscribed(transport, names["out"]), 2)
    assert {m.key for m in out} == {b"a0000", b"a0002"}


def test_sink_outage_dead_letters_nothing_and_commits_nothing(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, dlq=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(5)])
    sink = RecordingSink()
    sink.down = True
    w = _worker(transport, names, sink=sink, max_retries=1)
    wait_until(lambda: w.counters.redelivered_batches >= 2, step=w.step, what="two failed attempts")
    assert w.counters.dead_lettered == 0 and not sink.docs
    sink.down = False  # the sink comes back: the same batch is read again and written
    wait_until(lambda: len(sink.docs) == 5, step=w.step, what="recovery")
    w.close()
    assert w.counters.dead_lettered == 0


class FlakyFlushBroker:
    """Wraps a broker: the first *n* producer flushes raise (as a broker
    outage would) after sending -- outputs may or may not have landed."""

    def __init__(self, inner: Broker, n: int) -> None:
        self.inner, self.n, self.name = inner, n, inner.name

    def producer(self):
        inner, outer = self.inner.producer(), self

        class P:
            def produce(self, *a, **kw):
                inner.produce(*a, **kw)

            def flush(self, timeout=None):
                inner.flush(timeout)
                if outer.n > 0:
                    outer.n -= 1
                    raise TransportError("injected: not acknowledged")

            def close(self):
                inner.close()

        return P()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_output_not_acknowledged_means_input_not_committed(transport: TransportEnv) -> None:
    names = transport.topics(raw=1, out=1, dlq=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(10)])
    w = StageWorker(FlakyFlushBroker(transport.broker, 1), stage="test", group_id=transport.group("w"),  # type: ignore[arg-type]
                    input_topic=names["raw"], dlq_topic=names["dlq"], processor=Upper(),
                    output_topic=names["out"], backoff=0.01, poll_timeout=0.2)
    counters = w.run(once=True)
    w.close()
    assert counters.redelivered_batches == 1
    out = poll_all(_subscribed(transport, names["out"]), 10)
    assert {m.key for m in out} == {a.id.encode() for a in map(art, range(10))}  # at least once


def test_stop_finishes_the_batch_and_commits(transport: TransportEnv) -> None:
    names = transport.topics(raw=2, out=2, dlq=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(40)])
    w = _worker(transport, names, processor=Upper(), output_topic=names["out"], batch_size=5)
    wait_until(lambda: w.counters.batches >= 1, step=w.step, what="a first batch")
    w.stop()
    counters = w.run()  # returns at once: stop requested
    w.close()
    done = counters.consumed
    rest = _worker(transport, names, processor=Upper(), output_topic=names["out"])
    assert rest.run(once=True).consumed == 40 - done  # nothing processed twice, nothing skipped
    rest.close()


def test_two_workers_in_a_group_process_everything_once_between_them(transport: TransportEnv) -> None:
    names = transport.topics(raw=4, out=4, dlq=1)
    produce(transport.broker, names["raw"], [art(i) for i in range(200)])
    sinks = [RecordingSink(), RecordingSink()]
    workers = [_worker(transport, names, sink=s, batch_size=10) for s in sinks]
    threads = [threading.Thread(target=w.run, kwargs={"idle_exit": 3.0}) for w in workers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(WAIT * 2)
    for w in workers:
        w.close()
    ids = [i for s in sinks for i in s.docs]
    assert sorted(set(ids)) == sorted(a.id for a in map(art, range(200)))


def test_ownership_splits_keys_between_members(transport: TransportEnv) -> None:
    names = transport.topics(feeds=6)
    owned: dict[str, set[int]] = {"a": set(), "b": set()}

    def tracker(name: str):
        def on_change(parts: set[int], n: int) -> None:
            assert n == 6
            owned[name] = parts
        return on_change

    a = PartitionOwnership(transport.broker, transport.group("ingest"), names["feeds"], tracker("a"))
    b = PartitionOwnership(transport.broker, transport.group("ingest"), names["feeds"], tracker("b"))

    def both() -> None:
        a.poll(0.1)
        b.poll(0.1)

    wait_until(lambda: owned["a"] and owned["b"] and len(owned["a"] | owned["b"]) == 6, step=both,
               what="both owners assigned")
    assert not owned["a"] & owned["b"]
    b.close()  # b leaves: a takes every partition
    wait_until(lambda: owned["a"] == set(range(6)), step=lambda: a.poll(0.2), what="a owning everything")
    a.close()


def _subscribed(t: TransportEnv, topic: str):
    c = t.broker.consumer(t.group("reader-" + uuid.uuid4().hex[:6]))
    c.subscribe([topic])
    return c
