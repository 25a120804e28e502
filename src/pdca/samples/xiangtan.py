"""Sample ``xiangtan`` (seed 000, 湘潭市审计局): the PDCA frame itself.

An organ's party committee (机关党委) assesses 8 party branches and 6 party groups (two
peer groups) in five categories; daily + mid-year + year-end checks weighted 30/20/50;
self 20% + mutual 20% + panel 60% with the committee's commentary (点评); "三会一课"
counted from the year's meeting records; deductions for violations found at daily
checks; a capped innovation bonus; grades 优秀/良好/一般/较差; excellent → bonus points in
the unit's performance review, top totals → candidates for advanced unit and excellent
party worker; the year's unresolved problems become next year's targets (改进反馈).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from pdca.clock import FixedClock
from pdca.domain.actor import Actor
from pdca.services.store import Store

from ._common import (
    OrgDef,
    SampleRun,
    add_orgs,
    at,
    close_and_roll,
    enter_random_scores,
    find_and_fix,
    open_cycles,
    rectify_some,
    require_empty,
    verify_some,
)

NAME = "xiangtan"
ARTICLE = "000 湘潭：构建PDCA考核机制 推进党建工作“四化”建设"
ASSESSOR = OrgDef("XTSJ", "湘潭市审计局机关党委", "机关党委")
BRANCHES = [
    ("XTSJ-BGS", "办公室党支部", 0.92),
    ("XTSJ-CZ", "财政审计科党支部", 0.86),
    ("XTSJ-JZ", "经济责任审计科党支部", 0.81),
    ("XTSJ-QY", "企业审计科党支部", 0.77),
    ("XTSJ-NY", "农业与资源环保审计科党支部", 0.72),
    ("XTSJ-GT", "固定资产投资审计科党支部", 0.84),
    ("XTSJ-SB", "社会保障审计科党支部", 0.66),
    ("XTSJ-LT", "离退休干部党支部", 0.75),
]
GROUPS = [
    ("XTSJ-BGS-1", "办公室第一党小组", "XTSJ-BGS", 0.88),
    ("XTSJ-BGS-2", "办公室第二党小组", "XTSJ-BGS", 0.79),
    ("XTSJ-CZ-1", "财政审计第一党小组", "XTSJ-CZ", 0.70),
    ("XTSJ-CZ-2", "财政审计第二党小组", "XTSJ-CZ", 0.83),
    ("XTSJ-LT-1", "离退休第一党小组", "XTSJ-LT", 0.74),
    ("XTSJ-LT-2", "离退休第二党小组", "XTSJ-LT", 0.68),
]
ORGS = [OrgDef(c, n, "党支部", ASSESSOR.code, "党支部", q) for c, n, q in BRANCHES] + [
    OrgDef(c, n, "党小组", p, "党小组", q) for c, n, p, q in GROUPS
]
MUTUAL = {"self": "20%", "mutual": "20%", "panel": "60%", "commentary": 0}

PROBLEMS = {
    "SX1": "理论学习记录不完整，部分党员学习心得缺失",
    "SX2": "专题教育研讨发言准备不充分",
    "ZZ2": "民主评议党员谈心谈话未全覆盖",
    "ZF1": "文明办公检查中发现办公区域脏乱",
    "ZF2": "党建工作与审计业务结合不紧密",
    "ZD1": "党建档案归档不及时，目录不全",
    "ZD2": "日常工作台账填写不及时",
    "LZ1": "纪检监察日常监督记录缺少整改回访",
    "LZ2": "廉政教育形式单一，覆盖面不足",
}


def scheme(year: int) -> dict[str, Any]:
    """The scheme for ``year`` in the scheme file format."""
    return {
        "code": f"XT-{year}",
        "title": f"{year}年度机关党建工作考核办法",
        "period": str(year),
        "issuer": ASSESSOR.code,
        "checkpoints": [
            {
                "code": "daily",
                "kind": "daily",
                "name": "日常考核",
                "weight": "30%",
                "on": f"{year}-06-30",
            },
            {
                "code": "mid-year",
                "kind": "mid-year",
                "name": "年中考核",
                "weight": "20%",
                "on": f"{year}-07-15",
            },
            {
                "code": "year-end",
                "kind": "year-end",
                "name": "年终考核",
                "weight": "50%",
                "on": f"{year}-12-20",
            },
        ],
        "grade_scales": {"三档": {"好": 1, "较好": "0.8", "一般": "0.6"}},
        "bonus_cap": 5,
        "grade_bands": [
            {"name": "优秀", "min": 90, "quota": "30%"},
            {"name": "良好", "min": 80},
            {"name": "一般", "min": 60},
            {"name": "较差", "min": 0},
        ],
        "outcomes": [
            {"kind": "grade_link", "label": "年度绩效考核加分", "grades": ["优秀"], "value": "+2"},
            {"kind": "top_n", "label": "年度先进单位候选", "n": 2},
            {"kind": "top_n", "label": "优秀党务工作者候选（书记）", "n": 1, "group": "scope"},
        ],
        "categories": [
            {
                "code": "SX",
                "name": "思想建设",
                "items": [
                    {
                        "code": "SX1",
                        "title": "理论学习",
                        "max_score": 10,
                        "methods": MUTUAL,
                        "evidence": "学习记录、心得体会",
                    },
                    {
                        "code": "SX2",
                        "title": "“三严三实”专题教育",
                        "max_score": 10,
                        "methods": MUTUAL,
                        "evidence": "专题教育方案、学习笔记",
                    },
                ],
            },
            {
                "code": "ZZ",
                "name": "组织建设",
                "items": [
                    {
                        "code": "ZZ1",
                        "title": "“三会一课”",
                        "max_score": 10,
                        "rule": "count",
                        "record_kind": "meeting",
                        "target": 10,
                        "evidence": "会议记录、签到表",
                    },
                    {
                        "code": "ZZ2",
                        "title": "民主评议党员",
                        "max_score": 10,
                        "rule": "grade",
                        "scale": "三档",
                        "methods": {"panel": 1},
                    },
                ],
            },
            {
                "code": "ZF",
                "name": "作风建设",
                "items": [
                    {
                        "code": "ZF1",
                        "title": "文明办公",
                        "max_score": 10,
                        "rule": "deduction",
                        "per": 2,
                        "methods": {"panel": 1},
                        "evidence": "日常检查记录",
                    },
                    {"code": "ZF2", "title": "服务中心工作", "max_score": 10, "methods": MUTUAL},
                ],
            },
            {
                "code": "ZD",
                "name": "制度建设",
                "items": [
                    {"code": "ZD1", "title": "档案管理", "max_score": 10},
                    {"code": "ZD2", "title": "日常工作台账", "max_score": 10},
                ],
            },
            {
                "code": "LZ",
                "name": "党风廉政建设",
                "items": [
                    {
                        "code": "LZ1",
                        "title": "纪检监察日常监督",
                        "max_score": 10,
                        "rule": "deduction",
                        "per": 2,
                    },
                    {"code": "LZ2", "title": "廉政教育", "max_score": 10, "methods": MUTUAL},
                    {"code": "CX", "title": "工作创新加分", "max_score": 3, "rule": "bonus"},
                ],
            },
        ],
    }


def run(store: Store, clock: FixedClock, year: int) -> SampleRun:
    rng = random.Random(year)
    office = Actor("机关党委办公室", org=ASSESSOR.code, role="system")
    panel = Actor("机关党委考评组", org=ASSESSOR.code, role="system")
    y = str(year)
    result = SampleRun(NAME, ARTICLE, f"XT-{year}", y, str(year + 1))

    # Plan (January): the scheme is issued, plans drawn up and approved.
    at(clock, year, 1, 4)
    with store.unit_of_work(office) as uow:
        require_empty(uow)
        add_orgs(uow, [ASSESSOR, *ORGS])
        uow.add_scheme(scheme(year))
        result.organizations = len(ORGS)
    at(clock, year, 1, 10)
    with store.unit_of_work(office) as uow:
        result.measures = open_cycles(uow, ORGS, y, f"XT-{year}", rng, lead_unit="机关党委")

    # Do (February to November): monthly "三会一课" and study records.
    for month in range(2, 12):
        at(clock, year, month, 28)
        with store.unit_of_work(office) as uow:
            for o in ORGS:
                if rng.random() < o.quality + 0.05:
                    uow.add_record(
                        o.code,
                        y,
                        "meeting",
                        dt.date(year, month, 20),
                        f"{month}月支部党员大会",
                        item_code="ZZ1",
                    )
                    result.records += 1
                if rng.random() < 0.6:
                    uow.add_record(
                        o.code,
                        y,
                        "study",
                        dt.date(year, month, 25),
                        f"{month}月集中理论学习",
                        item_code="SX1",
                    )
                    result.records += 1

    with store.unit_of_work(panel) as uow:
        spec = uow.scheme_spec(f"XT-{year}")
    # Check: daily (end of June) and mid-year (July) checks score and find problems.
    at(clock, year, 6, 30)
    with store.unit_of_work(panel) as uow:
        result.scores += enter_random_scores(
            uow, ORGS, spec, y, ["daily"], rng, assessor_org=ASSESSOR.code
        )
    at(clock, year, 7, 15)
    with store.unit_of_work(panel) as uow:
        result.scores += enter_random_scores(
            uow, ORGS, spec, y, ["mid-year"], rng, assessor_org=ASSESSOR.code
        )
        find_and_fix(
            uow, ORGS, y, PROBLEMS, rng, checkpoint="mid-year", deadline=dt.date(year, 10, 31)
        )
    # Act on them: rectification (September), verification (December).
    at(clock, year, 9, 1)
    with store.unit_of_work(office) as uow:
        rectify_some(uow, y, rng, 0.75)
        for f in uow.findings(period=y, state="open")[:2]:
            assert f.id is not None
            uow.waive(f.id, reason="经核实属客观原因，不计为问题")
    at(clock, year, 12, 5)
    with store.unit_of_work(panel) as uow:
        verify_some(uow, y, rng, 0.6, "机关党委考评组")

    # Year-end check: self, mutual and panel scoring with commentary; feedback.
    at(clock, year, 12, 20)
    with store.unit_of_work(panel) as uow:
        for o in ORGS:
            uow.begin_check(o.code, y)
        result.scores += enter_random_scores(
            uow, ORGS, spec, y, ["year-end"], rng, assessor_org=ASSESSOR.code
        )
        uow.enter_score(
            ORGS[0].code,
            y,
            "CX",
            "year-end",
            "panel",
            3,
            assessor="考评组",
            assessor_org=ASSESSOR.code,
            comment="“党建+审计”融合创新",
        )
        find_and_fix(uow, ORGS, y, PROBLEMS, rng, checkpoint="year-end")
        res = uow.results(f"XT-{year}", y)
        result.results = res.as_dict()
        for o in ORGS:
            uow.act(o.code, y, reason="当面反馈考核情况")
    best = res.rows[0]
    result.highlights.append(
        f"{best.name} 总分 {best.total}，{best.grade}，同类组第 {best.rank} 名"
    )
    close_and_roll(store, clock, result, ORGS, year, scheme(year + 1), office, rng, "机关党委")
    return result
