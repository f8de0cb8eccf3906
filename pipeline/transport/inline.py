"""The embedded transport: stages called in order, in one process.

``InlinePipeline`` is the ``emit`` callback ingest hands its new Articles to.
It runs the processor (enrich) on each, then gives the batch to every sink
(index, alerts).  A sink or processor that keeps failing with a transient
error makes ``__call__`` raise, so the caller (ingest) does not record those
items as seen and offers them again: nothing is lost.  An article that can
never be processed or written (a poison article) goes to the quarantine file
with its error, and the rest go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from newswatch.pipeline.article import Article
from newswatch.pipeline.quarantine import Quarantine
from newswatch.pipeline.stage import PermanentError, Processor, Sink, is_transient, process_many

log = logging.getLogger(__name__)


@dataclass
class Counters:
    received: int = 0
    enriched: int = 0
    duplicates: int = 0
    quarantined: int = 0
    written: dict[str, int] = field(default_factory=dict)
    sink_errors: int = 0


class SinkFailed(RuntimeError):
    """A sink kept failing: the batch is not written, the caller must not
    record its items as done."""


class ProcessorFailed(RuntimeError):
    """The processor kept failing with a transient error (a stage outage,
    not a poison article)."""


class InlinePipeline:
    def __init__(
        self,
        processor: Processor,
        sinks: Sequence[Sink],
        quarantine: Quarantine,
        *,
        retries: int = 4,
        backoff: float = 0.5,
    ):
        self.processor = processor
        self.sinks = list(sinks)
        self.quarantine = quarantine
        self.retries = retries
        self.backoff = backoff
        self.counters = Counters()
        # enrich's dedupe state and the sinks' connections are not built for
        # concurrent callers; ingest polls feeds in parallel threads.
        self._lock = threading.Lock()

    def __call__(self, raw: Sequence[Article]) -> None:
        with self._lock:
            out: list[Article] = []
            self.counters.received += len(raw)
            wait = True
            for article, result in zip(raw, process_many(self.processor, raw)):
                # a failure in the batch: poison is quarantined, a transient error retried alone
                if isinstance(result, Exception):
                    result, recovered = self._process(article, result, wait=wait)
                    # the cause has passed: the next one's retry need not wait (one backoff
                    # for a batch that failed as a whole, not one per article)
                    wait = not recovered
                out.extend(result)
            self.counters.enriched += len(out)
            self.counters.duplicates += sum(1 for a in out if a.duplicate_of)
            if out:
                for sink in self.sinks:
                    self._write(sink, out)

    def _process(self, article: Article, error: Exception, *, wait: bool = True) -> tuple[list[Article], bool]:
        """The article whose first try (in the batch) raised *error*, and
        whether a retry worked.  A transient error (locked database, full
        disk) is retried alone after a backoff (none before the first retry
        unless *wait*), then raised, so ingest keeps the item unseen and
        offers it again; any other error means this article is poison: it
        is quarantined with its error and the rest go on."""
        delay = self.backoff
        for attempt in range(1, self.retries + 1):
            if not is_transient(error):
                break
            if wait or attempt > 1:
                log.warning("enrich of %s failed (attempt %d): %s -- retrying in %.1fs",
                            article.id, attempt, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30)
            try:
                return self.processor.process(article), True
            except Exception as exc:
                error = exc
        if is_transient(error):
            raise ProcessorFailed(f"{self.processor.name} failed {self.retries + 1} times: {error}") from error
        log.warning("enrich failed for %s (%s): %s -- quarantined", article.id, article.url, error)
        self.quarantine.put(self.processor.name, article.to_dict(), error)
        self.counters.quarantined += 1
        return [], False

    def _write(self, sink: Sink, batch: list[Article]) -> None:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                sink.write(batch)
                self.counters.written[sink.name] = self.counters.written.get(sink.name, 0) + len(batch)
                return
            except PermanentError as exc:
                # some article of the batch can never be written: park it, keep the rest
                if exc.article_ids is None:  # the sink did not say which: find out one by one
                    log.warning("%s refused part of a batch: %s -- writing one by one", sink.name, exc)
                    self._write_each(sink, batch)
                    return
                refused = [a for a in batch if a.id in exc.article_ids]
                for article in refused:
                    self._park(sink, article, exc)
                written = len(batch) - len(refused)
                self.counters.written[sink.name] = self.counters.written.get(sink.name, 0) + written
                return
            except Exception as exc:
                self.counters.sink_errors += 1
                if attempt == self.retries:
                    raise SinkFailed(f"{sink.name} failed {attempt + 1} times: {exc}") from exc
                log.warning("%s write failed (attempt %d): %s -- retrying in %.1fs", sink.name, attempt + 1, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30)

    def _write_each(self, sink: Sink, batch: list[Article]) -> None:
        for article in batch:
            try:
                sink.write([article])
                self.counters.written[sink.name] = self.counters.written.get(sink.name, 0) + 1
            except PermanentError as exc:
                self._park(sink, article, exc)
            except Exception as exc:
                raise SinkFailed(f"{sink.name} failed on {article.id}: {exc}") from exc

    def _park(self, sink: Sink, article: Article, exc: Exception) -> None:
        log.warning("%s refused %s: %s -- quarantined", sink.name, article.id, exc)
        self.quarantine.put(sink.name, article.to_dict(), exc)
        self.counters.quarantined += 1

    def close(self) -> None:
        for part in [self.processor, *self.sinks]:
            try:
                part.close()
            except Exception:  # closing must not hide the others
                log.exception("closing %s failed", getattr(part, "name", part))
