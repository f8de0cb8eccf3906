"""Digest schedules evaluated in the rule's time zone (DST included)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from newswatch.alerts.schedule import ScheduleError, parse_schedule

PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc


def test_daily_in_time_zone():
    s = parse_schedule("daily 08:00", PARIS)
    # 05:00 UTC in June is 07:00 in Paris -> 08:00 Paris = 06:00 UTC the same day
    assert s.next_after(datetime(2024, 6, 3, 5, 0, tzinfo=UTC)) == datetime(2024, 6, 3, 6, 0, tzinfo=UTC)
    # exactly at the slot -> the next day's
    assert s.next_after(datetime(2024, 6, 3, 6, 0, tzinfo=UTC)) == datetime(2024, 6, 4, 6, 0, tzinfo=UTC)
    # winter: 08:00 Paris = 07:00 UTC
    assert s.next_after(datetime(2024, 1, 10, 12, 0, tzinfo=UTC)) == datetime(2024, 1, 11, 7, 0, tzinfo=UTC)


def test_across_dst_change():
    s = parse_schedule("daily 08:00", PARIS)
    # clocks go forward on 31 March 2024
    assert s.next_after(datetime(2024, 3, 30, 8, 0, tzinfo=UTC)) == datetime(2024, 3, 31, 6, 0, tzinfo=UTC)


def test_several_times_weekdays_weekly():
    s = parse_schedule("daily 17:30, 08:00", UTC)
    assert s.next_after(datetime(2024, 6, 3, 9, 0, tzinfo=UTC)) == datetime(2024, 6, 3, 17, 30, tzinfo=UTC)
    wd = parse_schedule("weekdays 08:00", UTC)
    # Friday 7 June 2024, after 08:00 -> Monday 10 June
    assert wd.next_after(datetime(2024, 6, 7, 9, 0, tzinfo=UTC)) == datetime(2024, 6, 10, 8, 0, tzinfo=UTC)
    wk = parse_schedule("weekly wed 09:15", UTC)
    assert wk.next_after(datetime(2024, 6, 5, 9, 15, tzinfo=UTC)) == datetime(2024, 6, 12, 9, 15, tzinfo=UTC)


def test_hourly_and_every():
    h = parse_schedule("hourly", ZoneInfo("Asia/Kolkata"))  # UTC+5:30: local top of hour is :30 UTC
    assert h.next_after(datetime(2024, 6, 3, 10, 10, tzinfo=UTC)) == datetime(2024, 6, 3, 10, 30, tzinfo=UTC)
    e = parse_schedule("every 30m", UTC)
    assert e.next_after(datetime(2024, 6, 3, 10, 30, tzinfo=UTC)) == datetime(2024, 6, 3, 11, 0, tzinfo=UTC)
    assert e.next_after(datetime(2024, 6, 3, 23, 59, tzinfo=UTC)) == datetime(2024, 6, 4, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["daily", "daily 25:00", "weekly funday 08:00", "every 1m", "cron */5 * * * *"])
def test_bad_schedules_say_what_to_write(text):
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text, UTC)
    assert "08:00" in str(info.value)
