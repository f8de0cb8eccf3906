"""What a stage is, independent of how stages are connected.

- a *source* (ingest) produces raw Articles and hands them to an ``emit``
  callback;
- a *processor* (enrich) turns one Article into zero or more Articles;
- a *sink* (index, alerts) consumes batches of Articles.

The inline transport calls these in one process; the Kafka transport calls the
very same objects from worker processes.  A sink that raises has not written
the batch: the transport must retry it (inline) or not commit the offsets
(Kafka), so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from newswatch.pipeline.article import Article

Emit = Callable[[Sequence[Article]], None]


@runtime_checkable
class Processor(Protocol):
    name: str

    def process(self, article: Article) -> list[Article]:
        """Return the transformed article(s); an empty list drops it (rare:
        duplicates are marked, not dropped)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    name: str

    def write(self, batch: Sequence[Article]) -> None:
        """Durably handle the batch, or raise.  Must be idempotent: the same
        article may arrive again after a crash or a replay."""
        ...

    def close(self) -> None: ...


def process_many(processor: Processor, articles: Sequence[Article]) -> list[list[Article] | Exception]:
    """Run *processor* over a batch: each article's outputs, or the error it
    raised.  A processor that gains from seeing the batch at once (enrich:
    one dedupe transaction instead of one per article) defines
    ``process_batch`` with this signature; others get ``process`` per article.
    Transports retry the failed ones one by one with ``process``."""
    batch = getattr(processor, "process_batch", None)
    if batch is not None:
        try:
            results = batch(articles)
        except Exception as exc:  # the batch as a whole failed: so did each article
            return [exc] * len(articles)
        if len(results) != len(articles):  # a broken processor must not make the transport skip articles
            err = RuntimeError(f"{processor.name}.process_batch returned {len(results)} results "
                               f"for {len(articles)} articles")
            return [err] * len(articles)
        return results
    out: list[list[Article] | Exception] = []
    for article in articles:
        try:
            out.append(processor.process(article))
        except Exception as exc:
            out.append(exc)
    return out


class PermanentError(Exception):
    """Processing this message can never succeed (bad data, not a bad day):
    the transport sends it to the dead-letter queue instead of retrying.

    A sink that wrote the rest of a batch and refused only some articles
    names them in *article_ids*: the transport parks just those and counts
    the rest as written.  None: the sink does not say which (the transport
    then writes the batch one by one to find out)."""

    def __init__(self, message: str, *, article_ids: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.article_ids = frozenset(article_ids) if article_ids is not None else None


_TRANSIENT_NAMES = ("Timeout", "Connect")
# SQLite primary result codes that pass: BUSY, LOCKED, IOERR, FULL, CANTOPEN
_SQLITE_TRANSIENT = frozenset({5, 6, 10, 13, 14})


def is_transient(exc: BaseException) -> bool:
    """Errors that say "not now" rather than "never": a locked database, a
    timeout, a dropped connection, a full disk.  Transports retry these and
    never park the message for good; other errors on one message make it a
    poison message."""
    import sqlite3  # local: most callers never get here

    from newswatch.pipeline.article import ContractError

    if isinstance(exc, (PermanentError, ContractError)):
        return False
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_TRANSIENT
        text = str(exc).lower()
        return any(w in text for w in ("locked", "busy", "disk", "unable to open"))
    if isinstance(exc, OSError):  # includes TimeoutError, ConnectionError, disk full
        return True
    return any(n in c.__name__ for c in type(exc).__mro__ for n in _TRANSIENT_NAMES)
