"""Where messages that cannot be processed go in embedded mode, so bad input
is kept for inspection and replay instead of lost (Kafka mode uses the DLQ
topic instead)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class Quarantine:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self.count = 0

    def put(self, stage: str, payload: Any, error: BaseException | str) -> None:
        record = {
            "at": datetime.now(timezone.utc).isoformat(),
            "stage": stage,
            "error": f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error,
            "payload": payload,
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, default=str) + "\n")
            self.count += 1

    def take(self) -> list[dict[str, Any]]:
        """Every record, set aside for a replay (new failures go to a fresh
        file meanwhile).  The records stay on disk until :meth:`end_replay`:
        a replay killed half-way leaves them there, and the next take()
        returns them again (a second run of an article is harmless: the
        index upserts, the alert ledger remembers what it sent)."""
        with self._lock:
            taken = self._replaying
            if self.path.exists():
                if taken.exists():  # left by an interrupted replay: keep both
                    # moved first (atomic): a record a running pipeline adds now goes to a new file
                    moving = self.path.with_suffix(".taking")
                    self.path.replace(moving)
                    with taken.open("a", encoding="utf-8") as out:
                        out.write(moving.read_text(encoding="utf-8"))
                    moving.unlink()
                else:
                    self.path.replace(taken)
            return _load(taken)

    def end_replay(self, unfinished: list[dict[str, Any]]) -> None:
        """Put *unfinished* records back and forget the set-aside file."""
        self.put_back(unfinished)
        self._replaying.unlink(missing_ok=True)

    @property
    def _replaying(self) -> Path:
        return self.path.with_suffix(".replaying")

    def put_back(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        with self._lock:
            with self.path.open("a", encoding="utf-8") as fh:
                for r in records:
                    fh.write(json.dumps(r, default=str) + "\n")

    def read(self) -> list[dict[str, Any]]:
        """Every record, including those an interrupted replay set aside."""
        return _load(self._replaying) + _load(self.path)


def _load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
