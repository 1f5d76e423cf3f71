"""Cron schedules: parsing, next run times (incl. day-of-month OR day-of-week) and catch-up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hyperpod.api import cron


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_fifteen_minutes_fires_on_the_quarter_hours() -> None:
    s = cron.parse("*/15 * * * *")
    assert s.next_after(at("2026-03-01T10:07:30")) == at("2026-03-01T10:15:00")
    assert s.next_after(at("2026-03-01T10:45:00")) == at("2026-03-01T11:00:00")


def test_names_ranges_and_macros() -> None:
    assert cron.parse("0 9 * * MON-FRI").next_after(at("2026-03-07T12:00")) == at(
        "2026-03-09T09:00"
    )  # Saturday -> Monday
    assert cron.parse("@monthly").next_after(at("2026-12-15T00:00")) == at("2027-01-01T00:00")
    assert cron.parse("0 0 * * 7") == cron.parse("0 0 * * 0")


def test_day_of_month_and_day_of_week_together_match_either() -> None:
    s = cron.parse("0 0 13 * FRI")
    assert s.next_after(at("2026-03-01T00:00")) == at("2026-03-06T00:00")  # a Friday
    assert s.next_after(at("2026-03-10T00:00")) == at("2026-03-13T00:00")  # the 13th


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("* * * *", "5 fields"),
        ("61 * * * *", "outside 0-59"),
        ("*/0 * * * *", "positive"),
        ("TZ=UTC * * * * *", "spec.timeZone"),
        ("0 0 * FOO *", "not a number"),
    ],
)
def test_malformed_schedules_say_why(expr: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        cron.parse(expr)


def test_most_recent_returns_the_latest_missed_run_and_the_count() -> None:
    s = cron.parse("*/10 * * * *")
    last, missed = cron.most_recent(s, at("2026-03-01T10:00"), at("2026-03-01T10:35"))
    assert last == at("2026-03-01T10:30") and missed == 3
    assert cron.most_recent(s, at("2026-03-01T10:30"), at("2026-03-01T10:35")) == (None, 0)
