"""Sample ``bilahe`` (seed 003, 毕拉河林业局): the "六确认" closed loop.

The forestry bureau's party committee (林业局党委) runs its 10 branches through "confirm the
target → the problem → the measure → the responsibility → the effect → reward and
penalty" (确认目标、确认问题、确认措施、确认责任、确认效果、奖惩兑现):

* **targets**: the common targets (共性目标) are the scheme's items; every branch adds its
  own sub-target (分项目标, "一支部一特色") to its plan, with a target value and unit;
* **responsibility (包抓)**: every target names its lead unit (牵头单位), responsible unit
  (责任单位) and responsible leader (责任领导); the head of the lead department is the first
  responsible person, the secretary of the organs' general branch the direct one and the
  branch secretary the specific one;
* **effect by stages**: the year is split into four stage targets, checked at the quarterly
  meetings (季度例会, 25% each): the branch's first responsible person reports and the
  meeting scores on the spot (述职评议, several scorers), the departments comment (点评),
  self-assessment and the departments' check score the common targets, and the stage
  measures of the branch's own target are confirmed;
* **problems**: the weakest items found each quarter are confirmed as problems; a problem
  still open a quarter later, or common to three branches or more, is escalated
  (severity ``serious``: 上报党群分管领导);
* **reward and penalty**: grade bands with a quota for 优秀 (reward) and 不合格 (penalty),
  and the top 3 are named red-flag branches (红旗党支部) after the year's ordering (有序排队).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from pdca.clock import FixedClock
from pdca.domain.actor import Actor
from pdca.domain.model import FindingState, MeasureStatus, TargetOrigin
from pdca.services.store import Store
from pdca.services.unit_of_work import UnitOfWork

from ._common import (
    OrgDef,
    SampleRun,
    add_orgs,
    at,
    close_and_roll,
    person,
    require_empty,
    verify_some,
)

NAME = "bilahe"
ARTICLE = "003 毕拉河林业局“六确认”闭环管理"
ASSESSOR = OrgDef("BLH", "中共毕拉河林业局委员会", "党委")
BRANCHES = [
    ("BLH-JG1", "机关第一党支部", 0.90),
    ("BLH-JG2", "机关第二党支部", 0.885),
    ("BLH-DEB", "达尔滨林场党支部", 0.93),
    ("BLH-BDH", "北大河林场党支部", 0.76),
    ("BLH-ZW", "扎文林场党支部", 0.70),
    ("BLH-ZD", "紫貂林场党支部", 0.89),
    ("BLH-HK", "河口林场党支部", 0.66),
    ("BLH-YL", "营林生产党支部", 0.80),
    ("BLH-GH", "森林管护党支部", 0.73),
    ("BLH-LT", "离退休党支部", 0.52),
]
ORGS = [OrgDef(c, n, "党支部", ASSESSOR.code, "基层党支部", q) for c, n, q in BRANCHES]

#: Each branch's own sub-target (一支部一特色): title, target value, unit.
OWN: dict[str, tuple[str, int, str]] = {
    "BLH-JG1": ("“党员示范窗口”服务承诺兑现", 100, "%"),
    "BLH-JG2": ("机关党员“一帮一”结对基层职工", 30, "对"),
    "BLH-DEB": ("“党员护林责任区”零火情", 12, "个责任区"),
    "BLH-BDH": ("党员创新工作室技术革新", 4, "项"),
    "BLH-ZW": ("“绿色卫士”党员巡护队", 24, "次巡护"),
    "BLH-ZD": ("党员先锋林业碳汇示范林", 200, "亩"),
    "BLH-HK": ("党员帮扶困难职工家庭", 15, "户"),
    "BLH-YL": ("党员突击队完成营林造林", 3000, "亩"),
    "BLH-GH": ("党员管护站标准化建设", 8, "个站"),
    "BLH-LT": ("老党员“讲林区故事”宣讲", 10, "场"),
}
#: 包抓: item → (lead unit 牵头单位, title of the responsible leader 责任领导).
BAOZHUA = {
    "GX1": ("党委组织部", "党委副书记"),
    "GX2": ("党委组织部", "党委副书记"),
    "GX3": ("党委宣传部", "党委委员、宣传部部长"),
    "GX4": ("党委组织部", "党委委员、组织部部长"),
    "GX5": ("党委宣传部", "党委委员、宣传部部长"),
    "GX6": ("党委组织部", "党委副书记"),
    "GX7": ("纪委", "纪委书记"),
    "GX8": ("精神文明建设办公室", "工会主席"),
    "TS1": ("党委组织部", "党委副书记"),
    "ZR1": ("党委办公室", "党委书记"),
}
COMMON = {
    "GX1": "创先争优",
    "GX2": "“支部创新、党员创效”",
    "GX3": "创建学习型党组织、争做知识型职工",
    "GX4": "“争做五事干部”和“党群干部四会”",
    "GX5": "“上下联动”的“大宣传”格局",
    "GX6": "基层党组织建设“规范标准”",
    "GX7": "党风廉政建设“一尘不染”",
    "GX8": "精神文明创建“力争上游”",
}
QUARTER_DAYS = {1: (3, 31), 2: (6, 30), 3: (9, 30), 4: (12, 20)}
ATTENDEES = ("党委书记", "党委副书记", "纪委书记", "组织部部长", "宣传部部长")
SCORED = [*COMMON, "TS1"]  # scored by self-assessment and the departments' check


def scheme(year: int) -> dict[str, Any]:
    """The scheme for ``year``: common targets, the own sub-target, the quarterly report."""
    mixed = {"自评": "20%", "考评": "80%"}
    return {
        "code": f"BLH-{year}",
        "title": f"毕拉河林业局{year}年度党群工作“六确认”目标考核办法",
        "period": str(year),
        "issuer": ASSESSOR.code,
        "checkpoints": [
            {
                "code": f"Q{q}",
                "kind": "quarterly",
                "name": f"第{'一二三四'[q - 1]}季度例会（阶段目标效果确认）",
                "weight": "25%",
                "on": f"{year}-{m:02d}-{d:02d}",
            }
            for q, (m, d) in QUARTER_DAYS.items()
        ],
        "grade_bands": [
            {"name": "优秀", "min": 90, "quota": "30%"},
            {"name": "良好", "min": 80},
            {"name": "合格", "min": 60},
            {"name": "不合格", "min": 0},
        ],
        "outcomes": [
            {"kind": "top_n", "label": "红旗党支部", "n": 3},
            {
                "kind": "grade_link",
                "label": "兑现奖励（党群工作奖励基金）",
                "grades": ["优秀"],
                "value": "+2000元",
            },
            {
                "kind": "grade_link",
                "label": "兑现处罚（扣减班子绩效）",
                "grades": ["不合格"],
                "value": "-10%",
            },
        ],
        "categories": [
            {
                "code": "GX",
                "name": "共性目标",
                "items": [
                    {"code": c, "title": t, "max_score": 10, "methods": mixed}
                    for c, t in COMMON.items()
                ],
            },
            {
                "code": "TS",
                "name": "分项目标（一支部一特色）",
                "items": [
                    {
                        "code": "TS1",
                        "title": "分项目标完成情况",
                        "max_score": 10,
                        "methods": mixed,
                        "evidence": "分项目标阶段效果确认单",
                    }
                ],
            },
            {
                "code": "ZR",
                "name": "责任落实",
                "items": [
                    {
                        "code": "ZR1",
                        "title": "“第一责任人”季度例会述职",
                        "max_score": 10,
                        "methods": {"述职评议": 1, "点评": 0},
                        "evidence": "述职报告、当场打分表",
                    }
                ],
            },
        ],
    }


def _value(q: float, rng: random.Random, spread: float = 0.07) -> Decimal:
    v = max(0.0, min(1.0, q + rng.uniform(-spread, spread))) * 10
    return Decimal(str(round(v * 2))) / 2


def _plan(uow: UnitOfWork, y: str, year: int, rng: random.Random) -> tuple[int, dict[str, int]]:
    """Confirm targets and responsibilities (确认目标、确认责任); returns the number of
    measures and each branch's own target's id."""
    measures = 0
    own_ids: dict[str, int] = {}
    leaders = {title: person(rng) for _unit, title in BAOZHUA.values()}
    heads = {unit: person(rng) for unit, _title in BAOZHUA.values()}
    general_secretary = person(rng)  # 机关党总支书记: the direct responsible person
    for o in ORGS:
        secretary = person(rng)
        cyc = uow.open_cycle(o.code, y, scheme=f"BLH-{year}")
        for tgt in cyc.targets:
            assert tgt.id is not None
            assert tgt.item_code is not None
            unit, leader = BAOZHUA[tgt.item_code]
            uow.update_target(
                tgt.id,
                first_responsible=f"{unit}负责人{heads[unit]}",
                direct_responsible=f"机关党总支书记{general_secretary}",
                specific_responsible=f"{o.name}书记{secretary}",
                lead_unit=unit,
                responsible_unit=o.name,
                responsible_leader=f"{leader}{leaders[leader]}",
            )
        title, value, unit_name = OWN[o.code]
        unit, leader = BAOZHUA["TS1"]
        own = uow.add_target(
            o.code,
            y,
            f"分项目标：{title}",
            item_code="TS1",
            target_value=value,
            unit=unit_name,
            due_on=dt.date(year, 12, 20),
            first_responsible=f"{unit}负责人{heads[unit]}",
            direct_responsible=f"机关党总支书记{general_secretary}",
            specific_responsible=f"{o.name}书记{secretary}",
            lead_unit=unit,
            responsible_unit=o.name,
            responsible_leader=f"{leader}{leaders[leader]}",
        )
        assert own.id is not None
        own_ids[o.code] = own.id
        # The year split into stage targets (阶段性目标), one measure per quarter.
        for q, (m, d) in QUARTER_DAYS.items():
            uow.add_measure(
                own.id,
                f"第{q}阶段：完成{title}年度目标的{25 * q}%",
                owner=secretary,
                due_on=dt.date(year, m, d),
            )
            measures += 1
        uow.approve_plan(o.code, y, reason="确认目标、确认责任（包抓）")
        uow.start(o.code, y)
    return measures, own_ids


def run(store: Store, clock: FixedClock, year: int) -> SampleRun:
    rng = random.Random(year)
    office = Actor("党委组织部", org=ASSESSOR.code, role="system")
    meeting = Actor("季度党群工作例会", org=ASSESSOR.code, role="system")
    y = str(year)
    code = f"BLH-{year}"
    result = SampleRun(NAME, ARTICLE, code, y, str(year + 1))

    at(clock, year, 1, 5)
    with store.unit_of_work(office) as uow:
        require_empty(uow)
        add_orgs(uow, [ASSESSOR, *ORGS])
        uow.add_scheme(scheme(year))
        result.organizations = len(ORGS)
    at(clock, year, 1, 12)
    with store.unit_of_work(office) as uow:
        result.measures, own_ids = _plan(uow, y, year, rng)

    escalated = 0
    open_problems: dict[tuple[str, str], int] = {}  # (branch, item) → open finding id
    for q, (m, d) in QUARTER_DAYS.items():
        # Do: the monthly analysis of party work (党群工作月度分析).
        for month in range(3 * q - 2, 3 * q + 1):
            if month == 12:
                continue
            at(clock, year, month, 26)
            with store.unit_of_work(office) as uow:
                for o in ORGS:
                    uow.add_record(
                        o.code,
                        y,
                        "monthly-analysis",
                        dt.date(year, month, 25),
                        f"{month}月党群工作分析",
                    )
                    result.records += 1
        # Check: the quarterly meeting, scored on the spot (当场打分).
        at(clock, year, m, d, 15)
        with store.unit_of_work(meeting) as uow:
            if q == 4:
                for o in ORGS:
                    uow.begin_check(o.code, y)
            weakest: dict[str, list[str]] = {}
            for o in ORGS:
                quality = o.quality + 0.015 * (q - 1)  # problems fixed stage by stage
                values: dict[str, Decimal] = {}
                for item in SCORED:
                    uow.enter_score(
                        o.code,
                        y,
                        item,
                        f"Q{q}",
                        "self",
                        _value(quality + 0.05, rng),
                        assessor=f"{o.name}书记",
                        assessor_org=o.code,
                    )
                    values[item] = _value(quality, rng)
                    uow.enter_score(
                        o.code,
                        y,
                        item,
                        f"Q{q}",
                        "panel",
                        values[item],
                        assessor="党群职能部门考评组",
                    )
                    result.scores += 2
                for who in ATTENDEES:
                    uow.enter_score(
                        o.code,
                        y,
                        "ZR1",
                        f"Q{q}",
                        "report-review",
                        _value(quality, rng),
                        assessor=who,
                    )
                    result.scores += 1
                uow.enter_score(
                    o.code,
                    y,
                    "ZR1",
                    f"Q{q}",
                    "commentary",
                    "领导责任到位，述职具体" if quality >= 0.8 else "责任传导不到位，要跟踪整改",
                    assessor="党群职能部门负责人",
                )
                result.scores += 1
                # Confirm the stage effect of the branch's own target.
                own = uow.target(own_ids[o.code])
                stage = own.measures[q - 1]
                assert stage.id is not None
                done = quality + rng.uniform(-0.05, 0.05) >= 0.7
                uow.update_measure(
                    stage.id,
                    status=MeasureStatus.DONE.value if done else MeasureStatus.DOING.value,
                    progress=f"第{q}季度例会确认：阶段目标"
                    + ("完成" if done else "未完成，下季度补齐"),
                )
                low = sorted(values, key=lambda i: (values[i], i))[:2]
                weakest[o.code] = [i for i in low if values[i] <= Decimal(7)]
            # Confirm the problems (确认问题): common ones and unresolved ones go up.
            spread: dict[str, int] = {}
            for items in weakest.values():
                for i in items:
                    spread[i] = spread.get(i, 0) + 1
            for o in ORGS:
                for i in weakest[o.code]:
                    prev = open_problems.get((o.code, i))
                    still_open = prev is not None and uow.finding(prev).state in (
                        FindingState.OPEN,
                        FindingState.RECTIFYING,
                    )
                    common = spread[i] >= 3
                    if still_open and prev is not None:
                        continue_text = "上季度问题仍未解决，确认为突出问题，上报党群分管领导"
                    elif common:
                        continue_text = f"{spread[i]}个支部存在的共性问题，上报党委统一部署"
                    else:
                        continue_text = "支部自行落实措施解决"
                    serious = still_open or common
                    escalated += serious
                    fnd = uow.add_finding(
                        o.code,
                        y,
                        i,
                        f"第{q}季度：{COMMON.get(i, '分项目标')}推进滞后；{continue_text}",
                        checkpoint="quarterly",
                        severity="serious" if serious else "general",
                        deadline=dt.date(year, 12, 31)
                        if q == 4
                        else dt.date(year, *QUARTER_DAYS[q + 1]),
                    )
                    assert fnd.id is not None
                    open_problems[(o.code, i)] = fnd.id
        if q < 4:
            # Confirm the measures (确认措施): most problems get a plan, the departments
            # verify the fixes they see done.
            at(clock, year, m + 1, 5)
            with store.unit_of_work(office) as uow:
                for fnd in uow.findings(period=y, state=FindingState.OPEN.value):
                    assert fnd.id is not None
                    if rng.random() < 0.85:
                        uow.rectify(
                            fnd.id,
                            plan=f"落实措施：{fnd.description.split('；')[0]}",
                            owner=person(rng),
                        )
            at(clock, year, m + 1, 20)
            with store.unit_of_work(meeting) as uow:
                verify_some(uow, y, rng, 0.6, "党群职能部门")

    # Reward and penalty (奖惩兑现): the year's order, grades and awards.
    at(clock, year, 12, 26)
    with store.unit_of_work(meeting) as uow:
        res = uow.results(code, y)
        result.results = res.as_dict()
        for o in ORGS:
            uow.act(o.code, y, reason="排队公示，奖惩兑现")
        own_done = sum(
            all(ms.status == MeasureStatus.DONE for ms in uow.target(t).measures)
            for t in own_ids.values()
        )
        example = next(
            t
            for t in uow.cycle(ORGS[0].code, y).targets
            if t.origin == TargetOrigin.SCHEME and t.item_code == "GX7"
        )
    rewarded = [r.name for r in res.rows if r.grade == "优秀"]
    over_quota = [r.name for r in res.rows if r.total >= 90 and r.grade != "优秀"]
    punished = [r.name for r in res.rows if r.grade == "不合格"]
    flags = [r.name for r in res.rows if any(x["label"] == "红旗党支部" for x in r.outcomes)]
    result.highlights.append(
        f"包抓：每项目标明确牵头单位、责任单位、责任领导，如“{example.title}”由"
        f"{example.lead_unit}牵头、{example.responsible_unit}负责、{example.responsible_leader}"
        f"包抓；{len(ORGS)} 个支部各有一项分项目标，{own_done} 个四个阶段全部确认完成"
    )
    result.highlights.append(
        f"四个季度例会当场打分各占 25%；{escalated} 个突出或共性问题升级上报（serious）"
    )
    result.highlights.append(
        f"奖惩兑现：优秀（限 30%）{len(rewarded)} 个兑现奖励"
        + (f"（{'、'.join(over_quota)} 90 分以上因限额列为良好）" if over_quota else "")
        + f"，不合格 {len(punished)} 个"
        f"（{'、'.join(punished) or '无'}）兑现处罚；红旗党支部：{'、'.join(flags)}"
    )
    close_and_roll(store, clock, result, ORGS, year, scheme(year + 1), office, rng, "党委组织部")
    return result
