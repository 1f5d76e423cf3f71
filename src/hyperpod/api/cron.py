"""Cron schedules as CronJobs use them: five fields (minute hour day-of-month month
day-of-week) with ``*``, ``*/n``, ``a-b``, ``a-b/n``, lists, month and weekday names, ``?``
and the macros ``@yearly @annually @monthly @weekly @daily @midnight @hourly``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_BOUNDS = [(0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 7, _DAYS)]
_NAMES = ["minute", "hour", "day of month", "month", "day of week"]


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day of month is '*'
    any_weekday: bool  # day of week is '*'

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow  # both restricted: either matches, as in cron

    def next_after(self, t: datetime) -> datetime:
        """The first scheduled minute strictly after ``t`` (in ``t``'s time zone)."""
        t = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)
        while t < limit:
            if t.month not in self.months:
                year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = t.replace(year=year, month=month, day=1, hour=0, minute=0)
                continue
            if not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return t
        raise ValueError("the schedule never fires")


def _value(text: str, lo: int, hi: int, names: dict[str, int], field: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ValueError(f"{field}: {text!r} is not a number or a name")
    value = int(text)
    if not lo <= value <= hi:
        raise ValueError(f"{field}: {value} is outside {lo}-{hi}")
    return value


def _field(text: str, index: int) -> frozenset[int]:
    lo, hi, names = _BOUNDS[index]
    field = _NAMES[index]
    out: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base in ("*", "?"):
            start, end = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, lo, hi, names, field), _value(b, lo, hi, names, field)
            if start > end:
                raise ValueError(f"{field}: range {base!r} runs backwards")
        else:
            start = _value(base, lo, hi, names, field)
            end = hi if step_text else start
        out.update(range(start, end + 1, step))
    if index == 4 and 7 in out:
        out.discard(7)
        out.add(0)
    return frozenset(out)


def parse(expr: str) -> Schedule:
    """The schedule of a cron expression; ValueError with a readable reason when malformed."""
    text = MACROS.get(expr.strip(), expr.strip())
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        raise ValueError("TZ and CRON_TZ are not supported in the schedule: use spec.timeZone")
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(parts)}: {expr!r}")
    fields = [_field(p, i) for i, p in enumerate(parts)]
    return Schedule(
        fields[0],
        fields[1],
        fields[2],
        fields[3],
        fields[4],
        parts[2] in ("*", "?"),
        parts[4] in ("*", "?"),
    )


def most_recent(schedule: Schedule, since: datetime, now: datetime) -> tuple[datetime | None, int]:
    """The latest scheduled time in (since, now] and how many fell in it (looking back a week
    at most, so a long-suspended CronJob does not walk years of minutes)."""
    since = max(since, now - timedelta(days=7))
    last: datetime | None = None
    missed = 0
    t = schedule.next_after(since)
    while t <= now:
        last, missed = t, missed + 1
        t = schedule.next_after(t)
    return last, missed
