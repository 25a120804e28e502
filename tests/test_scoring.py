"""Scoring rules through the real store, with hand-computed numbers.

Every test builds its organizations and scheme, enters scores through
``UnitOfWork.enter_score`` and reads ``UnitOfWork.results`` (computed in SQL), so the whole
file runs on SQLite and PostgreSQL alike. The expected numbers are worked out by hand in
the comments next to them and traced to the seed article they come from (see
../shared/DOMAIN.md, "Scoring"):

000 Xiangtan   method weights, checkpoint weights, 点评, grade link, candidate list
001 Zhangzhou  grade items (好/较好/一般), rank by total with ties, top-N winners
004 Changping  one-vote veto, forced distribution 2:7:1, streaks over quarters
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

import pdca
from pdca.domain.scheme import SchemeInvalid, parse_scheme
from pdca.domain.scoring import TIE_RULE, forced_distribution_sizes
from pdca.persistence import tables as t
from pdca.services.scoring import Results

D = Decimal
ASSESSOR = pdca.Actor("考核办", org="JG", role="system")

#: Four bands used by several tests (优秀 / 良好 / 一般 / 较差).
BANDS = [
    {"name": "优秀", "min": 90},
    {"name": "良好", "min": 80},
    {"name": "一般", "min": 60},
    {"name": "较差", "min": 0},
]


@pytest.fixture
def clock() -> pdca.FixedClock:
    """Late in 2025, so records dated during the year are not in the future."""
    return pdca.FixedClock(pendulum.datetime(2025, 12, 20, 9, tz="Asia/Shanghai"))


# ------------------------------------------------------------------------------ helpers


def to_doing(u: pdca.UnitOfWork, org: str, period: str) -> None:
    """draft → planned → doing (every target of the plan gets a first responsible person)."""
    for tgt in u.cycle(org, period).targets:
        if not tgt.first_responsible:
            u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
    u.approve_plan(org, period)
    u.start(org, period)


def setup(
    store: pdca.Store,
    scheme: dict[str, Any],
    orgs: Iterable[tuple[str, str | None]],
    *,
    period: str = "2025",
    start: bool = True,
) -> list[str]:
    """JG (机关工委) issues ``scheme`` to the organizations below it, each with a cycle for
    ``period`` (moved to doing unless ``start`` is false)."""
    orgs = list(orgs)
    with store.unit_of_work(ASSESSOR) as u:
        u.add_organization("JG", "市直机关工委", "机关工委")
        for code, group in orgs:
            u.add_organization(code, f"{code}党支部", "党支部", parent="JG", peer_group=group)
        u.add_scheme({"issuer": "JG", "title": "党建考核方案", "period": "2025", **scheme})
        for code, _ in orgs:
            u.open_cycle(code, period, scheme=scheme["code"])
            if start:
                to_doing(u, code, period)
    return [code for code, _ in orgs]


def entry(
    org: str,
    item: str,
    value: Any,
    *,
    cp: str = "year-end",
    method: str = "panel",
    by: str = "JG",
    who: str | None = None,
) -> dict[str, Any]:
    """One score: ``by`` is the assessing organization, ``who`` the person (default: one
    person per organization)."""
    return {
        "org": org,
        "item": item,
        "value": value,
        "cp": cp,
        "method": method,
        "by": by,
        "who": who or f"{by}评委",
    }


def enter(store: pdca.Store, entries: Iterable[dict[str, Any]], period: str = "2025") -> None:
    with store.unit_of_work(ASSESSOR) as u:
        for e in entries:
            u.enter_score(
                e["org"],
                period,
                e["item"],
                e["cp"],
                e["method"],
                e["value"],
                assessor=e["who"],
                assessor_org=e["by"],
            )


def points(
    store: pdca.Store, values: dict[str, Any], item: str = "P1", period: str = "2025", **kw: Any
) -> None:
    """One panel score per organization for a single item."""
    enter(store, [entry(org, item, v, **kw) for org, v in values.items()], period)


def results(store: pdca.Store, scheme: str = "S", period: str = "2025") -> Results:
    with store.unit_of_work(ASSESSOR) as u:
        return u.results(scheme, period)


def totals(res: Results) -> dict[str, Decimal]:
    return {r.org: r.total for r in res.rows}


def outcome_labels(res: Results, kind: str) -> dict[str, list[str]]:
    return {r.org: [o["label"] for o in r.outcomes if o["kind"] == kind] for r in res.rows}


def winners(res: Results, label: str) -> set[str]:
    return {r.org for r in res.rows if any(o["label"] == label for o in r.outcomes)}


def count_rows(store: pdca.Store, table: sa.Table) -> int:
    with store.unit_of_work() as u:
        return int(u.session.scalar(sa.select(sa.func.count()).select_from(table)))


def single_item(max_score: Any = 100) -> list[dict[str, Any]]:
    """One category with one points item P1, scored by the panel."""
    return [
        {
            "code": "K",
            "name": "组织建设",
            "items": [{"code": "P1", "title": "党建工作", "max_score": max_score}],
        }
    ]


# ------------------------------------------------------------------ 000 Xiangtan (湘潭)

XIANGTAN = {
    "code": "S",
    # 日常 30% + 年中 20% + 年终 50%.
    "checkpoints": [
        {"code": "daily", "kind": "daily", "name": "日常考核", "weight": "30%"},
        {"code": "mid-year", "kind": "mid-year", "name": "年中考核", "weight": "20%"},
        {"code": "year-end", "kind": "year-end", "name": "年终考核", "weight": "50%"},
    ],
    "grade_bands": BANDS,
    "outcomes": [
        {
            "kind": "grade_link",
            "label": "绩效考核加分",
            "grades": ["优秀"],
            "value": "单位绩效考核加分",
        },
        {"kind": "top_n", "label": "评先评优候选", "n": 2},
    ],
    "categories": [
        {
            "code": "ZZ",
            "name": "组织建设",
            "items": [
                {
                    "code": "P1",
                    "title": "基层组织建设",
                    "max_score": 100,
                    # 自评 20% + 互评 20% + 考评 60%; 点评 is qualitative.
                    "methods": {"自评": "20%", "互评": "20%", "考评": "60%", "点评": None},
                }
            ],
        }
    ],
}


def xiangtan_checkpoint(
    org: str, cp: str, self_: Any, mutual: dict[str, Any], panel: Any
) -> list[dict[str, Any]]:
    return [
        entry(org, "P1", self_, cp=cp, method="自评", by=org),
        *(entry(org, "P1", v, cp=cp, method="互评", by=peer) for peer, v in mutual.items()),
        entry(org, "P1", panel, cp=cp, method="考评"),
    ]


def test_xiangtan_method_and_checkpoint_weights(store: pdca.Store) -> None:
    """000: self 20% + mutual 20% + panel 60% per checkpoint; daily 30% + mid-year 20% +
    year-end 50%; mutual averaged over the other organizations; 点评 carries no score;
    优秀 → 绩效考核加分; the top totals → the candidate list."""
    setup(store, XIANGTAN, [("A", "支部"), ("B", "支部"), ("C", "支部")])
    enter(
        store,
        [
            # A, daily:    0.2×90  + 0.2×mean(80, 70)=75  + 0.6×85 = 18 + 15   + 51 = 84
            *xiangtan_checkpoint("A", "daily", 90, {"B": 80, "C": 70}, 85),
            # A, mid-year: 0.2×95  + 0.2×mean(86, 90)=88  + 0.6×80 = 19 + 17.6 + 48 = 84.6
            *xiangtan_checkpoint("A", "mid-year", 95, {"B": 86, "C": 90}, 80),
            # A, year-end: 0.2×100 + 0.2×mean(92, 94)=93  + 0.6×90 = 20 + 18.6 + 54 = 92.6
            *xiangtan_checkpoint("A", "year-end", 100, {"B": 92, "C": 94}, 90),
            # A = 0.3×84 + 0.2×84.6 + 0.5×92.6 = 25.2 + 16.92 + 46.3 = 88.42
            # B, every checkpoint: 0.2×95 + 0.2×mean(92, 94)=93 + 0.6×92 = 19+18.6+55.2 = 92.8
            # B = (0.3 + 0.2 + 0.5) × 92.8 = 92.80
            *(
                e
                for cp in ("daily", "mid-year", "year-end")
                for e in xiangtan_checkpoint("B", cp, "95", {"A": 92, "C": 94}, "92")
            ),
            # C, year-end only: 0.2×60 + 0.2×60 + 0.6×60 = 60; C = 0.5×60 = 30 (no daily or
            # mid-year entries: they count 0)
            *xiangtan_checkpoint("C", "year-end", 60, {"A": 60, "B": 60}, 60),
        ],
    )
    before = results(store)

    # Mutual scores come from the other organizations only: A cannot score itself.
    with pytest.raises(pdca.ValidationError, match="does not score itself"):
        enter(store, [entry("A", "P1", 100, method="互评", by="A")])

    # 点评: a qualitative comment, stored, with no points and no effect on any total.
    enter(store, [entry("A", "P1", "台账规范，整改及时", method="点评")])
    with store.unit_of_work(ASSESSOR) as u:
        comments = [s for s in u.scores("A", "2025") if s.method == "commentary"]
    assert [(c.comment, c.points, c.raw) for c in comments] == [("台账规范，整改及时", D(0), "")]

    res = results(store)
    assert res.as_dict() == before.as_dict()
    assert totals(res) == {"B": D("92.80"), "A": D("88.42"), "C": D("30.00")}
    assert [r.org for r in res.rows] == ["B", "A", "C"]
    assert {r.org: r.rank for r in res.rows} == {"B": 1, "A": 2, "C": 3}
    assert {r.org: r.subtotals for r in res.rows} == {
        "B": {"ZZ": D("92.80")},
        "A": {"ZZ": D("88.42")},
        "C": {"ZZ": D("30.00")},
    }
    # 92.80 ≥ 90 优秀; 80 ≤ 88.42 < 90 良好; 30 < 60 较差.
    assert {r.org: r.grade for r in res.rows} == {"B": "优秀", "A": "良好", "C": "较差"}
    # 优秀 → 绩效考核加分 (B only), with the value the scheme gives.
    assert [o for o in res.row("B").outcomes if o["kind"] == "grade_link"] == [
        {"kind": "grade_link", "label": "绩效考核加分", "value": "单位绩效考核加分"}
    ]
    assert outcome_labels(res, "grade_link") == {"B": ["绩效考核加分"], "A": [], "C": []}
    # Top 2 totals → 评先评优候选.
    assert winners(res, "评先评优候选") == {"B", "A"}


# ---------------------------------------------------------------- 001 Zhangzhou (漳州)

ZHANGZHOU = {
    "code": "S",
    "grade_scales": {"三档": {"好": 1, "较好": "80%", "一般": 0.6}},
    "outcomes": [{"kind": "top_n", "label": "年度先进", "n": 2}],
    "categories": [
        {
            "code": "XX",
            "name": "比学习",
            "items": [
                {
                    "code": "G1",
                    "title": "理论学习",
                    "max_score": 10,
                    "rule": "等次",
                    "scale": "三档",
                }
            ],
        },
        {
            "code": "FW",
            "name": "比服务",
            "items": [
                {
                    "code": "G2",
                    "title": "服务群众",
                    "max_score": 5,
                    "rule": "grade",
                    "scale": "三档",
                }
            ],
        },
        {
            "code": "ZF",
            "name": "比作风",
            "items": [
                {
                    "code": "G3",
                    "title": "作风建设",
                    "max_score": 5,
                    "rule": "grade",
                    "scale": "三档",
                }
            ],
        },
    ],
}


def test_zhangzhou_grade_items_ranking_and_top_n(store: pdca.Store) -> None:
    """001: 好/较好/一般 → 1 / 0.8 / 0.6 × max; rank by total, ties shared (1, 2, 2, 4);
    the top N are the year's winners, and everyone tied within the top N is one."""
    setup(store, ZHANGZHOU, [(f"Z{i}", "委办局") for i in range(1, 6)])
    grades = {
        #       G1 (max 10)  G2 (max 5)   G3 (max 5)
        "Z1": ("好", "好", "好"),  # 10    + 5     + 5     = 20
        "Z2": ("好", "较好", "一般"),  # 10 + 0.8×5=4 + 0.6×5=3 = 17
        "Z3": ("较好", "好", "较好"),  # 0.8×10=8 + 5 + 4      = 17
        "Z4": ("较好", "较好", "较好"),  # 8 + 4 + 4            = 16
        "Z5": ("一般", "一般", "一般"),  # 0.6×10=6 + 3 + 3     = 12
    }
    enter(
        store,
        [
            entry(org, item, g)
            for org, gs in grades.items()
            for item, g in zip(("G1", "G2", "G3"), gs, strict=True)
        ],
    )
    with store.unit_of_work(ASSESSOR) as u:
        z2 = {s.raw: s.points for s in u.scores("Z2", "2025")}
    assert z2 == {"好": D(10), "较好": D(4), "一般": D(3)}

    res = results(store)
    assert totals(res) == {
        "Z1": D("20.00"),
        "Z2": D("17.00"),
        "Z3": D("17.00"),
        "Z4": D("16.00"),
        "Z5": D("12.00"),
    }
    assert res.row("Z3").subtotals == {"XX": D("8.00"), "FW": D("5.00"), "ZF": D("4.00")}
    # Standard competition ranking: 20 → 1, 17 and 17 → 2, 16 → 4 (3 is skipped), 12 → 5.
    assert [(r.org, r.rank) for r in res.rows] == [
        ("Z1", 1),
        ("Z2", 2),
        ("Z3", 2),
        ("Z4", 4),
        ("Z5", 5),
    ]
    assert {r.group_size for r in res.rows} == {5}
    assert res.tie_rule == TIE_RULE
    assert "1, 2, 2, 4" in res.tie_rule
    assert res.as_dict()["tie_rule"] == TIE_RULE
    # Top 2 (001's top 20 of 74, scaled down): ranks 1, 2, 2 are all within the top 2.
    assert winners(res, "年度先进") == {"Z1", "Z2", "Z3"}


# ----------------------------------------------------------------- drop the extremes


DROPPING = {
    "code": "S",
    "drop_extremes": ["互评", "民主测评"],
    "categories": [
        {
            "code": "MP",
            "name": "互评与民主测评",
            "items": [
                {
                    "code": "M1",
                    "title": "群众满意度",
                    "max_score": 100,
                    "methods": {"互评": "50%", "民主测评": "50%"},
                }
            ],
        },
        {
            "code": "KP",
            "name": "考评",
            "items": [{"code": "M2", "title": "工作实绩", "max_score": 100}],
        },
    ],
}


def test_drop_highest_and_lowest(store: pdca.Store) -> None:
    """去掉最高分和最低分: for mutual and democratic scores with at least 3 entries one highest
    and one lowest are dropped; with 2 entries nothing is dropped; a method the scheme does
    not name (panel) is never trimmed."""
    setup(store, DROPPING, [(f"P{i}", "支部") for i in range(1, 7)])

    def mutual(org: str, values: dict[str, Any], method: str = "互评") -> list[dict[str, Any]]:
        return [entry(org, "M1", v, method=method, by=peer) for peer, v in values.items()]

    enter(
        store,
        [
            # P1 mutual, 5 scores: drop 100 and 50 → mean(70, 80, 90) = 80 (untrimmed: 78)
            *mutual("P1", {"P2": 50, "P3": 70, "P4": 80, "P5": 90, "P6": 100}),
            # P1 democratic, 2 scores: nothing dropped → mean(90, 60) = 75
            *mutual("P1", {"P2": 90, "P3": 60}, "民主测评"),
            # P1 M1 = 0.5×80 + 0.5×75 = 77.5
            # P1 M2, 3 panel scores, not trimmed: (70 + 80 + 100) / 3 = 83.333… → 83.33
            entry("P1", "M2", 70, who="评委甲"),
            entry("P1", "M2", 80, who="评委乙"),
            entry("P1", "M2", 100, who="评委丙"),
            # P1 = 77.5 + 83.33 = 160.83
            # P2 mutual, exactly 3 scores: drop 99 and 60 → 75
            *mutual("P2", {"P3": 60, "P4": 75, "P5": 99}),
            # P2 democratic, 3 scores: drop 90 and 10 → 20
            *mutual("P2", {"P1": 10, "P3": 20, "P4": 90}, "民主测评"),
            # P2 = M1 = 0.5×75 + 0.5×20 = 47.5
            # P3 mutual 80, 80, 80, 60: one highest (80) and one lowest (60) dropped →
            # mean(80, 80) = 80 (untrimmed: 75); P3 = 0.5×80 = 40
            *mutual("P3", {"P1": 80, "P2": 80, "P4": 80, "P5": 60}),
        ],
    )
    res = results(store)
    assert res.row("P1").subtotals == {"MP": D("77.50"), "KP": D("83.33")}
    assert totals(res) == {
        "P1": D("160.83"),
        "P2": D("47.50"),
        "P3": D("40.00"),
        "P4": D("0.00"),
        "P5": D("0.00"),
        "P6": D("0.00"),
    }


# ----------------------------------------------------------------------------- count

COUNTING = {
    "code": "S",
    "categories": [
        {
            "code": "ZZ",
            "name": "组织建设",
            "items": [
                {
                    "code": "C1",
                    "title": "三会一课",
                    "max_score": 10,
                    "rule": "count",
                    "record_kind": "meeting",
                    "target": 12,
                }
            ],
        }
    ],
}


def test_count_items_score_from_records(store: pdca.Store) -> None:
    """count: min(actual / target, 1) × max from the cycle's records of the item's kind."""
    setup(store, COUNTING, [("K1", None), ("K2", None), ("K3", None), ("K4", None)])
    with store.unit_of_work(ASSESSOR) as u:
        for i in range(9):  # K1: 9 meetings …
            u.add_record("K1", "2025", "meeting", dt.date(2025, 1 + i, 10), "支部党员大会")
        for i in range(3):  # … and 3 visits, another kind: ignored
            u.add_record("K1", "2025", "visit", dt.date(2025, 2, 1 + i), "走访")
        for i in range(15):  # K2: 15 meetings, more than the target
            u.add_record("K2", "2025", "meeting", dt.date(2025, 3, 1 + i), "支委会")
        for i in range(4):  # K4: 4 records of 2 meetings each = 8
            u.add_record("K4", "2025", "meeting", dt.date(2025, 5, 1 + i), "党课", quantity=2)
        # K3: no records at all.
    res = results(store)
    assert totals(res) == {
        "K1": D("7.50"),  # 9/12 × 10 = 7.5
        "K2": D("10.00"),  # min(15/12, 1) × 10 = 10
        "K4": D("6.67"),  # 8/12 × 10 = 6.666… → 6.67
        "K3": D("0.00"),  # 0/12 × 10
    }
    assert res.row("K1").subtotals == {"ZZ": D("7.50")}


# ------------------------------------------------------------------------- deduction

DEDUCTING = {
    "code": "S",
    "categories": [
        {
            "code": "JL",
            "name": "纪律建设",
            "items": [
                {"code": "D1", "title": "廉政纪律", "max_score": 10, "rule": "扣分", "per": 2},
                {
                    "code": "D2",
                    "title": "会议纪律",
                    "max_score": 5,
                    "rule": "deduction",
                    "per": 0.5,
                },
            ],
        }
    ],
}


def test_deduction_starts_at_max_floor_zero(store: pdca.Store) -> None:
    """deduction: max − per × violations, never below 0."""
    setup(store, DEDUCTING, [("R1", None), ("R2", None), ("R3", None)])
    enter(
        store,
        [
            entry("R1", "D1", 3),  # 10 − 2×3 = 4
            entry("R1", "D2", 3),  # 5 − 0.5×3 = 3.5
            entry("R2", "D1", 7),  # 10 − 2×7 = −4 → floor 0
            entry("R2", "D2", 11),  # 5 − 0.5×11 = −0.5 → floor 0
            entry("R3", "D1", 0),  # 10 − 0 = 10
            entry("R3", "D2", "0"),  # 5
        ],
    )
    with store.unit_of_work(ASSESSOR) as u:
        r1 = {(s.raw, s.points, s.hits) for s in u.scores("R1", "2025")}
    assert r1 == {("3", D(4), 3), ("3", D("3.5"), 3)}
    res = results(store)
    assert totals(res) == {
        "R3": D("15.00"),  # 10 + 5
        "R1": D("7.50"),  # 4 + 3.5
        "R2": D("0.00"),  # 0 + 0
    }


# ---------------------------------------------------- bonus, penalty and the bounds

BONUS_PENALTY = {
    "code": "S",
    "checkpoints": [
        {"code": "mid-year", "kind": "mid-year", "weight": "40%"},
        {"code": "year-end", "kind": "year-end", "weight": "60%"},
    ],
    "bonus_cap": 5,
    "penalty_cap": 8,
    "bounds": {"min": 0, "max": 103},
    "categories": [
        {
            "code": "JC",
            "name": "基础工作",
            "items": [{"code": "P1", "title": "基础工作", "max_score": 100}],
        },
        {
            "code": "JF",
            "name": "加分项目",
            "items": [
                {"code": "B1", "title": "创新做法", "max_score": 3, "rule": "加分"},
                {"code": "B2", "title": "上级表彰", "max_score": 4, "rule": "bonus"},
            ],
        },
        {
            "code": "KF",
            "name": "减分项目",
            "items": [
                {"code": "N1", "title": "通报批评", "max_score": 6, "rule": "减分", "per": 2},
                {"code": "N2", "title": "材料迟报", "max_score": 10, "rule": "penalty", "per": 1},
            ],
        },
    ],
}


def test_bonus_and_penalty_caps_and_bounds(store: pdca.Store) -> None:
    """Bonus and penalty accumulate over checkpoints (no checkpoint weight), are capped per
    item and then in total; the total is held within the scheme's bounds."""
    setup(store, BONUS_PENALTY, [("X1", None), ("X2", None), ("X3", None)])
    enter(
        store,
        [
            # X1: P1 = 0.4×100 + 0.6×100 = 100
            entry("X1", "P1", 100, cp="mid-year"),
            entry("X1", "P1", 100),
            # B1 = 2 + 2 = 4 (accumulated) → item cap 3; B2 = 4; bonus 3 + 4 = 7 → cap 5
            entry("X1", "B1", 2, cp="mid-year"),
            entry("X1", "B1", 2),
            entry("X1", "B2", 4),
            # total 100 + 5 = 105 → bounds.max 103
            # X2: P1 = 0.4×60 + 0.6×60 = 60; B1 = 1
            entry("X2", "P1", 60, cp="mid-year"),
            entry("X2", "P1", 60),
            entry("X2", "B1", 1, cp="mid-year"),
            # N1 = 2×2 + 2×2 = 8 → item cap 6; N2 = 3×1 = 3; penalty 6 + 3 = 9 → cap 8
            entry("X2", "N1", 2, cp="mid-year"),
            entry("X2", "N1", 2),
            entry("X2", "N2", 3),
            # total 60 + 1 − 8 = 53
            # X3: P1 = 0.6×5 = 3; N2 = min(10×1, 10) = 10 → penalty cap 8; 3 − 8 = −5 → 0
            entry("X3", "P1", 5),
            entry("X3", "N2", 10),
        ],
    )
    res = results(store)
    got = {r.org: (r.base, r.bonus, r.penalty, r.total) for r in res.rows}
    assert got == {
        "X1": (D("100.00"), D("5.00"), D("0.00"), D("103.00")),
        "X2": (D("60.00"), D("1.00"), D("8.00"), D("53.00")),
        "X3": (D("3.00"), D("0.00"), D("8.00"), D("0.00")),
    }
    # Sub-totals are of the base items only (bonus and penalty are outside every category's
    # sub-total).
    assert res.row("X1").subtotals == {"JC": D("100.00"), "JF": D(0), "KF": D(0)}
    assert res.row("X2").subtotals == {"JC": D("60.00"), "JF": D(0), "KF": D(0)}


def test_bounds_clamp_the_total(store: pdca.Store) -> None:
    """The total is held within the scheme's bounds (here 10 .. 50), whatever the items."""
    scheme = {"code": "S", "bounds": {"min": 10, "max": 50}, "categories": single_item()}
    setup(store, scheme, [("L1", None), ("L2", None), ("L3", None), ("L4", None)])
    points(store, {"L1": 60, "L2": 5, "L3": "30.5"})
    res = results(store)
    assert {r.org: (r.base, r.total) for r in res.rows} == {
        "L1": (D("60.00"), D("50.00")),  # 60 > 50 → 50
        "L3": (D("30.50"), D("30.50")),  # within
        "L2": (D("5.00"), D("10.00")),  # 5 < 10 → 10
        "L4": (D("0.00"), D("10.00")),  # nothing entered: 0 < 10 → 10
    }
    assert [(r.org, r.rank) for r in res.rows] == [("L1", 1), ("L3", 2), ("L2", 3), ("L4", 3)]


def test_bounds_min_above_the_reachable_maximum_is_refused(store: pdca.Store) -> None:
    """bounds.min 60 with items worth 50 at most (and no bounds.max): no total could be
    within the bounds, so the scheme is refused, naming bounds.min."""
    scheme = {"code": "S", "bounds": {"min": 60}, "categories": single_item(max_score=50)}
    with pytest.raises(SchemeInvalid) as err:
        parse_scheme({"title": "t", "period": "2025", **scheme})
    assert [(p.field, p.value) for p in err.value.problems] == [("bounds.min", 60)]
    assert "50" in err.value.problems[0].rule
    with pytest.raises(SchemeInvalid, match=r"bounds\.min"):
        setup(store, scheme, [("L1", None)])
    # With bounds.max as well it is what the office meant: every total is 60 .. 70.
    parse_scheme({"title": "t", "period": "2025", **scheme, "bounds": {"min": 60, "max": 70}})


# ------------------------------------------------------------------ 004 veto (一票否决)

VETO = {
    "code": "S",
    "grade_bands": BANDS,
    "outcomes": [
        {"kind": "top_n", "label": "年度先进", "n": 1},
        {
            "kind": "forced_distribution",
            "label": "绩效工资系数",
            "ratios": [2, 7, 1],
            "labels": ["A", "B", "C"],
            "factors": [1.2, 1.0, 0.8],
        },
        {"kind": "grade_link", "label": "绩效加分", "grades": ["优秀"]},
    ],
    "categories": [
        {
            "code": "MB",
            "name": "目标任务",
            "items": [
                {"code": "P1", "title": "重点目标", "max_score": 100},
                {"code": "V1", "title": "安全生产", "rule": "一票否决"},
            ],
        }
    ],
}


def test_veto_gives_lowest_grade_and_no_award(store: pdca.Store) -> None:
    """004: one veto hit → the lowest grade whatever the total, no top-N place, the lowest
    band of the forced distribution, no grade link."""
    setup(store, VETO, [("V1", "支部"), ("V2", "支部"), ("V3", "支部"), ("V4", "支部")])
    enter(
        store,
        [
            entry("V1", "P1", 98),
            entry("V1", "V1", 1),  # one hit
            entry("V2", "P1", 95),
            entry("V2", "V1", 0),  # checked, no hit
            entry("V3", "P1", 85),
            entry("V4", "P1", 70),
        ],
    )
    res = results(store)
    v1 = res.row("V1")
    # The veto does not change the total (98), only what the total would have earned.
    assert (v1.total, v1.veto_hits, v1.grade) == (D("98.00"), 1, "较差")
    assert res.as_dict()["results"][0]["vetoed"] is True
    assert res.row("V2").veto_hits == 0
    assert {r.org: r.grade for r in res.rows} == {
        "V1": "较差",  # 98 would be 优秀
        "V2": "优秀",
        "V3": "良好",
        "V4": "一般",
    }
    # Top 1 among the organizations without a veto: V2 (95), not V1 (98).
    assert winners(res, "年度先进") == {"V2"}
    # Forced distribution of 4: sizes [1, 3, 0] (see test_forced_distribution_sizes); the
    # vetoed V1 goes to the lowest band C whatever its size; V2 takes the top place.
    fd = {
        r.org: (o["band"], D(o["factor"]))
        for r in res.rows
        for o in r.outcomes
        if o["kind"] == "forced_distribution"
    }
    assert fd == {
        "V1": ("C", D("0.8")),
        "V2": ("A", D("1.2")),
        "V3": ("B", D(1)),
        "V4": ("B", D(1)),
    }
    assert outcome_labels(res, "grade_link") == {"V1": [], "V2": ["绩效加分"], "V3": [], "V4": []}
    assert [o["kind"] for o in v1.outcomes] == ["forced_distribution"]


# ------------------------------------------------------------- grade bands and quotas


QUOTA = {
    "code": "S",
    "grade_bands": [
        {"name": "优秀", "min": 90, "quota": "20%"},
        {"name": "良好", "min": 80, "quota": 0.5},
        {"name": "一般", "min": 60},
        {"name": "较差", "min": 0},
    ],
    "categories": single_item(),
}


def test_grade_quota_per_peer_group_ties_move_down(store: pdca.Store) -> None:
    """At most 20% 优秀 in a peer group of 10 → floor(0.2 × 10) = 2; organizations tied on
    total straddling the limit all move down; those moved down take the next band, whose
    own quota (50% → 5) then applies."""
    g1 = [99, 95, 95, 93, 88, 85, 80, 70, 60, 50]
    g2 = [99, 96, 93, 92, 85, 84, 81, 65, 40, 30]
    orgs = [(f"G{i:02d}", "一组") for i in range(1, 11)] + [
        (f"H{i:02d}", "二组") for i in range(1, 11)
    ]
    setup(store, QUOTA, orgs)
    points(store, {f"G{i:02d}": v for i, v in enumerate(g1, 1)})
    points(store, {f"H{i:02d}": v for i, v in enumerate(g2, 1)})
    res = results(store)
    grades = {r.org: r.grade for r in res.rows}
    # 一组: ≥ 90 are 99, 95, 95, 93; the 2 allowed would be 99 and one 95, but the two 95s
    # straddle the limit, so both move down (and 93 with them): 优秀 = {99} only.
    # 良好 now holds 95, 95, 93, 88, 85, 80 = 6 > floor(0.5 × 10) = 5: 80 moves to 一般.
    assert [grades[f"G{i:02d}"] for i in range(1, 11)] == [
        "优秀",  # 99
        "良好",  # 95 (tie straddling the 优秀 limit)
        "良好",  # 95
        "良好",  # 93
        "良好",  # 88
        "良好",  # 85
        "一般",  # 80 (over the 良好 quota)
        "一般",  # 70
        "一般",  # 60
        "较差",  # 50
    ]
    # 二组: ≥ 90 are 99, 96, 93, 92 → the best 2 keep 优秀; 93 and 92 take 良好, which then
    # holds 93, 92, 85, 84, 81 = 5 ≤ 5.
    assert [grades[f"H{i:02d}"] for i in range(1, 11)] == [
        "优秀",
        "优秀",
        "良好",
        "良好",
        "良好",
        "良好",
        "良好",
        "一般",
        "较差",
        "较差",
    ]


# ---------------------------------------------------- forced distribution 2:7:1 (004)


def test_forced_distribution_sizes() -> None:
    """Outer bands: round_half_up(n × ratio / 10); the middle band (7) takes the rest."""
    # n=10: 10×2/10 = 2, 10×1/10 = 1, middle 10 − 3 = 7
    assert forced_distribution_sizes(10, [2, 7, 1]) == [2, 7, 1]
    # n=7: 7×2/10 = 1.4 → 1, 7×1/10 = 0.7 → 1, middle 7 − 2 = 5
    assert forced_distribution_sizes(7, [2, 7, 1]) == [1, 5, 1]
    # n=5: 5×2/10 = 1, 5×1/10 = 0.5 → 1 (half up), middle 3
    assert forced_distribution_sizes(5, [2, 7, 1]) == [1, 3, 1]
    # n=4: 0.8 → 1, 0.4 → 0, middle 3
    assert forced_distribution_sizes(4, [2, 7, 1]) == [1, 3, 0]
    # n=3: 0.6 → 1, 0.3 → 0, middle 2
    assert forced_distribution_sizes(3, [2, 7, 1]) == [1, 2, 0]
    # n=1: 0.2 → 0, 0.1 → 0, middle 1
    assert forced_distribution_sizes(1, [2, 7, 1]) == [0, 1, 0]
    assert forced_distribution_sizes(0, [2, 7, 1]) == [0, 0, 0]
    # n=20: 4, 2, middle 14
    assert forced_distribution_sizes(20, [2, 7, 1]) == [4, 14, 2]


FORCED = {
    "code": "S",
    "outcomes": [
        {
            "kind": "forced_distribution",
            "label": "绩效工资系数",
            "ratios": [2, 7, 1],
            "labels": ["A", "B", "C"],
            "factors": ["1.2", 1, 0.8],
        }
    ],
    "categories": single_item(),
}


def test_forced_distribution_2_7_1(store: pdca.Store) -> None:
    """004: 2:7:1 paid at 120% / 100% / 80%, per peer group of 10, 7, 3 and 1; organizations
    tied across a band edge share the better band."""
    groups = {
        # sizes [2, 7, 1]; the 95s at positions 2 and 3 straddle the A/B edge → both A
        "十": [100, 95, 95, 90, 85, 80, 75, 70, 65, 60],
        # sizes [1, 5, 1]; the 40s at positions 6 and 7 straddle the B/C edge → both B
        "七": [90, 80, 70, 60, 50, 40, 40],
        # sizes [1, 2, 0]
        "三": [80, 70, 60],
        # sizes [0, 1, 0]
        "一": [50],
    }
    orgs = [(f"{g}{i}", g) for g, values in groups.items() for i in range(1, len(values) + 1)]
    setup(store, FORCED, orgs)
    points(store, {f"{g}{i}": v for g, values in groups.items() for i, v in enumerate(values, 1)})
    res = results(store)
    band = {
        r.org: o["band"] for r in res.rows for o in r.outcomes if o["kind"] == "forced_distribution"
    }
    factor = {
        r.org: D(o["factor"])
        for r in res.rows
        for o in r.outcomes
        if o["kind"] == "forced_distribution"
    }

    def bands(g: str) -> str:
        return "".join(band[f"{g}{i}"] for i in range(1, len(groups[g]) + 1))

    assert bands("十") == "AAA" + "BBBBBB" + "C"
    assert bands("七") == "A" + "BBBBBB"
    assert bands("三") == "ABB"
    assert bands("一") == "B"
    assert {b: {factor[o] for o in band if band[o] == b} for b in "ABC"} == {
        "A": {D("1.2")},
        "B": {D(1)},
        "C": {D("0.8")},
    }


# --------------------------------------------------------- streaks over quarters (004)

STREAK = {
    "code": "S",
    "checkpoints": [{"code": "quarterly", "kind": "quarterly", "name": "季度考核", "weight": 1}],
    "grade_bands": BANDS,
    "outcomes": [
        {"kind": "streak", "label": "诫勉谈话", "periods": 2, "when": {"grade_in": ["较差"]}},
        {"kind": "streak", "label": "末位淘汰", "periods": 3, "when": {"last": True}},
    ],
    "categories": single_item(),
}


def test_streaks_over_quarterly_child_cycles(store: pdca.Store) -> None:
    """004: in the lowest grade 2 quarters running → 诫勉谈话; last 3 times running → 末位淘汰.

    Each branch has a 2025 cycle; its quarters are child cycles that inherit the year's
    scheme, each closed before the next opens.
    """
    orgs = ["S1", "S2", "S3"]
    setup(store, STREAK, [(o, "支部") for o in orgs])
    quarters = {
        # S3: 较差, last     | S2 一般
        "2025-Q1": {"S1": 95, "S2": 70, "S3": 50},
        # S3: 较差, last (2) → 诫勉谈话 | S2: 较差 (1st time)
        "2025-Q2": {"S1": 90, "S2": 58, "S3": 55},
        # S3: 较差, last (3) → 诫勉谈话 and 末位淘汰 | S2: 一般
        "2025-Q3": {"S1": 85, "S2": 65, "S3": 40},
        # S3: 一般 | S2: 较差 after 一般, last for the first time → nothing
        "2025-Q4": {"S1": 80, "S2": 45, "S3": 70},
    }
    at_the_time: dict[str, Results] = {}
    for q, values in quarters.items():
        with store.unit_of_work(ASSESSOR) as u:
            for o in orgs:
                u.open_cycle(o, q)
                assert u.cycle(o, q).scheme_id == u.cycle(o, "2025").scheme_id
                to_doing(u, o, q)
        points(store, values, cp="quarterly", period=q)
        with store.unit_of_work(ASSESSOR) as u:
            for o in orgs:
                u.begin_check(o, q)
        at_the_time[q] = results(store, period=q)
        with store.unit_of_work(ASSESSOR) as u:
            for o in orgs:
                u.act(o, q)
                u.close(o, q)

    final = {q: results(store, period=q) for q in quarters}
    for q in quarters:
        assert final[q].as_dict() == at_the_time[q].as_dict()
        assert totals(final[q]) == {o: D(v) for o, v in quarters[q].items()}

    def streaks(q: str) -> dict[str, list[str]]:
        return {o: ls for o, ls in outcome_labels(final[q], "streak").items() if ls}

    assert streaks("2025-Q1") == {}  # one quarter is not a streak yet
    assert streaks("2025-Q2") == {"S3": ["诫勉谈话"]}
    assert streaks("2025-Q3") == {"S3": ["诫勉谈话", "末位淘汰"]}
    assert streaks("2025-Q4") == {}
    assert [o for o in final["2025-Q3"].row("S3").outcomes] == [
        {"kind": "streak", "label": "诫勉谈话", "periods": 2},
        {"kind": "streak", "label": "末位淘汰", "periods": 3},
    ]
    assert final["2025-Q2"].row("S2").grade == "较差"  # first 较差 quarter: no talk yet


# ---------------------------------------------------------------------- peer groups


PEER = {
    "code": "S",
    "outcomes": [
        {"kind": "top_n", "label": "分组第一", "n": 1},
        {"kind": "top_n", "label": "全局第一", "n": 1, "group": "scope"},
    ],
    "categories": single_item(),
}


def test_ranking_is_separate_per_peer_group(store: pdca.Store) -> None:
    """001's multi-level assessment: committees and branches are ranked apart."""
    orgs = [
        ("D1", "委办局"),
        ("D2", "委办局"),
        ("B1", "支部"),
        ("B2", "支部"),
        ("B3", "支部"),
        ("N1", None),
    ]
    setup(store, PEER, orgs)
    points(store, {"D1": 90, "D2": 80, "B1": 85, "B2": 85, "B3": 95, "N1": 60})
    res = results(store)
    got = {r.org: (r.peer_group, r.rank, r.group_size) for r in res.rows}
    assert got == {
        "D1": ("委办局", 1, 2),  # 90
        "D2": ("委办局", 2, 2),  # 80
        "B3": ("支部", 1, 3),  # 95
        "B1": ("支部", 2, 3),  # 85
        "B2": ("支部", 2, 3),  # 85
        "N1": ("", 1, 1),  # no peer group: a group of its own
    }
    assert winners(res, "分组第一") == {"D1", "B3", "N1"}
    assert winners(res, "全局第一") == {"B3"}  # 95 is the best of the whole scope


# --------------------------------------------------------------- Decimal and half-up


HALF_UP = {
    "code": "S",
    "checkpoints": [
        {"code": "mid-year", "kind": "mid-year", "weight": "50%"},
        {"code": "year-end", "kind": "year-end", "weight": "50%"},
    ],
    "categories": [
        {
            "code": "K",
            "name": "组织建设",
            "items": [
                {"code": "H1", "title": "甲", "max_score": 10},
                {"code": "H2", "title": "乙", "max_score": 10},
            ],
        },
        {"code": "E", "name": "空", "items": [{"code": "H3", "title": "丙", "max_score": 10}]},
    ],
}


def test_decimal_everywhere_and_half_up_rounding(store: pdca.Store) -> None:
    """Amounts are Decimals with 2 places, rounded half-up (not banker's rounding)."""
    setup(store, HALF_UP, [("H", None)])
    enter(
        store,
        [
            # H1: mean(8.02, 8.03) = 8.025 at both checkpoints → 0.5×8.025 + 0.5×8.025 = 8.025
            entry("H", "H1", "8.02", cp="mid-year", who="评委甲"),
            entry("H", "H1", "8.03", cp="mid-year", who="评委乙"),
            entry("H", "H1", D("8.02"), who="评委甲"),
            entry("H", "H1", 8.03, who="评委乙"),
            # H2: year-end only: 0.5 × 8.05 = 4.025
            entry("H", "H2", "8.05"),
        ],
    )
    # Half-up: 8.025 → 8.03 and 4.025 → 4.03; banker's rounding would give 8.02 and 4.02.
    assert D("8.025").quantize(D("0.01"), ROUND_HALF_EVEN) == D("8.02")
    assert D("8.025").quantize(D("0.01"), ROUND_HALF_UP) == D("8.03")
    res = results(store)
    h = res.row("H")
    assert h.subtotals["K"] == D("12.06")  # 8.03 + 4.03 (banker's: 8.02 + 4.02 = 12.04)
    assert h.total == D("12.06")
    for amount in (h.total, h.base, h.bonus, h.penalty, h.subtotals["K"]):
        assert type(amount) is Decimal
        assert amount.as_tuple().exponent == -2, amount
    assert str(h.total) == "12.06"
    assert res.as_dict()["results"][0]["total"] == "12.06"
    assert str(h.bonus) == "0.00"
    with store.unit_of_work(ASSESSOR) as u:
        stored = u.scores("H", "2025")
    assert all(type(s.points) is Decimal for s in stored)
    assert sorted({s.points for s in stored}) == [D("8.02"), D("8.03"), D("8.05")]


def test_empty_subtotal_has_two_places(store: pdca.Store) -> None:
    """A category without any score reads 0.00 like every other amount."""
    setup(store, HALF_UP, [("H", None)])
    points(store, {"H": "8.05"}, item="H2")
    res = results(store)
    empty = res.row("H").subtotals["E"]
    assert res.as_dict()["results"][0]["subtotals"]["E"] == "0.00"
    assert empty.as_tuple().exponent == -2


# -------------------------------------------------------------------------- refusals

REFUSALS = {
    "code": "S",
    "grade_scales": {"三档": {"好": 1, "较好": 0.8, "一般": 0.6}},
    "checkpoints": [
        {"code": "mid-year", "kind": "mid-year", "weight": "50%"},
        {"code": "year-end", "kind": "year-end", "weight": "50%"},
    ],
    "categories": [
        {
            "code": "K",
            "name": "组织建设",
            "items": [
                {
                    "code": "P1",
                    "title": "党建工作",
                    "max_score": 10,
                    "methods": {"自评": 0.2, "互评": 0.2, "考评": 0.4, "民主测评": 0.2},
                },
                {"code": "G1", "title": "作风", "max_score": 5, "rule": "grade", "scale": "三档"},
                {"code": "D1", "title": "纪律", "max_score": 10, "rule": "deduction", "per": 2},
                {
                    "code": "C1",
                    "title": "三会一课",
                    "max_score": 10,
                    "rule": "count",
                    "record_kind": "meeting",
                    "target": 12,
                },
            ],
        }
    ],
}


@pytest.fixture
def refusing(store: pdca.Store) -> pdca.Store:
    """A and B doing; DR still draft; CL closed; the mid-year checkpoint finalized."""
    setup(store, REFUSALS, [("A", None), ("B", None), ("DR", None), ("CL", None)], start=False)
    with store.unit_of_work(ASSESSOR) as u:
        for o in ("A", "B", "CL"):
            to_doing(u, o, "2025")
        u.begin_check("CL", "2025")
        u.act("CL", "2025")
        u.close("CL", "2025")
        u.finalize_checkpoint("S", "mid-year")
    return store


def _refusal(*args: Any, **kw: Any) -> Any:
    return pytest.param(*args, id=kw.pop("id"), **kw)


REFUSAL_CASES = [
    # (org, item, checkpoint, method, value, assessor_org) → (field, value, words of the rule)
    _refusal(
        ("A", "P1", "year-end", "panel", "10.01", "JG"),
        ("value", "10.01", "item P1 (points) takes 0 to 10"),
        id="points-over-max",
    ),
    _refusal(
        ("A", "P1", "year-end", "panel", -1, "JG"),
        ("value", -1, "item P1 (points) takes 0 to 10"),
        id="points-negative",
    ),
    _refusal(
        ("A", "P1", "year-end", "panel", "8.125", "JG"),
        ("value", "8.125", "at most 2 decimal places"),
        id="points-3-places",
    ),
    _refusal(
        ("A", "P1", "year-end", "panel", "九十", "JG"),
        ("value", "九十", "item P1 needs a number"),
        id="points-not-a-number",
    ),
    _refusal(
        ("A", "G1", "year-end", "panel", "优", "JG"),
        ("value", "优", "item G1 takes a grade of 好/较好/一般"),
        id="bad-grade-label",
    ),
    _refusal(
        ("A", "D1", "year-end", "panel", "1.5", "JG"),
        ("value", "1.5", "item D1 takes a number of violations: a whole number ≥ 0"),
        id="fractional-violations",
    ),
    _refusal(
        ("A", "D1", "year-end", "panel", -2, "JG"),
        ("value", -2, "a whole number ≥ 0"),
        id="negative-violations",
    ),
    _refusal(
        ("A", "P1", "year-end", "mutual", 8, "A"),
        ("assessor_org", "A", "does not score itself in the mutual method"),
        id="mutual-self",
    ),
    _refusal(
        ("A", "P1", "year-end", "考评", 8, "A"),
        ("assessor_org", "A", "does not score itself in the panel method"),
        id="panel-self",
    ),
    _refusal(
        ("A", "P1", "year-end", "民主测评", 8, "A"),
        ("assessor_org", "A", "does not score itself in the democratic method"),
        id="democratic-self",
    ),
    _refusal(
        ("A", "P1", "year-end", "自评", 8, "B"),
        ("assessor_org", "B", "a self-assessment (自评) of A is entered only by A itself"),
        id="self-by-another",
    ),
    _refusal(
        ("A", "G1", "year-end", "mutual", "好", "B"),
        ("method", "mutual", "item G1 is assessed by panel only"),
        id="method-not-allowed",
    ),
    _refusal(
        ("A", "P1", "year-end", "打分", 8, "JG"),
        ("method", "打分", "item P1 is assessed by self, mutual, panel, democratic only"),
        id="unknown-method",
    ),
    _refusal(
        ("A", "C1", "year-end", "panel", 5, "JG"),
        ("item", "C1", "a count item is computed from the cycle's records, not entered"),
        id="count-by-hand",
    ),
    _refusal(
        ("A", "P1", "mid-year", "panel", 8, "JG"),
        ("checkpoint", "mid-year", "is finalized"),
        id="finalized-checkpoint",
    ),
    _refusal(
        ("DR", "P1", "year-end", "panel", 8, "JG"),
        (
            "cycle",
            "DR/2025 (draft)",
            "scores are entered only while the cycle is doing or checking",
        ),
        id="draft-cycle",
    ),
    _refusal(
        ("CL", "P1", "year-end", "panel", 8, "JG"),
        ("cycle", "CL/2025 (closed)", "only while the cycle is doing or checking"),
        id="closed-cycle",
    ),
    _refusal(
        ("A", "X9", "year-end", "panel", 8, "JG"),
        ("item", "X9", "is not an item of scheme S"),
        id="unknown-item",
    ),
    _refusal(
        ("A", "P1", "q3", "panel", 8, "JG"),
        ("checkpoint", "q3", "is not a checkpoint of scheme S (mid-year, year-end)"),
        id="unknown-checkpoint",
    ),
]


@pytest.mark.parametrize(("call", "expected"), REFUSAL_CASES)
def test_enter_score_refusals(
    refusing: pdca.Store, call: Sequence[Any], expected: tuple[str, Any, str]
) -> None:
    org, item, cp, method, value, by = call
    field, bad, words = expected
    scores_before = count_rows(refusing, t.score)
    events_before = count_rows(refusing, t.event)
    with pytest.raises(pdca.ValidationError) as err, refusing.unit_of_work(ASSESSOR) as u:
        u.enter_score(org, "2025", item, cp, method, value, assessor="评委", assessor_org=by)
    assert err.value.field == field
    assert err.value.value == bad
    assert words in err.value.rule
    assert str(err.value).startswith(f"{field}=")
    assert words in str(err.value)
    assert count_rows(refusing, t.score) == scores_before
    assert count_rows(refusing, t.event) == events_before


def test_refusal_undoes_the_whole_unit_of_work(refusing: pdca.Store) -> None:
    """A refused score rolls back the unit of work it was in, earlier valid scores too."""
    scores_before = count_rows(refusing, t.score)
    events_before = count_rows(refusing, t.event)

    def valid_then_refused() -> None:
        with refusing.unit_of_work(ASSESSOR) as u:
            u.enter_score("A", "2025", "P1", "year-end", "panel", 8)
            u.enter_score("B", "2025", "P1", "year-end", "panel", 11)

    with pytest.raises(pdca.ValidationError, match="takes 0 to 10"):
        valid_then_refused()
    assert count_rows(refusing, t.score) == scores_before
    assert count_rows(refusing, t.event) == events_before


def test_peer_scores_need_the_assessing_organization(refusing: pdca.Store) -> None:
    """A mutual score by someone of no organization cannot be checked against 'not itself'."""
    nobody = pdca.Actor("群众代表", role="assessor")
    with pytest.raises(pdca.ValidationError) as err, refusing.unit_of_work(nobody) as u:
        u.enter_score("A", "2025", "P1", "year-end", "mutual", 8)
    assert (err.value.field, err.value.value) == ("assessor_org", None)
    assert "names the organization" in err.value.rule
    assert count_rows(refusing, t.score) == 0


def test_unknown_organization_is_not_found(refusing: pdca.Store) -> None:
    with pytest.raises(pdca.NotFound, match="ZZZ"), refusing.unit_of_work(ASSESSOR) as u:
        u.enter_score("ZZZ", "2025", "P1", "year-end", "panel", 8)


def test_finalizing_twice_is_refused(refusing: pdca.Store) -> None:
    with pytest.raises(pdca.ValidationError) as err, refusing.unit_of_work(ASSESSOR) as u:
        u.finalize_checkpoint("S", "mid-year")
    assert (err.value.field, err.value.value) == ("checkpoint", "mid-year")
    assert "was finalized" in err.value.rule
    # The other checkpoint still takes scores.
    enter(refusing, [entry("A", "P1", 8)])


def test_reentering_replaces_the_value_and_keeps_both_events(refusing: pdca.Store) -> None:
    enter(refusing, [entry("A", "P1", 7, who="评委甲")])
    enter(refusing, [entry("A", "P1", "8.5", who="评委甲")])
    with refusing.unit_of_work(ASSESSOR) as u:
        stored = u.scores("A", "2025")
        events = u.events(entity="score", entity_id=stored[0].id)
    assert [(s.assessor, s.raw, s.points) for s in stored] == [("评委甲", "8.5", D("8.5"))]
    assert [e.action for e in events] == ["enter", "change"]
    assert events[0].data["raw"] == "7"
    assert events[1].data["raw"] == "8.5"
    assert events[1].data["from"]["raw"] == "7"
    assert count_rows(refusing, t.score) == 1
    # P1 = 0.5 (year-end) × 0.4 (panel) × 8.5 = 1.70
    assert results(refusing).row("A").total == D("1.70")
    # Another person of the same organization is another entry: averaged.
    enter(refusing, [entry("A", "P1", "9.5", who="评委乙")])
    # 0.5 × 0.4 × mean(8.5, 9.5) = 0.2 × 9 = 1.80
    assert results(refusing).row("A").total == D("1.80")
    assert count_rows(refusing, t.score) == 2


# ----------------------------------------------------------------------- big numbers


def test_item_maximum_is_limited_so_results_stay_exact(store: pdca.Store) -> None:
    """Results multiply points × 10^4 by two weights × 10^4 in 64-bit integers, so a scheme
    may not give an item a maximum the arithmetic cannot carry (it once overflowed:
    'bigint out of range' on PostgreSQL, a silently wrong 9223372.04 on SQLite); the
    largest allowed maximum is scored exactly."""
    huge = {"code": "S", "categories": single_item(max_score="99999999.99")}
    with pytest.raises(SchemeInvalid) as err:
        parse_scheme({"title": "t", "period": "2025", **huge})
    assert [p.field for p in err.value.problems] == ["categories[0].items[0].max_score"]
    scheme = {
        "code": "S",
        "checkpoints": [
            {"code": "daily", "kind": "daily", "weight": "33.33%"},
            {"code": "mid-year", "kind": "mid-year", "weight": "33.33%"},
            {"code": "year-end", "kind": "year-end", "weight": "33.34%"},
        ],
        "categories": single_item(max_score=10000),
    }
    setup(store, scheme, [("A", None)])
    enter(store, [entry("A", "P1", "9999.99", cp=cp) for cp in ("daily", "mid-year", "year-end")])
    # 9999.99 × (0.3333 + 0.3333 + 0.3334) = 9999.99
    assert results(store).row("A").total == D("9999.99")
