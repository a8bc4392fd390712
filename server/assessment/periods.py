"""Assessment periods: a month (`2026-10`), a quarter (`2026-Q3`), a year (`2026`) or a range of days
(`2026-10-01..2026-10-15`), in the town's local time, with the periods a figure is compared against.

A period is half-open, [start, end): a case concluded at midnight on the 1st belongs to the new month.
The sources' statistics are monthly, so a range of days reads the months it touches (`months`). A range is
the days between its two dates, whichever is written first; a day past its month's end is the month's last
(`2026-04-31` is 30 April), so every label the pattern admits is a period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.core.errors import ValidationFailed

_DAY = r"20\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
PERIOD_PATTERN = rf"^20\d{{2}}(-(0[1-9]|1[0-2])|-Q[1-4])?$|^{_DAY}\.\.{_DAY}$"
MONTH_PATTERN = r"^20\d{2}-(0[1-9]|1[0-2])$"


@dataclass(frozen=True)
class Period:
    label: str
    kind: str  # month | quarter | year | range
    first: date  # the first day
    last: date  # the last day (inclusive)
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        after = self.last + timedelta(days=1)
        return datetime(after.year, after.month, after.day, tzinfo=self.tz)

    def ended(self, now: datetime) -> bool:
        return self.end <= now

    def months(self) -> list[str]:
        """The calendar months the period touches, `YYYY-MM`."""
        found, year, month = [], self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            found.append(f"{year}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found

    def previous(self) -> Period:
        """The period just before, of the same kind and length."""
        if self.kind == "month":
            return month_period(_add_months(self.first, -1), self.tz)
        if self.kind == "quarter":
            return quarter_period(_add_months(self.first, -3), self.tz)
        if self.kind == "year":
            return year_period(self.first.year - 1, self.tz)
        days = (self.last - self.first).days + 1
        return _range(self.first - timedelta(days=days), self.first - timedelta(days=1), self.tz)

    def year_before(self) -> Period:
        """The same period a year earlier (同比)."""
        if self.kind == "month":
            return month_period(self.first.replace(year=self.first.year - 1), self.tz)
        if self.kind == "quarter":
            return quarter_period(self.first.replace(year=self.first.year - 1), self.tz)
        if self.kind == "year":
            return year_period(self.first.year - 1, self.tz)
        return _range(_year_earlier(self.first), _year_earlier(self.last), self.tz)


def parse_period(text: str, tz: ZoneInfo, field: str = "period") -> Period:
    """A period from its label; a malformed one is a 422 naming `field`."""

    def refuse(message: str) -> ValidationFailed:
        return ValidationFailed(details=[{"field": field, "message": message}])

    if not re.match(PERIOD_PATTERN, text or ""):
        raise refuse("周期格式应为 2026-10（月）、2026-Q3（季度）、2026（年）或 2026-10-01..2026-10-15（日期范围）")
    if ".." in text:
        first, last = sorted(_day(part) for part in text.split(".."))
        return _range(first, last, tz)
    year = int(text[:4])
    if len(text) == 4:
        return year_period(year, tz)
    if text[5] == "Q":
        return quarter_period(date(year, int(text[6]) * 3 - 2, 1), tz)
    return month_period(date(year, int(text[5:7]), 1), tz)


def year_period(year: int, tz: ZoneInfo) -> Period:
    return Period(str(year), "year", date(year, 1, 1), date(year, 12, 31), tz)


def quarter_period(day: date, tz: ZoneInfo) -> Period:
    """The quarter `day` falls in."""
    quarter = (day.month - 1) // 3 + 1
    first = date(day.year, quarter * 3 - 2, 1)
    return Period(f"{day.year}-Q{quarter}", "quarter", first, _add_months(first, 3) - timedelta(days=1), tz)


def month_period(first: date, tz: ZoneInfo) -> Period:
    first = first.replace(day=1)
    return Period(first.strftime("%Y-%m"), "month", first, _add_months(first, 1) - timedelta(days=1), tz)


def current_month(now: datetime, tz: ZoneInfo) -> Period:
    return month_period(now.astimezone(tz).date(), tz)


def _day(text: str) -> date:
    """A day of a range; a day past its month's end (04-31, 02-29 of a common year) is the month's last."""
    year, month, day = (int(part) for part in text.split("-"))
    last = _add_months(date(year, month, 1), 1) - timedelta(days=1)
    return date(year, month, min(day, last.day))


def _range(first: date, last: date, tz: ZoneInfo) -> Period:
    return Period(f"{first.isoformat()}..{last.isoformat()}", "range", first, last, tz)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _year_earlier(day: date) -> date:
    return day.replace(year=day.year - 1, day=28) if (day.month, day.day) == (2, 29) else day.replace(year=day.year - 1)
