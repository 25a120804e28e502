"""Sample ``zhangzhou`` (seed 001, 漳州市直机关工委): "六比六看 讲绩效".

The city organs' working committee (市直机关工委) assesses its 74 committees (直属党委、
机关党委、机关总支) on 24 items in the six "六比六看" categories, 100 points in all. Every
item is graded 好/较好/一般 (× 1 / 0.8 / 0.6 of its points) on the single-item score sheets
(单项工作考评表) and added up on the summary sheet (考评汇总表). The half-year bulletin
(半年通报) counts 40% and the year-end assessment 60%. The committees hand in their monthly
work attendance sheets (工作考勤表), which grade the item on them. The secretaries'
report on duty (书记抓党建述职评议) scores the first-responsibility item beside the panel and
is checked against the panel's grade: a report better than the work gets a finding and a
reminder talk (约谈提醒). Multi-level assessment (多层级考评): three peer groups by tier,
ranked separately (the top 3 of each tier are named), while the 20 best totals across all
74 are the year's winning units (年度优胜单位). Weak items (短板) found at the half-year
become findings to rectify; those still weak at the year end are carried into next year.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from pdca.clock import FixedClock
from pdca.domain.actor import Actor
from pdca.domain.model import FindingState
from pdca.services.store import Store
from pdca.services.unit_of_work import UnitOfWork

from ._common import (
    OrgDef,
    SampleRun,
    add_orgs,
    at,
    close_and_roll,
    person,
    rectify_some,
    require_empty,
    verify_some,
)

NAME = "zhangzhou"
ARTICLE = "001 漳州市机关党建政绩考核具体化工作的实践与探索"
ASSESSOR = OrgDef("ZZJGGW", "中共漳州市直属机关工作委员会", "机关工委")

#: Three tiers (多层级考评): peer group → (organization kind, code prefix, units).
TIERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "党委（党组）": (
        "党委",
        "ZZ-D",
        (
            "市公安局",
            "市教育局",
            "市卫生健康委员会",
            "市交通运输局",
            "市住房和城乡建设局",
            "市自然资源局",
            "市市场监督管理局",
            "市生态环境局",
            "市人力资源和社会保障局",
            "市农业农村局",
            "市水利局",
            "市文化和旅游局",
        ),
    ),
    "机关党委": (
        "机关党委",
        "ZZ-J",
        (
            "市发展和改革委员会",
            "市财政局",
            "市商务局",
            "市工业和信息化局",
            "市科学技术局",
            "市民政局",
            "市司法局",
            "市审计局",
            "市统计局",
            "市应急管理局",
            "市林业局",
            "市海洋与渔业局",
            "市退役军人事务局",
            "市医疗保障局",
            "市国有资产监督管理委员会",
            "市城市管理局",
            "市行政审批管理局",
            "市信访局",
            "市机关事务管理局",
            "市金融工作办公室",
            "市中级人民法院",
            "市人民检察院",
            "市委办公室",
            "市政府办公室",
            "市委组织部",
            "市委宣传部",
            "市委统战部",
            "市委政法委",
            "市纪委监委机关",
            "市委编办",
            "市委党校",
            "市人大常委会机关",
            "市政协机关",
            "市总工会",
            "团市委",
            "市妇联",
            "市科协",
            "市文联",
            "市侨联",
            "市残联",
            "市供销合作社",
            "市档案馆",
            "市广播电视台",
            "市气象局",
        ),
    ),
    "机关总支": (
        "党总支",
        "ZZ-Z",
        (
            "市外事办公室",
            "市粮食和物资储备局",
            "市体育局",
            "市地震局",
            "市地方志编纂委员会办公室",
            "市红十字会",
            "市工商联",
            "市社科联",
            "市委老干部局",
            "市贸促会",
            "市住房公积金中心",
            "市公共资源交易中心",
            "市投资促进中心",
            "市台港澳办公室",
            "市民族与宗教事务局",
            "市人民防空办公室",
            "市委保密办",
            "市接待办",
        ),
    ),
}
SUFFIX = {"党委（党组）": "党委", "机关党委": "机关党委", "机关总支": "机关总支"}

#: 六比六看: category code → (name, [(item code, title, points)]); 24 items, 100 points.
SIX: dict[str, tuple[str, list[tuple[str, str, int]]]] = {
    "BX": (
        "比勤奋学习，看素质水平",
        [
            ("BX1", "理论学习中心组学习", 5),
            ("BX2", "“三会一课”和主题党日", 4),
            ("BX3", "“两学一做”学习教育常态化", 4),
            ("BX4", "党务干部教育培训", 4),
        ],
    ),
    "BZ": (
        "比精神状态，看工作效率",
        [
            ("BZ1", "党建工作第一责任人履职（书记抓党建述职）", 4),
            ("BZ2", "党建工作责任制和职责清单落实", 4),
            ("BZ3", "党建工作纳入年度计划和绩效考核", 4),
            ("BZ4", "工作考勤表按月报送", 4),
        ],
    ),
    "BT": (
        "比工作态度，看服务质量",
        [
            ("BT1", "服务改革发展", 5),
            ("BT2", "服务民生和群众", 4),
            ("BT3", "服务党员", 4),
            ("BT4", "机关效能建设", 4),
        ],
    ),
    "BK": (
        "比开拓创新，看工作亮点",
        [
            ("BK1", "党建工作创新", 4),
            ("BK2", "机关党建品牌创建", 4),
            ("BK3", "《漳州机关党建》信息宣传", 4),
            ("BK4", "党建课题调研", 4),
        ],
    ),
    "BS": (
        "比真抓实干，看工作成效",
        [
            ("BS1", "基层党组织建设", 5),
            ("BS2", "整顿转化软弱涣散党组织", 5),
            ("BS3", "党员发展和管理", 4),
            ("BS4", "精神文明创建", 4),
        ],
    ),
    "BJ": (
        "比纪律作风，看整体形象",
        [
            ("BJ1", "党风廉政建设", 4),
            ("BJ2", "“四风”问题整改", 4),
            ("BJ3", "“庸、懒、散”专项整治", 4),
            ("BJ4", "“三严三实”专题教育", 4),
        ],
    ),
}
REPORT_ITEM = "BZ1"  # scored by the panel and by the report on duty (述职评议)
ATTENDANCE_ITEM = "BZ4"  # graded from the monthly attendance sheets (工作考勤表)
#: How hard each item is for a typical committee (common weak items score lower).
DIFFICULTY = {"BK2": 0.10, "BK4": 0.12, "BS2": 0.08, "BX4": 0.06, "BJ3": 0.05}
GRADES = ("好", "较好", "一般")
WINNERS = 20


def _orgs(rng: random.Random) -> list[OrgDef]:
    out: list[OrgDef] = []
    for group, (kind, prefix, units) in TIERS.items():
        for i, unit in enumerate(units, start=1):
            quality = round(rng.uniform(0.62, 0.97), 3)
            out.append(
                OrgDef(
                    f"{prefix}{i:02d}", unit + SUFFIX[group], kind, ASSESSOR.code, group, quality
                )
            )
    assert len(out) == 74, len(out)
    return out


def scheme(year: int) -> dict[str, Any]:
    """The scheme for ``year`` (《年度市直机关党建重点工作考评项目一览表》)."""
    categories = []
    for code, (name, items) in SIX.items():
        entries = []
        for icode, title, points in items:
            item: dict[str, Any] = {
                "code": icode,
                "title": title,
                "max_score": points,
                "rule": "等次",
                "scale": "好较好一般",
                "methods": {"考评": 1},
                "evidence": "单项工作考评表",
            }
            if icode == REPORT_ITEM:
                item["methods"] = {"考评": "50%", "述职评议": "50%"}
                item["evidence"] = "单项工作考评表、述职报告、现场述职评议表"
            if icode == ATTENDANCE_ITEM:
                item["evidence"] = "月度工作考勤表"
            entries.append(item)
        categories.append({"code": code, "name": name, "items": entries})
    return {
        "code": f"ZZ-{year}",
        "title": f"{year}年度市直机关党建重点工作“六比六看 讲绩效”考评办法",
        "period": str(year),
        "issuer": ASSESSOR.code,
        "checkpoints": [
            {
                "code": "half-year",
                "kind": "mid-year",
                "name": "半年考评通报",
                "weight": "40%",
                "on": f"{year}-07-10",
            },
            {
                "code": "year-end",
                "kind": "year-end",
                "name": "年终考评",
                "weight": "60%",
                "on": f"{year}-12-20",
            },
        ],
        "grade_scales": {"好较好一般": {"好": 1, "较好": "0.8", "一般": "0.6"}},
        "outcomes": [
            {"kind": "top_n", "label": "年度优胜单位", "n": WINNERS, "group": "scope"},
            {"kind": "top_n", "label": "同层级前三名", "n": 3},
        ],
        "categories": categories,
    }


def _grade(quality: float, difficulty: float, rng: random.Random) -> str:
    q = quality - difficulty + rng.uniform(-0.1, 0.1)
    return GRADES[0] if q >= 0.86 else (GRADES[1] if q >= 0.7 else GRADES[2])


def _score_checkpoint(
    uow: UnitOfWork,
    orgs: list[OrgDef],
    y: str,
    cp: str,
    rng: random.Random,
    attendance: dict[str, int],
) -> tuple[int, dict[str, list[str]], dict[str, tuple[str, str]]]:
    """The panel's single-item sheets for every committee, and the report on duty.

    Returns the number of scores, each committee's items graded 一般 (its weak items) and
    each committee's (panel, report) grades of the report item."""
    n = 0
    weak: dict[str, list[str]] = {}
    report: dict[str, tuple[str, str]] = {}
    sheets = 11 if cp == "year-end" else 6  # attendance sheets due so far
    for o in orgs:
        weak[o.code] = []
        for _cat, (_name, items) in SIX.items():
            for icode, _title, _points in items:
                if icode == ATTENDANCE_ITEM:
                    handed = attendance.get(o.code, 0)
                    grade = (
                        GRADES[0]
                        if handed >= sheets
                        else (GRADES[1] if handed >= sheets - 2 else GRADES[2])
                    )
                else:
                    grade = _grade(o.quality, DIFFICULTY.get(icode, 0.0), rng)
                uow.enter_score(
                    o.code,
                    y,
                    icode,
                    cp,
                    "panel",
                    grade,
                    assessor="考评组",
                    assessor_org=ASSESSOR.code,
                )
                n += 1
                if grade == GRADES[2]:
                    weak[o.code].append(icode)
                if icode == REPORT_ITEM:
                    # The report on duty: most reports match the work, some say more.
                    idx = GRADES.index(grade)
                    if idx > 0 and rng.random() < 0.2:
                        idx -= 1
                    said = GRADES[idx]
                    uow.enter_score(
                        o.code,
                        y,
                        icode,
                        cp,
                        "述职评议",
                        said,
                        assessor="述职评议组",
                        assessor_org=ASSESSOR.code,
                        comment="现场述职" if cp == "year-end" else "半年工作汇报",
                    )
                    n += 1
                    report[o.code] = (grade, said)
    return n, weak, report


def _titles() -> dict[str, str]:
    return {icode: title for _c, (_n, items) in SIX.items() for icode, title, _p in items}


def run(store: Store, clock: FixedClock, year: int) -> SampleRun:
    rng = random.Random(year)
    office = Actor("市直机关工委组织部", org=ASSESSOR.code, role="system")
    panel = Actor("市直机关工委考评组", org=ASSESSOR.code, role="system")
    y = str(year)
    code = f"ZZ-{year}"
    result = SampleRun(NAME, ARTICLE, code, y, str(year + 1))
    orgs = _orgs(rng)
    titles = _titles()

    # Plan (January): the list of 24 items is issued; every committee's plan names its
    # first responsible person (the secretary) and the specific one (专职副书记).
    at(clock, year, 1, 5)
    with store.unit_of_work(office) as uow:
        require_empty(uow)
        add_orgs(uow, [ASSESSOR, *orgs])
        uow.add_scheme(scheme(year))
        result.organizations = len(orgs)
    at(clock, year, 1, 15)
    with store.unit_of_work(office) as uow:
        for o in orgs:
            cyc = uow.open_cycle(o.code, y, scheme=code)
            secretary, deputy = person(rng), person(rng)
            for tgt in cyc.targets:
                assert tgt.id is not None
                uow.update_target(
                    tgt.id,
                    first_responsible=secretary,
                    specific_responsible=deputy,
                    lead_unit="市直机关工委",
                    responsible_unit=o.name,
                )
            first = cyc.targets[0]
            assert first.id is not None
            uow.add_measure(first.id, "制定年度党建工作要点和责任清单", owner=secretary)
            result.measures += 1
            uow.approve_plan(o.code, y)
            uow.start(o.code, y)

    # Do: the monthly work attendance sheets (工作考勤表), summed up each month.
    attendance: dict[str, int] = {}

    def sheets(months: range) -> None:
        for month in months:
            at(clock, year, month, 28)
            with store.unit_of_work(office) as uow:
                for o in orgs:
                    if rng.random() < o.quality + 0.12:
                        uow.add_record(
                            o.code,
                            y,
                            "attendance",
                            dt.date(year, month, 25),
                            f"{month}月工作考勤表",
                            item_code=ATTENDANCE_ITEM,
                        )
                        attendance[o.code] = attendance.get(o.code, 0) + 1
                        result.records += 1

    sheets(range(1, 7))

    # Check (July): the half-year assessment and bulletin (半年通报); weak items (短板)
    # become findings to rectify by the end of October.
    at(clock, year, 7, 10)
    with store.unit_of_work(panel) as uow:
        n, weak, _ = _score_checkpoint(uow, orgs, y, "half-year", rng, attendance)
        result.scores += n
        for o in orgs:
            for icode in weak[o.code][:2]:
                uow.add_finding(
                    o.code,
                    y,
                    icode,
                    f"短板：{titles[icode]}半年考评为“一般”",
                    checkpoint="mid-year",
                    severity="general",
                    deadline=dt.date(year, 10, 31),
                )
        half = uow.results(code, y)
    leader = half.rows[0]
    for row in half.rows:
        if row.total > leader.total:
            leader = row

    sheets(range(7, 12))
    # Spot checks (抽查) in September: the committee asks for the ledgers of a few units.
    at(clock, year, 9, 16)
    with store.unit_of_work(panel) as uow:
        for o in sorted(orgs, key=lambda x: x.quality)[:4]:
            uow.add_finding(
                o.code,
                y,
                "BS2",
                "抽查发现整顿软弱涣散党组织台账不实",
                checkpoint="spot-check",
                severity="serious",
                source="inspection",
                deadline=dt.date(year, 11, 30),
            )
    at(clock, year, 9, 20)
    with store.unit_of_work(office) as uow:
        rectify_some(uow, y, rng, 0.8)
    at(clock, year, 11, 20)
    with store.unit_of_work(panel) as uow:
        verify_some(uow, y, rng, 0.7, "市直机关工委考评组")

    # Year-end (December): the year-end sheets and the report on duty, verified against
    # the scores (逐项核实); the summary sheet ranks all 74.
    at(clock, year, 12, 20)
    with store.unit_of_work(panel) as uow:
        for o in orgs:
            uow.begin_check(o.code, y)
        n, weak, report = _score_checkpoint(uow, orgs, y, "year-end", rng, attendance)
        result.scores += n
        oversold = 0
        for o in orgs:
            work, said = report[o.code]
            if GRADES.index(said) < GRADES.index(work):
                oversold += 1
                uow.add_finding(
                    o.code,
                    y,
                    REPORT_ITEM,
                    f"述职评议为“{said}”而考评为“{work}”，述职情况与实际不符，约谈提醒",
                    checkpoint="year-end",
                    severity="general",
                    source="report-review",
                )
        open_weak = {
            (f.item_code, o)
            for o in (x.code for x in orgs)
            for f in uow.findings(org=o, period=y)
            if f.state in (FindingState.OPEN, FindingState.RECTIFYING)
        }
        for o in orgs:
            for icode in weak[o.code][:2]:
                if (icode, o.code) not in open_weak:
                    uow.add_finding(
                        o.code,
                        y,
                        icode,
                        f"短板：{titles[icode]}年终考评为“一般”",
                        checkpoint="year-end",
                        severity="general",
                    )
        res = uow.results(code, y)
        result.results = res.as_dict()
        for o in orgs:
            uow.act(o.code, y, reason="《漳州机关党建》通报“六比六看”单项及年度总得分")

    winners = [r for r in res.rows if any(x["label"] == "年度优胜单位" for x in r.outcomes)]
    cutoff = min(r.total for r in winners)
    tiers = {r.peer_group for r in winners}
    result.highlights.append(
        f"74 个机关党委（直属党委、总支）按 24 项百分制总积分排定座次，前 {WINNERS} 名为"
        f"年度优胜单位：{len(winners)} 个，分数线 {cutoff}，来自 {len(tiers)} 个层级"
    )
    result.highlights.append(
        f"半年通报（占 40%）领先：{leader.name} {leader.total} 分；年终述职评议逐项核实，"
        f"{oversold} 个单位述职好于实绩，列为问题并约谈提醒"
    )
    close_and_roll(store, clock, result, orgs, year, scheme(year + 1), office, rng, "市直机关工委")
    return result
