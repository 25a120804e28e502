"""The act half through the real store: rectification measures and the verify gate,
deadlines, appeals (申辩, seed 002) and publication (公示).

Every number is worked out by hand in the comments. The office: JG (机关工委) issues scheme S
for 2025 to its branches B11 and B12, with a 7-day appeal window. Two points items, P1 (max
60) and P2 (max 40), scored by the panel at the year-end checkpoint:

    B11: P1 50 + P2 30 = 80      B12: P1 52 + P2 34 = 86      → B12 first, B11 second

Feedback (checking → acting) is given on 2025-12-20 at 09:00 in Asia/Shanghai, so the window
runs to the end of 2025-12-27 (20 + 7) in that zone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

import pdca
from pdca.persistence import tables as t

D = Decimal
ASSESSOR = pdca.Actor("王组长", org="JG", role="system")  # the office's scripts: everything
CHECKER = pdca.Actor("考核办", org="JG", role="assessor")  # the assessor, nothing more
B11 = pdca.Actor("李书记", org="B11", role="secretary")
B12 = pdca.Actor("赵书记", org="B12", role="secretary")
FEEDBACK = pendulum.datetime(2025, 12, 20, 9, tz="Asia/Shanghai")

SCHEME: dict[str, Any] = {
    "code": "S",
    "issuer": "JG",
    "title": "2025年度党建考核方案",
    "period": "2025",
    "appeal_window_days": 7,
    "categories": [
        {
            "code": "ZZ",
            "name": "组织建设",
            "items": [
                {
                    "code": "P1",
                    "title": "三会一课",
                    "max_score": 60,
                    "methods": {"考评": "100%", "点评": None},
                },
                {"code": "P2", "title": "主题党日", "max_score": 40},
            ],
        }
    ],
}


@pytest.fixture
def clock() -> pdca.FixedClock:
    return pdca.FixedClock(pendulum.datetime(2025, 12, 1, 9, tz="Asia/Shanghai"))


def to_doing(u: pdca.UnitOfWork, org: str, period: str = "2025") -> None:
    for tgt in u.cycle(org, period).targets:
        u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
    u.approve_plan(org, period)
    u.start(org, period)


@pytest.fixture
def doing(store: pdca.Store) -> pdca.Store:
    """B11 and B12 doing 2025 under scheme S, scored, the year-end checkpoint finalized."""
    with store.unit_of_work(ASSESSOR) as u:
        u.add_organization("JG", "市直机关工委", "机关工委")
        u.add_organization("B11", "第一党支部", "党支部", parent="JG")
        u.add_organization("B12", "第二党支部", "党支部", parent="JG")
        u.add_scheme(dict(SCHEME))
        for org in ("B11", "B12"):
            u.open_cycle(org, "2025", scheme="S")
            to_doing(u, org)
        for org, item, value in (
            ("B11", "P1", 50),
            ("B11", "P2", 30),
            ("B12", "P1", 52),
            ("B12", "P2", 34),
        ):
            u.enter_score(org, "2025", item, "year-end", "panel", value, assessor="考核组")
        u.enter_score("B11", "2025", "P1", "year-end", "点评", "台账规范", assessor="考核组")
        u.finalize_checkpoint("S", "year-end")
    return store


@pytest.fixture
def acting(doing: pdca.Store, clock: pdca.FixedClock) -> pdca.Store:
    """Both cycles checked and fed back on 2025-12-20 09:00 (the appeal window opens)."""
    clock.set(FEEDBACK)
    with doing.unit_of_work(ASSESSOR) as u:
        for org in ("B11", "B12"):
            u.begin_check(org, "2025")
            u.act(org, "2025")
    return doing


def count(store: pdca.Store, table: sa.Table) -> int:
    with store.unit_of_work() as u:
        return int(u.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


Written = Callable[[], AbstractContextManager[None]]


@pytest.fixture
def nothing_written(store: pdca.Store) -> Written:
    """``with nothing_written(): ...`` asserts that the block changed no row of the trail,
    the act tables, scores, findings or cycles."""

    def snapshot() -> dict[str, Any]:
        with store.unit_of_work() as u:
            return {
                tbl.name: sorted(map(tuple, u.session.execute(sa.select(tbl)).all()), key=repr)
                for tbl in (
                    t.event,
                    t.appeal,
                    t.rectification,
                    t.publication,
                    t.score,
                    t.finding,
                    t.cycle,
                )
            }

    @contextmanager
    def check() -> Iterator[None]:
        before = snapshot()
        yield
        assert snapshot() == before

    return check


def score_id(u: pdca.UnitOfWork, org: str, item: str) -> int:
    sid = next(
        s.id
        for s in u.scores(org, "2025")
        if u.session.scalar(sa.select(t.item.c.code).where(t.item.c.id == s.item_id)) == item
    )
    assert sid is not None
    return sid


def totals(u: pdca.UnitOfWork) -> dict[str, tuple[Decimal, int]]:
    return {r.org: (r.total, r.rank) for r in u.results("S", "2025").rows}


# ------------------------------------------------------------------ rectification


def test_rectification_measures_and_the_verify_gate(
    doing: pdca.Store, nothing_written: Written
) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        fid = u.add_finding(
            "B11", "2025", "P1", "会议记录不全", checkpoint="daily", found_on="2025-11-20"
        ).id
        assert fid is not None
    with doing.unit_of_work(B11) as u:
        first = u.add_rectification(fid, "补齐会议记录", owner="组织委员", due_on="2025-12-10")
        # The first measure is the plan: open → rectifying through the finding lifecycle.
        f = u.finding(fid)
        assert (f.state, f.rectification, f.rectification_owner, f.deadline) == (
            "rectifying",
            "补齐会议记录",
            "组织委员",
            dt.date(2025, 12, 10),
        )
        second = u.add_rectification(fid, "建立会议台账", owner="支部书记", due_on="2025-12-15")
        assert u.finding(fid).rectification == "补齐会议记录"  # the plan stays the first
        assert [(r.title, r.status) for r in u.rectifications(fid)] == [
            ("补齐会议记录", "planned"),
            ("建立会议台账", "planned"),
        ]
    # Nothing done yet: verification is refused, naming every measure still open.
    with (
        nothing_written(),
        doing.unit_of_work(ASSESSOR) as u,
        pytest.raises(pdca.GuardFailed) as err,
    ):
        u.verify(fid, verified_by="考核组王组长")
    assert err.value.guard == "rectification_done"
    assert err.value.missing == (
        f"rectification measure #{first.id} '补齐会议记录' (due 2025-12-10) is not done",
        f"rectification measure #{second.id} '建立会议台账' (due 2025-12-15) is not done",
    )
    with doing.unit_of_work(B11) as u:
        r = u.complete_rectification(first.id, evidence="会议记录已补齐，见台账第3页")  # type: ignore[arg-type]
        assert (r.status, r.done_on, r.evidence) == (
            "done",
            dt.date(2025, 12, 1),  # the clock's day in Asia/Shanghai
            "会议记录已补齐，见台账第3页",
        )
    # One left: still refused, and now only the second measure is named.
    with (
        nothing_written(),
        doing.unit_of_work(ASSESSOR) as u,
        pytest.raises(pdca.GuardFailed) as err,
    ):
        u.verify(fid, verified_by="考核组王组长")
    assert err.value.missing == (
        f"rectification measure #{second.id} '建立会议台账' (due 2025-12-15) is not done",
    )
    with doing.unit_of_work(B11) as u:
        u.complete_rectification(second.id, evidence="台账已建立", done_on="2025-11-30")  # type: ignore[arg-type]
    with doing.unit_of_work(ASSESSOR) as u:
        f = u.verify(fid, verified_by="考核组王组长", note="现场核查，整改到位")
        assert (f.state, f.resolution) == ("resolved", "现场核查，整改到位")
        trail = [
            (e.entity, e.action) for e in u.events() if e.entity in ("finding", "rectification")
        ]
        assert trail == [
            ("finding", "open"),
            ("finding", "rectify"),
            ("rectification", "create"),
            ("rectification", "create"),
            ("rectification", "complete"),
            ("rectification", "complete"),
            ("finding", "verify"),
        ]


def test_a_finding_rectified_by_a_plan_alone_is_verified_on_the_assessors_word(
    doing: pdca.Store,
) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        fid = u.add_finding("B11", "2025", "P1", "会议记录不全", checkpoint="daily").id
        assert fid is not None
        u.rectify(fid, plan="补记录", owner="组织委员")  # a plan, but no measure
        assert u.verify(fid, verified_by="考核组王组长").state == "resolved"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda u, f: u.add_rectification(f, " ", owner="组织委员", due_on="2025-12-10"),
            pdca.ValidationError,
            r"^title=' ': must not be empty$",
        ),
        (
            lambda u, f: u.add_rectification(f, "补记录", owner="", due_on="2025-12-10"),
            pdca.ValidationError,
            r"^owner='': must not be empty$",
        ),
        (
            lambda u, f: u.add_rectification(f, "补记录", owner="组织委员", due_on=None),
            pdca.ValidationError,
            r"^due_on=None: a date is required$",
        ),
        (
            lambda u, f: u.add_rectification(f, "补记录", owner="组织委员", due_on="2025-11-19"),
            pdca.ValidationError,
            r"^due_on='2025-11-19': must not be before the finding \(2025-11-20\)$",
        ),
        (
            lambda u, f: u.add_rectification(10**6, "补记录", owner="组织委员", due_on="2025-12-1"),
            pdca.NotFound,
            r"^finding 1000000 not found$",
        ),
    ],
)
def test_add_rectification_refusals(
    doing: pdca.Store, nothing_written: Written, call: Any, error: type, message: str
) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        fid = u.add_finding(
            "B11", "2025", "P1", "会议记录不全", checkpoint="daily", found_on="2025-11-20"
        ).id
    with nothing_written(), doing.unit_of_work(B11) as u, pytest.raises(error, match=message):
        call(u, fid)


def test_rectification_only_while_the_finding_is_open_or_rectifying(
    doing: pdca.Store, nothing_written: Written
) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        fid = u.add_finding("B11", "2025", "P1", "会议记录不全", checkpoint="daily").id
        assert fid is not None
        rid = u.add_rectification(fid, "补记录", owner="组织委员", due_on="2025-12-10").id
        assert rid is not None
        u.waive(fid, reason="复核后不属实")
    with (
        nothing_written(),
        doing.unit_of_work(B11) as u,
        pytest.raises(pdca.ValidationError, match=r"is waived: rectification measures are added"),
    ):
        u.add_rectification(fid, "再补", owner="组织委员", due_on="2025-12-10")
    with (
        nothing_written(),
        doing.unit_of_work(B11) as u,
        pytest.raises(pdca.ValidationError, match=r"is waived: measures are completed while"),
    ):
        u.complete_rectification(rid, evidence="已补")


def test_complete_rectification_refusals(doing: pdca.Store, nothing_written: Written) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        fid = u.add_finding(
            "B11", "2025", "P1", "会议记录不全", checkpoint="daily", found_on="2025-11-20"
        ).id
        assert fid is not None
        rid = u.add_rectification(fid, "补记录", owner="组织委员", due_on="2025-12-10").id
        assert rid is not None
    for kwargs, message in (
        ({"evidence": ""}, r"^evidence='': must not be empty$"),
        (
            {"evidence": "已补", "done_on": "2025-12-02"},
            r"^done_on='2025-12-02': must not be in the future \(today is 2025-12-01\)$",
        ),
        (
            {"evidence": "已补", "done_on": "2025-11-19"},
            r"^done_on='2025-11-19': must not be before the finding \(2025-11-20\)$",
        ),
    ):
        with (
            nothing_written(),
            doing.unit_of_work(B11) as u,
            pytest.raises(pdca.ValidationError, match=message),
        ):
            u.complete_rectification(rid, **kwargs)
    with doing.unit_of_work(B11) as u:
        u.complete_rectification(rid, evidence="已补")
    with (
        nothing_written(),
        doing.unit_of_work(B11) as u,
        pytest.raises(pdca.ValidationError, match=r"was already done on 2025-12-01$"),
    ):
        u.complete_rectification(rid, evidence="又补")


# ---------------------------------------------------------------------- deadlines


def test_due_lists_measures_and_rectifications_with_days_left(doing: pdca.Store) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        b11 = {tgt.item_code: tgt.id for tgt in u.cycle("B11", "2025").targets if tgt.id}
        b12 = {tgt.item_code: tgt.id for tgt in u.cycle("B12", "2025").targets if tgt.id}
        m_late = u.add_measure(b11["P1"], "每月召开支委会", owner="张三", due_on="2025-11-28")
        m_soon = u.add_measure(b11["P2"], "开展主题党日", owner="李四", due_on="2025-12-05")
        m_far = u.add_measure(b11["P2"], "年终总结", owner="李四", due_on="2025-12-31")
        m_done = u.add_measure(b11["P1"], "已完成的措施", owner="张三", due_on="2025-11-01")
        u.update_measure(m_done.id, status="done")  # type: ignore[arg-type]
        m_dropped = u.add_measure(b12["P1"], "已取消", owner="王五", due_on="2025-11-01")
        u.update_measure(m_dropped.id, status="dropped")  # type: ignore[arg-type]
        m_undated = u.add_measure(b12["P1"], "没有期限", owner="王五")
        m_b12 = u.add_measure(b12["P2"], "学习强国", owner=None, due_on="2025-12-08")
        f1 = u.add_finding(
            "B12", "2025", "P1", "记录不全", checkpoint="daily", found_on="2025-11-15"
        ).id
        f2 = u.add_finding(
            "B12", "2025", "P2", "缺席多", checkpoint="daily", found_on="2025-11-15"
        ).id
        f3 = u.add_finding(
            "B11", "2025", "P2", "笔记雷同", checkpoint="daily", found_on="2025-11-15"
        ).id
        assert f1 is not None
        assert f2 is not None
        assert f3 is not None
        r_late = u.add_rectification(f1, "补记录", owner="组织委员", due_on="2025-12-01")
        r_done = u.add_rectification(f1, "建台账", owner="组织委员", due_on="2025-11-30")
        u.complete_rectification(r_done.id, evidence="已建")  # type: ignore[arg-type]
        u.add_rectification(f2, "严格考勤", owner="支部书记", due_on="2025-12-02")
        u.waive(f2, reason="复核后不属实")
        r_b11 = u.add_rectification(f3, "重写笔记", owner="宣传委员", due_on="2025-12-08")
        assert m_undated.id
        assert m_far.id

    with doing.unit_of_work(ASSESSOR) as u:
        items = u.due(dt.date(2025, 12, 1), 7)
    # As of 2025-12-01 within 7 days (up to 12-08): by organization, then due date.
    assert [(i.org, i.kind, i.id, i.due_on, i.days_left, i.overdue) for i in items] == [
        ("B11", "measure", m_late.id, dt.date(2025, 11, 28), -3, True),
        ("B11", "measure", m_soon.id, dt.date(2025, 12, 5), 4, False),
        ("B11", "rectification", r_b11.id, dt.date(2025, 12, 8), 7, False),
        ("B12", "rectification", r_late.id, dt.date(2025, 12, 1), 0, False),
        ("B12", "measure", m_b12.id, dt.date(2025, 12, 8), 7, False),
    ]
    first = items[0].as_dict()
    assert first == {
        "org": "B11",
        "org_name": "第一党支部",
        "kind": "measure",
        "id": m_late.id,
        "title": "每月召开支委会",
        "owner": "张三",
        "due_on": "2025-11-28",
        "days_left": -3,
        "overdue": True,
        "status": "planned",
        "period": "2025",
        "target_id": b11["P1"],
        "finding_id": None,
    }
    assert items[3].finding_id == f1
    assert items[3].target_id is None
    assert items[3].owner == "组织委员"
    assert items[4].owner is None

    with doing.unit_of_work(ASSESSOR) as u:
        # Overdue only (within 0 days) as of 12-06, for B11.
        late = u.due("2025-12-06", 0, org="B11")
        assert [(i.id, i.days_left) for i in late] == [(m_late.id, -8), (m_soon.id, -1)]
        with pytest.raises(pdca.ValidationError, match=r"^within_days=-1: must be a whole"):
            u.due("2025-12-01", -1)
        with pytest.raises(pdca.NotFound):
            u.due("2025-12-01", 7, org="NOPE")


def test_due_leaves_out_closed_cycles(doing: pdca.Store, clock: pdca.FixedClock) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        tgt = u.cycle("B11", "2025").targets[0].id
        assert tgt is not None
        u.add_measure(tgt, "遗留措施", owner="张三", due_on="2025-12-01")
        u.begin_check("B11", "2025")
        u.act("B11", "2025")
    with doing.unit_of_work(ASSESSOR) as u:
        assert [i.title for i in u.due("2025-12-20", 0)] == ["遗留措施"]
        u.close("B11", "2025")
        assert u.due("2025-12-20", 0) == []


# -------------------------------------------------------------------------- appeals


def test_upheld_score_appeal_revises_the_score_and_keeps_the_original(
    acting: pdca.Store, clock: pdca.FixedClock
) -> None:
    with acting.unit_of_work(ASSESSOR) as u:
        assert totals(u) == {"B12": (D("86.00"), 1), "B11": (D("80.00"), 2)}
        sid = score_id(u, "B11", "P1")
    clock.set(pendulum.datetime(2025, 12, 23, 10, tz="Asia/Shanghai"))
    with acting.unit_of_work(B11) as u:
        ap = u.file_appeal(score_id=sid, reason="三会一课记录齐全，应得58分", requested_value="58")
        assert (ap.state, ap.filed_org, ap.filed_by, ap.requested_value) == (
            "filed",
            "B11",
            "李书记",
            "58",
        )
        aid = ap.id
        assert aid is not None
    clock.set(pendulum.datetime(2025, 12, 30, 10, tz="Asia/Shanghai"))  # deciding may be late
    with acting.unit_of_work(ASSESSOR) as u:
        ap = u.decide_appeal(aid, uphold=True, decision="经复核，记录齐全")
        assert (ap.state, ap.decided_by, ap.decision) == ("upheld", "王组长", "经复核，记录齐全")
        # The original stays readable on the appeal, beside the revision.
        assert (ap.original_raw, ap.original_points) == ("50", D(50))
        assert (ap.revised_raw, ap.revised_points) == ("58", D(58))
    with acting.unit_of_work(ASSESSOR) as u:
        score = next(s for s in u.scores("B11", "2025") if s.id == sid)
        assert (score.raw, score.points) == ("58", D(58))  # though year-end is finalized
        # Results recompute: B11 58 + 30 = 88 overtakes B12's 86.
        assert totals(u) == {"B11": (D("88.00"), 1), "B12": (D("86.00"), 2)}
        trail = u.events(entity="score", entity_id=sid)
        assert [
            (e.action, (e.data or {}).get("raw") if e.action == "enter" else None) for e in trail
        ] == [
            ("enter", "50"),
            ("revise", None),
        ]
        revise = trail[1].data
        assert revise is not None
        assert revise["from"] == {"raw": "50", "points": "50", "hits": 0}
        assert revise["to"] == {"raw": "58", "points": "58", "hits": 0}
        assert revise["appeal"] == aid
        assert trail[1].reason == f"申辩成立: 经复核，记录齐全 (appeal #{aid})"
        appeal_trail = u.events(entity="appeal", entity_id=aid)
        assert [(e.action, e.from_state, e.to_state, e.actor) for e in appeal_trail] == [
            ("file", "", "filed", "李书记"),
            ("uphold", "filed", "upheld", "王组长"),
        ]
        assert appeal_trail[1].data["original"] == {"raw": "50", "points": "50"}  # type: ignore[index]
        # Deciding twice is not on the graph.
        with pytest.raises(pdca.InvalidTransition, match=r"event 'reject' is not allowed"):
            u.decide_appeal(aid, uphold=False, decision="再议")


def test_upheld_appeal_takes_the_assessors_revised_value(acting: pdca.Store) -> None:
    with acting.unit_of_work(B11) as u:
        sid = score_id(u, "B11", "P2")
        aid = u.file_appeal(score_id=sid, reason="主题党日开展情况被漏记").id
        assert aid is not None
    with acting.unit_of_work(ASSESSOR) as u:
        with pytest.raises(pdca.ValidationError, match=r"^revised_value=None: an upheld score"):
            u.decide_appeal(aid, uphold=True, decision="部分成立")
        with pytest.raises(pdca.ValidationError, match=r"item P2 \(points\) takes 0 to 40"):
            u.decide_appeal(aid, uphold=True, decision="部分成立", revised_value=41)
        with pytest.raises(pdca.ValidationError, match=r"equals the score's value \(30\)"):
            u.decide_appeal(aid, uphold=True, decision="部分成立", revised_value="30.0")
    with acting.unit_of_work(ASSESSOR) as u:
        ap = u.decide_appeal(aid, uphold=True, decision="部分成立", revised_value="33.5")
        assert (ap.original_raw, ap.revised_raw, ap.revised_points) == ("30", "33.5", D("33.5"))
        # 50 + 33.5 = 83.5
        assert totals(u)["B11"] == (D("83.50"), 2)


def test_rejected_appeal_changes_nothing_but_the_decision(acting: pdca.Store) -> None:
    with acting.unit_of_work(B11) as u:
        sid = score_id(u, "B11", "P1")
        aid = u.file_appeal(score_id=sid, reason="应得满分", requested_value=60).id
        assert aid is not None
    with acting.unit_of_work(ASSESSOR) as u:
        with pytest.raises(pdca.ValidationError, match=r"only an upheld score appeal takes"):
            u.decide_appeal(aid, uphold=False, decision="x", revised_value=55)
        with pytest.raises(pdca.GuardFailed, match=r"guard 'decision_given': a decision"):
            u.decide_appeal(aid, uphold=False, decision="  ")
    with acting.unit_of_work(ASSESSOR) as u:
        ap = u.decide_appeal(aid, uphold=False, decision="记录缺两次支委会")
        assert (ap.state, ap.original_raw, ap.revised_raw) == ("rejected", None, None)
        assert totals(u)["B11"] == (D("80.00"), 2)
        assert [e.action for e in u.events(entity="score", entity_id=sid)] == ["enter"]
        # Once decided, the organization may appeal the same score again (inside the window).
    with acting.unit_of_work(B11) as u:
        assert u.file_appeal(score_id=sid, reason="补充证据").state == "filed"
        assert [a.state for a in u.appeals(org="B11")] == ["rejected", "filed"]
        assert u.appeals(state="upheld") == []
        assert [a.id for a in u.appeals(period="2025", state="rejected")] == [aid]


@pytest.mark.parametrize(
    ("at", "accepted"),
    [
        (pendulum.datetime(2025, 12, 27, 23, 59, 59, tz="Asia/Shanghai"), True),
        # 2025-12-27 16:00 UTC is already 12-28 00:00 in Shanghai: the window has closed.
        (pendulum.datetime(2025, 12, 27, 16, 0, 0, tz="UTC"), False),
        (pendulum.datetime(2026, 1, 15, 9, tz="Asia/Shanghai"), False),
    ],
)
def test_the_appeal_window_ends_with_the_last_day_in_the_configured_zone(
    acting: pdca.Store,
    clock: pdca.FixedClock,
    nothing_written: Written,
    at: pendulum.DateTime,
    accepted: bool,
) -> None:
    with acting.unit_of_work(B11) as u:
        sid = score_id(u, "B11", "P1")
    clock.set(at)
    if accepted:
        with acting.unit_of_work(B11) as u:
            assert u.file_appeal(score_id=sid, reason="记录齐全").state == "filed"
        return
    with (
        nothing_written(),
        acting.unit_of_work(B11) as u,
        pytest.raises(
            pdca.ValidationError,
            match=r"^filed_at='.*': the appeal window of cycle B11/2025 closed at the end of "
            r"2025-12-27 \(7 days after feedback on 2025-12-20, Asia/Shanghai\)$",
        ),
    ):
        u.file_appeal(score_id=sid, reason="记录齐全")


def test_an_appeal_by_another_organization_is_refused(
    acting: pdca.Store, nothing_written: Written
) -> None:
    with acting.unit_of_work(ASSESSOR) as u:
        sid = score_id(u, "B11", "P1")
    for actor in (B12, CHECKER, pdca.Actor("无名氏")):
        with (
            nothing_written(),
            acting.unit_of_work(actor) as u,
            pytest.raises(
                pdca.PermissionDenied,
                match=rf"^{re.escape(str(actor))} may not appeal.file score #{sid} of cycle "
                r"B11/2025: (only B11's own people do this|actor '无名氏' has no role)",
            ) as err,
        ):
            u.file_appeal(score_id=sid, reason="B11的分数打低了", requested_value=60)
        assert isinstance(err.value, PermissionError)


def test_appeal_refusals(
    doing: pdca.Store, clock: pdca.FixedClock, nothing_written: Written
) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        sid = score_id(u, "B11", "P1")
        fid = u.add_finding("B11", "2025", "P1", "会议记录不全", checkpoint="daily").id
    with doing.unit_of_work(ASSESSOR) as u:
        comment = next(s.id for s in u.scores("B11", "2025") if s.method == "commentary")

    def refused(match: str, **kwargs: Any) -> None:
        with (
            nothing_written(),
            doing.unit_of_work(B11) as u,
            pytest.raises(pdca.ValidationError, match=match),
        ):
            u.file_appeal(**{"reason": "不服", **kwargs})

    # Before feedback there is no window yet.
    refused(r"^cycle='cycle B11/2025 \(doing\)': no feedback has been given yet", score_id=sid)
    clock.set(FEEDBACK)
    with doing.unit_of_work(ASSESSOR) as u:
        u.begin_check("B11", "2025")
        u.act("B11", "2025")
    refused(r"^score_id/finding_id=.*: an appeal contests exactly one score or one finding$")
    refused(r"exactly one", score_id=sid, finding_id=fid)
    refused(r"^reason='': must not be empty$", score_id=sid, reason="")
    refused(r"^value=61: item P1 \(points\) takes 0 to 60$", score_id=sid, requested_value=61)
    refused(r"^score_id=\d+: a commentary \(点评\) has no value", score_id=comment)
    refused(
        r"^requested_value=1: a finding appeal requests no value$",
        finding_id=fid,
        requested_value=1,
    )
    with (
        nothing_written(),
        doing.unit_of_work(B11) as u,
        pytest.raises(pdca.NotFound, match=r"^score 999999 not"),
    ):
        u.file_appeal(score_id=999999, reason="不服")
    with doing.unit_of_work(B11) as u:
        first = u.file_appeal(score_id=sid, reason="不服").id
    refused(rf"^score_id={sid}: appeal #{first} on this score awaits its decision$", score_id=sid)


def test_a_scheme_without_a_window_accepts_no_appeals(
    store: pdca.Store, nothing_written: Written
) -> None:
    with store.unit_of_work(ASSESSOR) as u:
        u.add_organization("JG", "市直机关工委", "机关工委")
        u.add_organization("B11", "第一党支部", "党支部", parent="JG")
        u.add_scheme({k: v for k, v in SCHEME.items() if k != "appeal_window_days"})
        u.open_cycle("B11", "2025", scheme="S")
        to_doing(u, "B11")
        sid = u.enter_score("B11", "2025", "P1", "year-end", "panel", 50).id
        u.begin_check("B11", "2025")
        u.act("B11", "2025")
    with (
        nothing_written(),
        store.unit_of_work(B11) as u,
        pytest.raises(
            pdca.ValidationError,
            match=r"^appeal_window_days=None: scheme S sets no appeal window: it accepts no ",
        ),
    ):
        u.file_appeal(score_id=sid, reason="不服")


def test_only_the_assessor_decides(acting: pdca.Store, nothing_written: Written) -> None:
    with acting.unit_of_work(B11) as u:
        aid = u.file_appeal(score_id=score_id(u, "B11", "P1"), reason="不服", requested_value=58).id
    for actor in (B11, B12, pdca.Actor("李书记", org="B11", role="assessor")):
        with (
            nothing_written(),
            acting.unit_of_work(actor) as u,
            pytest.raises(
                pdca.PermissionDenied,
                match=rf"may not appeal.decide appeal #{aid} of cycle B11/2025: (only the "
                r"assessor does this|nobody decides an appeal of their own organization)",
            ),
        ):
            u.decide_appeal(aid, uphold=True, decision="成立")  # type: ignore[arg-type]
    # An actor with the assessor role decides too, whatever organization they act for.
    with acting.unit_of_work(pdca.Actor("考核办", role="assessor")) as u:
        assert u.decide_appeal(aid, uphold=True, decision="成立").state == "upheld"  # type: ignore[arg-type]


def test_upheld_finding_appeal_waives_the_finding(
    doing: pdca.Store, clock: pdca.FixedClock
) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        fid = u.add_finding("B11", "2025", "P1", "会议记录不全", checkpoint="year-end").id
        assert fid is not None
        u.begin_check("B11", "2025")
        clock.set(FEEDBACK)
        u.act("B11", "2025")
    with doing.unit_of_work(B11) as u:
        aid = u.file_appeal(finding_id=fid, reason="会议记录齐全，检查时未调阅").id
        assert aid is not None
    with doing.unit_of_work(ASSESSOR) as u:
        ap = u.decide_appeal(aid, uphold=True, decision="复核属实")
        assert ap.state == "upheld"
        f = u.finding(fid)
        assert (f.state, f.resolution) == ("waived", f"申辩成立: 复核属实 (appeal #{aid})")
        assert u.cycle("B11", "2025").state == "acting"
        assert [(e.action, e.to_state) for e in u.events(entity="finding", entity_id=fid)] == [
            ("open", "open"),
            ("waive", "waived"),
        ]


def test_upheld_finding_appeal_on_a_closed_cycle_reopens_it(
    doing: pdca.Store, clock: pdca.FixedClock
) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        fid = u.add_finding("B11", "2025", "P1", "会议记录不全", checkpoint="year-end").id
        other = u.add_finding("B11", "2025", "P2", "主题党日缺席多", checkpoint="year-end").id
        assert fid is not None
        assert other is not None
        u.begin_check("B11", "2025")
        clock.set(FEEDBACK)
        u.act("B11", "2025")
        u.close("B11", "2025")
        assert u.finding(fid).state == "carried"
    with doing.unit_of_work(B11) as u:
        aid = u.file_appeal(finding_id=fid, reason="会议记录齐全").id
        assert aid is not None
    with doing.unit_of_work(ASSESSOR) as u:
        u.decide_appeal(aid, uphold=True, decision="复核属实")
        cyc = u.cycle("B11", "2025")
        # Re-opening is an explicit, recorded transition; the cycle is checked again.
        assert cyc.state == "checking"
        assert u.finding(fid).state == "waived"
        assert u.finding(other).state == "open"  # re-opened with the cycle, to be carried again
        reopen = [e for e in u.events(entity="cycle", entity_id=cyc.id) if e.action == "reopen"]
        assert [(e.from_state, e.to_state, e.reason) for e in reopen] == [
            ("closed", "checking", f"申辩成立: 复核属实 (appeal #{aid})")
        ]


def test_upheld_finding_appeal_refused_once_the_next_cycle_is_open(
    doing: pdca.Store, clock: pdca.FixedClock, nothing_written: Written
) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        fid = u.add_finding("B11", "2025", "P1", "会议记录不全", checkpoint="year-end").id
        assert fid is not None
        u.begin_check("B11", "2025")
        clock.set(FEEDBACK)
        u.act("B11", "2025")
        u.close("B11", "2025")
    with doing.unit_of_work(B11) as u:
        aid = u.file_appeal(finding_id=fid, reason="会议记录齐全").id
        assert aid is not None
    with doing.unit_of_work(ASSESSOR) as u:
        u.open_cycle("B11", "2026")
    with (
        nothing_written(),
        doing.unit_of_work(ASSESSOR) as u,
        pytest.raises(pdca.GuardFailed, match=r"guard 'next_not_opened': the next period's"),
    ):
        u.decide_appeal(aid, uphold=True, decision="复核属实")
    with doing.unit_of_work(ASSESSOR) as u:
        assert u.appeal(aid).state == "filed"
        assert u.decide_appeal(aid, uphold=False, decision="已结转至2026年整改").state == "rejected"


# ---------------------------------------------------------------------- publication


def test_publication_freezes_results_and_an_upheld_appeal_adds_a_version(
    doing: pdca.Store, clock: pdca.FixedClock, nothing_written: Written
) -> None:
    with doing.unit_of_work(ASSESSOR) as u:
        u.begin_check("B11", "2025")
        u.begin_check("B12", "2025")
        pub = u.publish("S", "2025", reason="年度考核结果公示")
        assert (pub.version, pub.period, pub.published_by, pub.appeal_id) == (
            1,
            "2025",
            "王组长",
            None,
        )
    # Frozen: no score is entered any more (the cycles are still checking).
    with (
        nothing_written(),
        doing.unit_of_work(ASSESSOR) as u,
        pytest.raises(
            pdca.PermissionDenied,
            match=r"may not score.enter a panel score of cycle B11/2025: the results .* are "
            r"published \(公示\): they change only through an upheld appeal$",
        ),
    ):
        u.enter_score("B11", "2025", "P1", "year-end", "panel", 60, assessor="另一评委")
    with (
        nothing_written(),
        doing.unit_of_work(ASSESSOR) as u,
        pytest.raises(pdca.ValidationError, match=r"were published already \(version 1\)"),
    ):
        u.publish("S", "2025")
    with (
        nothing_written(),
        doing.unit_of_work(B11) as u,
        pytest.raises(
            pdca.PermissionDenied, match=r"may not results.publish the results of scheme S"
        ),
    ):
        u.publish("S", "2025")

    clock.set(FEEDBACK)
    with doing.unit_of_work(ASSESSOR) as u:
        u.act("B11", "2025")
        u.act("B12", "2025")
    with doing.unit_of_work(B11) as u:
        aid = u.file_appeal(
            score_id=score_id(u, "B11", "P1"), reason="记录齐全", requested_value=58
        ).id
    with doing.unit_of_work(ASSESSOR) as u:
        u.decide_appeal(aid, uphold=True, decision="经复核，记录齐全")  # type: ignore[arg-type]
    with doing.unit_of_work(ASSESSOR) as u:
        pubs = u.publications("S", "2025")
        assert [(p.version, p.appeal_id, p.reason) for p in pubs] == [
            (1, None, "年度考核结果公示"),
            (2, aid, f"申辩成立 (appeal #{aid}): 经复核，记录齐全"),
        ]
        v1 = u.published_results("S", "2025", version=1)
        v2 = u.published_results("S", "2025")
        # Version 1 is unchanged: B12 86 first, B11 80 second.
        assert [(r["org"], r["total"], r["rank"]) for r in v1["results"]] == [
            ("B12", "86.00", 1),
            ("B11", "80.00", 2),
        ]
        assert v1["version"] == 1
        assert v1["appeal"] is None
        # Version 2: B11 58 + 30 = 88 first.
        assert [(r["org"], r["total"], r["rank"]) for r in v2["results"]] == [
            ("B11", "88.00", 1),
            ("B12", "86.00", 2),
        ]
        assert (v2["version"], v2["appeal"], v2["scheme"], v2["period"]) == (2, aid, "S", "2025")
        assert v2["published_at"] == "2025-12-20T09:00:00+08:00"
        with pytest.raises(pdca.NotFound, match=r"publication 'S/2025 version 3' not found"):
            u.published_results("S", "2025", version=3)
        with pytest.raises(pdca.NotFound, match=r"publication 'S/2025-Q1' not found"):
            u.published_results("S", "2025-Q1")
        pub_events = [(e.action, e.data["version"]) for e in u.events(entity="publication")]  # type: ignore[index]
        assert pub_events == [("publish", 1), ("publish", 2)]


def test_an_unpublished_period_gets_no_version_from_an_appeal(acting: pdca.Store) -> None:
    with acting.unit_of_work(B11) as u:
        aid = u.file_appeal(
            score_id=score_id(u, "B11", "P1"), reason="记录齐全", requested_value=58
        ).id
    with acting.unit_of_work(ASSESSOR) as u:
        u.decide_appeal(aid, uphold=True, decision="成立")  # type: ignore[arg-type]
        assert u.publications("S", "2025") == []
    assert count(acting, t.publication) == 0
