"""The project's seed article (../shared/fixtures/seed-article.txt).

Read from shared/ beside the repository when it is there (CI has it), else
from the copy the package ships for `newswatch demo`: the two are the same
text, and tests must not depend on where the clone lives."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_SEED = REPO.parent / "shared" / "fixtures" / "seed-article.txt"


def seed_path() -> Path:
    if SHARED_SEED.exists():
        return SHARED_SEED
    return Path(str(resources.files("newswatch.demo").joinpath("seed-article.txt")))


def seed_text() -> str:
    return seed_path().read_text(encoding="utf-8")
