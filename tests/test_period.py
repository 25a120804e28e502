"""Assessment periods: parsing, printing, arithmetic and nesting (pure domain, no database)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

import pdca
from pdca import Period, PeriodKind

D = dt.date
Y, H, Q, M = PeriodKind.YEAR, PeriodKind.HALF, PeriodKind.QUARTER, PeriodKind.MONTH


# --------------------------------------------------------------------------- parse / str


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025", Period(2025, Y, 1)),
        ("2025-H1", Period(2025, H, 1)),
        ("2025-H2", Period(2025, H, 2)),
        ("2025-Q1", Period(2025, Q, 1)),
        ("2025-Q3", Period(2025, Q, 3)),
        ("2025-Q4", Period(2025, Q, 4)),
        ("2025-01", Period(2025, M, 1)),
        ("2025-03", Period(2025, M, 3)),
        ("2025-10", Period(2025, M, 10)),
        ("2025-12", Period(2025, M, 12)),
        ("1900", Period(1900, Y, 1)),
        ("9998-12", Period(9998, M, 12)),
    ],
)
def test_parse_and_str_round_trip(text: str, expected: Period) -> None:
    parsed = Period.parse(text)
    assert parsed == expected
    assert parsed.kind is expected.kind
    assert str(parsed) == text
    assert Period.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2025-q3", "2025-Q3"),
        ("2025-h2", "2025-H2"),
        ("  2025-Q3  ", "2025-Q3"),
        ("\t2025-03\n", "2025-03"),
        (2025, "2025"),
    ],
)
def test_parse_normalizes_case_whitespace_and_int(text: str | int, canonical: str) -> None:
    assert str(Period.parse(text)) == canonical


def test_parse_returns_a_period_unchanged() -> None:
    p = Period(2025, Q, 2)
    assert Period.parse(p) is p


def test_kind_and_index_of_parsed_periods() -> None:
    assert (Period.parse("2025").kind, Period.parse("2025").index) == (Y, 1)
    assert (Period.parse("2025-H2").kind, Period.parse("2025-H2").index) == (H, 2)
    assert (Period.parse("2025-Q3").kind, Period.parse("2025-Q3").index) == (Q, 3)
    assert (Period.parse("2025-11").kind, Period.parse("2025-11").index) == (M, 11)


def test_periods_are_values_usable_as_keys() -> None:
    a = Period.parse("2025-Q3")
    b = Period(2025, Q, 3)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, Period.parse("2025-07")}) == 2
    assert Period.parse("2025-Q3") != Period.parse("2025-03")
    assert Period.parse("2025") != Period.parse("2025-01")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "abc",
        "25",
        "20250",
        "2025-",
        "2025-Q",
        "2025-Q0",
        "2025-Q5",
        "2025-H0",
        "2025-H3",
        "2025-00",
        "2025-13",
        "2025-3",
        "2025-003",
        "2025/03",
        "2025-M03",
        "2025-Q1-01",
        "2025 Q1",
        "Q1-2025",
        "2025.0",
    ],
)
def test_parse_refuses_malformed_text(bad: str) -> None:
    with pytest.raises(pdca.ValidationError, match=r"^period=.*a period is YYYY") as info:
        Period.parse(bad)
    assert info.value.field == "period"
    assert info.value.value == bad
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", ["1899", "0001", "9999", "9999-Q1", "1899-12"])
def test_parse_refuses_years_out_of_range(bad: str) -> None:
    with pytest.raises(pdca.ValidationError, match=r"between 1900 and 9998") as info:
        Period.parse(bad)
    assert info.value.field == "period"
    assert info.value.value == bad


def test_parse_error_names_the_callers_field() -> None:
    with pytest.raises(pdca.ValidationError, match=r"^start='2025-Q9': ") as info:
        Period.parse("2025-Q9", field="start")
    assert info.value.field == "start"
    assert info.value.value == "2025-Q9"


# ------------------------------------------------------------------- next / previous


@pytest.mark.parametrize(
    ("text", "nxt"),
    [
        ("2025", "2026"),
        ("2025-H1", "2025-H2"),
        ("2025-H2", "2026-H1"),
        ("2025-Q1", "2025-Q2"),
        ("2025-Q3", "2025-Q4"),
        ("2025-Q4", "2026-Q1"),
        ("2025-01", "2025-02"),
        ("2025-09", "2025-10"),
        ("2025-12", "2026-01"),
        ("1999-12", "2000-01"),
    ],
)
def test_next_and_previous(text: str, nxt: str) -> None:
    p = Period.parse(text)
    assert str(p.next()) == nxt
    assert p.next().kind is p.kind
    assert p.next().previous() == p
    assert str(Period.parse(nxt).previous()) == text


@pytest.mark.parametrize(
    ("text", "prev"),
    [("2025", "2024"), ("2025-H1", "2024-H2"), ("2025-Q1", "2024-Q4"), ("2025-01", "2024-12")],
)
def test_previous_across_the_year_boundary(text: str, prev: str) -> None:
    assert str(Period.parse(text).previous()) == prev


def test_walking_twelve_months_forward_lands_in_the_same_month_next_year() -> None:
    p = Period.parse("2025-05")
    for _ in range(12):
        p = p.next()
    assert str(p) == "2026-05"
    q = Period.parse("2025-Q2")
    for _ in range(4):
        q = q.previous()
    assert str(q) == "2024-Q2"


# -------------------------------------------------------------------- start / end


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025", D(2025, 1, 1), D(2025, 12, 31)),
        ("2025-H1", D(2025, 1, 1), D(2025, 6, 30)),
        ("2025-H2", D(2025, 7, 1), D(2025, 12, 31)),
        ("2025-Q1", D(2025, 1, 1), D(2025, 3, 31)),
        ("2025-Q2", D(2025, 4, 1), D(2025, 6, 30)),
        ("2025-Q3", D(2025, 7, 1), D(2025, 9, 30)),
        ("2025-Q4", D(2025, 10, 1), D(2025, 12, 31)),
        ("2025-02", D(2025, 2, 1), D(2025, 2, 28)),
        ("2024-02", D(2024, 2, 1), D(2024, 2, 29)),
        ("2000-02", D(2000, 2, 1), D(2000, 2, 29)),
        ("1900-02", D(1900, 2, 1), D(1900, 2, 28)),
        ("2025-04", D(2025, 4, 1), D(2025, 4, 30)),
        ("2025-12", D(2025, 12, 1), D(2025, 12, 31)),
        ("9998-12", D(9998, 12, 1), D(9998, 12, 31)),
    ],
)
def test_start_and_end_dates(text: str, start: dt.date, end: dt.date) -> None:
    p = Period.parse(text)
    assert p.start == start
    assert p.end == end


def test_first_month() -> None:
    assert [Period(2025, Q, i).first_month for i in (1, 2, 3, 4)] == [1, 4, 7, 10]
    assert [Period(2025, H, i).first_month for i in (1, 2)] == [1, 7]
    assert Period(2025, M, 11).first_month == 11
    assert Period(2025).first_month == 1


def test_contains_date_is_inclusive_at_both_ends() -> None:
    q3 = Period.parse("2025-Q3")
    assert q3.contains_date(D(2025, 7, 1))
    assert q3.contains_date(D(2025, 8, 15))
    assert q3.contains_date(D(2025, 9, 30))
    assert not q3.contains_date(D(2025, 6, 30))
    assert not q3.contains_date(D(2025, 10, 1))
    assert not q3.contains_date(D(2024, 8, 15))


# ------------------------------------------------------------------- contains / children


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("2025", "2025-H1", True),
        ("2025", "2025-Q3", True),
        ("2025", "2025-03", True),
        ("2025", "2025-12", True),
        ("2025", "2025", False),
        ("2025", "2026-Q1", False),
        ("2025", "2024-12", False),
        ("2025-H1", "2025-Q2", True),
        ("2025-H1", "2025-Q3", False),
        ("2025-H2", "2025-07", True),
        ("2025-H2", "2025-06", False),
        ("2025-Q3", "2025-08", True),
        ("2025-Q3", "2025-06", False),
        ("2025-Q3", "2025-10", False),
        ("2025-Q3", "2025-Q3", False),
        ("2025-Q3", "2025-H2", False),
        ("2025-Q1", "2025", False),
        ("2025-03", "2025-03", False),
        ("2025-03", "2025-Q1", False),
        ("2025-H1", "2025", False),
    ],
)
def test_contains(outer: str, inner: str, expected: bool) -> None:
    assert Period.parse(outer).contains(Period.parse(inner)) is expected


@pytest.mark.parametrize(
    ("parent", "kind", "children"),
    [
        ("2025", Q, ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]),
        ("2025", H, ["2025-H1", "2025-H2"]),
        ("2025", M, [f"2025-{m:02d}" for m in range(1, 13)]),
        ("2025-H1", Q, ["2025-Q1", "2025-Q2"]),
        ("2025-H2", Q, ["2025-Q3", "2025-Q4"]),
        ("2025-H2", M, ["2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]),
        ("2025-Q1", M, ["2025-01", "2025-02", "2025-03"]),
        ("2025-Q4", M, ["2025-10", "2025-11", "2025-12"]),
    ],
)
def test_children(parent: str, kind: PeriodKind, children: list[str]) -> None:
    p = Period.parse(parent)
    got = p.children(kind)
    assert [str(c) for c in got] == children
    assert all(c.kind is kind for c in got)
    assert all(p.contains(c) for c in got)
    # The children tile the parent: first starts with it, last ends with it, no gaps.
    assert got[0].start == p.start
    assert got[-1].end == p.end
    assert all(a.next() == b for a, b in itertools.pairwise(got))


@pytest.mark.parametrize(
    ("parent", "kind"),
    [("2025", Y), ("2025-H1", H), ("2025-H1", Y), ("2025-Q2", Q), ("2025-Q2", H), ("2025-03", M)],
)
def test_children_must_be_shorter(parent: str, kind: PeriodKind) -> None:
    with pytest.raises(pdca.ValidationError, match=r"^kind=.*must be shorter than a") as info:
        Period.parse(parent).children(kind)
    assert info.value.field == "kind"
    assert info.value.value == str(kind)


# ------------------------------------------------------------------------ known bugs


def test_children_with_a_plain_string_kind_print_as_that_kind() -> None:
    quarters = Period.parse("2025").children("quarter")  # type: ignore[arg-type]
    assert [str(q) for q in quarters] == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]


def test_equal_periods_print_the_same() -> None:
    a = Period(2025, "year")  # type: ignore[arg-type]
    assert a == Period(2025)
    assert str(a) == "2025"


def test_constructor_refuses_an_index_out_of_range() -> None:
    with pytest.raises(pdca.ValidationError, match=r"index"):
        Period(2025, Q, 5)
