"""Sample ``grassroots`` (seed 002, 中国组织人事报): how to assess grassroots party building.

A township party committee (镇党委) assesses its 8 village and 4 community branches (two
peer groups) on the responsible subject (责任主体) and the effect of its work, by many
methods: the secretary's report on duty (述职评议), the panel's check of the ledgers
(考评), records counted automatically ("三会一课" and 主题党日, against the standard set in
the plan), daily check records (工作底单) turned into deductions at the year end, a
satisfaction questionnaire of the villagers (满意度问卷, highest and lowest dropped),
individual interviews (个别访谈) and a practical test (实操). The standards (target values
and units) are set when the plan is made. The year-end feedback shows scores and problems
and allows an appeal (申辩) within 7 days: one branch appeals its practical test, is
re-tested and its score corrected (the trail keeps both entries). The results are then
analysed: each branch's weakest item becomes an improvement finding (改进建议) carried into
next year's plan, and the item weakest across the township is named for the bulletin.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from pdca.clock import FixedClock
from pdca.domain.actor import Actor
from pdca.domain.scoring import Entry, score_org
from pdca.services.store import Store
from pdca.services.unit_of_work import UnitOfWork

from ._common import (
    OrgDef,
    SampleRun,
    add_orgs,
    at,
    close_and_roll,
    open_cycles,
    rectify_some,
    require_empty,
    verify_some,
)

NAME = "grassroots"
ARTICLE = "002 基层党建工作该怎么考核（中国组织人事报）"
ASSESSOR = OrgDef("QSZ", "中共青山镇委员会", "党委")
VILLAGES = [
    ("QSZ-C01", "东岗村党支部", 0.90),
    ("QSZ-C02", "西岭村党支部", 0.74),
    ("QSZ-C03", "南湾村党支部", 0.83),
    ("QSZ-C04", "北坪村党支部", 0.55),
    ("QSZ-C05", "柳溪村党支部", 0.79),
    ("QSZ-C06", "石桥村党支部", 0.86),
    ("QSZ-C07", "杏林村党支部", 0.70),
    ("QSZ-C08", "枫树村党支部", 0.77),
]
COMMUNITIES = [
    ("QSZ-S01", "青山社区党支部", 0.88),
    ("QSZ-S02", "新华社区党支部", 0.72),
    ("QSZ-S03", "滨河社区党支部", 0.81),
    ("QSZ-S04", "工业园社区党支部", 0.67),
]
ORGS = [OrgDef(c, n, "党支部", ASSESSOR.code, "村党组织", q) for c, n, q in VILLAGES] + [
    OrgDef(c, n, "党支部", ASSESSOR.code, "社区党组织", q) for c, n, q in COMMUNITIES
]
APPEAL_DAYS = 7
RESPONDENTS = 10  # villagers answering the questionnaire, per branch
#: Standards set in the plan (设好考核标准): item → (target value, unit).
STANDARDS = {
    "RC1": (12, "次"),
    "RC2": (12, "次"),
    "RC3": (0, "条问题"),
    "XG1": (90, "%满意率"),
    "XG3": (100, "%实操合格率"),
}
ADVICE = {
    "ZT1": "书记要把抓党建作为主业，述职要讲实绩、讲问题",
    "ZT2": "责任清单要细化到人，按季度对账销号",
    "RC1": "“三会一课”要按月召开，会议记录当场签字",
    "RC2": "主题党日要固定日期、固定内容，按月开展",
    "RC3": "日常检查发现的问题要当月整改、当月销号",
    "XG1": "走访群众要常态化，群众反映的问题要件件有回音",
    "XG2": "理论学习要联系实际，学习体会要写在工作里",
    "XG3": "党员信息管理和应急处置要开展实操演练",
    "XG4": "为民办实事要列清单、定时限、看成效",
}


def scheme(year: int) -> dict[str, Any]:
    """The scheme for ``year``: standards and methods are set with the plan."""
    return {
        "code": f"QS-{year}",
        "title": f"青山镇{year}年度基层党建工作考核办法",
        "period": str(year),
        "issuer": ASSESSOR.code,
        "checkpoints": [
            {
                "code": "year-end",
                "kind": "year-end",
                "name": "年终考核（归集日常考核记录）",
                "weight": 1,
                "on": f"{year}-12-12",
            }
        ],
        "drop_extremes": ["问卷"],
        "appeal_window_days": APPEAL_DAYS,
        "grade_bands": [
            {"name": "好", "min": 90},
            {"name": "较好", "min": 80},
            {"name": "一般", "min": 60},
            {"name": "差", "min": 0},
        ],
        "outcomes": [
            {"kind": "top_n", "label": "表彰先进党支部", "n": 2},
            {
                "kind": "grade_link",
                "label": "与村（社区）干部绩效报酬挂钩",
                "grades": ["好"],
                "value": "+5%",
            },
            {"kind": "grade_link", "label": "约谈支部书记（鞭策后进）", "grades": ["差"]},
        ],
        "categories": [
            {
                "code": "ZT",
                "name": "责任主体履责",
                "items": [
                    {
                        "code": "ZT1",
                        "title": "支部书记抓党建述职评议",
                        "max_score": 10,
                        "methods": {"述职评议": 1, "点评": 0},
                        "evidence": "述职报告、评议表",
                    },
                    {
                        "code": "ZT2",
                        "title": "党建工作责任清单落实",
                        "max_score": 10,
                        "methods": {"考评": 1},
                        "evidence": "责任清单、台账",
                    },
                ],
            },
            {
                "code": "RC",
                "name": "日常考核",
                "items": [
                    {
                        "code": "RC1",
                        "title": "“三会一课”",
                        "max_score": 12,
                        "rule": "count",
                        "record_kind": "meeting",
                        "target": 12,
                        "evidence": "会议记录",
                    },
                    {
                        "code": "RC2",
                        "title": "主题党日",
                        "max_score": 8,
                        "rule": "count",
                        "record_kind": "party-day",
                        "target": 12,
                        "evidence": "活动记录、照片",
                    },
                    {
                        "code": "RC3",
                        "title": "日常检查（工作底单）",
                        "max_score": 10,
                        "rule": "deduction",
                        "per": 2,
                        "methods": {"考评": 1},
                        "evidence": "日常检查工作底单",
                    },
                ],
            },
            {
                "code": "XG",
                "name": "履责效果",
                "items": [
                    {
                        "code": "XG1",
                        "title": "群众满意度",
                        "max_score": 15,
                        "methods": {"问卷": 1},
                        "evidence": "满意度问卷",
                    },
                    {
                        "code": "XG2",
                        "title": "理论学习实效",
                        "max_score": 10,
                        "methods": {"访谈": "50%", "考评": "50%"},
                        "evidence": "个别访谈记录、学习记录",
                    },
                    {
                        "code": "XG3",
                        "title": "党员教育管理实操",
                        "max_score": 10,
                        "methods": {"实操": 1},
                        "evidence": "实操测试记录",
                    },
                    {
                        "code": "XG4",
                        "title": "为民办实事成效",
                        "max_score": 15,
                        "methods": {"考评": 1},
                        "evidence": "实事清单、群众评价",
                    },
                ],
            },
        ],
    }


def _item_scores(uow: UnitOfWork, scheme_code: str, org: str, period: str) -> dict[str, Decimal]:
    """One branch's item scores, by the reference arithmetic (what the analysis reads)."""
    sch = uow.scheme(scheme_code)
    codes = {i.id: i.code for i in sch.items()}
    cps = {c.id: c.code for c in sch.checkpoints}
    entries = [
        Entry(codes[s.item_id], cps[s.checkpoint_id], s.method, s.assessor, s.points, s.hits)
        for s in uow.scores(org, period)
    ]
    counts: dict[str, int] = {}
    for rec in uow.records(org, period):
        counts[rec.kind] = counts.get(rec.kind, 0) + rec.quantity
    return dict(score_org(sch.spec(), entries, counts).items)


def _points(max_score: int, q: float, rng: random.Random, spread: float = 0.08) -> Decimal:
    v = max(0.0, min(1.0, q + rng.uniform(-spread, spread))) * max_score
    return (Decimal(str(round(v * 2))) / 2).min(Decimal(max_score))


def _year_end(
    uow: UnitOfWork, y: str, rng: random.Random, violations: dict[str, int]
) -> tuple[int, dict[str, Decimal]]:
    """Score every branch by every method; returns the count and the practical tests."""
    n = 0
    practical: dict[str, Decimal] = {}

    def put(
        o: OrgDef, item: str, method: str, value: Any, who: str, comment: str | None = None
    ) -> None:
        nonlocal n
        uow.enter_score(o.code, y, item, "year-end", method, value, assessor=who, comment=comment)
        n += 1

    for o in ORGS:
        # 述职评议: the secretary reports, five reviewers score; the committee comments.
        for who in ("镇党委书记", "镇党委副书记", "组织委员", "纪委书记", "党员代表"):
            put(o, "ZT1", "report-review", _points(10, o.quality, rng), who)
        put(
            o,
            "ZT1",
            "commentary",
            "履责到位，述职实在" if o.quality >= 0.8 else "述职讲成绩多、讲问题少，要压实责任",
            "镇党委书记",
        )
        put(o, "ZT2", "panel", _points(10, o.quality, rng), "考核组")
        # The daily check sheets collected through the year become the deduction.
        put(
            o,
            "RC3",
            "panel",
            violations.get(o.code, 0),
            "考核组",
            f"归集日常检查工作底单 {violations.get(o.code, 0)} 条问题",
        )
        # The villagers' questionnaire: the highest and lowest are dropped.
        for i in range(1, RESPONDENTS + 1):
            answer = _points(15, o.quality + 0.05, rng, spread=0.15)
            if i == 1:
                answer = Decimal(15)  # the highest answer, dropped
            if i == RESPONDENTS:
                answer = Decimal(3)  # the lowest answer, dropped
            put(o, "XG1", "questionnaire", answer, f"问卷{i:02d}")
        put(o, "XG2", "interview", _points(10, o.quality - 0.05, rng), "访谈组")
        put(o, "XG2", "panel", _points(10, o.quality, rng), "考核组")
        practical[o.code] = _points(10, o.quality - 0.03, rng)
        put(o, "XG3", "practical", practical[o.code], "考核组")
        put(o, "XG4", "panel", _points(15, o.quality, rng), "考核组")
    return n, practical


def run(store: Store, clock: FixedClock, year: int) -> SampleRun:
    rng = random.Random(year)
    office = Actor("镇党建办", org=ASSESSOR.code, role="system")
    panel = Actor("镇党委考核组", org=ASSESSOR.code, role="system")
    y = str(year)
    code = f"QS-{year}"
    result = SampleRun(NAME, ARTICLE, code, y, str(year + 1))

    # Plan (January): with the year's goals the committee sets the standards (设好考核标准).
    at(clock, year, 1, 6)
    with store.unit_of_work(office) as uow:
        require_empty(uow)
        add_orgs(uow, [ASSESSOR, *ORGS])
        uow.add_scheme(scheme(year))
        result.organizations = len(ORGS)
    at(clock, year, 1, 12)
    with store.unit_of_work(office) as uow:
        result.measures = open_cycles(
            uow, ORGS, y, code, rng, lead_unit="镇党建办", measures=True, approve=False
        )
        for o in ORGS:
            for tgt in uow.cycle(o.code, y).targets:
                if tgt.item_code in STANDARDS:
                    assert tgt.id is not None
                    value, unit = STANDARDS[tgt.item_code]
                    uow.update_target(tgt.id, target_value=value, unit=unit)
            uow.approve_plan(o.code, y)
            uow.start(o.code, y)

    # Do: meetings and party days are recorded; the township's daily checks fill in the
    # check sheets (工作底单) and record problems on the spot.
    violations: dict[str, int] = {}
    for month in range(1, 12):
        at(clock, year, month, 27)
        with store.unit_of_work(office) as uow:
            for o in ORGS:
                if rng.random() < o.quality + 0.1:
                    uow.add_record(
                        o.code,
                        y,
                        "meeting",
                        dt.date(year, month, 10),
                        f"{month}月支部党员大会",
                        item_code="RC1",
                    )
                    result.records += 1
                if rng.random() < o.quality:
                    uow.add_record(
                        o.code,
                        y,
                        "party-day",
                        dt.date(year, month, 15),
                        f"{month}月主题党日",
                        item_code="RC2",
                    )
                    result.records += 1
                if month % 3 == 0:
                    uow.add_record(
                        o.code, y, "check-visit", dt.date(year, month, 20), f"{month}月日常检查"
                    )
                    result.records += 1
                    if rng.random() > o.quality:
                        violations[o.code] = violations.get(o.code, 0) + 1
                        uow.add_record(
                            o.code,
                            y,
                            "violation",
                            dt.date(year, month, 20),
                            "日常检查发现：党务公开栏未按时更新",
                            item_code="RC3",
                        )
                        uow.add_finding(
                            o.code,
                            y,
                            "RC3",
                            f"{month}月日常检查：党务公开栏未按时更新",
                            checkpoint="daily",
                            severity="minor",
                            source="inspection",
                            found_on=dt.date(year, month, 20),
                            deadline=dt.date(year, month, 28),
                        )
                        result.records += 1
        if month % 3 == 0:
            with store.unit_of_work(office) as uow:
                rectify_some(uow, y, rng, 0.9)
            with store.unit_of_work(panel) as uow:
                verify_some(uow, y, rng, 0.8, "镇党委考核组")

    # Check (December): every method, the year's records collected (归集使用).
    at(clock, year, 12, 12)
    with store.unit_of_work(panel) as uow:
        for o in ORGS:
            uow.begin_check(o.code, y)
        n, practical = _year_end(uow, y, rng, violations)
        result.scores += n
        before = uow.results(code, y)

    # Feedback (12-15): scores and problems to every branch; the window for appeals opens.
    # One branch appeals (申辩) its practical test: a power cut stopped the system halfway.
    appellant = min(ORGS, key=lambda o: (practical[o.code] - Decimal(str(o.quality)) * 10, o.code))
    feedback_day = dt.date(year, 12, 15)
    filed = dt.date(year, 12, 18)
    assert (filed - feedback_day).days <= APPEAL_DAYS
    at(clock, year, 12, 18)
    with store.unit_of_work(
        Actor(f"{appellant.name}书记", org=appellant.code, role="secretary")
    ) as uow:
        uow.add_record(
            appellant.code,
            y,
            "appeal",
            filed,
            "申辩：实操测试中途停电，系统操作未完成，申请复测",
            item_code="XG3",
        )
        result.records += 1
    at(clock, year, 12, 20)
    with store.unit_of_work(panel) as uow:
        retest = min(Decimal(10), practical[appellant.code] + Decimal(2))
        uow.enter_score(
            appellant.code,
            y,
            "XG3",
            "year-end",
            "practical",
            retest,
            assessor="考核组",
            comment=f"申辩成立（{filed}提出）：测试中途停电，{dt.date(year, 12, 20)}复测",
        )

    # Act (12-23, the window closed): results and the analysis into improvement advice.
    at(clock, year, 12, 23)
    with store.unit_of_work(panel) as uow:
        res = uow.results(code, y)
        result.results = res.as_dict()
        spec = uow.scheme_spec(code)
        maxima = {i.code: i.max_score for i in spec.items()}
        titles = {i.code: i.title for i in spec.items()}
        rates: dict[str, list[Decimal]] = {c: [] for c in maxima}
        for o in ORGS:
            scores = _item_scores(uow, code, o.code, y)
            rate = {c: scores.get(c, Decimal(0)) / maxima[c] for c in maxima}
            for c, r in rate.items():
                rates[c].append(r)
            weakest = min(rate, key=lambda c: (rate[c], c))
            uow.add_finding(
                o.code,
                y,
                weakest,
                f"改进建议：{titles[weakest]}得分率 {rate[weakest]:.0%}，{ADVICE[weakest]}",
                checkpoint="year-end",
                severity="general" if rate[weakest] >= Decimal("0.7") else "serious",
            )
        for o in ORGS:
            uow.act(o.code, y, reason="当面反馈成绩和问题，提出改进建议")
    common = min(rates, key=lambda c: (sum(rates[c]) / len(rates[c]), c))
    old = before.row(appellant.code)
    new = res.row(appellant.code)
    result.highlights.append(
        f"申辩（期限 {APPEAL_DAYS} 天）：{appellant.name} 对实操测试提出申辩，复测后由 "
        f"{practical[appellant.code]} 分改为 {retest} 分，总分 {old.total} → {new.total}"
    )
    result.highlights.append(
        f"满意度问卷 {RESPONDENTS} 份去掉最高分和最低分；日常检查工作底单共 "
        f"{sum(violations.values())} 条问题，年底归集为扣分"
    )
    avg = sum(rates[common]) / len(rates[common])
    result.highlights.append(
        f"结果分析：{len(ORGS)} 个支部各以得分率最低的一项列为改进建议；"
        f"全镇共性短板为“{titles[common]}”（平均得分率 {avg:.0%}）"
    )
    close_and_roll(store, clock, result, ORGS, year, scheme(year + 1), office, rng, "镇党建办")
    return result
