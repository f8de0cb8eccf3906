"""The user's feed list (config/feeds.yaml) and OPML import.

Feeds are user configuration, so every mistake must come back as a message
naming the file, the entry and the fix (``pipeline.config.load_entries`` does
the naming; the validators below supply the fix).
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from newswatch.pipeline.config import ConfigError, load_entries, read_yaml

FEEDS_FILE = "feeds.yaml"
DEFAULT_INTERVAL = 900  # seconds; a news feed polled every 15 minutes is polite and timely

_ID_RE = re.compile(r"^[a-z0-9_-]+$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.I)
_UNIT = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> int:
    """Seconds from an int or a string like '90', '15m', '1h', '1d'."""
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds or a duration like '15m' or '1h'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration -- use seconds (900) or '15m', '1h', '1d'")
        seconds = float(m.group(1)) * _UNIT[(m.group(2) or "").lower() or None]
    if seconds < 1:
        raise ValueError("must be at least 1 second")
    return int(seconds)


class FeedConfig(BaseModel):
    """One entry of feeds.yaml."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="stable id: lower-case letters, digits, '-' and '_'")
    url: str
    name: str = ""
    interval: int = DEFAULT_INTERVAL
    tags: list[str] = Field(default_factory=list)
    language: str | None = None
    full_text: bool = False
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        v = str(v).strip()
        if not _ID_RE.match(v):
            raise ValueError(
                f"{v!r} is not a valid id -- use lower-case letters, digits, '-' and '_' only, e.g. 'bbc-world'"
            )
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = str(v).strip()
        if not re.match(r"^https?://[^/\s]+", v, re.I):
            raise ValueError("must start with http:// or https:// -- fix the url or remove the entry")
        return v

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: Any) -> int:
        if v is None:
            return DEFAULT_INTERVAL
        return parse_duration(v)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, v: Any) -> list[str]:
        if v is None:
            return []
        if isinstance(v, str):
            v = [t for t in re.split(r"[,\s]+", v) if t]
        if not isinstance(v, list):
            raise ValueError("must be a list of words, e.g. [world, europe]")
        return [str(t).strip() for t in v if str(t).strip()]

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, v: Any) -> str | None:
        if v is None or str(v).strip() == "":
            return None
        s = str(v).strip().lower().replace("_", "-")
        if not re.match(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$", s):
            raise ValueError(f"{v!r} is not a language code -- use e.g. 'en', 'fr' or 'pt-br'")
        return s

    @property
    def display_name(self) -> str:
        return self.name or self.id


def load_feeds(config_dir: Path | str, *, allow_empty: bool = False) -> list[FeedConfig]:
    """All feeds from ``<config_dir>/feeds.yaml`` (disabled ones included)."""
    return load_entries(Path(config_dir) / FEEDS_FILE, "feeds", FeedConfig, allow_empty=allow_empty)


# -- OPML ---------------------------------------------------------------------

def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return s[:60].strip("-") or "feed"


def parse_opml(path: Path | str) -> list[dict[str, Any]]:
    """feeds.yaml entries (plain dicts) for every outline with an xmlUrl.

    Folder outlines become tags, so a reader's "Europe" folder keeps meaning."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise ConfigError(path, "file not found") from None
    except ET.ParseError as exc:
        raise ConfigError(path, f"not valid OPML/XML: {exc} -- export it again from your reader") from None
    body = root.find("body")
    if root.tag.lower() != "opml" or body is None:
        raise ConfigError(path, "not an OPML file (expected <opml><body>...) -- export it again from your reader")

    out: list[dict[str, Any]] = []

    def walk(node: ET.Element, folders: list[str]) -> None:
        for child in node:
            if child.tag.lower() != "outline":
                continue
            a = {k.lower(): v for k, v in child.attrib.items()}
            url = (a.get("xmlurl") or "").strip()
            title = (a.get("title") or a.get("text") or "").strip()
            if url:
                entry: dict[str, Any] = {"url": url, "name": title or url}
                if folders:
                    entry["tags"] = [slugify(f) for f in folders]
                lang = (a.get("language") or "").strip()
                if lang:
                    entry["language"] = lang
                out.append(entry)
            else:
                walk(child, folders + ([title] if title else []))

    walk(body, [])
    return out


def assign_ids(entries: list[dict[str, Any]], taken: set[str]) -> list[dict[str, Any]]:
    """Give each entry a unique id derived from its name (id stays stable if re-imported)."""
    for e in entries:
        base = slugify(e.get("name") or e["url"])
        ident, n = base, 2
        while ident in taken:
            ident, n = f"{base}-{n}", n + 1
        taken.add(ident)
        e["id"] = ident
    # put id first so the YAML reads naturally
    return [{"id": e["id"], **{k: v for k, v in e.items() if k != "id"}} for e in entries]


def import_opml(opml_path: Path | str, output: Path | str, *, merge: bool = False) -> tuple[int, int]:
    """Write the OPML's feeds to *output* (feeds.yaml).  With *merge*, keep the
    existing entries (and their comments) and append only feeds whose URL is new.

    Returns (added, skipped_as_duplicates).  The result is validated by loading it."""
    output = Path(output)
    entries = parse_opml(opml_path)
    existing: list[dict[str, Any]] = []
    data: Any = None
    if merge and output.exists():
        data = read_yaml(output) or {}
        if not isinstance(data, dict):
            raise ConfigError(output, "expected a top-level 'feeds:' list")
        existing = [e for e in (data.get("feeds") or []) if isinstance(e, dict)]
    elif output.exists() and not merge:
        raise ConfigError(output, "already exists -- use --merge to add to it, or --output to write elsewhere")

    known_urls = {str(e.get("url", "")).strip() for e in existing}
    fresh, skipped = [], 0
    for e in entries:
        if e["url"] in known_urls:
            skipped += 1
            continue
        known_urls.add(e["url"])
        fresh.append(e)
    fresh = assign_ids(fresh, {str(e.get("id")) for e in existing})
    # validate before writing so a bad OPML never corrupts feeds.yaml
    for i, e in enumerate(fresh):
        try:
            FeedConfig.model_validate(e)
        except Exception as exc:
            raise ConfigError(opml_path, f"outline {e.get('name')!r} ({e['url']}): {exc}", f"feed {i}") from None

    snippet = yaml.safe_dump(fresh, sort_keys=False, allow_unicode=True, default_flow_style=False) if fresh else ""
    if merge and output.exists():
        text = output.read_text(encoding="utf-8")
        keys = list(data.keys())
        if existing and keys and keys[-1] == "feeds" and fresh:
            # append as text so the user's comments survive
            indent = _list_indent(text)
            block = "".join((" " * indent + line if line else line) + "\n" for line in snippet.splitlines())
            output.write_text(text.rstrip("\n") + "\n" + block, encoding="utf-8")
        elif fresh:
            data["feeds"] = existing + fresh
            output.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(
            "# Imported from OPML by `newswatch feeds import-opml`; see the bundled feeds.yaml\n"
            "# for what each field means.\nfeeds:\n" + snippet, encoding="utf-8"
        )
    load_entries(output, "feeds", FeedConfig, allow_empty=True)
    return len(fresh), skipped


def _list_indent(text: str) -> int:
    m = re.search(r"^feeds:\s*\n(?:\s*#.*\n|\s*\n)*( *)- ", text, re.M)
    return len(m.group(1)) if m else 0
