"""Assessment periods: a year, a half-year, a quarter or a month.

Periods are written the way an assessment office writes them and the CLI accepts them:
``2025`` (year), ``2025-H1`` (half-year), ``2025-Q3`` (quarter), ``2025-03`` (month).
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from attrs import field, frozen

from pdca.errors import ValidationError

__all__ = ["Period", "PeriodKind"]


class PeriodKind(StrEnum):
    YEAR = "year"
    HALF = "half"
    QUARTER = "quarter"
    MONTH = "month"


_PATTERN = re.compile(r"^(\d{4})(?:-(H[12]|Q[1-4]|0[1-9]|1[0-2]))?$")
_MONTHS = {PeriodKind.YEAR: 12, PeriodKind.HALF: 6, PeriodKind.QUARTER: 3, PeriodKind.MONTH: 1}


@frozen(order=False)
class Period:
    """One assessment period. ``index`` is 1 for a year, 1-2 for halves, 1-4 for quarters,
    1-12 for months."""

    year: int
    kind: PeriodKind = field(default=PeriodKind.YEAR, converter=PeriodKind)
    index: int = 1

    def __attrs_post_init__(self) -> None:
        count = 12 // _MONTHS[self.kind]
        if not 1 <= self.index <= count:
            raise ValidationError(
                "index", self.index, f"a {self.kind.value} index lies between 1 and {count}"
            )
        if not 1 <= self.year <= 9999:
            raise ValidationError("year", self.year, "the year must lie between 1 and 9999")

    @classmethod
    def parse(cls, text: str | int | Period, field: str = "period") -> Period:
        if isinstance(text, Period):
            return text
        raw = str(text).strip().upper()
        m = _PATTERN.match(raw)
        if not m:
            raise ValidationError(
                field, text, "a period is YYYY, YYYY-H1..H2, YYYY-Q1..Q4 or YYYY-MM"
            )
        year = int(m.group(1))
        if not 1900 <= year <= 9998:
            raise ValidationError(field, text, "the year must lie between 1900 and 9998")
        part = m.group(2)
        if part is None:
            return cls(year)
        if part[0] == "H":
            return cls(year, PeriodKind.HALF, int(part[1]))
        if part[0] == "Q":
            return cls(year, PeriodKind.QUARTER, int(part[1]))
        return cls(year, PeriodKind.MONTH, int(part))

    def __str__(self) -> str:
        if self.kind is PeriodKind.YEAR:
            return f"{self.year}"
        if self.kind is PeriodKind.HALF:
            return f"{self.year}-H{self.index}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.year}-Q{self.index}"
        return f"{self.year}-{self.index:02d}"

    @property
    def first_month(self) -> int:
        return (self.index - 1) * _MONTHS[self.kind] + 1

    @property
    def start(self) -> dt.date:
        """First day of the period (a calendar date in the configured zone)."""
        return dt.date(self.year, self.first_month, 1)

    @property
    def end(self) -> dt.date:
        """Last day of the period, inclusive."""
        return self.next().start - dt.timedelta(days=1)

    def next(self) -> Period:
        """The period of the same kind that follows this one."""
        count = 12 // _MONTHS[self.kind]
        if self.index < count:
            return Period(self.year, self.kind, self.index + 1)
        return Period(self.year + 1, self.kind, 1)

    def previous(self) -> Period:
        count = 12 // _MONTHS[self.kind]
        if self.index > 1:
            return Period(self.year, self.kind, self.index - 1)
        return Period(self.year - 1, self.kind, count)

    def contains(self, other: Period) -> bool:
        """True when ``other`` lies inside this period (and is not this period)."""
        return (
            other != self
            and self.start <= other.start
            and other.end <= self.end
            and _MONTHS[other.kind] < _MONTHS[self.kind]
        )

    def contains_date(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def children(self, kind: PeriodKind) -> list[Period]:
        """The periods of ``kind`` that make up this one (e.g. the four quarters of a year)."""
        if _MONTHS[kind] >= _MONTHS[self.kind]:
            raise ValidationError("kind", str(kind), f"must be shorter than a {self.kind}")
        per = _MONTHS[kind]
        first = (self.first_month - 1) // per + 1
        n = _MONTHS[self.kind] // per
        return [Period(self.year, kind, first + i) for i in range(n)]
