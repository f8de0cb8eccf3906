"""The embedded transport: stages called in order, in one process.

``InlinePipeline`` is the ``emit`` callback ingest hands its new Articles to.
It runs the processor (enrich) on each, then gives the batch to every sink
(index, alerts).  A sink that keeps failing makes ``__call__`` raise, so the
caller (ingest) does not record those items as seen and fetches them again on
its next poll: nothing is lost.  An article the processor cannot handle goes
to the quarantine file with its error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from newswatch.pipeline.article import Article
from newswatch.pipeline.quarantine import Quarantine
from newswatch.pipeline.stage import Processor, Sink

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
    pass


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
            for article in raw:
                self.counters.received += 1
                try:
                    out.extend(self.processor.process(article))
                except Exception as exc:  # one bad article must not stop the rest
                    log.warning("enrich failed for %s (%s): %s -- quarantined", article.id, article.url, exc)
                    self.quarantine.put(self.processor.name, article.to_dict(), exc)
                    self.counters.quarantined += 1
            self.counters.enriched += len(out)
            self.counters.duplicates += sum(1 for a in out if a.duplicate_of)
            if out:
                for sink in self.sinks:
                    self._write(sink, out)

    def _write(self, sink: Sink, batch: list[Article]) -> None:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                sink.write(batch)
                self.counters.written[sink.name] = self.counters.written.get(sink.name, 0) + len(batch)
                return
            except Exception as exc:
                self.counters.sink_errors += 1
                if attempt == self.retries:
                    raise SinkFailed(f"{sink.name} failed {attempt + 1} times: {exc}") from exc
                log.warning("%s write failed (attempt %d): %s -- retrying in %.1fs", sink.name, attempt + 1, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30)

    def close(self) -> None:
        for part in [self.processor, *self.sinks]:
            try:
                part.close()
            except Exception:  # closing must not hide the others
                log.exception("closing %s failed", getattr(part, "name", part))
