"""Injectable time.

Everything in pdca that needs "now" asks a :class:`Clock`. Times are stored in UTC and
shown in the configured zone (default ``Asia/Shanghai``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pendulum

__all__ = ["DEFAULT_TIMEZONE", "Clock", "FixedClock", "SystemClock"]

DEFAULT_TIMEZONE = "Asia/Shanghai"


@runtime_checkable
class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> pendulum.DateTime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> pendulum.DateTime:
        return pendulum.now("UTC")


class FixedClock:
    """A clock that only moves when told to; for tests, demos and replays.

    >>> c = FixedClock(pendulum.datetime(2025, 1, 2, tz="Asia/Shanghai"))
    >>> c.now().isoformat()
    '2025-01-01T16:00:00+00:00'
    >>> c.advance(days=1).now().day
    2
    """

    def __init__(self, at: pendulum.DateTime | None = None) -> None:
        self._now = (at or pendulum.datetime(2025, 1, 1, tz="UTC")).in_timezone("UTC")

    def now(self) -> pendulum.DateTime:
        return self._now

    def set(self, at: pendulum.DateTime) -> FixedClock:
        self._now = at.in_timezone("UTC")
        return self

    def advance(self, **delta: int) -> FixedClock:
        self._now = self._now.add(**delta)
        return self
