"""The watchlist: which entities to tag, and by which names.

It is the user's configuration (``config/watchlist.yaml``), validated here so
a mistake is reported with the file, the entry and what to change.

Matching rules, in short (the YAML header says the same for users):

- names match case- and accent-insensitively on word boundaries;
  punctuation between words is free ("Mujahedin-e-Khalq" = "Mujahedin e Khalq");
- an all-capitals alias of up to 6 letters (an acronym: MEK, NCRI) matches
  case-sensitively and is *ambiguous* by default, unless the alias says
  otherwise;
- an ambiguous alias counts only with one of ``require_any`` within
  ``window`` characters (or when the same article already names the entity
  unambiguously), and never with one of ``exclude_any`` in that window.
  Alias-level lists win over the entity-level defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from newswatch.pipeline.config import load_entries
from newswatch.pipeline.text import WORD_RE, fold

ACRONYM_RE = re.compile(r"[A-Z]{2,6}")
ID_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
DEFAULT_WINDOW = 300

EntityType = Literal["organisation", "person", "place", "group", "event", "other"]


def term_key(text: str) -> str:
    """The form an alias or context term is matched in: folded words joined
    by single spaces."""
    return " ".join(WORD_RE.findall(fold(text)))


def _check_terms(terms: list[str] | None, what: str) -> list[str] | None:
    if terms is None:
        return None
    for t in terms:
        if not isinstance(t, str) or not term_key(t):
            raise ValueError(f"{what}: {t!r} has no letters or digits -- remove it")
    return terms


class Alias(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    case_sensitive: bool | None = Field(None, description="default: true for acronyms (MEK, NCRI)")
    ambiguous: bool | None = Field(None, description="default: true for acronyms")
    require_any: list[str] | None = None
    exclude_any: list[str] | None = None
    window: int | None = Field(None, ge=20, le=5000)

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        if not term_key(v):
            raise ValueError(f"alias {v!r} has no letters or digits -- fix or remove it")
        return v.strip()

    @field_validator("require_any", "exclude_any")
    @classmethod
    def _terms(cls, v: list[str] | None, info) -> list[str] | None:
        return _check_terms(v, f"alias {info.field_name}")

    @property
    def is_acronym(self) -> bool:
        return bool(ACRONYM_RE.fullmatch(self.text))


class Entity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    type: EntityType = "organisation"
    aliases: list[str | Alias] = Field(default_factory=list)
    require_any: list[str] = Field(default_factory=list)
    exclude_any: list[str] = Field(default_factory=list)
    window: int = Field(DEFAULT_WINDOW, ge=20, le=5000)
    description: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_RE.fullmatch(v):
            raise ValueError(f"id {v!r}: use lower-case letters, digits, '-', '_' or '.' (e.g. 'maryam-rajavi')")
        return v

    @field_validator("require_any", "exclude_any")
    @classmethod
    def _terms(cls, v: list[str], info) -> list[str]:
        return _check_terms(v, info.field_name) or []

    @model_validator(mode="after")
    def _name(self) -> "Entity":
        if not term_key(self.name):
            raise ValueError(f"name {self.name!r} has no letters or digits")
        return self

    def alias_specs(self) -> list[Alias]:
        """Aliases as objects, the display name first (it is an alias too)."""
        out: list[Alias] = []
        seen: set[tuple[str, bool]] = set()
        for a in [self.name, *self.aliases]:
            spec = Alias(text=a) if isinstance(a, str) else a
            key = (spec.text, bool(spec.case_sensitive))
            if key not in seen:
                seen.add(key)
                out.append(spec)
        return out


@dataclass(frozen=True)
class CompiledAlias:
    """One alias with every default resolved: what the tagger runs on."""

    entity: Entity
    text: str
    key: str
    case_sensitive: bool
    case_key: str | None
    require: tuple[str, ...]  # empty: no context needed
    exclude: tuple[str, ...]
    window: int


def case_key(text: str) -> str:
    """Words of *text* with accents removed but case kept."""
    import unicodedata

    stripped = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(WORD_RE.findall(stripped))


def compile_aliases(entities: list[Entity]) -> list[CompiledAlias]:
    out: list[CompiledAlias] = []
    for ent in entities:
        for spec in ent.alias_specs():
            acronym = spec.is_acronym
            cs = acronym if spec.case_sensitive is None else spec.case_sensitive
            amb = acronym if spec.ambiguous is None else spec.ambiguous
            require = spec.require_any if spec.require_any is not None else (ent.require_any if amb else [])
            exclude = spec.exclude_any if spec.exclude_any is not None else (ent.exclude_any if amb else [])
            out.append(
                CompiledAlias(
                    entity=ent,
                    text=spec.text,
                    key=term_key(spec.text),
                    case_sensitive=cs,
                    case_key=case_key(spec.text) if cs else None,
                    require=tuple(dict.fromkeys(term_key(t) for t in require)),
                    exclude=tuple(dict.fromkeys(term_key(t) for t in exclude)),
                    window=spec.window or ent.window,
                )
            )
    return out


def load_watchlist(path: Path) -> list[Entity]:
    """Entities from *path* (``entities:`` list); ConfigError names the entry."""
    return load_entries(path, "entities", Entity, allow_empty=True)
