"""Alert rules as the user writes them in ``config/alerts.yaml``.

A rule is validated completely at load time -- query, recipients, schedule,
time zone, throttle -- so a typo is reported once, with the file, the rule and
a fix, instead of surfacing as a missed alert at 08:00 next Monday.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from newswatch.pipeline.config import load_entries
from newswatch.pipeline.query import Node, QueryError, parse_query

from newswatch.alerts.schedule import Schedule, ScheduleError, parse_schedule

log = logging.getLogger(__name__)

ALERTS_FILE = "alerts.yaml"

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Deliberately strict: a plain address, nothing that could smuggle a header
# (no spaces, commas, angle brackets or line breaks).
_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@lru_cache(maxsize=None)
def _parse(query: str) -> Node:
    """Parsed once per distinct query: validation and matching share it
    (luqum is the slow part of loading thousands of rules)."""
    return parse_query(query)


def _err(kind: str, message: str) -> PydanticCustomError:
    # message passed as context so braces in user text are not format fields
    return PydanticCustomError(kind, "{m}", {"m": message})


def parse_duration(raw: str | int) -> timedelta:
    """'90s', '30m', '1h', '1d', '2w' -> timedelta (also used for --since)."""
    if isinstance(raw, int):
        return timedelta(seconds=raw)
    m = _DURATION_RE.match(str(raw).lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{raw!r} is not a duration -- write a number and a unit, e.g. 30m, 1h, 1d, 2w")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Throttle(_Strict):
    """At most ``max`` emails per ``per`` window, per rule and recipient.
    Over the limit, alerts wait and go out folded into the next email."""

    max: int = Field(ge=1)
    per: str = "1h"

    @field_validator("per")
    @classmethod
    def _per(cls, v: str) -> str:
        try:
            parse_duration(v)
        except ValueError as exc:
            raise _err("duration", str(exc)) from None
        return v

    @property
    def window(self) -> timedelta:
        return parse_duration(self.per)


class Delivery(_Strict):
    """``immediate`` or a digest on a schedule, in a time zone.

    YAML: ``delivery: immediate`` or
    ``delivery: {digest: "daily 08:00", timezone: Europe/Paris}``."""

    mode: Literal["immediate", "digest"] = "immediate"
    digest: str | None = None
    timezone: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if data is None or data == "immediate":
            return {"mode": "immediate"}
        if isinstance(data, str):
            if data.strip().lower() == "digest":
                raise _err("delivery", "a digest needs a schedule -- write delivery: {digest: daily 08:00, timezone: Europe/Paris}")
            raise _err("delivery", f"{data!r} is not a delivery -- use 'immediate' or a mapping such as {{digest: daily 08:00, timezone: Europe/Paris}}")
        if isinstance(data, dict) and "mode" not in data:
            data = dict(data)
            data["mode"] = "digest" if data.get("digest") else "immediate"
        return data

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_schedule(v, ZoneInfo("UTC"))
            except ScheduleError as exc:
                raise _err("schedule", str(exc)) from None
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise _err("timezone", f"unknown time zone {v!r} -- use an IANA name such as Europe/Paris or UTC") from None
        return v


class AlertRule(_Strict):
    id: str
    name: str = ""
    query: str
    recipients: list[str] = Field(default_factory=list)
    webhook: str | None = None
    delivery: Delivery = Field(default_factory=Delivery)
    throttle: Throttle | None = None
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise _err("rule_id", f"{v!r} is not a usable id -- use letters, digits, '-', '_' or '.' (at most 64)")
        return v

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        try:
            _parse(v)
        except QueryError as exc:
            raise _err("query", f"{exc} (example: entity:mek AND (Albania OR \"Camp Ashraf\"))") from None
        return v

    @field_validator("recipients", mode="before")
    @classmethod
    def _recipients(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if v is None:
            return []
        if not isinstance(v, list):
            raise _err("recipients", "must be a list of email addresses")
        out = []
        for i, r in enumerate(v):
            addr = str(r).strip()
            if not _EMAIL_RE.match(addr):
                raise _err("recipients", f"recipients[{i}] {r!r} is not an email address -- write it as name@example.org")
            out.append(addr)
        return out

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise _err("webhook", f"{v!r} is not an http(s) URL -- e.g. https://hooks.slack.com/services/...")
        return v

    @model_validator(mode="after")
    def _somewhere(self) -> "AlertRule":
        if not self.recipients and not self.webhook:
            raise _err("no_recipient", "has neither recipients nor webhook -- add recipients: [you@example.org]")
        return self

    # -- derived (cached: rules are frozen) ----------------------------------
    @cached_property
    def node(self) -> Node:
        return _parse(self.query)

    @property
    def title(self) -> str:
        return self.name or self.id

    def tz(self, default: str = "UTC") -> ZoneInfo:
        return ZoneInfo(self.delivery.timezone or default)

    def schedule(self, default_tz: str = "UTC") -> Schedule | None:
        if self.delivery.mode != "digest" or not self.delivery.digest:
            return None
        return parse_schedule(self.delivery.digest, self.tz(default_tz))

    def channels(self) -> list[tuple[str, str]]:
        """(channel, address) pairs this rule delivers to."""
        out = [("email", r) for r in self.recipients]
        if self.webhook:
            out.append(("webhook", self.webhook))
        return out


def load_rules(config_dir: Path) -> list[AlertRule]:
    """Rules from ``<config_dir>/alerts.yaml``; none (logged) when the file is
    absent, because alerting is optional.  Raises ConfigError naming the file,
    the rule and the fix."""
    path = Path(config_dir) / ALERTS_FILE
    if not path.exists():
        log.info("no %s: alerting is off (copy the example from the bundled config to enable it)", path)
        return []
    return load_entries(path, "rules", AlertRule, allow_empty=True)
