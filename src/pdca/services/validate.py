"""Input checks shared by the use cases: each failure names the field, the value and the rule."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from pdca.errors import ValidationError

__all__ = ["code", "date", "decimal", "optional_text", "text"]


def text(field: str, value: Any, max_len: int) -> str:
    """A required, non-blank string of at most ``max_len`` characters (stripped)."""
    if not isinstance(value, str):
        raise ValidationError(field, value, "must be text")
    v = value.strip()
    if not v:
        raise ValidationError(field, value, "must not be empty")
    if len(v) > max_len:
        raise ValidationError(field, value, f"must be at most {max_len} characters")
    if "\x00" in v:
        raise ValidationError(field, value, "must not contain NUL characters")
    return v


def optional_text(field: str, value: Any, max_len: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return text(field, value, max_len)


def code(field: str, value: Any, max_len: int = 64) -> str:
    """An identifier people type: no whitespace inside."""
    v = text(field, value, max_len)
    if any(ch.isspace() for ch in v):
        raise ValidationError(field, value, "must not contain spaces")
    return v


def date(field: str, value: Any, *, required: bool = False) -> dt.date | None:
    """A calendar date, given as a ``date`` or as ``YYYY-MM-DD``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(field, value, "a date is required")
        return None
    if isinstance(value, dt.datetime):
        raise ValidationError(field, value, "must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(field, value, "must be a date written YYYY-MM-DD")


def decimal(
    field: str,
    value: Any,
    *,
    places: int = 4,
    minimum: Decimal | None = None,
    positive: bool = False,
) -> Decimal:
    """An exact decimal number: no floats' binary noise, no NaN or infinity."""
    if isinstance(value, bool) or value is None:
        raise ValidationError(field, value, "must be a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(field, value, "must be a finite number")
        value = repr(value)
    try:
        d = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationError(field, value, "must be a number") from None
    if not d.is_finite():
        raise ValidationError(field, value, "must be a finite number")
    if d.as_tuple().exponent < -places:  # type: ignore[operator]
        raise ValidationError(field, value, f"must have at most {places} decimal places")
    if abs(d) >= Decimal(10) ** 12:
        raise ValidationError(field, value, "must be less than 10^12 in size")
    if positive and d <= 0:
        raise ValidationError(field, value, "must be greater than 0")
    if minimum is not None and d < minimum:
        raise ValidationError(field, value, f"must be at least {minimum}")
    return d
