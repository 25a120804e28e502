"""Advancing many cycles in one unit of work: each checked as one at a time, same rows."""

from __future__ import annotations

import contextlib
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

import pdca
from pdca.persistence import tables as t
from pdca.persistence.trail import verify_chain
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


def events_of(url: str) -> list[tuple[Any, ...]]:
    """Every event's content as stored (all but its id and place in the chain), by the
    organization of the cycle or finding it is about."""
    e, c, f, o = t.event, t.cycle, t.finding, t.organization
    fc = t.cycle.alias("fc")
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                sa.func.coalesce(o.c.code, sa.literal("-")),
                e.c.entity,
                e.c.action,
                e.c.from_state,
                e.c.to_state,
                e.c.reason,
                sa.cast(e.c.data, sa.Text),
                sa.cast(e.c.at, sa.Text),
                e.c.actor,
                e.c.actor_org,
                e.c.actor_role,
            )
            .select_from(e)
            .outerjoin(f, sa.and_(e.c.entity == "finding", f.c.id == e.c.entity_id))
            .outerjoin(fc, fc.c.id == f.c.cycle_id)
            .outerjoin(c, sa.and_(e.c.entity == "cycle", c.c.id == e.c.entity_id))
            .outerjoin(o, o.c.id == sa.func.coalesce(c.c.org_id, fc.c.org_id))
            .where(e.c.entity.in_(["cycle", "finding"]))
        ).all()
    engine.dispose()
    return sorted((tuple("" if x is None else str(x) for x in r)) for r in rows)


def test_advance_many_writes_the_events_one_at_a_time_writes(
    databases: Any, clock: pdca.FixedClock
) -> None:
    a, b = databases.migrated(), databases.migrated()
    for url in (a, b):
        with pdca.open_store(url, clock=clock) as store:
            setup(store, clock, 4)
            with store.unit_of_work(OFFICE) as uow:
                for code in ("B000", "B002"):
                    uow.approve_plan(code, "2025")
                    uow.start(code, "2025")
                    uow.add_finding(
                        code, "2025", "I1", "记录不全", checkpoint="daily", found_on="2025-01-05"
                    )
    before = len(events_of(a))
    with pdca.open_store(a, clock=clock) as store:
        for event in ROUND:
            with store.unit_of_work(OFFICE) as uow:
                for k in range(4):
                    with contextlib.suppress(pdca.TransitionRefused):
                        uow.advance(f"B{k:03d}", "2025", event, reason=f"{event} round")
    with pdca.open_store(b, clock=clock) as store:
        for event in ROUND:
            with store.unit_of_work(OFFICE) as uow:
                uow.advance_many("2025", event, reason=f"{event} round")
    assert len(events_of(a)) > before
    assert events_of(a) == events_of(b)
    for url in (a, b):
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        with engine.connect() as conn:
            assert verify_chain(conn).intact
        engine.dispose()


def test_advance_many_plan_guard_words_refusals_as_one_at_a_time(
    databases: Any, clock: pdca.FixedClock
) -> None:
    """Plans the database finds incomplete only by white space (written around pdca's own
    checks, which store blank as NULL), by a missing due date, or with no targets at all."""
    base = databases.migrated()
    with pdca.open_store(base, clock=clock) as store:
        setup(store, clock, 8)
    engine = sa.create_engine(base, poolclass=sa.NullPool)
    tg, c, o = t.target, t.cycle, t.organization

    def first_target(conn: sa.Connection, code: str) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.min(tg.c.id))
                .join(c, c.c.id == tg.c.cycle_id)
                .join(o, o.c.id == c.c.org_id)
                .where(o.c.code == code)
            ).scalar_one()
        )

    with engine.begin() as conn:
        for code, values in (
            ("B002", {"first_responsible": "\u3000"}),  # an ideographic space alone
            ("B003", {"first_responsible": " \t\n\x85"}),
            ("B004", {"due_on": None}),
            ("B006", {"first_responsible": " 书记 "}),  # padded, not blank
        ):
            conn.execute(tg.update().where(tg.c.id == first_target(conn, code)).values(values))
        b005 = sa.select(c.c.id).join(o, o.c.id == c.c.org_id).where(o.c.code == "B005")
        conn.execute(tg.delete().where(tg.c.cycle_id.in_(b005)))
    engine.dispose()
    one, many = databases.clone(base), databases.clone(base)
    expected: dict[str, str | None] = {}
    with pdca.open_store(one, clock=clock) as store, store.unit_of_work(OFFICE) as uow:
        for k in range(8):
            code = f"B{k:03d}"
            try:
                uow.approve_plan(code, "2025")
                expected[code] = None
            except pdca.TransitionRefused as refused:
                expected[code] = str(refused)
    with pdca.open_store(many, clock=clock) as store, store.unit_of_work(OFFICE) as uow:
        got = dict(uow.advance_many("2025", "approve"))
    assert got == expected
    assert [code for code, msg in got.items() if msg is None] == ["B000", "B006", "B007"]
    assert "the plan has no targets" in str(got["B005"])
    assert "due date" in str(got["B004"])
    assert snapshot(one) == snapshot(many)
    assert events_of(one) == events_of(many)


def test_advance_many_refuses_a_cycle_another_writer_changed(
    store: pdca.Store, clock: pdca.FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(store, clock, 3)
    uow_class = type(store.unit_of_work(OFFICE))
    load = uow_class._plan_targets

    def load_then_bump(self: Any, conn: sa.Connection, *args: Any) -> None:
        load(self, conn, *args)
        # Another writer moves B002's version after its cycle was read.
        b002 = sa.select(t.cycle.c.id).join(t.organization, t.organization.c.id == t.cycle.c.org_id)
        conn.execute(
            t.cycle.update()
            .where(t.cycle.c.id.in_(b002.where(t.organization.c.code == "B002")))
            .values(version=t.cycle.c.version + 1)
        )

    monkeypatch.setattr(uow_class, "_plan_targets", load_then_bump)
    with (
        pytest.raises(pdca.ConcurrencyConflict, match="another writer changed a cycle"),
        store.unit_of_work(OFFICE) as uow,
    ):
        uow.advance_many("2025", "approve")
    monkeypatch.undo()
    with store.unit_of_work(OFFICE) as uow:
        assert [c.state for c in uow.cycles(period="2025")] == ["draft"] * 3
        assert [e.action for e in uow.events(entity="cycle") if e.action != "open"] == []
