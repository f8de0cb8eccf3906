"""Shared test setup: tests/ on sys.path so tests can import tests/support/*.

Integration tests need real services on 127.0.0.1.  In CI (CI=true) a test
that needs a service and finds none fails; it never skips."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
