"""Stale writes (issue 7, item 1): two sessions load the same cycle, finding, score or
appeal and both change it: one succeeds, the other gets ``ConcurrencyConflict``, and the
loser's change is nowhere (not in the row, not in the trail): never a lost update.

Two ways of loading the same object twice:

* *stale*: a unit of work loads the object and ends (a web request showing a form); another
  writer commits a change; the object is then used in a new unit of work (the form is
  submitted). Runs on both databases.
* *interleaved*: two stores (two connections) hold transactions open at the same time, the
  second commits first. PostgreSQL only: on SQLite every writer takes the write lock at
  ``BEGIN IMMEDIATE``, so the second writer waits for the first and both cannot be open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pendulum
import pytest

import pdca
from pdca.persistence import tables as t
from reliability import BACKEND, OFFICE, SYSTEM, count, events_of, secretary, world


@pytest.fixture
def clock() -> pdca.FixedClock:
    return pdca.FixedClock(pendulum.datetime(2025, 12, 1, 9, tz="Asia/Shanghai"))


@dataclass
class Case:
    """``load`` returns the object (inside a unit of work); ``change(uow, obj, who)`` makes
    the change of writer ``who`` ("A" or "B"); ``entity`` and ``key`` find its trail and
    row; ``final`` reads what the row says now."""

    name: str
    entity: str
    actor: pdca.Actor
    load: Callable[[pdca.UnitOfWork, dict[str, Any]], Any]
    change: Callable[[pdca.UnitOfWork, dict[str, Any], str], None]
    final: Callable[[pdca.UnitOfWork, dict[str, Any]], Any]
    expected: dict[str, Any]  # what ``final`` gives after writer "A" or "B" won


def _cycle_case() -> Case:
    return Case(
        "cycle",
        "cycle",
        OFFICE,
        load=lambda u, k: u.cycle("B00", "2025"),
        change=lambda u, k, who: (
            u.begin_check("B00", "2025")
            if who == "A"
            else u.advance("B00", "2025", "check", reason="B")
        ),
        final=lambda u, k: (u.cycle("B00", "2025").state, u.events(entity="cycle")[-1].reason),
        expected={"A": ("checking", None), "B": ("checking", "B")},
    )


def _finding_case() -> Case:
    def change(u: pdca.UnitOfWork, k: dict[str, Any], who: str) -> None:
        if who == "A":
            u.waive(k["finding"], reason="客观原因")
        else:
            u.verify(k["finding"], verified_by="考评组")

    return Case(
        "finding",
        "finding",
        OFFICE,
        load=lambda u, k: u.finding(k["finding"]),
        change=change,
        final=lambda u, k: u.finding(k["finding"]).state,
        expected={"A": "waived", "B": "resolved"},
    )


def _score_case() -> Case:
    def change(u: pdca.UnitOfWork, k: dict[str, Any], who: str) -> None:
        u.enter_score(
            "B00", "2025", "P1", "year-end", "panel", 41 if who == "A" else 42, assessor="考核组"
        )

    def load(u: pdca.UnitOfWork, k: dict[str, Any]) -> Any:
        return next(s for s in u.scores("B00", "2025") if s.id == k["score"])

    return Case(
        "score",
        "score",
        OFFICE,
        load=load,
        change=change,
        final=lambda u, k: str(load(u, k).raw),
        expected={"A": "41", "B": "42"},
    )


def _appeal_case() -> Case:
    def change(u: pdca.UnitOfWork, k: dict[str, Any], who: str) -> None:
        if who == "A":
            u.decide_appeal(k["appeal"], uphold=True, decision="经复核，成立")
        else:
            u.decide_appeal(k["appeal"], uphold=False, decision="经复核，不成立")

    return Case(
        "appeal",
        "appeal",
        OFFICE,
        load=lambda u, k: u.appeal(k["appeal"]),
        change=change,
        final=lambda u, k: u.appeal(k["appeal"]).state,
        expected={"A": "upheld", "B": "rejected"},
    )


CASES = {c.name: c for c in (_cycle_case(), _finding_case(), _score_case(), _appeal_case())}


def _setup(store: pdca.Store, clock: pdca.FixedClock, name: str) -> dict[str, Any]:
    """B00 under S2025: doing (cycle, finding cases), with a score (score case), or acting
    with an appeal on that score waiting for its decision (appeal case)."""
    world(store, 2)
    keys: dict[str, Any] = {}
    with store.unit_of_work(OFFICE) as u:
        if name == "finding":
            f = u.add_finding("B00", "2025", "P1", "台账缺失", checkpoint="mid-year")
            keys["finding"] = f.id
        if name in ("score", "appeal"):
            s = u.enter_score("B00", "2025", "P1", "year-end", "panel", 40, assessor="考核组")
            keys["score"] = s.id
    if name == "finding":
        with store.unit_of_work(secretary("B00")) as u:
            u.rectify(keys["finding"], plan="补齐台账", owner="组织委员")
    if name == "appeal":
        with store.unit_of_work(OFFICE) as u:
            u.begin_check("B00", "2025")
            u.act("B00", "2025")
        clock.set(pendulum.datetime(2025, 12, 3, 9, tz="Asia/Shanghai"))
        with store.unit_of_work(secretary("B00")) as u:
            keys["appeal"] = u.file_appeal(
                score_id=keys["score"], reason="应得满分", requested_value=60
            ).id
    return keys


def _version(u: pdca.UnitOfWork, obj: Any) -> int:
    return int(obj.version)


def _check_winner(
    store: pdca.Store, case: Case, keys: dict[str, Any], before: dict[str, Any], winner: str
) -> None:
    with store.unit_of_work(SYSTEM) as u:
        assert case.final(u, keys) == case.expected[winner]
        obj = case.load(u, keys)
        # Exactly one change went in: the version moved by one, the trail grew by the
        # winner's events only.
        assert obj.version == before["version"] + 1
        oid = obj.id
    trail = events_of(store, case.entity, oid)
    assert len(trail) == before["events"] + 1
    assert count(store, t.event) == before["all_events"] + before["winner_events"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_stale_object_loses_and_the_winner_stays(
    store: pdca.Store, clock: pdca.FixedClock, name: str
) -> None:
    case = CASES[name]
    keys = _setup(store, clock, name)
    with store.unit_of_work(case.actor) as a:
        stale = case.load(a, keys)
        before = {"version": stale.version}
        oid = stale.id
    before["events"] = len(events_of(store, case.entity, oid))
    all_events = count(store, t.event)
    with store.unit_of_work(case.actor) as b:
        case.change(b, keys, "B")
    before["winner_events"] = count(store, t.event) - all_events
    before["all_events"] = all_events

    def submit_stale() -> None:
        with store.unit_of_work(case.actor) as c:
            c.session.add(stale)  # the form's object, loaded before B's change
            case.change(c, keys, "A")

    with pytest.raises(pdca.ConcurrencyConflict):
        submit_stale()
    _check_winner(store, case, keys, before, "B")


@pytest.mark.skipif(
    BACKEND == "sqlite",
    reason="SQLite writers serialize at BEGIN IMMEDIATE: two writers cannot interleave",
)
@pytest.mark.parametrize("name", sorted(CASES))
def test_interleaved_writers_second_commit_conflicts(
    db_url: str, store: pdca.Store, clock: pdca.FixedClock, name: str
) -> None:
    case = CASES[name]
    keys = _setup(store, clock, name)
    with store.unit_of_work(case.actor) as u:
        obj = case.load(u, keys)
        before = {"version": obj.version}
        oid = obj.id
    before["events"] = len(events_of(store, case.entity, oid))
    all_events = count(store, t.event)
    store_a = pdca.open_store(db_url, clock=clock)
    store_b = pdca.open_store(db_url, clock=clock)
    try:

        def interleave() -> None:
            with store_a.unit_of_work(case.actor) as a:
                mine = case.load(a, keys)  # held: the identity map is weak
                with store_b.unit_of_work(case.actor) as b:
                    case.load(b, keys)
                    case.change(b, keys, "B")
                assert case.load(a, keys) is mine
                case.change(a, keys, "A")

        with pytest.raises(pdca.ConcurrencyConflict):
            interleave()
    finally:
        store_a.close()
        store_b.close()
    # B's events alone were added; A wrote nothing.
    with store.unit_of_work(SYSTEM) as u:
        b_events = [e for e in u.events() if e.id is not None][all_events:]
    before["winner_events"] = len(b_events)
    before["all_events"] = all_events
    _check_winner(store, case, keys, before, "B")


def test_a_conflict_leaves_the_unit_of_work_refusing_and_only_pdca_errors(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    keys = _setup(store, clock, "score")
    with store.unit_of_work(OFFICE) as a:
        stale = CASES["score"].load(a, keys)
    with store.unit_of_work(OFFICE) as b:
        CASES["score"].change(b, keys, "B")
    errors: list[BaseException] = []
    try:
        with store.unit_of_work(OFFICE) as c:
            c.session.add(stale)
            try:
                CASES["score"].change(c, keys, "A")
            except pdca.ConcurrencyConflict as e:
                errors.append(e)
            for call in (lambda: c.scores("B00", "2025"), lambda: c.organizations()):
                try:
                    call()
                except pdca.PdcaError as e:
                    errors.append(e)
    except pdca.PdcaError as e:
        errors.append(e)
    assert errors, "the stale write must be refused"
    assert all(isinstance(e, pdca.PdcaError) for e in errors)
    with store.unit_of_work(OFFICE) as u:
        assert CASES["score"].final(u, keys) == "42"
