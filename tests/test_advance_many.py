"""Advancing many cycles in one unit of work: each checked as one at a time, same rows."""

from __future__ import annotations

import contextlib
from typing import Any

import pendulum
import pytest

import pdca
from test_rollover import scheme, snapshot

OFFICE = pdca.Actor("office", role="system")  # the office's scripts


def setup(store: pdca.Store, clock: pdca.FixedClock, n: int) -> None:
    clock.set(pendulum.datetime(2025, 1, 5, tz="Asia/Shanghai"))
    with store.unit_of_work(OFFICE) as uow:
        uow.add_organization("JG", "机关党委", "机关党委")
        for k in range(n):
            uow.add_organization(f"B{k:03d}", f"第{k}支部", "党支部", parent="JG")
        uow.add_scheme(scheme(2025))
        for k in range(n):
            cyc = uow.open_cycle(f"B{k:03d}", "2025", scheme="S-2025")
            if k != 1:  # B001's plan lacks its responsible person
                for tgt in cyc.targets:
                    uow.update_target(tgt.id, first_responsible="书记")  # type: ignore[arg-type]


ROUND = ("approve", "start", "check", "act", "close")


def test_advance_many_equals_one_at_a_time(databases: Any, clock: pdca.FixedClock) -> None:
    a, b = databases.migrated(), databases.migrated()
    for url in (a, b):
        with pdca.open_store(url, clock=clock) as store:
            setup(store, clock, 6)
            with store.unit_of_work(OFFICE) as uow:
                for k in (0, 2):
                    code = f"B{k:03d}"
                    uow.approve_plan(code, "2025")
                    uow.start(code, "2025")
                    uow.add_finding(
                        code, "2025", "I1", "记录不全", checkpoint="daily", found_on="2025-01-05"
                    )
    with pdca.open_store(a, clock=clock) as store:
        for event in ROUND:
            with store.unit_of_work(OFFICE) as uow:
                for k in range(6):
                    with contextlib.suppress(pdca.TransitionRefused):
                        uow.advance(f"B{k:03d}", "2025", event)
    outcomes = []
    with pdca.open_store(b, clock=clock) as store:
        for event in ROUND:
            with store.unit_of_work(OFFICE) as uow:
                outcomes.append(uow.advance_many("2025", event))
    assert snapshot(a) == snapshot(b)
    approve = dict(outcomes[0])
    assert approve["B001"] is not None
    assert "plan_complete" in approve["B001"]
    assert "第一责任人" in approve["B001"]
    assert approve["B000"] is not None  # already planned: approve is not an edge from doing
    assert approve["B003"] is None
    close = dict(outcomes[4])
    assert close["B000"] is None
    assert close["B001"] is not None


def test_advance_many_of_named_organizations(store: pdca.Store, clock: pdca.FixedClock) -> None:
    setup(store, clock, 3)
    with store.unit_of_work(OFFICE) as uow:
        assert uow.advance_many("2025", "approve", orgs=["B000", "B002"]) == [
            ("B000", None),
            ("B002", None),
        ]
        with pytest.raises(pdca.NotFound, match="B009/2025"):
            uow.advance_many("2025", "start", orgs=["B009"])
    with store.unit_of_work(OFFICE) as uow:
        with pytest.raises(pdca.ValidationError, match="must be one of"):
            uow.advance_many("2025", "fly")
        assert [c.state for c in uow.cycles(period="2025")] == ["planned", "draft", "planned"]
