"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pendulum
from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["ID", "ScaledDecimal", "UTCDateTime"]

_ZERO = dt.timedelta(0)

#: Primary and foreign keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
ID = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[pendulum.DateTime]):
    """An aware timestamp, stored in UTC and returned as a pendulum UTC datetime.

    PostgreSQL keeps it in a ``timestamptz``; SQLite, which has no time zones, in a naive
    UTC text value. A naive datetime handed in is refused: pdca never guesses a zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        aware: dt.datetime = value
        if aware.utcoffset() != _ZERO:
            aware = aware.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            # A plain naive datetime, built field by field (pendulum's replace() is slow).
            return dt.datetime(
                aware.year,
                aware.month,
                aware.day,
                aware.hour,
                aware.minute,
                aware.second,
                aware.microsecond,
            )
        return aware

    def process_result_value(self, value: Any, dialect: Dialect) -> pendulum.DateTime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        result: pendulum.DateTime = pendulum.instance(value).in_timezone("UTC")
        return result


class ScaledDecimal(TypeDecorator[Decimal]):
    """An exact decimal stored as a scaled integer (value × 10**scale) in a BIGINT.

    SQLite has no exact decimal type (it would store floats); a scaled integer is exact on
    both databases and sums exactly in SQL. ``scale`` is the number of decimal places kept;
    a value with more places is refused rather than silently rounded.
    """

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self._factor = Decimal(10) ** scale

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        d = Decimal(value)
        scaled = d * self._factor
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value!r} has more than {self.scale} decimal places")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)) / self._factor

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal
