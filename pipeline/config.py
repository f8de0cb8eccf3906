"""Loading the user's YAML files with errors a user can act on.

Every error names the file, the entry (by id or position) and what to do, e.g.::

    config/feeds.yaml: feeds[3] (id 'reuters-world'): url: must start with
    http:// or https:// -- fix the url or remove the entry
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A user configuration file is missing, unreadable or invalid."""

    def __init__(self, path: Path | str, message: str, entry: str | None = None):
        self.path = str(path)
        self.entry = entry
        where = f"{self.path}: {entry}: " if entry else f"{self.path}: "
        super().__init__(where + message)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "file not found -- create it (`newswatch init` writes examples) "
                          "or point NEWSWATCH_CONFIG_DIR at the folder that has it") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, f"not valid YAML{where}: {problem} -- check indentation and quoting") from None


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required but missing -- add it"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known setting -- check the spelling or remove it"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def load_entries(path: Path, key: str, model: type[M], *, allow_empty: bool = False) -> list[M]:
    """Load ``{key: [ {...}, ... ]}`` from *path* into a list of *model*.

    Each bad entry is reported by position and, when it has one, by id."""
    data = read_yaml(path)
    if data is None:
        data = {key: []}
    if not isinstance(data, dict) or key not in data:
        found = f" (found: {', '.join(map(str, data))})" if isinstance(data, dict) and data else ""
        raise ConfigError(path, f"expected a top-level '{key}:' list{found}")
    # YAML anchors conventionally live under x-* keys; anything else is a typo
    unknown = [k for k in data if k != key and not str(k).startswith("x-")]
    if unknown:
        raise ConfigError(path, f"unknown top-level key(s) {', '.join(map(repr, unknown))} -- "
                          f"only '{key}:' is read (and x-* keys for YAML anchors); remove or move them")
    items = data[key] or []
    if not isinstance(items, list):
        raise ConfigError(path, f"'{key}' must be a list of entries (each starting with '- ')")
    out: list[M] = []
    problems: list[tuple[str, str]] = []  # (entry, what is wrong)
    seen: dict[str, int] = {}
    for i, raw in enumerate(items):
        ident = raw.get("id") if isinstance(raw, dict) else None
        entry = f"{key}[{i}]" + (f" (id {ident!r})" if ident else "")
        if not isinstance(raw, dict):
            problems.append((entry, "each entry must be a mapping of settings"))
            continue
        try:
            obj = model.model_validate(raw)
        except ValidationError as exc:
            problems.append((entry, _format_validation(exc)))
            continue
        except ValueError as exc:
            problems.append((entry, str(exc)))
            continue
        oid = getattr(obj, "id", None)
        if oid is not None:
            if oid in seen:
                problems.append((entry, f"duplicate id {oid!r} (also {key}[{seen[oid]}]) -- ids must be unique"))
                continue
            seen[oid] = i
        out.append(obj)
    if problems:
        # every bad entry at once: fixing a file one error per run is no fun
        if len(problems) == 1:
            entry, message = problems[0]
            raise ConfigError(path, message, entry)
        raise ConfigError(path, f"{len(problems)} problems:\n  " + "\n  ".join(f"{e}: {m}" for e, m in problems))
    if not out and not allow_empty:
        raise ConfigError(path, f"no {key} defined -- add at least one entry")
    return out
