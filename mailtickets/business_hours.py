"""Business-hours arithmetic: weekly hours, public holidays, closed dates, DST (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailtickets.settings import Interval, Weekly

DAYS = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
    "lun": 0,
    "mar": 1,
    "mie": 2,
    "mié": 2,
    "jue": 3,
    "vie": 4,
    "sab": 5,
    "sáb": 5,
    "dom": 6,
}
MAX_DAYS_SEARCHED = 3 * 366
_RANGE = re.compile(r"^\s*(\S+?)(?:-(\S+))?\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})\s*$")


def parse_weekly(spec: str) -> Weekly:
    """'24/7' or 'mon-fri 10:00-18:00; sat 10:00-14:00' (Spanish day names too)."""
    if spec.strip() == "24/7":
        return {day: ((time(0), None),) for day in range(7)}
    weekly: dict[int, list[Interval]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        match = _RANGE.match(part.lower())
        if not match or match.group(1) not in DAYS or (match.group(2) or "mon") not in DAYS:
            raise ValueError(
                f"{part!r}: write e.g. 'mon-fri 10:00-18:00; sat 10:00-14:00' or '24/7'"
            )
        first, last = DAYS[match.group(1)], DAYS[match.group(2) or match.group(1)]
        start, end = _clock(match.group(3), match.group(4)), _clock(match.group(5), match.group(6))
        if start is None:
            raise ValueError(f"{part!r}: a day cannot open at 24:00")
        if end is not None and start >= end:
            raise ValueError(f"{part!r}: the hours must end after they start")
        for day in _days(first, last):
            weekly.setdefault(day, []).append((start, end))
    if not weekly:
        raise ValueError("no opening hours given")
    return {day: tuple(sorted(spans, key=lambda s: s[0])) for day, spans in weekly.items()}


def _clock(hours: str, minutes: str) -> time | None:
    h, m = int(hours), int(minutes)
    if (h, m) == (24, 0):
        return None
    if h > 23 or m > 59:
        raise ValueError(f"{hours}:{minutes} is not a time of day")
    return time(h, m)


def _days(first: int, last: int) -> list[int]:
    return [(first + i) % 7 for i in range((last - first) % 7 + 1)]


@dataclass(frozen=True)
class BusinessCalendar:
    """When a department works; `is_closed` covers public holidays and extra dates."""

    tz: ZoneInfo
    weekly: Weekly
    is_closed: Callable[[date], bool] = field(default=lambda _d: False)

    def open_spans(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC) from the day of `since` on, in order."""
        day = since.astimezone(self.tz).date()
        for _ in range(MAX_DAYS_SEARCHED):
            if not self.is_closed(day):
                for start, end in self.weekly.get(day.weekday(), ()):
                    yield self._at(day, start), self._at_end(day, end)
            day += timedelta(days=1)

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.tz).astimezone(UTC)

    def _at_end(self, day: date, clock: time | None) -> datetime:
        if clock is None:
            return self._at(day + timedelta(days=1), time(0))
        return self._at(day, clock)

    def add(self, start: datetime, work: timedelta) -> datetime:
        """The instant `work` of business time after `start`."""
        cursor, left = start.astimezone(UTC), work
        for span_start, span_end in self.open_spans(cursor):
            if span_end <= cursor:
                continue
            begin = max(span_start, cursor)
            if begin + left <= span_end:
                return begin + left
            left -= span_end - begin
            cursor = span_end
        raise ValueError(f"no business hours within {MAX_DAYS_SEARCHED} days of {start}")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time elapsed from `start` to `end` (zero if end is earlier)."""
        a, b = start.astimezone(UTC), end.astimezone(UTC)
        total = timedelta()
        for span_start, span_end in self.open_spans(a):
            if span_start >= b:
                break
            overlap = min(span_end, b) - max(span_start, a)
            if overlap > timedelta():
                total += overlap
        return total


def holiday_checker(country: str, subdiv: str, extra: frozenset[date]) -> Callable[[date], bool]:
    """Public holidays from the `holidays` package for a country/region, plus `extra`."""
    if not country:
        return lambda day: day in extra
    import holidays

    table = holidays.country_holidays(country, subdiv=subdiv or None)
    return lambda day: day in extra or day in table
