"""Digest schedules in words people write, evaluated in the rule's time zone.

Supported (case-insensitive):

- ``hourly``                      at the top of every hour
- ``every 30m`` / ``every 2h``    on multiples of the step from local midnight
- ``daily 08:00`` (``daily 08:00, 17:30`` for several times)
- ``weekdays 08:00``              Monday to Friday
- ``weekly mon 08:00``            one day of the week

Not full cron on purpose: these cover what digest readers ask for and can be
validated with a message that says what to write instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_EVERY_RE = re.compile(r"^every\s+(\d+)\s*([mh])$")
HELP = "use hourly, every 30m, daily 08:00, weekdays 08:00 or weekly mon 08:00"


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    text: str
    tz: ZoneInfo
    step: timedelta | None = None  # hourly / every N
    times: tuple[time, ...] = ()
    weekdays: frozenset[int] = frozenset(range(7))

    def next_after(self, after: datetime) -> datetime:
        """The first scheduled instant strictly after *after* (UTC result)."""
        after = after.astimezone(timezone.utc)
        local = after.astimezone(self.tz)
        day = local.date()
        if self.step is not None:
            start = datetime.combine(day, time(0), tzinfo=self.tz)
            k = max(0, int((local.replace(tzinfo=None) - start.replace(tzinfo=None)) / self.step) - 1)
            while True:
                cand = (start + k * self.step).astimezone(timezone.utc)
                if cand > after:
                    return cand
                k += 1
        for d in range(0, 9):
            date = day + timedelta(days=d)
            if date.weekday() not in self.weekdays:
                continue
            for t in self.times:
                cand = datetime.combine(date, t, tzinfo=self.tz).astimezone(timezone.utc)
                if cand > after:
                    return cand
        raise AssertionError("unreachable: a week always has a slot")  # pragma: no cover


def _times(parts: list[str], text: str) -> tuple[time, ...]:
    raw = [p for p in " ".join(parts).replace(",", " ").split() if p]
    if not raw:
        raise ScheduleError(f"schedule {text!r} needs a time of day such as 08:00 -- {HELP}")
    out = []
    for r in raw:
        m = _TIME_RE.match(r)
        if not m:
            raise ScheduleError(f"schedule {text!r}: {r!r} is not a time of day (HH:MM, 24-hour) -- {HELP}")
        out.append(time(int(m.group(1)), int(m.group(2))))
    return tuple(sorted(set(out)))


def parse_schedule(text: str, tz: ZoneInfo) -> Schedule:
    s = " ".join(str(text).lower().split())
    if s == "hourly":
        return Schedule(text, tz, step=timedelta(hours=1))
    m = _EVERY_RE.match(s)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        step = timedelta(minutes=n) if unit == "m" else timedelta(hours=n)
        if step < timedelta(minutes=5) or step > timedelta(hours=24):
            raise ScheduleError(f"schedule {text!r}: the step must be between 5m and 24h -- {HELP}")
        return Schedule(text, tz, step=step)
    head, *rest = s.split(" ") if s else [""]
    if head == "daily":
        return Schedule(text, tz, times=_times(rest, text))
    if head == "weekdays":
        return Schedule(text, tz, times=_times(rest, text), weekdays=frozenset(range(5)))
    if head == "weekly":
        if not rest or rest[0][:3] not in DAYS:
            raise ScheduleError(f"schedule {text!r} needs a day (mon ... sun) -- e.g. weekly mon 08:00")
        return Schedule(text, tz, times=_times(rest[1:], text), weekdays=frozenset({DAYS.index(rest[0][:3])}))
    raise ScheduleError(f"unknown schedule {text!r} -- {HELP}")
