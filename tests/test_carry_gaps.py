"""Carry-forward across a skipped period, and a finding's deadline."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

import pdca

OFFICE = pdca.Actor("office", role="system")  # the office's scripts

SCHEME = [
    {
        "code": "C",
        "name": "组织建设",
        "items": [{"code": "I1", "title": "三会一课", "max_score": 10}],
    }
]


def _year(store: pdca.Store, clock: pdca.FixedClock, year: int, problem: str | None) -> None:
    clock.set(pendulum.datetime(year, 1, 5, tz="Asia/Shanghai"))
    with store.unit_of_work(OFFICE) as u:
        u.add_scheme(f"S-{year}", f"{year}年方案", str(year), issuer="JG", categories=SCHEME)
        cyc = u.open_cycle("A", str(year), scheme=f"S-{year}")
        for tgt in cyc.targets:
            u.update_target(tgt.id, first_responsible="书记")
        u.approve_plan("A", str(year))
        u.start("A", str(year))
        if problem:
            u.add_finding("A", str(year), "I1", problem, checkpoint="mid-year")
        u.begin_check("A", str(year))
        u.act("A", str(year))
        u.close("A", str(year))


def test_a_skipped_year_does_not_drop_carried_problems(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    with store.unit_of_work(OFFICE) as u:
        u.add_organization("JG", "机关党委", "机关党委")
        u.add_organization("A", "第一支部", "党支部", parent="JG")
    _year(store, clock, 2023, "记录不全")
    # 2024 is skipped (no cycle); 2025 opens from the 2023 cycle's carried problem.
    clock.set(pendulum.datetime(2025, 1, 5, tz="Asia/Shanghai"))
    with store.unit_of_work(OFFICE) as u:
        u.add_scheme("S-2025", "2025年方案", "2025", issuer="JG", categories=SCHEME)
        plan = u.open_cycle("A", "2025", scheme="S-2025")
        carried = [x for x in plan.targets if x.origin == "carried"]
        assert [(x.title, x.origin_period, x.carry_count) for x in carried] == [
            ("整改：记录不全", "2023", 1)
        ]


def test_closing_an_earlier_cycle_carries_into_the_later_open_one(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    with store.unit_of_work(OFFICE) as u:
        u.add_organization("JG", "机关党委", "机关党委")
        u.add_organization("A", "第一支部", "党支部", parent="JG")
        u.add_scheme("S-2023", "2023年方案", "2023", issuer="JG", categories=SCHEME)
        u.add_scheme("S-2025", "2025年方案", "2025", issuer="JG", categories=SCHEME)
        cyc = u.open_cycle("A", "2023", scheme="S-2023")
        for tgt in cyc.targets:
            u.update_target(tgt.id, first_responsible="书记")
        u.approve_plan("A", "2023")
        u.start("A", "2023")
        u.add_finding("A", "2023", "I1", "台账缺失", checkpoint="daily", found_on="2023-06-01")
        # 2025 opens while 2023 is still running (2024 never existed): allowed.
        u.open_cycle("A", "2025", scheme="S-2025")
        u.begin_check("A", "2023")
        u.act("A", "2023")
        u.close("A", "2023")
        later = u.cycle("A", "2025")
        assert [(x.origin, x.origin_period) for x in later.targets if x.origin == "carried"] == [
            ("carried", "2023")
        ]


def test_a_deadline_before_the_finding_is_refused(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    _ = clock
    with store.unit_of_work(OFFICE) as u:
        u.add_organization("JG", "机关党委", "机关党委")
        u.add_organization("A", "第一支部", "党支部", parent="JG")
        u.add_scheme("S-2025", "2025年方案", "2025", issuer="JG", categories=SCHEME)
        cyc = u.open_cycle("A", "2025", scheme="S-2025")
        for tgt in cyc.targets:
            u.update_target(tgt.id, first_responsible="书记")
        u.approve_plan("A", "2025")
        u.start("A", "2025")
    with (
        pytest.raises(pdca.ValidationError, match=r"deadline='2025-01-01': must not be before"),
        store.unit_of_work(OFFICE) as u,
    ):
        u.add_finding(
            "A",
            "2025",
            "I1",
            "x",
            checkpoint="daily",
            found_on=dt.date(2025, 1, 2),
            deadline="2025-01-01",
        )
    with store.unit_of_work() as u:
        assert u.findings(org="A") == []
