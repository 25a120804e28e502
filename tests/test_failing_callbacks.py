"""Callbacks that fail (issue 7, item 5).

An exception anywhere around a transition (a guard, any ``transitions`` callback of the
transition or of its states, the machine-wide callbacks, or the transition of a finding
that a cycle's close carries) leaves the database and the in-memory object at the prior
state, with no event row: whether the exception escapes the ``with`` block (the unit of work
rolls back) or the caller catches it inside and carries on (nothing of the failed use case
is committed: an unexpected exception refuses the rest of the unit of work).

Post-commit hooks (``store.subscribe``) run after the commit by design: a subscriber that
raises neither undoes the committed change nor reaches the caller, and the other
subscribers still hear of it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

import pdca
from pdca.domain import lifecycle
from pdca.persistence import tables as t
from reliability import OFFICE, SYSTEM, count, cycle_row, secretary, world


class Boom(RuntimeError):
    pass


def boom(*args: Any, **kwargs: Any) -> Any:
    raise Boom("a callback failed")


@pytest.fixture
def clock() -> pdca.FixedClock:
    return pdca.FixedClock(pendulum.datetime(2025, 12, 1, 9, tz="Asia/Shanghai"))


def _install(machine: Any, event: str, where: str) -> Callable[[], None]:
    """Make ``where`` (a callback slot around ``event``) raise; returns the undo."""
    tr = machine.get_transitions(event)[0]
    if where == "guard":  # one of pdca's guards raises instead of answering
        spec = next(s for s in _lifecycle_of(machine)._specs.values() if s.event == event)
        old = spec.guards
        object.__setattr__(spec, "guards", (*old, ("boom", boom)))
        return lambda: object.__setattr__(spec, "guards", old)
    if where == "condition":
        from transitions.core import Condition

        lst = tr.conditions
        item: Any = Condition(boom)
    elif where in ("prepare", "before", "after"):
        lst, item = getattr(tr, where), boom
    elif where == "on_exit":
        lst, item = machine.get_state(tr.source).on_exit, boom
    elif where == "on_enter":
        lst, item = machine.get_state(tr.dest).on_enter, boom
    else:  # machine-wide: prepare_event, before_state_change, after_state_change
        lst, item = getattr(machine, where), boom
    lst.append(item)
    return lambda: lst.remove(item)


def _lifecycle_of(machine: Any) -> lifecycle.Lifecycle:
    return lifecycle.CYCLE if machine is lifecycle.CYCLE.machine else lifecycle.FINDING


SLOTS = [
    "guard",
    "condition",
    "prepare",
    "before",
    "on_exit",
    "on_enter",
    "after",
    "prepare_event",
    "before_state_change",
    "after_state_change",
]


@pytest.fixture
def failing(request: pytest.FixtureRequest) -> Iterator[Callable[[Any, str, str], None]]:
    undos: list[Callable[[], None]] = []

    def install(machine: Any, event: str, where: str) -> None:
        undos.append(_install(machine, event, where))

    yield install
    for undo in reversed(undos):
        undo()


def _table_counts(store: pdca.Store) -> dict[str, int]:
    return {
        name: count(store, table)
        for name, table in (
            ("event", t.event),
            ("cycle", t.cycle),
            ("finding", t.finding),
            ("target", t.target),
        )
    }


def _states(store: pdca.Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return sorted(
            tuple(r)
            for r in conn.execute(sa.select(t.cycle.c.id, t.cycle.c.state, t.cycle.c.version)).all()
        ) + sorted(
            tuple(r)
            for r in conn.execute(
                sa.select(t.finding.c.id, t.finding.c.state, t.finding.c.version)
            ).all()
        )


# (machine, event, what the use case does, from which state)
TRANSITIONS = {
    "cycle.check": (lifecycle.CYCLE, "check"),
    "cycle.close": (lifecycle.CYCLE, "close"),
    "finding.rectify": (lifecycle.FINDING, "rectify"),
    "finding.carry (inside cycle.close)": (lifecycle.FINDING, "carry"),
}


def _prepare(store: pdca.Store, case: str) -> dict[str, Any]:
    state = "acting" if "close" in case else "doing"
    world(store, 1, state="doing")
    with store.unit_of_work(OFFICE) as u:
        fids = [
            u.add_finding("B00", "2025", "P1", f"问题{k}", checkpoint="mid-year").id
            for k in range(2)
        ]
        if state == "acting":
            u.begin_check("B00", "2025")
            u.act("B00", "2025")
    return {"findings": fids}


def _attempt(u: pdca.UnitOfWork, case: str, keys: dict[str, Any]) -> Any:
    """Run the use case; return the object it transitions (loaded before)."""
    if case.startswith("cycle.check"):
        return u.begin_check("B00", "2025")
    if "close" in case:
        return u.close("B00", "2025")
    return u.rectify(keys["findings"][0], plan="补齐", owner="委员")


def _actor(case: str) -> pdca.Actor:
    return secretary("B00") if case == "finding.rectify" else OFFICE


def _loaded(u: pdca.UnitOfWork, case: str, keys: dict[str, Any]) -> list[Any]:
    cyc = u.cycle("B00", "2025")
    return [cyc, *(u.finding(f) for f in keys["findings"])]


@pytest.mark.parametrize("slot", SLOTS)
@pytest.mark.parametrize("case", sorted(TRANSITIONS))
def test_a_failing_callback_leaves_everything_as_it_was(
    store: pdca.Store, failing: Any, case: str, slot: str
) -> None:
    keys = _prepare(store, case)
    life, event = TRANSITIONS[case]
    before_counts, before_states = _table_counts(store), _states(store)
    failing(life.machine, event, slot)

    # 1. The exception escapes the unit of work: it rolls back.
    def escape() -> None:
        with store.unit_of_work(_actor(case)) as u:
            objs = _loaded(u, case, keys)
            prior = [o.state for o in objs]
            try:
                _attempt(u, case, keys)
            finally:
                # In memory: every object the use case touched is back at its prior
                # state, and no event waits to be written.
                assert [o.state for o in objs] == prior
                session = u._session
                assert session is not None
                assert not [x for x in session.new if isinstance(x, pdca.Event)]

    with pytest.raises(Boom):
        escape()
    assert (_table_counts(store), _states(store)) == (before_counts, before_states)

    # 2. The caller catches it and carries on: nothing of the failed use case is
    # committed, and the unit of work says so instead of committing half of it.
    def catch_and_commit() -> None:
        with store.unit_of_work(_actor(case)) as u:
            objs = _loaded(u, case, keys)
            prior = [o.state for o in objs]
            with pytest.raises(Boom):
                _attempt(u, case, keys)
            assert [o.state for o in objs] == prior

    # Refusing to commit after an unexpected error is fine: it is a pdca error.
    with contextlib.suppress(pdca.PdcaError):
        catch_and_commit()
    assert (_table_counts(store), _states(store)) == (before_counts, before_states)


def test_after_the_callback_is_removed_the_same_transition_goes_through(
    store: pdca.Store, failing: Any
) -> None:
    keys = _prepare(store, "cycle.close")
    _install(lifecycle.FINDING.machine, "carry", "on_enter")()  # installed and removed
    with store.unit_of_work(OFFICE) as u:
        u.close("B00", "2025")
    assert cycle_row(store, "B00", "2025")[0] == "closed"
    with store.unit_of_work(OFFICE) as u:
        assert {u.finding(f).state for f in keys["findings"]} == {"carried"}


def test_a_failing_subscriber_neither_undoes_the_change_nor_reaches_the_caller(
    store: pdca.Store, caplog: pytest.LogCaptureFixture
) -> None:
    world(store, 1, state="doing")
    heard: list[str] = []
    store.subscribe("cycle.changed", boom)
    store.subscribe("cycle.changed", lambda n: heard.append(n.data["to_state"]))
    events = count(store, t.event)
    with caplog.at_level(logging.ERROR, logger="pdca.hooks"), store.unit_of_work(OFFICE) as u:
        cyc = u.begin_check("B00", "2025")
    # Committed, and the caller got on with its day.
    assert cyc.state == "checking"
    assert cycle_row(store, "B00", "2025")[0] == "checking"
    assert count(store, t.event) == events + 1
    assert heard == ["checking"]  # the other subscriber still heard of it
    assert any("a callback failed" in (r.exc_text or r.getMessage()) for r in caplog.records)
    # A failing subscriber keeps failing harmlessly; the next change commits too.
    with store.unit_of_work(SYSTEM) as u:
        u.act("B00", "2025")
    assert cycle_row(store, "B00", "2025")[0] == "acting"
