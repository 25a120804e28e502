"""Use cases through ``store.unit_of_work(actor)``: organizations, schemes, the PDCA round,
findings, carry-forward across periods, child cycles, reopening and concurrency."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
from decimal import Decimal
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

import pdca
from pdca import Period
from pdca.persistence import tables as t

D = dt.date
BACKEND = os.environ.get("PDCA_TEST_BACKEND", "sqlite")
ACTOR = pdca.Actor("张书记", org="JG", role="system")

CATEGORIES: list[dict[str, Any]] = [
    {
        "code": "ZZ",
        "name": "组织建设",
        "items": [
            {"code": "ZZ1", "title": "三会一课", "max_score": 10},
            {"code": "ZZ2", "title": "主题党日", "max_score": "5.5"},
        ],
    },
    {
        "code": "SX",
        "name": "思想建设",
        "items": [
            {"code": "SX1", "title": "理论学习", "max_score": "20.25", "evidence": "学习台账"}
        ],
    },
]
#: Next year's scheme keeps ZZ1 and drops SX1.
CATEGORIES_2026: list[dict[str, Any]] = [
    {
        "code": "ZZ",
        "name": "组织建设",
        "items": [
            {"code": "ZZ1", "title": "三会一课（2026）", "max_score": 12},
            {"code": "ZZ3", "title": "党员发展", "max_score": 8},
        ],
    }
]


@pytest.fixture
def clock() -> pdca.FixedClock:
    """2025-12-20 01:30 in Shanghai, i.e. still 2025-12-19 in UTC: "today" is zone-aware."""
    return pdca.FixedClock(pendulum.datetime(2025, 12, 20, 1, 30, tz="Asia/Shanghai"))


@pytest.fixture
def tree(store: pdca.Store) -> pdca.Store:
    """JG (机关工委) > D1, D2 (党委); D1 > B11, B12 (党支部); B11 > G111 (党小组).

    Scheme S2025 for 2025 with items ZZ1, ZZ2, SX1, issued by JG to everything below it.
    """
    with store.unit_of_work(ACTOR) as u:
        u.add_organization("JG", "市直机关工委", "机关工委")
        u.add_organization("D1", "市财政局党委", "党委", parent="JG", peer_group="委办局")
        u.add_organization("D2", "市教育局党委", "党委", parent="JG", peer_group="委办局")
        u.add_organization("B11", "预算科党支部", "党支部", parent="D1", peer_group="支部")
        u.add_organization("B12", "国库科党支部", "党支部", parent="D1", peer_group="支部")
        u.add_organization("G111", "第一党小组", "党小组", parent="B11")
        u.add_scheme("S2025", "2025年度党建考核方案", "2025", issuer="JG", categories=CATEGORIES)
    return store


# ------------------------------------------------------------------------------ helpers


def count(store: pdca.Store, table: sa.Table, *where: Any) -> int:
    with store.unit_of_work() as u:
        return int(u.session.scalar(sa.select(sa.func.count()).select_from(table).where(*where)))


def cycle_row(store: pdca.Store, org: str, period: str) -> tuple[str, int]:
    with store.unit_of_work() as u:
        c = u.cycle(org, period)
        return c.state, c.version


def complete_plan(u: pdca.UnitOfWork, org: str, period: str) -> None:
    """Give every target of the draft plan a first responsible person (and a target if none)."""
    cyc = u.cycle(org, period)
    for tgt in cyc.targets:
        if not tgt.first_responsible:
            u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
    if not cyc.targets:
        u.add_target(
            org, period, "特色目标", first_responsible="王书记", due_on=Period.parse(period).end
        )


def to_doing(u: pdca.UnitOfWork, org: str, period: str) -> None:
    complete_plan(u, org, period)
    u.approve_plan(org, period)
    u.start(org, period)


def to_checking(u: pdca.UnitOfWork, org: str, period: str) -> None:
    to_doing(u, org, period)
    u.begin_check(org, period)


def finish(u: pdca.UnitOfWork, org: str, period: str) -> None:
    """checking → acting → closed."""
    u.act(org, period)
    u.close(org, period)


def run_year_with_problem(
    store: pdca.Store, org: str, period: str, *, new_problem: str | None = None
) -> None:
    """Open (if needed), run and close one period, optionally recording a new problem."""
    with store.unit_of_work(ACTOR) as u:
        try:
            u.cycle(org, period)
        except pdca.NotFound:
            u.open_cycle(org, period)
        to_checking(u, org, period)
        if new_problem:
            u.add_finding(org, period, "ZZ1", new_problem, checkpoint="year-end")
        finish(u, org, period)


# -------------------------------------------------------------------- organizations


def test_organization_tree_and_descendants(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        assert [o.code for o in u.descendants("JG")] == ["B11", "B12", "D1", "D2", "G111"]
        assert [o.code for o in u.descendants("D1")] == ["B11", "B12", "G111"]
        assert [o.code for o in u.descendants("B11")] == ["G111"]
        assert u.descendants("G111") == []
        assert u.descendants("D2") == []
        assert [o.code for o in u.organizations()] == ["B11", "B12", "D1", "D2", "G111", "JG"]
        assert [o.code for o in u.organizations(peer_group="委办局")] == ["D1", "D2"]
        b11 = u.organization("B11")
        assert (b11.name, b11.kind, b11.peer_group) == ("预算科党支部", "党支部", "支部")
        assert b11.parent_id == u.organization("D1").id
        assert u.organization("JG").parent_id is None
        with pytest.raises(pdca.NotFound, match=r"^organization 'NOPE' not found$"):
            u.descendants("NOPE")


def test_organization_validation(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        with pytest.raises(pdca.ValidationError, match=r"^code='D1': .*already exists") as info:
            u.add_organization("D1", "重复", "党委")
        assert info.value.field == "code"
        with pytest.raises(pdca.NotFound, match=r"organization 'XX' not found"):
            u.add_organization("D3", "新党委", "党委", parent="XX")
        with pytest.raises(pdca.ValidationError, match=r"^code='D 3': must not contain spaces"):
            u.add_organization("D 3", "新党委", "党委")
        with pytest.raises(pdca.ValidationError, match=r"^name='  ': must not be empty"):
            u.add_organization("D3", "  ", "党委")
        with pytest.raises(pdca.ValidationError, match=r"^kind=None: must be text"):
            u.add_organization("D3", "新党委", None)  # type: ignore[arg-type]
    assert count(tree, t.organization) == 6


def test_add_organization_logs_an_event_with_the_actor(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        org = u.add_organization("D3", "市卫健委党委", "党委", parent="JG")
        ev = u.events(entity="organization", entity_id=org.id)
    assert len(ev) == 1
    assert (ev[0].action, ev[0].actor, ev[0].actor_org, ev[0].actor_role) == (
        "create",
        "张书记",
        "JG",
        "system",
    )
    assert ev[0].data == {
        "code": "D3",
        "name": "市卫健委党委",
        "kind": "党委",
        "parent": "JG",
        "peer_group": None,
    }


def test_an_exception_in_the_block_rolls_everything_back(tree: pdca.Store) -> None:
    events = count(tree, t.event)

    def host_work() -> None:
        with tree.unit_of_work(ACTOR) as u:
            u.add_organization("D3", "市卫健委党委", "党委", parent="JG")
            u.open_cycle("B11", "2025", scheme="S2025")
            raise RuntimeError("host failed")

    with pytest.raises(RuntimeError, match="host failed"):
        host_work()
    assert count(tree, t.organization) == 6
    assert count(tree, t.cycle) == 0
    assert count(tree, t.target) == 0
    assert count(tree, t.event) == events


def test_unit_of_work_is_only_usable_inside_with(tree: pdca.Store) -> None:
    u = tree.unit_of_work(ACTOR)
    with pytest.raises(RuntimeError, match="inside a 'with' block"):
        u.organizations()


# -------------------------------------------------------------------------- schemes


def test_scheme_is_stored_with_categories_items_and_scope(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        s = u.scheme("S2025")
        assert (s.title, s.period, s.issuer_id) == (
            "2025年度党建考核方案",
            "2025",
            u.organization("JG").id,
        )
        assert [c.code for c in s.categories] == ["ZZ", "SX"]
        assert [(i.code, i.title, i.max_score, i.rule) for i in s.items()] == [
            ("ZZ1", "三会一课", Decimal("10"), "points"),
            ("ZZ2", "主题党日", Decimal("5.5"), "points"),
            ("SX1", "理论学习", Decimal("20.25"), "points"),
        ]
        assert s.item("SX1").evidence == "学习台账"  # type: ignore[union-attr]
        assert s.item("XX9") is None
        # By default the scope is every organization below the issuer.
        assert [o.code for o in u.scope("S2025")] == ["B11", "B12", "D1", "D2", "G111"]
        u.add_scheme("S2025-D1", "财政局方案", "2025", scope=["B12", "B11"])
        assert [o.code for o in u.scope("S2025-D1")] == ["B11", "B12"]
        with pytest.raises(pdca.NotFound, match=r"^scheme 'NOPE' not found$"):
            u.scheme("NOPE")


def cat(code: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "name": f"类别{code}", "items": list(items)}


def item(code: str = "I1", max_score: Any = 1) -> dict[str, Any]:
    return {"code": code, "title": f"项目{code}", "max_score": max_score}


VE, NF = pdca.ValidationError, pdca.NotFound
MAX = "categories[0].items[0].max_score"


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern", "field"),
    [
        ({"code": "S2025"}, VE, r"a scheme with this code already exists", "code"),
        (
            {"categories": [cat("A", item("I1")), cat("A", item("I2"))]},
            VE,
            r"^categories\[1\]\.code='A': duplicate category code$",
            "categories[1].code",
        ),
        (
            {"categories": [cat("A", item("I1")), cat("B", item("I1"))]},
            VE,
            r"^categories\[1\]\.items\[0\]\.code='I1': duplicate item code "
            r"\(also at categories\[0\]\.items\[0\]\)$",
            "categories[1].items[0].code",
        ),
        (
            {"categories": [cat("A", item("I1"), item("I1"))]},
            VE,
            r"^categories\[0\]\.items\[1\]\.code='I1': duplicate item code "
            r"\(also at categories\[0\]\.items\[0\]\)$",
            "categories[0].items[1].code",
        ),
        (
            {"categories": [cat("A", item(max_score=0))]},
            VE,
            r"^categories\[0\]\.items\[0\]\.max_score=0: must be greater than 0$",
            MAX,
        ),
        (
            {"categories": [cat("A", item(max_score="-5"))]},
            VE,
            r"'-5': must be greater than 0$",
            MAX,
        ),
        (
            {"categories": [cat("A", item(max_score="1.234"))]},
            VE,
            r"max_score='1.234': must have at most 2 decimal places$",
            MAX,
        ),
        ({"categories": [cat("A", item(max_score="abc"))]}, VE, r"='abc': must be a number$", MAX),
        ({"categories": [cat("A", item(max_score=None))]}, VE, r"=None: must be a number$", MAX),
        ({"period": "2025-Q5"}, VE, r"^period='2025-Q5'", "period"),
        ({"issuer": "NOBODY"}, NF, r"^organization 'NOBODY' not found$", None),
        ({"issuer": None, "scope": ["B11", "NOBODY"]}, NF, r"'NOBODY' not found", None),
        ({"issuer": None}, VE, r"^scope=None: give a scope or an issuer$", "scope"),
        (
            {"issuer": None, "scope": ["B11", "B11"]},
            VE,
            r"duplicate organization in the scope",
            "scope[1]",
        ),
    ],
)
def test_scheme_validation_writes_nothing(
    tree: pdca.Store,
    kwargs: dict[str, Any],
    error: type[Exception],
    pattern: str,
    field: str | None,
) -> None:
    args: dict[str, Any] = {
        "code": "S-NEW",
        "title": "新方案",
        "period": "2025",
        "issuer": "JG",
        "categories": CATEGORIES,
    }
    args.update(kwargs)
    schemes, items, events = count(tree, t.scheme), count(tree, t.item), count(tree, t.event)
    with pytest.raises(error, match=pattern) as info, tree.unit_of_work(ACTOR) as u:
        u.add_scheme(args.pop("code"), args.pop("title"), args.pop("period"), **args)
    if field is not None:
        assert info.value.field == field  # type: ignore[attr-defined]
    assert (count(tree, t.scheme), count(tree, t.item), count(tree, t.event)) == (
        schemes,
        items,
        events,
    )
    with tree.unit_of_work(ACTOR) as u, pytest.raises(pdca.NotFound):
        u.scheme("S-NEW")


# ------------------------------------------------------------------- opening a cycle


def test_open_cycle_prefills_the_scheme_targets(tree: pdca.Store, clock: pdca.FixedClock) -> None:
    with tree.unit_of_work(ACTOR) as u:
        cyc = u.open_cycle("B11", "2025", scheme="S2025")
        items = {i.code: i.id for i in u.scheme("S2025").items()}
        cid = cyc.id
    with tree.unit_of_work(ACTOR) as u:
        cyc = u.cycle("B11", "2025")
        assert cyc.id == cid
        assert (cyc.state, cyc.period, cyc.parent_id) == ("draft", "2025", None)
        assert cyc.scheme_id == u.scheme("S2025").id
        assert cyc.opened_at == clock.now()
        assert cyc.closed_at is None
        got = [
            (x.title, x.origin, x.item_code, x.item_id, x.due_on, x.first_responsible)
            for x in cyc.targets
        ]
        assert got == [
            ("三会一课", "scheme", "ZZ1", items["ZZ1"], D(2025, 12, 31), None),
            ("主题党日", "scheme", "ZZ2", items["ZZ2"], D(2025, 12, 31), None),
            ("理论学习", "scheme", "SX1", items["SX1"], D(2025, 12, 31), None),
        ]
        assert cyc.findings == []
        [ev] = u.events(entity="cycle", entity_id=cid)
        assert (ev.action, ev.to_state, ev.actor) == ("open", "draft", "张书记")
        assert ev.data == {"org": "B11", "period": "2025", "scheme": "S2025", "parent": None}


def test_open_cycle_checks_scheme_period_and_scope(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.add_scheme("S-D1", "财政局方案", "2025", scope=["B12"])
        with pytest.raises(pdca.ValidationError, match=r"is for 2025, which does not cover 2026"):
            u.open_cycle("B11", "2026", scheme="S2025")
        with pytest.raises(pdca.ValidationError, match=r"^org='B11': is not in the scope of"):
            u.open_cycle("B11", "2025", scheme="S-D1")
        with pytest.raises(pdca.ValidationError, match=r"^org='JG': is not in the scope of"):
            u.open_cycle("JG", "2025", scheme="S2025")
        with pytest.raises(pdca.NotFound, match=r"^scheme 'S-XX' not found$"):
            u.open_cycle("B11", "2025", scheme="S-XX")
        with pytest.raises(pdca.NotFound, match=r"^organization 'XX' not found$"):
            u.open_cycle("XX", "2025")
        with pytest.raises(pdca.ValidationError, match=r"^period='2025-13'"):
            u.open_cycle("B11", "2025-13")
    assert count(tree, t.cycle) == 0


def test_opening_a_cycle_twice_is_refused(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
    events = count(tree, t.event)
    with (
        pytest.raises(
            pdca.ValidationError,
            match=r"^period='2025': organization B11 already has a cycle for 2025 \(state draft\)$",
        ),
        tree.unit_of_work(ACTOR) as u,
    ):
        u.open_cycle("B11", "2025")
    assert count(tree, t.cycle) == 1
    assert count(tree, t.event) == events


# ------------------------------------------------------------------------ plan guard


def test_plan_guard_names_each_target_without_first_responsible(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        cyc = u.open_cycle("B11", "2025", scheme="S2025")
        u.update_target(cyc.targets[0].id, first_responsible="王书记")  # type: ignore[arg-type]
    before = (count(tree, t.event), cycle_row(tree, "B11", "2025"))
    with (
        pytest.raises(pdca.GuardFailed, match=r"第一责任人") as info,
        tree.unit_of_work(ACTOR) as u,
    ):
        u.approve_plan("B11", "2025")
    err = info.value
    assert (err.entity, err.state, err.event, err.guard) == (
        "cycle B11/2025",
        "draft",
        "approve",
        "plan_complete",
    )
    assert err.missing == (
        "target '主题党日' has no first responsible person (第一责任人)",
        "target '理论学习' has no first responsible person (第一责任人)",
    )
    # A failed guard writes nothing: no event, same state and version.
    assert (count(tree, t.event), cycle_row(tree, "B11", "2025")) == before
    assert before[1] == ("draft", 1)


def test_plan_guard_needs_at_least_one_target(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B12", "2025")  # no scheme: an empty plan
    with (
        pytest.raises(pdca.GuardFailed, match=r"the plan has no targets$"),
        tree.unit_of_work(ACTOR) as u,
    ):
        u.approve_plan("B12", "2025")
    assert cycle_row(tree, "B12", "2025") == ("draft", 1)


def test_targets_and_responsibilities(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        tgt = u.add_target(
            "B11",
            "2025",
            "创建模范机关",
            item_code="ZZ2",
            target_value="12",
            unit="次",
            due_on="2025-06-30",
            first_responsible="王书记",
            lead_unit="机关党委",
            responsible_leader="李副局长",
        )
        assert (tgt.origin, tgt.item_id, tgt.target_value, tgt.due_on) == (
            "own",
            u.scheme("S2025").item("ZZ2").id,  # type: ignore[union-attr]
            Decimal("12"),
            D(2025, 6, 30),
        )
        with pytest.raises(pdca.ValidationError, match=r"^due_on='2026-01-01': must lie within"):
            u.add_target("B11", "2025", "x", due_on="2026-01-01")
        with pytest.raises(pdca.ValidationError, match=r"^due_on='2025/06/30': must be a date"):
            u.add_target("B11", "2025", "x", due_on="2025/06/30")
        with pytest.raises(pdca.ValidationError, match=r"^item_code='XX1': is not an item of"):
            u.add_target("B11", "2025", "x", item_code="XX1")
        with pytest.raises(pdca.ValidationError, match=r"^boss='老王': unknown field"):
            u.add_target("B11", "2025", "x", boss="老王")
        with pytest.raises(pdca.ValidationError, match=r"^due_on='2024-12-31': must lie within"):
            u.update_target(tgt.id, due_on="2024-12-31")  # type: ignore[arg-type]
        u.update_target(tgt.id, direct_responsible="赵科长", due_on=D(2025, 9, 30))  # type: ignore[arg-type]
        m = u.add_measure(tgt.id, "每月开展主题党日", owner="组织委员", due_on="2025-12-31")  # type: ignore[arg-type]
        tid = tgt.id
        mid = m.id
    with tree.unit_of_work(ACTOR) as u:
        tgt = u.target(tid)  # type: ignore[arg-type]
        assert (tgt.first_responsible, tgt.direct_responsible, tgt.lead_unit) == (
            "王书记",
            "赵科长",
            "机关党委",
        )
        assert tgt.due_on == D(2025, 9, 30)
        assert [(x.id, x.title, x.status) for x in tgt.measures] == [
            (mid, "每月开展主题党日", "planned")
        ]
        to_doing(u, "B11", "2025")
        with pytest.raises(pdca.ValidationError, match=r"targets can be added only while"):
            u.add_target("B11", "2025", "迟到的目标")
        m = u.update_measure(mid, status="done", progress="已完成12次", evidence=["照片.zip"])  # type: ignore[arg-type]
        assert (m.status, m.progress, m.evidence) == ("done", "已完成12次", ["照片.zip"])
        with pytest.raises(pdca.ValidationError, match=r"^status='finished': must be one of"):
            u.update_measure(mid, status="finished")  # type: ignore[arg-type]


# ------------------------------------------------------------------- the full round


def test_full_round_appends_one_event_per_transition(
    tree: pdca.Store, clock: pdca.FixedClock
) -> None:
    with tree.unit_of_work(ACTOR) as u:
        cid = u.open_cycle("B11", "2025", scheme="S2025").id
        complete_plan(u, "B11", "2025")
    steps = [
        ("approve_plan", "draft", "planned"),
        ("start", "planned", "doing"),
        ("begin_check", "doing", "checking"),
        ("act", "checking", "acting"),
        ("close", "acting", "closed"),
    ]
    for i, (use_case, before, after) in enumerate(steps):
        clock.advance(minutes=1)
        with tree.unit_of_work(ACTOR) as u:
            cyc = getattr(u, use_case)("B11", "2025")
            assert cyc.state == after
        assert cycle_row(tree, "B11", "2025") == (after, 2 + i)
        with tree.unit_of_work(ACTOR) as u:
            last = u.events(entity="cycle", entity_id=cid)[-1]
        assert (last.from_state, last.to_state, last.actor, last.actor_org, last.actor_role) == (
            before,
            after,
            "张书记",
            "JG",
            "system",
        )
        assert last.at == clock.now()
    with tree.unit_of_work(ACTOR) as u:
        evs = u.events(entity="cycle", entity_id=cid)
        cyc = u.cycle("B11", "2025")
        assert cyc.closed_at == clock.now()
    assert [(e.action, e.from_state, e.to_state) for e in evs] == [
        ("open", "", "draft"),
        ("approve", "draft", "planned"),
        ("start", "planned", "doing"),
        ("check", "doing", "checking"),
        ("act", "checking", "acting"),
        ("close", "acting", "closed"),
    ]


def test_advance_fires_events_by_name(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        complete_plan(u, "B11", "2025")
        for event in pdca.CYCLE_ROUND:
            u.advance("B11", "2025", event, reason=f"按计划{event}")
        assert u.cycle("B11", "2025").state == "closed"
        reasons = [e.reason for e in u.events(entity="cycle")]
    assert reasons == [None] + [f"按计划{e}" for e in pdca.CYCLE_ROUND]


@pytest.mark.parametrize(
    ("event", "state", "allowed"),
    [
        ("close", "doing", "check"),
        ("approve", "doing", "check"),
        ("act", "doing", "check"),
        ("reopen", "doing", "check"),
        ("explode", "doing", "check"),
    ],
)
def test_invalid_transition_raises_and_writes_nothing(
    tree: pdca.Store, event: str, state: str, allowed: str
) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        to_doing(u, "B11", "2025")
    events, before = count(tree, t.event), cycle_row(tree, "B11", "2025")
    assert before == ("doing", 3)
    with (
        pytest.raises(
            pdca.InvalidTransition,
            match=(
                rf"^cycle B11/2025: event '{event}' is not allowed from state '{state}' "
                rf"\(allowed from '{state}': {allowed}\)$"
            ),
        ),
        tree.unit_of_work(ACTOR) as u,
    ):
        u.advance("B11", "2025", event, reason="试试")
    assert count(tree, t.event) == events
    assert cycle_row(tree, "B11", "2025") == before


def test_close_from_doing_writes_nothing_even_when_caught_inside_the_block(
    tree: pdca.Store,
) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        to_doing(u, "B11", "2025")
    events = count(tree, t.event)
    with tree.unit_of_work(ACTOR) as u:
        with pytest.raises(pdca.InvalidTransition, match=r"'close' is not allowed"):
            u.close("B11", "2025")
        assert u.cycle("B11", "2025").state == "doing"
    assert count(tree, t.event) == events
    assert cycle_row(tree, "B11", "2025") == ("doing", 3)


# ------------------------------------------------------------------------- records


@pytest.fixture
def doing(tree: pdca.Store) -> pdca.Store:
    """B11's 2025 cycle (scheme S2025) in state doing."""
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        to_doing(u, "B11", "2025")
    return tree


def test_records_only_while_doing_or_checking(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        complete_plan(u, "B11", "2025")
        refused = (
            r"^cycle='cycle B11/2025 \({}\)': "
            r"records can be kept only while the cycle is doing or checking$"
        )
        for step in ("draft", "planned"):
            with pytest.raises(pdca.ValidationError, match=refused.format(step)):
                u.add_record("B11", "2025", "meeting", "2025-03-01", "支委会")
            u.advance("B11", "2025", {"draft": "approve", "planned": "start"}[step])
        u.add_record("B11", "2025", "meeting", "2025-03-01", "支委会", item_code="ZZ1")
        u.begin_check("B11", "2025")
        u.add_record("B11", "2025", "visit", "2025-11-15", "考核组走访", quantity=2)
        u.act("B11", "2025")
        with pytest.raises(pdca.ValidationError, match=refused.format("acting")):
            u.add_record("B11", "2025", "meeting", "2025-12-01", "支委会")
        recs = u.records("B11", "2025")
        assert [(r.kind, r.occurred_on, r.quantity, r.item_code) for r in recs] == [
            ("meeting", D(2025, 3, 1), 1, "ZZ1"),
            ("visit", D(2025, 11, 15), 2, None),
        ]
        assert [r.title for r in u.records("B11", "2025", kind="visit")] == ["考核组走访"]
    assert count(tree, t.record) == 2


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"occurred_on": "2024-12-31"}, r"^occurred_on='2024-12-31': must lie within 2025$"),
        ({"occurred_on": "2026-01-01"}, r"^occurred_on='2026-01-01': must lie within 2025$"),
        # The clock says 2025-12-20 in Shanghai (2025-12-19 in UTC).
        ({"occurred_on": "2025-12-21"}, r"^occurred_on='2025-12-21': must not be in the future$"),
        ({"occurred_on": "2025/03/01"}, r"^occurred_on='2025/03/01': must be a date written"),
        ({"occurred_on": None}, r"^occurred_on=None: a date is required$"),
        (
            {"occurred_on": dt.datetime(2025, 3, 1, 9, 0)},
            r"^occurred_on=datetime.datetime\(2025, 3, 1, 9, 0\): must be a date",
        ),
        ({"quantity": 0}, r"^quantity=0: must be a whole number"),
        ({"quantity": True}, r"^quantity=True: must be a whole number"),
        ({"quantity": 1.5}, r"^quantity=1.5: must be a whole number"),
        ({"item_code": "XX1"}, r"^item_code='XX1': is not an item of the cycle's scheme$"),
        ({"kind": "two words"}, r"^kind='two words': must not contain spaces$"),
        ({"title": ""}, r"^title='': must not be empty$"),
    ],
)
def test_record_dates_and_fields_are_validated(
    doing: pdca.Store, kwargs: dict[str, Any], pattern: str
) -> None:
    args: dict[str, Any] = {
        "kind": "meeting",
        "occurred_on": "2025-03-01",
        "title": "支委会",
    }
    args.update(kwargs)
    with pytest.raises(pdca.ValidationError, match=pattern), doing.unit_of_work(ACTOR) as u:
        u.add_record(
            "B11", "2025", args.pop("kind"), args.pop("occurred_on"), args.pop("title"), **args
        )
    assert count(doing, t.record) == 0


def test_record_today_in_the_configured_zone_is_accepted(doing: pdca.Store) -> None:
    # 2025-12-20 is "today" in Shanghai although UTC is still on 2025-12-19.
    with doing.unit_of_work(ACTOR) as u:
        rec = u.add_record("B11", "2025", "meeting", D(2025, 12, 20), "年终支委会")
    assert rec.occurred_on == D(2025, 12, 20)


# ------------------------------------------------------------------------ findings


def test_findings_only_while_doing_or_checking(tree: pdca.Store) -> None:
    refused = (
        r"^cycle='cycle B11/2025 \({}\)': "
        r"findings can be recorded only while the cycle is doing or checking$"
    )
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        complete_plan(u, "B11", "2025")
        for state, event in (("draft", "approve"), ("planned", "start")):
            with pytest.raises(pdca.ValidationError, match=refused.format(state)):
                u.add_finding("B11", "2025", "ZZ1", "记录不全", checkpoint="daily")
            u.advance("B11", "2025", event)
        u.add_finding("B11", "2025", "ZZ1", "记录不全", checkpoint="daily")
        u.begin_check("B11", "2025")
        u.add_finding("B11", "2025", "SX1", "学习走过场", checkpoint="year-end")
        u.act("B11", "2025")
        with pytest.raises(pdca.ValidationError, match=refused.format("acting")):
            u.add_finding("B11", "2025", "ZZ1", "记录不全", checkpoint="daily")
        u.close("B11", "2025")
        with pytest.raises(pdca.ValidationError, match=refused.format("closed")):
            u.add_finding("B11", "2025", "ZZ1", "记录不全", checkpoint="daily")
    assert count(tree, t.finding) == 2


def test_add_finding_defaults_and_trail(doing: pdca.Store, clock: pdca.FixedClock) -> None:
    with doing.unit_of_work(ACTOR) as u:
        f = u.add_finding(
            "B11",
            "2025",
            "ZZ2",
            "主题党日内容单一",
            checkpoint="mid-year",
            severity="serious",
            source="inspection",
            deadline="2026-03-31",
        )
        fid = f.id
    with doing.unit_of_work(ACTOR) as u:
        f = u.finding(fid)  # type: ignore[arg-type]
        assert (f.state, f.item_code, f.checkpoint, f.severity, f.source) == (
            "open",
            "ZZ2",
            "mid-year",
            "serious",
            "inspection",
        )
        # found_on defaults to today in Shanghai, not in UTC (2025-12-19).
        assert (f.found_on, f.deadline) == (D(2025, 12, 20), D(2026, 3, 31))
        assert (f.root_id, f.previous_id, f.carry_count) == (fid, None, 0)
        [ev] = u.events(entity="finding", entity_id=fid)
        assert (ev.action, ev.to_state, ev.actor) == ("open", "open", "张书记")
        assert ev.data == {
            "cycle": u.cycle("B11", "2025").id,
            "item": "ZZ2",
            "checkpoint": "mid-year",
        }
        assert [x.id for x in u.findings(org="B11", period="2025", state="open")] == [fid]
        assert u.findings(org="B12") == []
        assert u.findings(state="resolved") == []


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"checkpoint": "weekly"}, r"^checkpoint='weekly': must be one of daily, .*, special$"),
        ({"checkpoint": "carried"}, r"^checkpoint='carried': must be one of"),
        ({"severity": "fatal"}, r"^severity='fatal': must be one of minor, general, serious$"),
        ({"source": "gossip"}, r"^source='gossip': must be one of self, mutual"),
        ({"item_code": "XX1"}, r"^item_code='XX1': is not an item of the cycle's scheme$"),
        ({"deadline": "2026/03/31"}, r"^deadline='2026/03/31': must be a date written YYYY-MM-DD"),
        ({"found_on": "yesterday"}, r"^found_on='yesterday': must be a date written"),
        ({"description": "   "}, r"^description='   ': must not be empty$"),
    ],
)
def test_finding_input_is_validated(
    doing: pdca.Store, kwargs: dict[str, Any], pattern: str
) -> None:
    args: dict[str, Any] = {"item_code": "ZZ1", "description": "记录不全", "checkpoint": "daily"}
    args.update(kwargs)
    with pytest.raises(pdca.ValidationError, match=pattern), doing.unit_of_work(ACTOR) as u:
        u.add_finding("B11", "2025", args.pop("item_code"), args.pop("description"), **args)
    assert count(doing, t.finding) == 0


def test_rectify_verify_and_waive(doing: pdca.Store) -> None:
    with doing.unit_of_work(ACTOR) as u:
        a = u.add_finding("B11", "2025", "ZZ1", "会议记录不全", checkpoint="daily").id
        b = u.add_finding("B11", "2025", "ZZ2", "主题党日缺席多", checkpoint="daily").id
        c = u.add_finding("B11", "2025", "SX1", "学习笔记雷同", checkpoint="daily").id
    with doing.unit_of_work(pdca.Actor("李委员", org="B11", role="secretary")) as u:
        f = u.rectify(a, plan="补齐会议记录并建立台账", owner="组织委员", deadline="2025-12-31")  # type: ignore[arg-type]
        assert (f.state, f.rectification, f.rectification_owner, f.deadline) == (
            "rectifying",
            "补齐会议记录并建立台账",
            "组织委员",
            D(2025, 12, 31),
        )
        u.rectify(b, plan="严格考勤", owner="支部书记")  # type: ignore[arg-type]
    with doing.unit_of_work(ACTOR) as u:
        u.waive(c, reason="该项目已并入其他考核")  # type: ignore[arg-type]
        f = u.verify(a, verified_by="考核组王组长", note="台账齐全")  # type: ignore[arg-type]
        assert (f.state, f.resolution) == ("resolved", "台账齐全")
        g = u.verify(b, verified_by="考核组王组长")  # type: ignore[arg-type]
        assert (g.state, g.resolution) == ("resolved", "verified by 考核组王组长")
    with doing.unit_of_work(ACTOR) as u:
        assert [(x.id, x.state) for x in u.findings(org="B11")] == [
            (a, "resolved"),
            (b, "resolved"),
            (c, "waived"),
        ]
        assert u.finding(c).resolution == "该项目已并入其他考核"  # type: ignore[arg-type]
        trail = [
            (e.actor, e.action, e.from_state, e.to_state)
            for e in u.events(entity="finding", entity_id=a)
        ]
        assert trail == [
            ("张书记", "open", "", "open"),
            ("李委员", "rectify", "open", "rectifying"),
            ("张书记", "verify", "rectifying", "resolved"),
        ]
        waive_ev = u.events(entity="finding", entity_id=c)[-1]
        assert (waive_ev.action, waive_ev.reason, waive_ev.actor_role) == (
            "waive",
            "该项目已并入其他考核",
            "system",
        )


def test_waive_from_rectifying(doing: pdca.Store) -> None:
    with doing.unit_of_work(ACTOR) as u:
        fid = u.add_finding("B11", "2025", "ZZ1", "会议记录不全", checkpoint="daily").id
        u.rectify(fid, plan="补记录", owner="组织委员")  # type: ignore[arg-type]
        assert u.waive(fid, reason="政策调整").state == "waived"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (
            lambda u, f: u.verify(f, verified_by="王组长"),
            pdca.InvalidTransition,
            r"'verify' is not allowed from state 'open'",
        ),
        (lambda u, f: u.rectify(f, plan="", owner="组织委员"), pdca.GuardFailed, r"整改措施"),
        (
            lambda u, f: u.rectify(f, plan="补记录", owner="  "),
            pdca.GuardFailed,
            r"a rectification owner$",
        ),
        (lambda u, f: u.waive(f, reason=""), pdca.GuardFailed, r"'reason_given': a reason$"),
        (
            lambda u, f: u.rectify(f, plan="补记录", owner="x", deadline="soon"),
            pdca.ValidationError,
            r"^deadline='soon'",
        ),
        (lambda u, f: u.finding(f + 100), pdca.NotFound, r"^finding \d+ not found$"),
    ],
)
def test_refused_finding_transitions_write_nothing(
    doing: pdca.Store, call: Any, error: type[Exception], pattern: str
) -> None:
    with doing.unit_of_work(ACTOR) as u:
        fid = u.add_finding("B11", "2025", "ZZ1", "会议记录不全", checkpoint="daily").id
    events = count(doing, t.event)
    with pytest.raises(error, match=pattern), doing.unit_of_work(ACTOR) as u:
        call(u, fid)
    assert count(doing, t.event) == events
    with doing.unit_of_work(ACTOR) as u:
        f = u.finding(fid)  # type: ignore[arg-type]
        assert (f.state, f.rectification, f.rectification_owner, f.resolution) == (
            "open",
            None,
            None,
            None,
        )


def test_verify_needs_the_verifier(doing: pdca.Store) -> None:
    with doing.unit_of_work(ACTOR) as u:
        fid = u.add_finding("B11", "2025", "ZZ1", "会议记录不全", checkpoint="daily").id
        u.rectify(fid, plan="补记录", owner="组织委员")  # type: ignore[arg-type]
    with pytest.raises(pdca.GuardFailed, match=r"验收人"), doing.unit_of_work(ACTOR) as u:
        u.verify(fid, verified_by=" ")  # type: ignore[arg-type]
    with doing.unit_of_work(ACTOR) as u:
        assert u.finding(fid).state == "rectifying"  # type: ignore[arg-type]


def test_rectify_with_an_overlong_plan_changes_nothing(doing: pdca.Store) -> None:
    with doing.unit_of_work(ACTOR) as u:
        fid = u.add_finding("B11", "2025", "ZZ1", "会议记录不全", checkpoint="daily").id
    events = count(doing, t.event)
    with doing.unit_of_work(ACTOR) as u:
        with pytest.raises(pdca.ValidationError, match=r"^plan='x+': must be at most 4000"):
            u.rectify(fid, plan="x" * 4001, owner="组织委员")  # type: ignore[arg-type]
        assert u.finding(fid).state == "open"  # type: ignore[arg-type]
    assert count(doing, t.event) == events


def test_verify_with_an_overlong_note_changes_nothing(doing: pdca.Store) -> None:
    with doing.unit_of_work(ACTOR) as u:
        fid = u.add_finding("B11", "2025", "ZZ1", "会议记录不全", checkpoint="daily").id
        u.rectify(fid, plan="补记录", owner="组织委员")  # type: ignore[arg-type]
    events = count(doing, t.event)
    with doing.unit_of_work(ACTOR) as u:
        with pytest.raises(pdca.ValidationError, match=r"^note='y+': must be at most 4000"):
            u.verify(fid, verified_by="王组长", note="y" * 4001)  # type: ignore[arg-type]
        assert u.finding(fid).state == "rectifying"  # type: ignore[arg-type]
    assert count(doing, t.event) == events


# ---------------------------------------------------------------------------- close


@pytest.fixture
def closed_2025(doing: pdca.Store) -> dict[str, int]:
    """B11/2025 closed with five findings: two unresolved (one rectifying), one resolved,
    one waived, one open with a deadline in 2026. Returns their ids by name."""
    ids: dict[str, int] = {}
    with doing.unit_of_work(ACTOR) as u:
        add = u.add_finding
        ids["open"] = add("B11", "2025", "ZZ1", "三会一课记录不全", checkpoint="daily").id  # type: ignore[assignment]
        ids["rectifying"] = add(
            "B11", "2025", "SX1", "理论学习走过场", checkpoint="mid-year", severity="serious"
        ).id  # type: ignore[assignment]
        ids["resolved"] = add("B11", "2025", "ZZ2", "主题党日缺席", checkpoint="daily").id  # type: ignore[assignment]
        ids["waived"] = add("B11", "2025", "ZZ2", "场地不足", checkpoint="daily").id  # type: ignore[assignment]
        u.begin_check("B11", "2025")
        ids["deadline"] = add(
            "B11", "2025", "ZZ2", "党员档案缺失", checkpoint="year-end", deadline="2026-03-31"
        ).id  # type: ignore[assignment]
        u.rectify(ids["rectifying"], plan="制定学习计划", owner="宣传委员")
        u.rectify(ids["resolved"], plan="严格考勤", owner="组织委员")
        u.verify(ids["resolved"], verified_by="考核组")
        u.waive(ids["waived"], reason="已搬入新址")
        finish(u, "B11", "2025")
    return ids


def test_close_carries_the_unresolved_and_leaves_the_rest(
    doing: pdca.Store, closed_2025: dict[str, int]
) -> None:
    ids = closed_2025
    with doing.unit_of_work(ACTOR) as u:
        states = {name: u.finding(fid).state for name, fid in ids.items()}
        assert states == {
            "open": "carried",
            "rectifying": "carried",
            "resolved": "resolved",
            "waived": "waived",
            "deadline": "carried",
        }
        # Resolved and waived findings were not touched by the close.
        assert u.finding(ids["resolved"]).resolution == "verified by 考核组"
        assert [e.action for e in u.events(entity="finding", entity_id=ids["waived"])] == [
            "open",
            "waive",
        ]
        carried = sorted((ids["open"], ids["rectifying"], ids["deadline"]))
        close_ev = u.events(entity="cycle")[-1]
        assert (close_ev.action, close_ev.data) == ("close", {"carried": carried})
        for fid in carried:
            ev = u.events(entity="finding", entity_id=fid)[-1]
            assert (ev.action, ev.from_state, ev.to_state, ev.reason) == (
                "carry",
                "rectifying" if fid == ids["rectifying"] else "open",
                "carried",
                "cycle B11/2025 closed",
            )


def test_finding_transitions_refused_once_the_cycle_is_closed(
    doing: pdca.Store, closed_2025: dict[str, int]
) -> None:
    events = count(doing, t.event)
    attempts = [
        ("waive", lambda u: u.waive(closed_2025["open"], reason="算了"), "carried"),
        ("rectify", lambda u: u.rectify(closed_2025["open"], plan="补", owner="我"), "carried"),
        ("verify", lambda u: u.verify(closed_2025["rectifying"], verified_by="王"), "carried"),
        ("waive", lambda u: u.waive(closed_2025["resolved"], reason="算了"), "resolved"),
    ]
    for event, call, state in attempts:
        with (
            pytest.raises(
                pdca.GuardFailed,
                match=rf"^finding #\d+ of cycle B11/2025: '{event}' refused by guard 'cycle_open': "
                r"its cycle B11/2025 is closed$",
            ) as info,
            doing.unit_of_work(ACTOR) as u,
        ):
            call(u)
        assert (info.value.state, info.value.guard) == (state, "cycle_open")
    assert count(doing, t.event) == events


# -------------------------------------------------------------------- carry-forward


def add_scheme_2026(store: pdca.Store) -> None:
    with store.unit_of_work(ACTOR) as u:
        u.add_scheme(
            "S2026", "2026年度党建考核方案", "2026", issuer="JG", categories=CATEGORIES_2026
        )


def test_next_year_gets_one_carried_target_per_unresolved_finding(
    doing: pdca.Store, closed_2025: dict[str, int]
) -> None:
    ids = closed_2025
    add_scheme_2026(doing)
    with doing.unit_of_work(ACTOR) as u:
        nxt = u.open_cycle("B11", "2026", scheme="S2026")
        nid = nxt.id
    with doing.unit_of_work(ACTOR) as u:
        nxt = u.cycle("B11", "2026")
        item_zz1 = u.scheme("S2026").item("ZZ1").id  # type: ignore[union-attr]
        assert [(x.origin, x.item_code) for x in nxt.targets] == [
            ("scheme", "ZZ1"),
            ("scheme", "ZZ3"),
            ("carried", "ZZ1"),
            ("carried", "SX1"),
            ("carried", "ZZ2"),
        ]
        carried = [x for x in nxt.targets if x.origin == "carried"]
        got = [
            (
                x.title,
                x.carried_from_id,
                x.origin_period,
                x.carry_count,
                x.item_id,
                x.due_on,
                x.direct_responsible,
                x.first_responsible,
            )
            for x in carried
        ]
        end, march = D(2026, 12, 31), D(2026, 3, 31)
        assert got == [
            ("整改：三会一课记录不全", ids["open"], "2025", 1, item_zz1, end, None, None),
            # SX1 is not in the 2026 scheme; the rectification owner stays responsible.
            ("整改：理论学习走过场", ids["rectifying"], "2025", 1, None, end, "宣传委员", None),
            # A deadline inside the new period becomes the target's due date.
            ("整改：党员档案缺失", ids["deadline"], "2025", 1, None, march, None, None),
        ]
        # One continuing finding per carried one, open, in the same thread.
        assert all(
            (f.state, f.checkpoint, f.carry_count, f.found_on)
            == ("open", "carried", 1, D(2026, 1, 1))
            for f in nxt.findings
        )
        cont = [
            (
                f.item_code,
                f.description,
                f.severity,
                f.root_id,
                f.previous_id,
                f.rectification_owner,
            )
            for f in nxt.findings
        ]
        o, r, d = ids["open"], ids["rectifying"], ids["deadline"]
        assert cont == [
            ("ZZ1", "三会一课记录不全", "general", o, o, None),
            ("SX1", "理论学习走过场", "serious", r, r, "宣传委员"),
            ("ZZ2", "党员档案缺失", "general", d, d, None),
        ]
        trail = [(e.entity, e.action) for e in u.events() if e.data and e.data.get("cycle") == nid]
        assert trail == [("target", "carry-in")] * 3
        carry_ins = [e for e in u.events(entity="finding") if e.action == "carry-in"]
        assert [(e.data["previous"], e.data["carry_count"], e.to_state) for e in carry_ins] == [  # type: ignore[index]
            (ids["open"], 1, "open"),
            (ids["rectifying"], 1, "open"),
            (ids["deadline"], 1, "open"),
        ]
    # The earlier findings stay carried; nothing else was carried.
    assert count(doing, t.target, t.target.c.origin == "carried") == 3
    assert count(doing, t.finding, t.finding.c.state == "carried") == 3


def test_next_period_without_problems_carries_nothing(doing: pdca.Store) -> None:
    with doing.unit_of_work(ACTOR) as u:
        u.begin_check("B11", "2025")
        finish(u, "B11", "2025")
        nxt = u.open_cycle("B11", "2026")
        assert (nxt.targets, nxt.findings) == ([], [])


def test_three_years_unresolved_is_recurring(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
    run_year_with_problem(tree, "B11", "2025", new_problem="党费收缴不及时")
    run_year_with_problem(tree, "B11", "2026")
    run_year_with_problem(tree, "B11", "2027")
    with tree.unit_of_work(ACTOR) as u:
        cyc = u.open_cycle("B11", "2028")
        [tgt] = [x for x in cyc.targets if x.origin == "carried"]
        [fnd] = cyc.findings
        assert (tgt.title, tgt.origin_period, tgt.carry_count) == (
            "整改：党费收缴不及时",
            "2025",
            3,
        )
        assert pdca.is_recurring(tgt.carry_count)
        assert fnd.carry_count == 3
        thread = u.thread(fnd.id)  # type: ignore[arg-type]
        assert [(u.period_of(f), f.carry_count, f.state) for f in thread] == [
            ("2025", 0, "carried"),
            ("2026", 1, "carried"),
            ("2027", 2, "carried"),
            ("2028", 3, "open"),
        ]
        root = thread[0].id
        assert all(f.root_id == root for f in thread)
        assert [f.previous_id for f in thread] == [None] + [f.id for f in thread[:-1]]
        # The same thread, whichever member it is asked from.
        assert [f.id for f in u.thread(root)] == [f.id for f in thread]  # type: ignore[arg-type]
        assert [f.id for f in u.thread(thread[1].id)] == [f.id for f in thread]  # type: ignore[arg-type]
        # Each year's carried target remembers where the problem began.
        years = {
            c.period: [(x.origin_period, x.carry_count) for x in c.targets if x.origin == "carried"]
            for c in (u.cycle("B11", p) for p in ("2025", "2026", "2027", "2028"))
        }
        assert years == {
            "2025": [],
            "2026": [("2025", 1)],
            "2027": [("2025", 2)],
            "2028": [("2025", 3)],
        }


def test_is_recurring_threshold() -> None:
    assert pdca.RECURRING_AFTER == 2
    assert [pdca.is_recurring(n) for n in (0, 1, 2, 3)] == [False, False, True, True]


def test_a_problem_resolved_in_the_next_year_ends_its_thread(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
    run_year_with_problem(tree, "B11", "2025", new_problem="台账缺失")
    with tree.unit_of_work(ACTOR) as u:
        cyc = u.open_cycle("B11", "2026")
        fid = cyc.findings[0].id
        u.rectify(fid, plan="补台账", owner="组织委员")  # type: ignore[arg-type]
        to_checking(u, "B11", "2026")
        u.verify(fid, verified_by="考核组")  # type: ignore[arg-type]
        finish(u, "B11", "2026")
        nxt = u.open_cycle("B11", "2027")
        assert (nxt.targets, nxt.findings) == ([], [])
        assert [f.state for f in u.thread(fid)] == ["carried", "resolved"]  # type: ignore[arg-type]


def test_opening_next_period_before_the_previous_is_closed_is_refused(doing: pdca.Store) -> None:
    with doing.unit_of_work(ACTOR) as u:
        u.begin_check("B11", "2025")
        u.act("B11", "2025")
    events = count(doing, t.event)
    with (
        pytest.raises(
            pdca.ValidationError,
            match=r"^period='2026': the previous cycle B11/2025 is still acting: close it first",
        ),
        doing.unit_of_work(ACTOR) as u,
    ):
        u.open_cycle("B11", "2026")
    assert count(doing, t.cycle) == 1
    assert count(doing, t.event) == events


# --------------------------------------------------------------------- child cycles


def test_quarter_requires_the_year_cycle(tree: pdca.Store) -> None:
    with (
        pytest.raises(
            pdca.ValidationError,
            match=r"^period='2025-Q1': open B11's cycle for 2025 first: a quarter cycle is a child",
        ),
        tree.unit_of_work(ACTOR) as u,
    ):
        u.open_cycle("B11", "2025-Q1")
    assert count(tree, t.cycle) == 0
    with tree.unit_of_work(ACTOR) as u:
        year = u.open_cycle("B11", "2025", scheme="S2025")
        q1 = u.open_cycle("B11", "2025-Q1")
        assert q1.parent_id == year.id
        # The quarter inherits the year's scheme, its targets due at the quarter's end.
        assert q1.scheme_id == year.scheme_id
        assert [(x.item_code, x.due_on) for x in q1.targets] == [
            ("ZZ1", D(2025, 3, 31)),
            ("ZZ2", D(2025, 3, 31)),
            ("SX1", D(2025, 3, 31)),
        ]
        # A month nests in its quarter when there is one, otherwise in the year.
        assert u.open_cycle("B11", "2025-02").parent_id == q1.id
        assert u.open_cycle("B11", "2025-H2").parent_id == year.id
        assert u.open_cycle("B11", "2025-07").parent_id == u.cycle("B11", "2025-H2").id
        [ev] = u.events(entity="cycle", entity_id=q1.id)
        assert ev.data == {"org": "B11", "period": "2025-Q1", "scheme": "S2025", "parent": "2025"}


def test_child_cycles_year_close_refused_while_a_quarter_is_open(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        u.open_cycle("B11", "2025-Q1")
        to_checking(u, "B11", "2025")
        u.act("B11", "2025")
    # Q2 cannot open while Q1 is not closed.
    with (
        pytest.raises(pdca.ValidationError, match=r"the previous cycle B11/2025-Q1 is still draft"),
        tree.unit_of_work(ACTOR) as u,
    ):
        u.open_cycle("B11", "2025-Q2")
    events = count(tree, t.event)
    with (
        pytest.raises(
            pdca.GuardFailed,
            match=r"^cycle B11/2025: 'close' refused by guard 'children_closed': "
            r"child cycle B11/2025-Q1 \(draft\) is not closed$",
        ) as info,
        tree.unit_of_work(ACTOR) as u,
    ):
        u.close("B11", "2025")
    assert info.value.missing == ("child cycle B11/2025-Q1 (draft) is not closed",)
    assert count(tree, t.event) == events
    assert cycle_row(tree, "B11", "2025")[0] == "acting"
    with tree.unit_of_work(ACTOR) as u:
        to_checking(u, "B11", "2025-Q1")
        finish(u, "B11", "2025-Q1")
        u.close("B11", "2025")
        assert u.cycle("B11", "2025").state == "closed"
    # A closed year takes no new children ...
    with (
        pytest.raises(
            pdca.ValidationError,
            match=r"^period='2025-Q2': the containing cycle B11/2025 is closed$",
        ),
        tree.unit_of_work(ACTOR) as u,
    ):
        u.open_cycle("B11", "2025-Q2")
    # ... and its children cannot be reopened.
    with (
        pytest.raises(
            pdca.GuardFailed,
            match=r"'reopen' refused by guard 'parent_open': parent cycle B11/2025 is closed$",
        ),
        tree.unit_of_work(ACTOR) as u,
    ):
        u.reopen("B11", "2025-Q1", reason="申辩成立")


def test_q4_findings_carry_into_next_years_q1(tree: pdca.Store) -> None:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        u.open_cycle("B11", "2025-Q4")
        to_checking(u, "B11", "2025-Q4")
        q4f = u.add_finding(
            "B11", "2025-Q4", "ZZ1", "四季度支委会未按月召开", checkpoint="quarterly"
        )
        q4_id = q4f.id
        finish(u, "B11", "2025-Q4")
        to_checking(u, "B11", "2025")
        finish(u, "B11", "2025")
        year = u.open_cycle("B11", "2026")
        # The year's own cycle had no problems: nothing carried into 2026 itself.
        assert (year.targets, year.findings) == ([], [])
        q1 = u.open_cycle("B11", "2026-Q1")
        assert q1.parent_id == year.id
        [tgt] = q1.targets
        [fnd] = q1.findings
        assert (tgt.carried_from_id, tgt.origin_period, tgt.carry_count, tgt.due_on) == (
            q4_id,
            "2025-Q4",
            1,
            D(2026, 3, 31),
        )
        assert (fnd.previous_id, fnd.root_id, fnd.found_on) == (q4_id, q4_id, D(2026, 1, 1))


# --------------------------------------------------------------------------- reopen


def test_reopen_needs_a_reason_and_reopens_carried_findings(
    doing: pdca.Store, closed_2025: dict[str, int], clock: pdca.FixedClock
) -> None:
    ids = closed_2025
    events = count(doing, t.event)
    for reason in ("", "   "):
        with (
            pytest.raises(
                pdca.GuardFailed,
                match=r"^cycle B11/2025: 'reopen' refused by guard 'reason_given': a reason$",
            ),
            doing.unit_of_work(ACTOR) as u,
        ):
            u.reopen("B11", "2025", reason=reason)
    assert count(doing, t.event) == events
    assert cycle_row(doing, "B11", "2025")[0] == "closed"

    clock.advance(days=3)
    with doing.unit_of_work(ACTOR) as u:
        cyc = u.reopen("B11", "2025", reason="申辩成立，重新核查")
        assert (cyc.state, cyc.closed_at) == ("checking", None)
    with doing.unit_of_work(ACTOR) as u:
        states = {name: u.finding(fid).state for name, fid in ids.items()}
        assert states == {
            "open": "open",
            "rectifying": "open",
            "resolved": "resolved",
            "waived": "waived",
            "deadline": "open",
        }
        cyc_ev = u.events(entity="cycle")[-1]
        assert (cyc_ev.action, cyc_ev.from_state, cyc_ev.to_state, cyc_ev.reason, cyc_ev.at) == (
            "reopen",
            "closed",
            "checking",
            "申辩成立，重新核查",
            clock.now(),
        )
        reopened = [e for e in u.events(entity="finding") if e.action == "reopen"]
        assert sorted((e.entity_id, e.from_state, e.to_state, e.reason) for e in reopened) == [
            (ids["open"], "carried", "open", "申辩成立，重新核查"),
            (ids["rectifying"], "carried", "open", "申辩成立，重新核查"),
            (ids["deadline"], "carried", "open", "申辩成立，重新核查"),
        ]
        # Now the reopened problems can be worked on again; the rest is carried on close.
        u.waive(ids["deadline"], reason="复核后不属实")
        finish(u, "B11", "2025")
        nxt = u.open_cycle("B11", "2026")
        assert sorted(x.carried_from_id for x in nxt.targets) == sorted(  # type: ignore[type-var]
            [ids["open"], ids["rectifying"]]
        )


def test_reopen_refused_once_the_next_cycle_exists(
    doing: pdca.Store, closed_2025: dict[str, int]
) -> None:
    with doing.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2026")
    events = count(doing, t.event)
    with (
        pytest.raises(
            pdca.GuardFailed,
            match=r"^cycle B11/2025: 'reopen' refused by guard 'next_not_opened': "
            r"the next period's cycle B11/2026 is already open$",
        ),
        doing.unit_of_work(ACTOR) as u,
    ):
        u.reopen("B11", "2025", reason="申辩成立")
    assert count(doing, t.event) == events
    with doing.unit_of_work(ACTOR) as u:
        assert u.cycle("B11", "2025").state == "closed"
        assert u.finding(closed_2025["open"]).state == "carried"


def test_reopen_only_from_closed(doing: pdca.Store) -> None:
    with (
        pytest.raises(
            pdca.InvalidTransition, match=r"event 'reopen' is not allowed from state 'doing'"
        ),
        doing.unit_of_work(ACTOR) as u,
    ):
        u.reopen("B11", "2025", reason="申辩成立")


# ---------------------------------------------------------------------- concurrency


@pytest.fixture
def planned(tree: pdca.Store) -> pdca.Store:
    with tree.unit_of_work(ACTOR) as u:
        u.open_cycle("B11", "2025", scheme="S2025")
        complete_plan(u, "B11", "2025")
        u.approve_plan("B11", "2025")
    return tree


def test_stale_object_added_to_a_new_unit_of_work_conflicts(planned: pdca.Store) -> None:
    with planned.unit_of_work(pdca.Actor("甲", role="system")) as a:
        stale = a.cycle("B11", "2025")
    assert (stale.state, stale.version) == ("planned", 2)
    with planned.unit_of_work(pdca.Actor("乙", role="system")) as b:
        b.start("B11", "2025")
    events = count(planned, t.event)

    def start_from_stale() -> None:
        with planned.unit_of_work(pdca.Actor("丙", role="system")) as c:
            c.session.add(stale)
            # The unit of work finds the stale object in its identity map and moves it
            # along from "planned": the versioned UPDATE matches no row.
            c.start("B11", "2025")

    with pytest.raises(pdca.ConcurrencyConflict, match=r"reload it and try again"):
        start_from_stale()
    assert count(planned, t.event) == events
    assert cycle_row(planned, "B11", "2025") == ("doing", 3)


def test_stale_object_merged_into_a_new_unit_of_work_conflicts(planned: pdca.Store) -> None:
    with planned.unit_of_work(pdca.Actor("甲", role="system")) as a:
        stale = a.cycle("B11", "2025")
    with planned.unit_of_work(pdca.Actor("乙", role="system")) as b:
        b.start("B11", "2025")

    def check_from_stale() -> None:
        with planned.unit_of_work(pdca.Actor("丙", role="system")) as c:
            c.session.merge(stale)
            c.begin_check("B11", "2025")

    with pytest.raises(pdca.ConcurrencyConflict) as info:
        check_from_stale()
    assert "Version id" in str(info.value.__cause__)
    assert cycle_row(planned, "B11", "2025") == ("doing", 3)


def test_work_after_a_caught_conflict_raises_only_pdca_errors(planned: pdca.Store) -> None:
    with planned.unit_of_work(pdca.Actor("甲", role="system")) as a:
        stale = a.cycle("B11", "2025")
    with planned.unit_of_work(pdca.Actor("乙", role="system")) as b:
        b.start("B11", "2025")

    def carry_on_after_conflict() -> None:
        with planned.unit_of_work(pdca.Actor("丙", role="system")) as c:
            c.session.add(stale)
            with pytest.raises(pdca.ConcurrencyConflict):
                c.start("B11", "2025")
            c.organizations()

    # Refusing to go on is fine, as long as it is a pdca error.
    with contextlib.suppress(pdca.PdcaError):
        carry_on_after_conflict()
    assert cycle_row(planned, "B11", "2025") == ("doing", 3)


@pytest.mark.skipif(
    BACKEND == "sqlite",
    reason="SQLite takes the write lock at BEGIN IMMEDIATE: two open writers would block",
)
def test_two_stores_interleaved_second_commit_conflicts(
    db_url: str, planned: pdca.Store, clock: pdca.FixedClock
) -> None:
    store_a = pdca.open_store(db_url, clock=clock)
    store_b = pdca.open_store(db_url, clock=clock)
    try:
        events = count(planned, t.event)
        seen: list[str] = []

        def interleave() -> None:
            with store_a.unit_of_work(pdca.Actor("甲", role="system")) as a:
                # Hold on to A's object: the session's identity map is weak, and a
                # collected object would simply be re-read fresh from the database.
                mine = a.cycle("B11", "2025")
                seen.append(mine.state)
                with store_b.unit_of_work(pdca.Actor("乙", role="system")) as b:
                    seen.append(b.cycle("B11", "2025").state)
                    b.start("B11", "2025")
                assert a.cycle("B11", "2025") is mine
                a.start("B11", "2025")

        with pytest.raises(pdca.ConcurrencyConflict, match=r"reload it and try again"):
            interleave()
        assert seen == ["planned", "planned"]
        assert count(planned, t.event) == events + 1
        with store_a.unit_of_work() as u:
            assert u.events(entity="cycle")[-1].actor == "乙"
        assert cycle_row(planned, "B11", "2025") == ("doing", 3)
    finally:
        store_a.close()
        store_b.close()


def _wait_until_blocked(store: pdca.Store, timeout: float = 10.0) -> None:
    """On PostgreSQL: wait until some backend waits for a lock."""
    deadline = time.monotonic() + timeout
    with store.engine.connect() as conn:
        while time.monotonic() < deadline:
            n = conn.scalar(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            )
            conn.rollback()
            if n:
                return
            time.sleep(0.02)
    raise AssertionError("the second writer never blocked")


def test_concurrent_open_of_the_same_cycle_is_a_pdca_error(
    db_url: str, tree: pdca.Store, clock: pdca.FixedClock
) -> None:
    store_b = pdca.open_store(db_url, clock=clock)
    outcome: dict[str, BaseException | None] = {}

    def second_writer() -> None:
        try:
            with store_b.unit_of_work(pdca.Actor("乙", role="system")) as b:
                b.open_cycle("B11", "2025")
            outcome["b"] = None
        except BaseException as exc:
            outcome["b"] = exc

    try:
        with tree.unit_of_work(pdca.Actor("甲", role="system")) as a:
            a.open_cycle("B11", "2025")
            thread = threading.Thread(target=second_writer)
            thread.start()
            if BACKEND == "postgresql":
                _wait_until_blocked(tree)
            else:
                time.sleep(0.2)
        thread.join(60)
        assert not thread.is_alive()
    finally:
        store_b.close()
    err = outcome["b"]
    assert isinstance(err, pdca.PdcaError), repr(err)
    if BACKEND == "sqlite":
        # SQLite serializes writers: B starts after A committed and sees A's cycle.
        assert isinstance(err, pdca.ValidationError)
        assert "already has a cycle for 2025" in str(err)
    assert count(tree, t.cycle) == 1
