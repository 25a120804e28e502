"""Actors and permissions: the matrix of roles × actions × own/other organization.

One world is built per module (JG issues scheme S for 2025 to organizations in every state of
the cycle, plus PUB, whose 2024 results under scheme T are published). Each action is tried
by eight actors: the roles system, assessor, secretary and none (no role), each acting for
the organization the object belongs to ("own") or for another one ("other"). An allowed
call runs in a host's Session that is then rolled back (the world stays as it was); a denied
call must raise PermissionDenied naming actor, action and object, leave every pdca table as
it was, and add exactly one record to pdca_denial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import pdca
from pdca.io.score_files import ImportRefused, import_scores
from pdca.persistence import tables as t

FEEDBACK = pendulum.datetime(2025, 12, 20, 9, tz="Asia/Shanghai")
BUILDER = pdca.Actor("建库脚本", role="system")
OTHER_ORG = "X9"  # the organization an "other" actor acts for (JG for system/assessor)

METHODS = {"自评": 0.2, "互评": 0.2, "考评": 0.4, "民主测评": 0.2, "点评": None}
CHECKPOINTS = [
    {"code": "mid-year", "kind": "mid-year", "name": "年中考核", "weight": 0.4},
    {"code": "year-end", "kind": "year-end", "name": "年终考核", "weight": 0.6},
]


def scheme(code: str, period: str, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "issuer": "JG",
        "title": f"{period}年度党建考核",
        "period": period,
        "appeal_window_days": 7,
        "checkpoints": CHECKPOINTS,
        "categories": [
            {
                "code": "ZZ",
                "name": "组织建设",
                "items": [{"code": "P1", "title": "三会一课", "max_score": 10, "methods": METHODS}],
            }
        ],
        **extra,
    }


def to_doing(u: pdca.UnitOfWork, org: str, period: str = "2025") -> None:
    for tgt in u.cycle(org, period).targets:
        u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
    u.approve_plan(org, period)
    u.start(org, period)


@dataclass
class World:
    url: str
    clock: pdca.FixedClock
    ids: dict[str, int]


@pytest.fixture(scope="module")
def world(databases: Any) -> World:
    """Every state an action needs, built once; the tests never change it."""
    clock = pdca.FixedClock(pendulum.datetime(2024, 3, 1, 9, tz="Asia/Shanghai"))
    url = databases.migrated()
    ids: dict[str, Any] = {}
    with pdca.open_store(url, clock=clock) as store:
        with store.unit_of_work(BUILDER) as u:
            u.add_organization("JG", "市直机关工委", "机关工委")
            for code in ("N1", "D1", "P1", "G1", "K1", "A1", "C1", OTHER_ORG, "PUB"):
                u.add_organization(code, f"{code}党支部", "党支部", parent="JG", peer_group="支部")
            # 2024: PUB's results under scheme T are published while its cycle is doing.
            u.add_scheme(scheme("T", "2024", scope=["PUB"]))
            u.open_cycle("PUB", "2024", scheme="T")
            to_doing(u, "PUB", "2024")
            u.enter_score("PUB", "2024", "P1", "year-end", "考评", 8, assessor="考核组")
            ids["pub_finding"] = u.add_finding(
                "PUB", "2024", "P1", "记录不全", checkpoint="daily", found_on="2024-03-01"
            ).id
            u.publish("T", "2024")
        clock.set(pendulum.datetime(2025, 7, 1, 9, tz="Asia/Shanghai"))
        with store.unit_of_work(BUILDER) as u:
            u.add_scheme(scheme("S", "2025"))
            u.add_scheme(scheme("S26", "2026"))
            for code in ("D1", "P1", "G1", "K1", "A1", "C1"):
                u.open_cycle(code, "2025", scheme="S")
            for code in ("D1", "P1"):  # complete plans: D1 stays draft, P1 is approved
                for tgt in u.cycle(code, "2025").targets:
                    u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
            u.approve_plan("P1", "2025")
            for code in ("G1", "K1", "A1", "C1"):
                to_doing(u, code)
            target = u.cycle("G1", "2025").targets[0]
            assert target.id is not None
            ids["target"] = target.id
            ids["measure"] = u.add_measure(target.id, "每月集中学习").id
            ids["open_finding"] = u.add_finding(
                "G1", "2025", "P1", "会议记录不全", checkpoint="daily"
            ).id
            done = u.add_finding("G1", "2025", "P1", "台账缺失", checkpoint="daily").id
            assert done is not None
            rect = u.add_rectification(done, "补齐台账", owner="组织委员", due_on="2025-09-30")
            assert rect.id is not None
            u.complete_rectification(rect.id, evidence="台账已补齐")
            ids["done_finding"] = done
            planned = u.add_finding("G1", "2025", "P1", "学习笔记雷同", checkpoint="daily").id
            assert planned is not None
            ids["planned_rectification"] = u.add_rectification(
                planned, "重新撰写学习笔记", owner="宣传委员", due_on="2025-10-31"
            ).id
            for code in ("K1", "A1", "C1"):
                u.enter_score(code, "2025", "P1", "year-end", "考评", 8, assessor="考核组")
            ids["appealable_score"] = u.scores("A1", "2025")[0].id
            ids["appealed_score"] = u.enter_score(
                "A1", "2025", "P1", "year-end", "互评", 7, assessor="X9代表", assessor_org="X9"
            ).id
            for code in ("K1", "A1", "C1"):
                u.begin_check(code, "2025")
        clock.set(FEEDBACK)
        with store.unit_of_work(BUILDER) as u:
            for code in ("A1", "C1"):
                u.act(code, "2025")
            u.close("C1", "2025")
        with store.unit_of_work(pdca.Actor("A1书记", org="A1", role="secretary")) as u:
            ids["appeal"] = u.file_appeal(
                score_id=ids["appealed_score"], reason="互评打分偏低", requested_value=9
            ).id
        with store.unit_of_work(BUILDER) as u:
            states = {c.org_id: c.state for c in u.cycles(period="2025")}
            by_code = {o.code: states.get(o.id) for o in u.organizations()}
            assert by_code == {
                "JG": None,
                "N1": None,
                "D1": "draft",
                "P1": "planned",
                "G1": "doing",
                "K1": "checking",
                "A1": "acting",
                "C1": "closed",
                OTHER_ORG: None,
                "PUB": None,
            }
    clock.set(FEEDBACK.add(days=1))  # inside A1's appeal window
    return World(url, clock, ids)


# ----------------------------------------------------------------------------- actors

#: The matrix's columns: each role acting for the object's own organization or another.
COLUMNS = [
    (role, rel) for role in ("system", "assessor", "secretary", None) for rel in ("own", "other")
]


def actor_for(role: str | None, rel: str, org: str | None) -> pdca.Actor:
    acts_for = (org or "JG") if rel == "own" else OTHER_ORG
    name = {"system": "运维", "assessor": "考核员", "secretary": "书记", None: "张三"}[role]
    return pdca.Actor(f"{name}-{rel}", org=acts_for, role=role)


# ---------------------------------------------------------------------------- actions

Call = Callable[[pdca.UnitOfWork, dict[str, Any]], Any]


@dataclass(frozen=True)
class Case:
    """One row of the matrix: an action on an object of organization ``org``; ``expected``
    says, column by column (see COLUMNS), Y allowed or N denied."""

    id: str
    action: str
    org: str | None
    label: str  # part of the object's label
    expected: str
    call: Call


def first_target(u: pdca.UnitOfWork, org: str) -> int:
    tgt = u.cycle(org, "2025").targets[0]
    assert tgt.id is not None
    return tgt.id


CASES = [
    # --------------------------------------------------- the assessor's (and system's)
    Case(
        "organization.add",
        "organization.add",
        "NEW",
        "organization NEW",
        "YYYYNNNN",
        lambda u, i: u.add_organization("NEW", "新支部", "党支部", parent="JG"),
    ),
    Case(
        "scheme.add",
        "scheme.add",
        "JG",
        "scheme NEWS",
        "YYYYNNNN",
        lambda u, i: u.add_scheme(scheme("NEWS", "2025")),
    ),
    Case(
        "checkpoint.finalize",
        "checkpoint.finalize",
        None,
        "checkpoint mid-year of scheme S",
        "YYYYNNNN",
        lambda u, i: u.finalize_checkpoint("S", "mid-year"),
    ),
    Case(
        "cycle.open",
        "cycle.open",
        "N1",
        "cycle N1/2025",
        "YYYYNNNN",
        lambda u, i: u.open_cycle("N1", "2025", scheme="S"),
    ),
    Case(
        "finding.add",
        "finding.add",
        "G1",
        "cycle G1/2025",
        "YYYYNNNN",
        lambda u, i: u.add_finding("G1", "2025", "P1", "新问题", checkpoint="daily"),
    ),
    Case(
        "finding.verify",
        "finding.verify",
        "G1",
        "of cycle G1/2025",
        "YYYYNNNN",
        lambda u, i: u.verify(i["done_finding"], verified_by="考核组"),
    ),
    Case(
        "finding.waive",
        "finding.waive",
        "G1",
        "of cycle G1/2025",
        "YYYYNNNN",
        lambda u, i: u.waive(i["open_finding"], reason="并入其他项目"),
    ),
    Case(
        "cycle.check",
        "cycle.check",
        "G1",
        "cycle G1/2025",
        "YYYYNNNN",
        lambda u, i: u.begin_check("G1", "2025"),
    ),
    Case(
        "cycle.check-bulk",
        "cycle.check",
        "G1",
        "cycle G1/2025",
        "YYYYNNNN",
        lambda u, i: u.advance_many("2025", "check", orgs=["G1"]),
    ),
    Case(
        "cycle.act",
        "cycle.act",
        "K1",
        "cycle K1/2025",
        "YYYYNNNN",
        lambda u, i: u.act("K1", "2025"),
    ),
    Case(
        "cycle.close",
        "cycle.close",
        "A1",
        "cycle A1/2025",
        "YYYYNNNN",
        lambda u, i: u.close("A1", "2025"),
    ),
    Case(
        "cycle.reopen",
        "cycle.reopen",
        "C1",
        "cycle C1/2025",
        "YYYYNNNN",
        lambda u, i: u.reopen("C1", "2025", reason="复核"),
    ),
    Case(
        "appeal.decide",
        "appeal.decide",
        "A1",
        "of cycle A1/2025",
        # nobody decides an appeal of their own organization, not even the system
        "NYNYNNNN",
        lambda u, i: u.decide_appeal(i["appeal"], uphold=True, decision="属实"),
    ),
    Case(
        "results.publish",
        "results.publish",
        None,
        "the results of scheme S for 2025",
        "YYYYNNNN",
        lambda u, i: u.publish("S", "2025"),
    ),
    Case(
        "key_content.mark",
        "key_content.mark",
        None,
        "the key content of scheme S",
        "YYYYNNNN",
        lambda u, i: u.mark_key_content("S", "2025", "P1", "common"),
    ),
    # ------------------------------------------------ the organization's own people's
    Case(
        "plan.edit-add",
        "plan.edit",
        "D1",
        "cycle D1/2025",
        "YYYNYNNN",
        lambda u, i: u.add_target("D1", "2025", "特色目标", first_responsible="王书记"),
    ),
    Case(
        "plan.edit-update",
        "plan.edit",
        "D1",
        "of cycle D1/2025",
        "YYYNYNNN",
        lambda u, i: u.update_target(first_target(u, "D1"), direct_responsible="李委员"),
    ),
    Case(
        "measure.add",
        "measure.add",
        "G1",
        "of cycle G1/2025",
        "YYYNYNNN",
        lambda u, i: u.add_measure(i["target"], "新措施"),
    ),
    Case(
        "measure.update",
        "measure.update",
        "G1",
        "of cycle G1/2025",
        "YYYNYNNN",
        lambda u, i: u.update_measure(i["measure"], progress="已开展两次"),
    ),
    Case(
        "record.add",
        "record.add",
        "G1",
        "cycle G1/2025",
        "YYYNYNNN",
        lambda u, i: u.add_record("G1", "2025", "meeting", "2025-06-01", "支部党员大会"),
    ),
    Case(
        "finding.rectify",
        "finding.rectify",
        "G1",
        "of cycle G1/2025",
        "YYYNYNNN",
        lambda u, i: u.rectify(i["open_finding"], plan="补记录", owner="组织委员"),
    ),
    Case(
        "finding.rectify-add",
        "finding.rectify",
        "G1",
        "of cycle G1/2025",
        "YYYNYNNN",
        lambda u, i: u.add_rectification(
            i["open_finding"], "补记录", owner="组织委员", due_on="2025-12-31"
        ),
    ),
    Case(
        "finding.rectify-complete",
        "finding.rectify",
        "G1",
        "of cycle G1/2025",
        "YYYNYNNN",
        lambda u, i: u.complete_rectification(i["planned_rectification"], evidence="已重写"),
    ),
    Case(
        "appeal.file",
        "appeal.file",
        "A1",
        "of cycle A1/2025",
        "YYYNYNNN",
        lambda u, i: u.file_appeal(
            score_id=i["appealable_score"], reason="不服", requested_value=9
        ),
    ),
    # ------------------------------------------------------- the assessor or its own
    Case(
        "plan.approve",
        "plan.approve",
        "D1",
        "cycle D1/2025",
        "YYYYYNNN",
        lambda u, i: u.approve_plan("D1", "2025"),
    ),
    Case(
        "cycle.start",
        "cycle.start",
        "P1",
        "cycle P1/2025",
        "YYYYYNNN",
        lambda u, i: u.start("P1", "2025"),
    ),
    Case(
        "cycle.start-bulk",
        "cycle.start",
        "P1",
        "cycle P1/2025",
        "YYYYYNNN",
        lambda u, i: u.advance_many("2025", "start", orgs=["P1"]),
    ),
    # ----------------------------------------------------------------------- scores
    Case(
        "score.self",
        "score.enter",
        "G1",
        "a self score of cycle G1/2025",
        "YYYNYNNN",
        lambda u, i: u.enter_score(
            "G1", "2025", "P1", "year-end", "自评", 9, assessor="书记", assessor_org="G1"
        ),
    ),
    Case(
        "score.mutual",
        "score.enter",
        "G1",
        "a mutual score of cycle G1/2025",
        # nobody scores their own organization in the mutual, panel or democratic methods
        "NYNYNYNN",
        lambda u, i: u.enter_score("G1", "2025", "P1", "year-end", "互评", 8, assessor="代表"),
    ),
    Case(
        "score.panel",
        "score.enter",
        "G1",
        "a panel score of cycle G1/2025",
        "NYNYNYNN",
        lambda u, i: u.enter_score("G1", "2025", "P1", "year-end", "考评", 8, assessor="评委"),
    ),
    Case(
        "score.democratic",
        "score.enter",
        "G1",
        "a democratic score of cycle G1/2025",
        "NYNYNYNN",
        lambda u, i: u.enter_score("G1", "2025", "P1", "year-end", "民主测评", 8, assessor="党员"),
    ),
    Case(
        "score.commentary",
        "score.enter",
        "G1",
        "a commentary score of cycle G1/2025",
        "YYYYNNNN",
        lambda u, i: u.enter_score("G1", "2025", "P1", "year-end", "点评", "记录规范"),
    ),
    # ------------------------------------ published results (公示): nobody, whatever role
    Case(
        "published.score",
        "score.enter",
        "PUB",
        "a panel score of cycle PUB/2024",
        "NNNNNNNN",
        lambda u, i: u.enter_score("PUB", "2024", "P1", "year-end", "考评", 9, assessor="评委"),
    ),
    Case(
        "published.record",
        "record.add",
        "PUB",
        "cycle PUB/2024",
        "NNNNNNNN",
        lambda u, i: u.add_record("PUB", "2024", "meeting", "2024-06-01", "补记党员大会"),
    ),
    Case(
        "published.waive",
        "finding.waive",
        "PUB",
        "of cycle PUB/2024",
        "NNNNNNNN",
        lambda u, i: u.waive(i["pub_finding"], reason="撤销"),
    ),
]


# ------------------------------------------------------------------------------ checks


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every pdca table but the denials."""
    out = {}
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            if table.name == "pdca_denial":
                continue
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = sorted((tuple(map(repr, r)) for r in rows), key=repr)
    return out


def denial_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        q = sa.select(t.denial).order_by(t.denial.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]


def assert_denied(
    store: pdca.Store,
    actor: pdca.Actor,
    case: Case,
    attempt: Callable[[], Any],
) -> None:
    before, denials = snapshot(store.engine), denial_rows(store.engine)
    with pytest.raises(pdca.PermissionDenied) as err:
        attempt()
    e = err.value
    assert isinstance(e, PermissionError)
    assert (e.actor, e.action) == (actor, case.action)
    assert case.label in str(e.object)
    assert str(e).startswith(f"{actor} may not {case.action} {e.object}: ")
    assert e.reason
    assert snapshot(store.engine) == before, "a denied call wrote something"
    after = denial_rows(store.engine)
    assert len(after) == len(denials) + 1, "the denial was not recorded (once)"
    rec = after[-1]
    assert (rec["actor"], rec["actor_org"], rec["actor_role"]) == (
        actor.name,
        actor.org,
        actor.role,
    )
    assert (rec["action"], rec["object"], rec["object_org"], rec["reason"]) == (
        case.action,
        str(e.object),
        case.org if case.org != "NEW" else "NEW",
        e.reason,
    )


def attempt_in_a_rolled_back_host_session(
    store: pdca.Store, world: World, actor: pdca.Actor, call: Call
) -> None:
    """Run an allowed call for real, in a host's Session that is rolled back afterwards."""
    with Session(store.engine) as session:
        hosted = pdca.open_store(session, clock=world.clock)
        try:
            with hosted.unit_of_work(actor) as u:
                call(u, world.ids)
        finally:
            session.rollback()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_permission_matrix(world: World, case: Case) -> None:
    assert len(case.expected) == len(COLUMNS)
    with pdca.open_store(world.url, clock=world.clock) as store:
        for (role, rel), cell in zip(COLUMNS, case.expected, strict=True):
            actor = actor_for(role, rel, case.org)
            if cell == "Y":
                attempt_in_a_rolled_back_host_session(store, world, actor, case.call)
                continue

            def attempt(actor: pdca.Actor = actor) -> Any:
                with store.unit_of_work(actor) as u:
                    return case.call(u, world.ids)

            assert_denied(store, actor, case, attempt)


SCORE_ROW = "G1,2025,P1,year-end,panel,评委,{org},8,"


def test_permission_matrix_of_a_score_import(world: World, tmp_path: Path) -> None:
    """A bulk import asks once per organization, method and assessing organization; a
    denial is reported with its row, recorded, and nothing of the file is written."""
    case = Case("import", "score.enter", "G1", "a panel score of cycle G1/2025", "NYNYNYNN", None)  # type: ignore[arg-type]
    with pdca.open_store(world.url, clock=world.clock) as store:
        for (role, rel), cell in zip(COLUMNS, case.expected, strict=True):
            actor = actor_for(role, rel, case.org)
            sheet = tmp_path / f"{role}-{rel}.csv"
            sheet.write_text(
                "org,period,item,checkpoint,method,assessor,assessor_org,value,comment\n"
                + SCORE_ROW.format(org=actor.org)
                + "\n"
                + SCORE_ROW.format(org=actor.org).replace(",8,", ",9,")
                + "\n",
                encoding="utf-8",
            )
            if cell == "Y":

                def call(u: pdca.UnitOfWork, ids: dict[str, Any], sheet: Path = sheet) -> Any:
                    assert import_scores(u, sheet).rows == 2

                attempt_in_a_rolled_back_host_session(store, world, actor, call)
                continue
            before, denials = snapshot(store.engine), denial_rows(store.engine)
            with pytest.raises(ImportRefused) as err, store.unit_of_work(actor) as u:
                import_scores(u, sheet)
            assert [n for n, _ in err.value.problems] == [2, 3]
            assert all(
                msg.startswith(f"{actor} may not score.enter a panel score of cycle G1/2025: ")
                for _, msg in err.value.problems
            )
            assert snapshot(store.engine) == before
            assert len(denial_rows(store.engine)) == len(denials) + 2  # one per refused row


def test_permission_matrix_of_the_rollover(world: World) -> None:
    """Only the system runs the annual rollover (here as a dry run: nothing is written)."""
    with pdca.open_store(world.url, clock=world.clock) as store:
        for (role, rel), cell in zip(COLUMNS, "YYNNNNNN", strict=True):
            actor = actor_for(role, rel, None)
            if cell == "Y":
                report = store.rollover("2025", "2026", "S26", actor=actor, dry_run=True)
                assert report.stopped  # the 2025 cycles are not all acting yet
                continue
            case = Case("rollover", "rollover.run", None, "rollover S26", "", None)  # type: ignore[arg-type]

            def attempt(actor: pdca.Actor = actor) -> Any:
                return store.rollover("2025", "2026", "S26", actor=actor, dry_run=True)

            assert_denied(store, actor, case, attempt)


# ------------------------------------------------------------------- beyond the matrix


def test_a_role_less_actor_is_told_what_is_missing(world: World) -> None:
    with (
        pdca.open_store(world.url, clock=world.clock) as store,
        pytest.raises(pdca.PermissionDenied, match=r"actor '张三' has no role: give it one"),
        store.unit_of_work("张三") as u,
    ):
        u.add_target("D1", "2025", "特色目标")
    with pdca.open_store(world.url, clock=world.clock) as store, store.unit_of_work() as u:
        last = u.denials(limit=1)[0]
        assert (last.actor, last.actor_role, last.action, last.object_org) == (
            "张三",
            None,
            "plan.edit",
            "D1",
        )


def test_denials_are_read_back_filtered(world: World) -> None:
    with pdca.open_store(world.url, clock=world.clock) as store:
        for who in ("甲", "乙"):
            with (
                pytest.raises(pdca.PermissionDenied),
                store.unit_of_work(pdca.Actor(who, org="X9", role="secretary")) as u,
            ):
                u.begin_check("G1", "2025")
        with store.unit_of_work() as u:
            mine = u.denials(action="cycle.check", org="G1")
            assert [d.actor for d in mine][-2:] == ["甲", "乙"]
            assert u.denials(actor="乙", action="cycle.check")[-1].object == "cycle G1/2025"
            assert u.denials(actor="乙")[-1].reason == "only the assessor does this"
            assert u.denials(actor="乙")[-1].at == world.clock.now()
            assert [d.actor for d in u.denials(limit=2)] == ["甲", "乙"]


def test_a_denial_caught_inside_the_unit_of_work_leaves_its_other_work(
    world: World, databases: Any
) -> None:
    """Only the denied call writes nothing; the block's other work commits (here: when the
    host commits), and the denial is recorded when the unit of work ends."""
    secretary = pdca.Actor("书记", org="G1", role="secretary")
    url = databases.clone(world.url)  # this test commits: on a copy of the world
    with pdca.open_store(url, clock=world.clock) as store:
        before = len(denial_rows(store.engine))
        with Session(store.engine) as session:
            hosted = pdca.open_store(session, clock=world.clock)
            with hosted.unit_of_work(secretary) as u:
                u.add_measure(world.ids["target"], "新措施")
                with pytest.raises(pdca.PermissionDenied):
                    u.verify(world.ids["done_finding"], verified_by="书记")
                assert u.denials(actor="书记") == []  # recorded when the unit of work ends
            with hosted.unit_of_work(secretary) as u:
                assert u.denials(actor="书记")[-1].action == "finding.verify"
                assert [m.title for m in u.target(world.ids["target"]).measures][-1] == "新措施"
            session.commit()  # the host's commit decides: the measure and the denial stay
        assert len(denial_rows(store.engine)) == before + 1


def test_a_host_rollback_takes_the_denial_record_with_it(world: World) -> None:
    with pdca.open_store(world.url, clock=world.clock) as store:
        before = len(denial_rows(store.engine))
        with Session(store.engine) as session:
            hosted = pdca.open_store(session, clock=world.clock)
            with pytest.raises(pdca.PermissionDenied), hosted.unit_of_work("张三") as u:
                u.begin_check("G1", "2025")
            with hosted.unit_of_work() as u:  # in the host's transaction, not yet committed
                assert u.denials(limit=1)[0].actor == "张三"
            session.rollback()
        assert len(denial_rows(store.engine)) == before


class OnlyAlice:
    """A host's own policy: Alice may do everything, nobody else anything."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, pdca.Resource]] = []

    def check(self, actor: pdca.Actor, action: str, obj: pdca.Resource) -> str | None:
        self.asked.append((actor.name, action, obj))
        return None if actor.name == "alice" else "only alice, says the host"


def test_the_host_replaces_the_policy(world: World) -> None:
    policy = OnlyAlice()
    assert isinstance(policy, pdca.Policy)
    with pdca.open_store(world.url, clock=world.clock, policy=policy) as store:
        assert store.policy is policy
        with (
            pytest.raises(pdca.PermissionDenied, match=r"only alice, says the host$"),
            store.unit_of_work(pdca.SYSTEM) as u,
        ):
            u.begin_check("G1", "2025")
        assert policy.asked[-1][:2] == ("pdca", "cycle.check")
        assert policy.asked[-1][2] == pdca.Resource("cycle", "cycle G1/2025", org="G1")
        with Session(store.engine) as session:
            hosted = pdca.open_store(session, clock=world.clock, policy=policy)
            with hosted.unit_of_work("alice") as u:  # no role, no organization: the host decides
                u.add_target("D1", "2025", "特色目标")
                u.enter_score("G1", "2025", "P1", "year-end", "考评", 8, assessor="alice")
            session.rollback()
        assert ("alice", "score.enter") in {(n, a) for n, a, _ in policy.asked}
        score = next(o for n, a, o in policy.asked if a == "score.enter")
        assert (score.org, score.method, score.published) == ("G1", "panel", False)


def test_allow_all_still_keeps_the_rules_of_the_domain(world: World) -> None:
    """AllowAll checks no one; the freeze of published scores is a rule of the domain."""
    with (
        pdca.open_store(world.url, clock=world.clock, policy=pdca.AllowAll()) as store,
        pytest.raises(pdca.ValidationError, match=r"are published \(公示, version 1\)"),
        store.unit_of_work("anyone") as u,
    ):
        u.enter_score("PUB", "2024", "P1", "year-end", "考评", 9, assessor="评委")


def test_the_default_policy_takes_the_hosts_role_names(world: World) -> None:
    policy = pdca.DefaultPolicy(system_roles=["admin"], assessor_roles=["考核办", "组织部"])
    with pdca.open_store(world.url, clock=world.clock, policy=policy) as store:
        with Session(store.engine) as session:
            hosted = pdca.open_store(session, clock=world.clock, policy=policy)
            with hosted.unit_of_work(pdca.Actor("王", org="JG", role="组织部")) as u:
                u.begin_check("G1", "2025")
            with hosted.unit_of_work(pdca.Actor("root", role="admin")) as u:
                u.add_target("D1", "2025", "特色目标")
            session.rollback()
        with (
            pytest.raises(pdca.PermissionDenied, match="only the assessor does this"),
            store.unit_of_work(pdca.Actor("王", org="JG", role="assessor")) as u,
        ):
            u.begin_check("G1", "2025")


# ------------------------------------------- published results change through an appeal


@pytest.fixture
def published(store: pdca.Store, clock: pdca.FixedClock) -> pdca.Store:
    """B11 acting under a published scheme, with a score and a finding to appeal."""
    clock.set(pendulum.datetime(2025, 7, 1, 9, tz="Asia/Shanghai"))
    with store.unit_of_work(BUILDER) as u:
        u.add_organization("JG", "市直机关工委", "机关工委")
        u.add_organization("B11", "第一党支部", "党支部", parent="JG")
        u.add_scheme(scheme("S", "2025"))
        u.open_cycle("B11", "2025", scheme="S")
        to_doing(u, "B11")
        u.enter_score("B11", "2025", "P1", "year-end", "考评", 6, assessor="考核组")
        u.add_finding("B11", "2025", "P1", "会议记录不全", checkpoint="daily")
        u.begin_check("B11", "2025")
        clock.set(FEEDBACK)
        u.act("B11", "2025")
        u.publish("S", "2025")
    return store


def test_only_an_upheld_appeal_changes_published_results(published: pdca.Store) -> None:
    assessor = pdca.Actor("考核办", org="JG", role="assessor")
    secretary = pdca.Actor("李书记", org="B11", role="secretary")
    with published.unit_of_work(assessor) as u:
        fid = u.findings(org="B11")[0].id
        sid = u.scores("B11", "2025")[0].id
    assert fid is not None
    assert sid is not None
    for attempt in (
        lambda u: u.waive(fid, reason="不算了"),
        lambda u: u.enter_score("B11", "2025", "P1", "year-end", "考评", 9, assessor="另一评委"),
    ):
        with (
            pytest.raises(pdca.PermissionDenied, match="published"),
            published.unit_of_work(assessor) as u,
        ):
            attempt(u)
    with published.unit_of_work(secretary) as u:
        on_finding = u.file_appeal(finding_id=fid, reason="记录齐全").id
        on_score = u.file_appeal(score_id=sid, reason="漏计", requested_value=8).id
    with published.unit_of_work(assessor) as u:
        assert on_finding is not None
        assert on_score is not None
        u.decide_appeal(on_finding, uphold=True, decision="核实记录齐全")
        u.decide_appeal(on_score, uphold=True, decision="核实漏计")
        assert u.finding(fid).state == "waived"
        assert [p.version for p in u.publications("S", "2025")] == [1, 2, 3]
        assert u.scores("B11", "2025")[0].raw == "8"
        # P1: 8 points × panel 40% × year-end 60% = 1.92 (it was 6 → 1.44 when published)
        assert u.published_results("S", "2025", version=1)["results"][0]["total"] == "1.44"
        assert u.published_results("S", "2025")["results"][0]["total"] == "1.92"
        assert [d.action for d in u.denials()] == ["finding.waive", "score.enter"]


# ------------------------------------------------------------------------------ actors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("李书记@B11:secretary", pdca.Actor("李书记", org="B11", role="secretary")),
        ("王组长@JG:assessor", pdca.Actor("王组长", org="JG", role="assessor")),
        ("ops:system", pdca.Actor("ops", role="system")),
        ("张三@B12", pdca.Actor("张三", org="B12")),
        (" 张三 ", pdca.Actor("张三")),
    ],
)
def test_actor_parse(text: str, expected: pdca.Actor) -> None:
    assert pdca.Actor.parse(text) == expected
    assert pdca.Actor.of(text) == pdca.Actor(text)  # of() takes the string as a plain name


@pytest.mark.parametrize("text", ["", "@B11", "a@", "a:", "a@B:r:x", ":system"])
def test_actor_parse_refuses_malformed_text(text: str) -> None:
    with pytest.raises(pdca.ValidationError, match=r"NAME\[@ORG\]\[:ROLE\]"):
        pdca.Actor.parse(text)


def test_a_unit_of_work_without_an_actor_is_the_system(store: pdca.Store) -> None:
    with store.unit_of_work() as u:
        assert u.actor == pdca.SYSTEM == pdca.Actor("pdca", role="system")
        u.add_organization("JG", "市直机关工委", "机关工委")
        assert u.events()[-1].actor_role == "system"


def test_every_action_is_documented() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "permissions.md").read_text("utf-8")
    for action in pdca.ACTIONS:
        assert f"`{action}`" in page, action
    assert {c.action for c in CASES} | {"rollover.run"} == set(pdca.ACTIONS)
