"""Loading a province's worth of cycles builds no state machine per row.

100,000 cycles are written set-based with SQLAlchemy Core, loaded through the ORM in one
unit of work, and one of them is moved along its lifecycle: no ``transitions.Machine`` is
constructed (nor any model attached to one), and only that one cycle changes.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
import transitions

import pdca
from pdca.domain.lifecycle import _Spec
from pdca.persistence import tables as t

N = 100_000
CHOSEN = "O054321"


@pytest.fixture
def machine_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"init": 0, "add_model": 0}
    orig_init = transitions.Machine.__init__
    orig_add = transitions.Machine.add_model

    def counting_init(self: Any, *a: Any, **kw: Any) -> None:
        calls["init"] += 1
        orig_init(self, *a, **kw)

    def counting_add(self: Any, *a: Any, **kw: Any) -> None:
        calls["add_model"] += 1
        orig_add(self, *a, **kw)

    monkeypatch.setattr(transitions.Machine, "__init__", counting_init)
    monkeypatch.setattr(transitions.Machine, "add_model", counting_add)
    return calls


def _insert_cycles(store: pdca.Store) -> None:
    """N organizations and one draft 2025 cycle each, in two set-based statements."""
    with store.engine.begin() as conn:
        conn.execute(
            t.organization.insert(),
            [{"code": f"O{i:06d}", "name": f"第{i}党支部", "kind": "党支部"} for i in range(N)],
        )
        org = t.organization
        conn.execute(
            t.cycle.insert().from_select(
                ["org_id", "period", "state", "version"],
                sa.select(
                    org.c.id,
                    sa.literal("2025", sa.String),
                    sa.literal("draft", sa.String),
                    sa.literal(1, sa.Integer),
                ),
            )
        )


def _states(store: pdca.Store) -> dict[tuple[str, int], int]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.cycle.c.state, t.cycle.c.version, sa.func.count()).group_by(
                t.cycle.c.state, t.cycle.c.version
            )
        ).all()
        conn.rollback()
    return {(state, version): n for state, version, n in rows}


def test_100k_cycles_loaded_and_one_transition_fired_build_no_machine(
    store: pdca.Store, machine_calls: dict[str, int]
) -> None:
    started = time.perf_counter()
    _insert_cycles(store)
    assert _states(store) == {("draft", 1): N}
    events_before = _count(store, t.event)

    with store.unit_of_work(pdca.Actor("省委组织部", role="system")) as u:
        cycles = u.cycles()
        assert len(cycles) == N
        assert machine_calls == {"init": 0, "add_model": 0}
        chosen_id = u.cycle(CHOSEN, "2025").id
        u.add_target(CHOSEN, "2025", "三会一课", first_responsible="王书记", due_on="2025-12-31")
        moved = u.approve_plan(CHOSEN, "2025")
        # The use case worked on the very object loaded with the others ...
        assert any(c is moved for c in cycles)
        # ... and only that object changed.
        assert [(c.id, c.state) for c in cycles if c.state != "draft"] == [(chosen_id, "planned")]
        # transitions decorates models it is given; these stay plain.
        assert not hasattr(moved, "trigger")
        assert not hasattr(moved, "may_start")
        assert not hasattr(cycles[0], "is_draft")

    assert machine_calls == {"init": 0, "add_model": 0}
    assert _states(store) == {("draft", 1): N - 1, ("planned", 2): 1}
    with store.engine.connect() as conn:
        planned = conn.scalar(sa.select(t.cycle.c.id).where(t.cycle.c.state == "planned"))
        conn.rollback()
    assert planned == chosen_id
    # One event for the target, one for the transition.
    assert _count(store, t.event) == events_before + 2
    with store.unit_of_work() as u:
        [ev] = u.events(entity="cycle", entity_id=chosen_id)
        assert (ev.action, ev.from_state, ev.to_state, ev.actor) == (
            "approve",
            "draft",
            "planned",
            "省委组织部",
        )

    # The counting patch is live: a new Lifecycle is one new Machine.
    pdca.Lifecycle("probe", ["a", "b"], "a", [_Spec("go", ("a",), "b")])
    assert machine_calls["init"] == 1
    assert time.perf_counter() - started < 120


def test_generic_path_on_many_loaded_cycles(
    store: pdca.Store, machine_calls: dict[str, int]
) -> None:
    """``advance`` by name on a few of many loaded cycles: still no Machine."""
    with store.engine.begin() as conn:
        conn.execute(
            t.organization.insert(),
            [{"code": f"P{i:05d}", "name": f"支部{i}", "kind": "党支部"} for i in range(5000)],
        )
        conn.execute(
            t.cycle.insert().from_select(
                ["org_id", "period", "state", "version"],
                sa.select(
                    t.organization.c.id,
                    sa.literal("2025", sa.String),
                    sa.literal("planned", sa.String),
                    sa.literal(1, sa.Integer),
                ),
            )
        )
    picked = ["P00000", "P02500", "P04999"]
    with store.unit_of_work(pdca.Actor("考核办", role="system")) as u:
        cycles = u.cycles(state="planned")
        assert len(cycles) == 5000
        for code in picked:
            u.advance(code, "2025", "start")
            u.advance(code, "2025", "check")
        assert sum(1 for c in cycles if c.state == "checking") == 3
    assert machine_calls == {"init": 0, "add_model": 0}
    assert _states(store) == {("planned", 1): 4997, ("checking", 3): 3}


def _count(store: pdca.Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        n = conn.scalar(sa.select(sa.func.count()).select_from(table))
        conn.rollback()
    return int(n or 0)
