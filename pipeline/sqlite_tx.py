"""The one way our SQLite files (index, dedupe store, alert ledger, feed
state) take their write lock, shared by every stage that keeps a file."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error.

    The write lock comes first, so what the block reads is everything other
    processes committed before it and nothing after: a read-then-write is
    atomic against them.  The connection must be in autocommit mode
    (``isolation_level=None``).  A failing ROLLBACK (SQLite may have rolled
    back already, e.g. on a full disk) is logged, never raised over the
    error that caused it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback failed")
        raise
