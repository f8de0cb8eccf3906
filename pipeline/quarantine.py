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
        """Remove and return every record (for a replay: what fails again is
        put back by the pipeline itself)."""
        with self._lock:
            if not self.path.exists():
                return []
            taken = self.path.with_suffix(".replaying")
            self.path.replace(taken)
        with taken.open(encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        taken.unlink()
        return records

    def put_back(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            with self.path.open("a", encoding="utf-8") as fh:
                for r in records:
                    fh.write(json.dumps(r, default=str) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
