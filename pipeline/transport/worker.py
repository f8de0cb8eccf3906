"""The at-least-once stage worker: poll a batch, handle it, make the result
durable, and only then commit.

- a *processor* stage (enrich): each message is decoded and processed (bounded
  retries); outputs are produced keyed by article id; the producer is flushed
  (acks=all) and only then are the input offsets committed.
- a *sink* stage (index, alerts): the decoded batch is written (bounded
  retries); only then are the offsets committed.  A sink that wrote the rest
  and names the articles it refused (PermanentError.article_ids) has just
  those dead-lettered.  If the batch keeps failing otherwise it is bisected: a lone article that fails with its full retries while other
  writes of the batch succeed, with an error that is not a known-transient
  kind (timeout, connection, OSError, SQLite locked/busy), is poison and goes
  to the DLQ.  A transient failure with nothing written yet, or nothing
  written at all, means the sink is down: bisection stops (a full outage costs
  a few calls, not ~2n), nothing is dead-lettered and the batch is read again
  after a backoff (an outage must never empty the stream into the DLQ).
- a processor that fails (non-permanently, after its retries) on two messages
  in a row is treated the same way: a stage outage (dedupe DB locked, disk
  full), not two poison messages.

Undecodable or too-new messages (ContractError) and PermanentError go to the
DLQ without retries, when their batch is done (a batch that is read again
after an outage does not dead-letter them twice).  A batch that could not be
finished (producer or sink down) is not committed: the worker seeks back and
reads it again.

Rebalance safety comes from the shape of the loop: a batch is fully handled
and committed before the next ``poll``, and rebalance callbacks only run
inside ``poll``; so when partitions are revoked there is no processed but
uncommitted work, and never a committed but unprocessed offset.  A commit
that loses a race with a rebalance (CommitFailed) only means redelivery to
the new owner, which the idempotent sinks absorb.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from newswatch.pipeline.article import Article, ContractError
from newswatch.pipeline.stage import PermanentError, Processor, Sink, is_transient, process_many
from newswatch.pipeline.transport.broker import (
    Broker, CommitFailed, Consumer, Message, Producer, TopicPartition, TransportError,
)
from newswatch.pipeline.transport.dlq import send_to_dlq

log = logging.getLogger(__name__)


@dataclass
class WorkerCounters:
    consumed: int = 0
    produced: int = 0
    written: int = 0
    dead_lettered: int = 0
    retries: int = 0
    batches: int = 0
    redelivered_batches: int = 0
    commit_conflicts: int = 0

    def line(self) -> str:
        return (f"consumed {self.consumed}, produced {self.produced}, written {self.written}, "
                f"dlq {self.dead_lettered}, retries {self.retries}, batches {self.batches}, "
                f"re-read {self.redelivered_batches}")


class StageUnavailable(Exception):
    """The stage cannot do its work right now: the batch is re-read later."""


class SinkUnavailable(StageUnavailable):
    pass




@dataclass
class _BatchWrite:
    """Book-keeping for one sink batch while it is bisected."""
    written: int = 0
    attempts: dict[tuple[TopicPartition, int], int] = field(default_factory=dict)
    # articles that failed alone (non-transiently) before anything was written:
    # poison only if some other write of the batch then succeeds
    suspects: list[tuple[Message, Exception]] = field(default_factory=list)

    def tried(self, items: Sequence[tuple[Message, Article]]) -> None:
        for m, _ in items:
            self.attempts[(m.tp, m.offset)] = self.attempts.get((m.tp, m.offset), 0) + 1

    def attempts_of(self, msg: Message) -> int:
        return self.attempts.get((msg.tp, msg.offset), 1)


# A full outage with a non-transient error looks like "every article is
# poison"; after this many lone failures with nothing written, call it an outage.
MAX_SUSPECTS = 2


class StageWorker:
    def __init__(
        self,
        broker: Broker,
        *,
        stage: str,
        group_id: str,
        input_topic: str,
        dlq_topic: str,
        processor: Processor | None = None,
        output_topic: str | None = None,
        sink: Sink | None = None,
        batch_size: int = 500,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        poll_timeout: float = 0.5,
        tick: Callable[[], object] | None = None,
        tick_every: float = 30.0,
        status_every: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        chunk_size: int = 64,
    ) -> None:
        if (processor is None) == (sink is None):
            raise ValueError("a stage worker runs exactly one processor or one sink")
        if processor is not None and not output_topic:
            raise ValueError("a processor stage needs an output topic")
        self.broker = broker
        self.stage = stage
        self.group_id = group_id
        self.input_topic = input_topic
        self.output_topic = output_topic
        self.dlq_topic = dlq_topic
        self.processor = processor
        self.sink = sink
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll_timeout = poll_timeout
        self.tick = tick
        self.tick_every = tick_every
        self.status_every = status_every
        self.sleep = sleep
        self.chunk_size = chunk_size
        self.counters = WorkerCounters()
        self.stop_event = threading.Event()
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._outage_delay = backoff
        self._parked: list[tuple[Message, BaseException | str, int]] = []  # this batch's DLQ records
        self.assigned: list[TopicPartition] = []

    # -- lifecycle -----------------------------------------------------------
    def open(self) -> None:
        if self._consumer is not None:
            return
        self._producer = self.broker.producer()
        self._consumer = self.broker.consumer(self.group_id, max_poll_records=self.batch_size)
        self._consumer.subscribe([self.input_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, tps: list[TopicPartition]) -> None:
        self.assigned = sorted(tps)
        log.info("%s: assigned %s", self.stage, ", ".join(f"{t}[{p}]" for t, p in self.assigned) or "nothing")

    def _on_revoke(self, tps: list[TopicPartition]) -> None:
        # Nothing to finish here: every batch is committed before the next poll.
        log.info("%s: partitions revoked: %s", self.stage, ", ".join(f"{t}[{p}]" for t, p in tps) or "none")
        self.assigned = []

    def stop(self) -> None:
        """Ask the loop to finish the current batch, commit and return."""
        self.stop_event.set()

    def close(self) -> None:
        for closer in (self._consumer, self._producer):
            if closer is None:
                continue
            try:
                closer.close()
            except Exception:  # a broker gone at shutdown must not hide the stage's own close
                log.warning("%s: closing the Kafka client failed", self.stage, exc_info=True)
        self._consumer = self._producer = None
        for part in (self.processor, self.sink):
            if part is not None:
                try:
                    part.close()
                except Exception:
                    log.exception("%s: closing the stage failed", self.stage)

    def run(self, *, once: bool = False, idle_exit: float | None = None) -> WorkerCounters:
        """Loop until :meth:`stop`; with *once*, also return as soon as the
        input is drained (nothing left uncommitted in the assigned
        partitions); with *idle_exit*, after that many seconds without a
        message (both checked only once partitions are assigned)."""
        self.open()
        last_msg = last_tick = last_status = time.monotonic()
        try:
            while not self.stop_event.is_set():
                got = self.step()
                now = time.monotonic()
                if got:
                    last_msg = now
                if self.tick is not None and now - last_tick >= self.tick_every:
                    last_tick = now
                    self._run_tick()
                if now - last_status >= self.status_every:
                    last_status = now
                    log.info("%s: %s", self.stage, self.counters.line())
                if got or not self.assigned:
                    continue
                if idle_exit is not None and now - last_msg >= idle_exit:
                    log.info("%s: idle for %.0fs, exiting", self.stage, idle_exit)
                    break
                if once and self._drained():
                    log.info("%s: input drained, exiting", self.stage)
                    break
        finally:
            if self.tick is not None:
                self._run_tick()
            log.info("%s: stopped: %s", self.stage, self.counters.line())
        return self.counters

    def _drained(self) -> bool:
        try:
            return self._consumer.lag() == 0  # type: ignore[union-attr]
        except TransportError as exc:
            log.warning("%s: cannot check lag: %s", self.stage, exc)
            return False

    def _run_tick(self) -> None:
        try:
            self.tick()  # type: ignore[misc]
        except Exception:
            log.exception("%s: tick failed", self.stage)

    # -- one batch -----------------------------------------------------------
    def step(self) -> int:
        """Poll and fully handle one batch; the number of messages seen."""
        self.open()
        consumer = self._consumer
        assert consumer is not None
        try:
            msgs = consumer.poll(self.poll_timeout, self.batch_size)
        except TransportError as exc:
            log.warning("%s: poll failed: %s -- retrying", self.stage, exc)
            self._outage_pause()
            return 0
        if not msgs:
            return 0
        self.counters.consumed += len(msgs)
        self._parked = []
        try:
            if self.processor is not None:
                self._process(msgs)
            else:
                self._write(msgs)
            self._send_parked()
            self._producer.flush()  # type: ignore[union-attr]  # outputs and DLQ records, acks=all
        except (TransportError, StageUnavailable) as exc:
            self._parked = []  # found again when the batch is read again
            log.warning("%s: batch of %d not done (%s); reading it again", self.stage, len(msgs), exc)
            self.counters.redelivered_batches += 1
            self._rewind(msgs)
            self._outage_pause()
            return len(msgs)
        self._commit(msgs)
        self._outage_delay = self.backoff
        self.counters.batches += 1
        return len(msgs)

    def _commit(self, msgs: Sequence[Message]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for m in msgs:
            offsets[m.tp] = max(offsets.get(m.tp, 0), m.offset + 1)
        try:
            self._consumer.commit(offsets)  # type: ignore[union-attr]
        except CommitFailed as exc:
            self.counters.commit_conflicts += 1
            log.warning("%s: commit lost to a rebalance (%s); the new owner re-reads, sinks are idempotent",
                        self.stage, exc)
        except TransportError as exc:
            # the output is durable but the offsets are not: re-reading is
            # safe (idempotent), losing would not be
            log.warning("%s: commit failed (%s); reading the batch again", self.stage, exc)
            self._rewind(msgs)
            self._outage_pause()

    def _rewind(self, msgs: Sequence[Message]) -> None:
        first: dict[TopicPartition, int] = {}
        for m in msgs:
            first[m.tp] = min(first.get(m.tp, m.offset), m.offset)
        for tp, off in first.items():
            try:
                self._consumer.seek(tp, off)  # type: ignore[union-attr]
            except Exception as exc:  # partition revoked meanwhile: its new owner reads it
                log.info("%s: cannot seek %s: %s", self.stage, tp, exc)

    def _outage_pause(self) -> None:
        self.stop_event.wait(self._outage_delay)  # a stop request cuts the pause short
        self._outage_delay = min(self._outage_delay * 2, self.max_backoff)

    def _dead_letter(self, msg: Message, error: BaseException | str, attempts: int) -> None:
        """Park *msg* for the DLQ; sent once the batch is done (see step):
        a batch read again after an outage must not dead-letter it twice."""
        self._parked.append((msg, error, attempts))

    def _send_parked(self) -> None:
        parked, self._parked = self._parked, []
        for msg, error, attempts in parked:
            log.warning("%s: %s[%d]@%d -> DLQ after %d attempt(s): %s", self.stage, msg.topic, msg.partition,
                        msg.offset, attempts, error)
            send_to_dlq(self._producer, self.dlq_topic, msg, self.stage, error, attempts)  # type: ignore[arg-type]
            self.counters.dead_lettered += 1

    @staticmethod
    def _decode(msg: Message) -> Article:
        if msg.value is None:
            raise ContractError("empty message (tombstone)")
        return Article.from_json(msg.value)

    def _process(self, msgs: Sequence[Message]) -> None:
        """Process each message; one that exhausts its retries is held as a
        suspect until the next message decides: if that one fails too, the
        stage (not the data) is broken and the batch is read again later."""
        producer = self._producer
        assert producer is not None and self.processor is not None and self.output_topic
        suspect: tuple[Message, Exception, int] | None = None
        decoded: list[tuple[Message, Article]] = []
        for msg in msgs:
            try:
                decoded.append((msg, self._decode(msg)))
            except ContractError as exc:
                self._dead_letter(msg, exc, 1)
        wait = True  # no backoff before a retry right after a retry that worked
        for n, (msg, article, result) in enumerate(self._first_tries(decoded)):
            if n % self.chunk_size == 0:
                wait = True  # a new chunk, a new first try: its failure is news
            attempt = 1
            failed: Exception | None = None
            outputs: list[Article] | None = None
            error = result if isinstance(result, Exception) else None
            if error is None:
                outputs = result  # type: ignore[assignment]
            while error is not None:
                if isinstance(error, (PermanentError, ContractError)):
                    self._dead_letter(msg, error, attempt)
                    break
                if attempt > self.max_retries:
                    failed = error
                    break
                self.counters.retries += 1
                log.info("%s: %s failed (attempt %d): %s -- retrying", self.stage, article.id, attempt, error)
                if wait or attempt > 1:
                    self.sleep(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))
                attempt += 1
                try:
                    outputs, error = self.processor.process(article), None
                except Exception as exc:
                    error = exc
            if attempt > 1:
                # a batch that failed as a whole (a locked store) costs one backoff, not one per article
                wait = outputs is None
            if failed is not None:
                if suspect is not None:
                    log.error("%s: two messages in a row failed after %d attempts each (%s; %s): treating it "
                              "as a stage outage, nothing dead-lettered, re-reading the batch after a backoff",
                              self.stage, attempt, suspect[1], failed)
                    raise StageUnavailable(f"{self.stage}: consecutive failures: {failed}")
                suspect = (msg, failed, attempt)
                continue
            if outputs is None:  # bad data, dead-lettered: says nothing about the stage
                continue
            if suspect is not None:  # the next message went through: the suspect alone is bad
                self._dead_letter(*suspect)
                suspect = None
            for out in outputs:
                producer.produce(self.output_topic, out.to_bytes(), key=out.id.encode("utf-8"))
                self.counters.produced += 1
        if suspect is not None:  # the batch's last message: nothing after it to say otherwise
            self._dead_letter(*suspect)

    def _first_tries(self, decoded: list[tuple[Message, Article]]) -> Iterator[tuple[Message, Article, Any]]:
        """(message, article, result or error) in order.  The processor gets
        ``chunk_size`` articles per call (enrich: one dedupe commit each); an
        article that failed there is retried on its own by the caller.  The
        caller produces a chunk's outputs before the next chunk is processed,
        so the next stage starts on them while the rest of a large batch is
        still in hand (a 500-message batch held back its outputs ~0.6 s)."""
        for i in range(0, len(decoded), self.chunk_size):
            part = decoded[i:i + self.chunk_size]
            for (msg, article), result in zip(part, process_many(self.processor, [a for _, a in part])):
                yield msg, article, result

    def _write(self, msgs: Sequence[Message]) -> None:
        assert self.sink is not None
        items: list[tuple[Message, Article]] = []
        for msg in msgs:
            try:
                items.append((msg, self._decode(msg)))
            except ContractError as exc:
                self._dead_letter(msg, exc, 1)
        if not items:
            return
        state = _BatchWrite()
        error = self._try_write(items, state, retries=self.max_retries)
        if error is None:
            self.counters.written += len(items)
            return
        if isinstance(error, PermanentError) and error.article_ids is not None:
            # the sink wrote the rest and named what it refused
            refused = [(msg, a) for msg, a in items if a.id in error.article_ids]
            self.counters.written += len(items) - len(refused)
            for msg, _ in refused:
                self._dead_letter(msg, error, state.attempts_of(msg))
            return
        if len(items) == 1 and not _is_permanent(error):
            raise SinkUnavailable(f"{self.sink.name}: {error}")
        poisoned = self._bisect(items, error, state)
        if state.suspects:
            if state.written == 0:
                raise SinkUnavailable(f"{self.sink.name} wrote nothing: {state.suspects[0][1]}")
            poisoned += state.suspects
        self.counters.written += state.written
        for msg, exc in poisoned:
            self._dead_letter(msg, exc, state.attempts_of(msg))

    def _try_write(self, items: Sequence[tuple[Message, Article]], state: _BatchWrite, *,
                   retries: int) -> Exception | None:
        assert self.sink is not None
        batch = [a for _, a in items]
        for attempt in range(retries + 1):
            state.tried(items)
            try:
                self.sink.write(batch)
                return None
            except (PermanentError, ContractError) as exc:
                return exc
            except Exception as exc:
                if attempt == retries:
                    return exc
                self.counters.retries += 1
                log.info("%s: write of %d failed (attempt %d): %s -- retrying", self.stage, len(batch),
                         attempt + 1, exc)
                self.sleep(min(self.backoff * 2 ** attempt, self.max_backoff))
        return None

    def _bisect(self, items: list[tuple[Message, Article]], error: Exception,
                state: _BatchWrite) -> list[tuple[Message, Exception]]:
        """Split a failing batch until the failing articles are alone; the
        poisoned (message, error) pairs.  Raises SinkUnavailable as soon as
        the failures look like the sink rather than the articles."""
        assert self.sink is not None
        if len(items) == 1:
            msg = items[0][0]
            if not _is_permanent(error):
                # so far it failed in company with one retry: give it the full retries, alone
                error = self._try_write(items, state, retries=self.max_retries)
                if error is None:
                    state.written += 1
                    return []
            if _is_permanent(error):
                return [(msg, error)]
            if is_transient(error):
                raise SinkUnavailable(f"{self.sink.name}: {error}")
            if state.written:
                return [(msg, error)]
            state.suspects.append((msg, error))
            if len(state.suspects) >= MAX_SUSPECTS:
                raise SinkUnavailable(f"{self.sink.name}: {len(state.suspects)} articles failed alone and "
                                      f"nothing was written: {error}")
            return []
        mid = len(items) // 2
        poisoned: list[tuple[Message, Exception]] = []
        for half in (items[:mid], items[mid:]):
            err = self._try_write(half, state, retries=1)
            if err is None:
                state.written += len(half)
                continue
            if is_transient(err) and state.written == 0:
                raise SinkUnavailable(f"{self.sink.name}: {err}")
            poisoned += self._bisect(half, err, state)
        return poisoned


def _is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, (PermanentError, ContractError))
