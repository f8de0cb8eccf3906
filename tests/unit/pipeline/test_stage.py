"""Which errors the transports retry (transient) and which park a message."""

import sqlite3

import pytest

from newswatch.pipeline.article import ContractError
from newswatch.pipeline.stage import PermanentError, is_transient


def _sqlite_error(tmp_path, make) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as info:
        make(tmp_path)
    return info.value


def _full(tmp_path):
    db = sqlite3.connect(tmp_path / "full.sqlite3")
    db.execute("CREATE TABLE t (x)")
    db.execute("PRAGMA max_page_count = 3")  # a disk with no room left
    db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))


def _locked(tmp_path):
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    sqlite3.connect(path, timeout=0, isolation_level=None).execute("BEGIN IMMEDIATE")


def _syntax(tmp_path):
    sqlite3.connect(tmp_path / "s.sqlite3").execute("SELEC 1")


def test_a_full_disk_and_a_locked_database_are_transient_a_bad_statement_is_not(tmp_path):
    full = _sqlite_error(tmp_path, _full)
    assert "full" in str(full)
    assert is_transient(full)
    assert is_transient(_sqlite_error(tmp_path, _locked))
    assert not is_transient(_sqlite_error(tmp_path, _syntax))


def test_timeouts_and_os_errors_pass_bad_data_does_not():
    assert is_transient(TimeoutError()) and is_transient(ConnectionResetError()) and is_transient(OSError(28, "ENOSPC"))
    assert not is_transient(PermanentError("bad")) and not is_transient(ContractError("bad"))
    assert not is_transient(ValueError("bad"))


def test_immediate_commits_or_rolls_back_and_keeps_the_original_error(tmp_path):
    from newswatch.pipeline.sqlite_tx import immediate

    db = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    db.execute("CREATE TABLE t (x)")
    with immediate(db):
        db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(KeyError):
        with immediate(db):
            db.execute("INSERT INTO t VALUES (2)")
            raise KeyError("boom")
    assert db.execute("SELECT x FROM t").fetchall() == [(1,)] and not db.in_transaction
    db.execute("PRAGMA max_page_count = 3")
    with pytest.raises(sqlite3.OperationalError, match="full"):  # not a rollback error over it
        with immediate(db):
            db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    assert not db.in_transaction
