"""``pdca demo``: one whole assessment year and its rollover, on the Xiangtan model.

The demo follows seed article 000 (湘潭市审计局): an organ's party committee (机关党委)
assesses its party branches (党支部) and party groups (党小组) against a scheme in five
categories; the year runs plan → do (monthly arrangements, daily records) → check
(daily, mid-year and year-end checks that find problems) → act (problems rectified and
verified, or not); at year end the cycles close and next year's plans open already holding
every unresolved problem, each saying where it came from (改进反馈).

Everything is deterministic: a fixed clock walks through the year and a seeded random
generator decides which problems get fixed.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pendulum
from attrs import define, field

from pdca.clock import FixedClock
from pdca.domain.model import FindingState, TargetOrigin
from pdca.errors import PdcaError
from pdca.services.store import Store

__all__ = ["ASSESSOR", "DemoResult", "run_demo", "xiangtan_scheme"]

ASSESSOR = ("XTSJ", "湘潭市审计局机关党委", "机关党委")

BRANCHES = [
    ("XTSJ-BGS", "办公室党支部"),
    ("XTSJ-CZ", "财政审计科党支部"),
    ("XTSJ-JZ", "经济责任审计科党支部"),
    ("XTSJ-QY", "企业审计科党支部"),
    ("XTSJ-NY", "农业与资源环保审计科党支部"),
    ("XTSJ-GT", "固定资产投资审计科党支部"),
    ("XTSJ-SB", "社会保障审计科党支部"),
    ("XTSJ-LT", "离退休干部党支部"),
]
GROUPS = [
    ("XTSJ-BGS-1", "办公室第一党小组", "XTSJ-BGS"),
    ("XTSJ-BGS-2", "办公室第二党小组", "XTSJ-BGS"),
    ("XTSJ-CZ-1", "财政审计第一党小组", "XTSJ-CZ"),
    ("XTSJ-CZ-2", "财政审计第二党小组", "XTSJ-CZ"),
    ("XTSJ-LT-1", "离退休第一党小组", "XTSJ-LT"),
    ("XTSJ-LT-2", "离退休第二党小组", "XTSJ-LT"),
]
SECRETARIES = [
    "王海文",
    "李建国",
    "张丽华",
    "刘志强",
    "陈晓燕",
    "杨国庆",
    "赵红梅",
    "黄伟",
    "周敏",
    "吴刚",
    "徐静",
    "孙磊",
    "胡婷",
    "朱斌",
]

# The five categories of the Xiangtan article (思想建设、组织建设等五大类), two items each.
CATEGORIES: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    (
        "SX",
        "思想建设",
        [
            ("SX1", "理论学习", "学习记录、心得体会"),
            ("SX2", "“三严三实”专题教育", "专题教育方案、学习笔记"),
        ],
    ),
    (
        "ZZ",
        "组织建设",
        [
            ("ZZ1", "“三会一课”", "会议记录、签到表"),
            ("ZZ2", "民主评议党员", "评议结果、谈心谈话记录"),
        ],
    ),
    (
        "ZF",
        "作风建设",
        [
            ("ZF1", "文明办公", "日常检查记录"),
            ("ZF2", "服务中心工作", "党建与审计业务同部署记录"),
        ],
    ),
    (
        "ZD",
        "制度建设",
        [
            ("ZD1", "档案管理", "党建档案"),
            ("ZD2", "日常工作台账", "工作台账"),
        ],
    ),
    (
        "LZ",
        "党风廉政建设",
        [
            ("LZ1", "纪检监察日常监督", "监督检查记录"),
            ("LZ2", "廉政教育", "廉政教育记录"),
        ],
    ),
]

PROBLEMS = {
    "SX1": "理论学习记录不完整，部分党员学习心得缺失",
    "SX2": "专题教育研讨发言准备不充分",
    "ZZ1": "“三会一课”会议记录不规范，签到表缺页",
    "ZZ2": "民主评议党员谈心谈话未全覆盖",
    "ZF1": "文明办公检查中发现办公区域脏乱",
    "ZF2": "党建工作与审计业务结合不紧密",
    "ZD1": "党建档案归档不及时，目录不全",
    "ZD2": "日常工作台账填写不及时",
    "LZ1": "纪检监察日常监督记录缺少整改回访",
    "LZ2": "廉政教育形式单一，覆盖面不足",
}


def xiangtan_scheme(year: int) -> dict[str, Any]:
    """The demo's scheme for ``year`` as keyword arguments of ``UnitOfWork.add_scheme``."""
    return {
        "code": f"XT-{year}",
        "title": f"{year}年度机关党建工作考核办法",
        "period": str(year),
        "issuer": ASSESSOR[0],
        "categories": [
            {
                "code": c,
                "name": n,
                "items": [
                    {"code": ic, "title": it, "max_score": 10, "evidence": ev}
                    for ic, it, ev in items
                ],
            }
            for c, n, items in CATEGORIES
        ],
    }


@define
class DemoResult:
    scheme: str
    scheme_next: str
    period_from: str
    period_to: str
    organizations: int
    cycles_closed: int
    cycles_opened: int
    findings_total: int
    findings_resolved: int
    findings_waived: int
    findings_carried_forward: int
    carried_targets: int
    records: int
    measures: int
    shown_org: dict[str, Any] = field(factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "scheme_next": self.scheme_next,
            "period_from": self.period_from,
            "period_to": self.period_to,
            "organizations": self.organizations,
            "cycles_closed": self.cycles_closed,
            "cycles_opened": self.cycles_opened,
            "findings_total": self.findings_total,
            "findings_resolved": self.findings_resolved,
            "findings_waived": self.findings_waived,
            "findings_carried_forward": self.findings_carried_forward,
            "carried_targets": self.carried_targets,
            "records": self.records,
            "measures": self.measures,
            "next_plan": self.shown_org,
        }


def _at(clock: FixedClock, year: int, month: int, day: int, hour: int = 10) -> None:
    clock.set(pendulum.datetime(year, month, day, hour, tz="Asia/Shanghai"))


def run_demo(store: Store, clock: FixedClock, year: int) -> DemoResult:
    """Run one assessment year (``year``) and open the next, on an empty store.

    ``store`` must use ``clock``; the demo moves it through the year.
    """
    rng = random.Random(year)
    office = "机关党委办公室"
    nxt = year + 1
    _at(clock, year, 1, 4)
    with store.unit_of_work(office) as uow:
        if uow.organizations():
            raise PdcaError(
                "the demo needs an empty database, and this one already holds "
                f"{len(uow.organizations())} organizations (the demo ran here before?); "
                "run it with --db pointing at a new database"
            )
        uow.add_organization(*ASSESSOR)
        for code, name in BRANCHES:
            uow.add_organization(code, name, "党支部", parent=ASSESSOR[0], peer_group="党支部")
        for code, name, parent in GROUPS:
            uow.add_organization(code, name, "党小组", parent=parent, peer_group="党小组")
        scheme = uow.add_scheme(xiangtan_scheme(year))
        orgs = [(o.code, o.name) for o in uow.scope(scheme.code)]

    secretary = dict(zip([c for c, _ in orgs], SECRETARIES, strict=False))
    measures = 0
    # Plan (January): targets from the scheme, responsibilities, monthly arrangements.
    _at(clock, year, 1, 10)
    with store.unit_of_work(office) as uow:
        for code, _name in orgs:
            cyc = uow.open_cycle(code, str(year), scheme=f"XT-{year}")
            for tgt in cyc.targets:
                uow.update_target(
                    tgt.id,  # type: ignore[arg-type]
                    first_responsible=secretary[code],
                    direct_responsible=f"{secretary[code]}（支部书记）",
                    lead_unit="机关党委",
                    responsible_unit=_name,
                )
                uow.add_measure(
                    tgt.id,  # type: ignore[arg-type]
                    f"按月落实{tgt.title}工作安排",
                    owner=secretary[code],
                    due_on=dt.date(year, 12, 15),
                )
                measures += 1
            uow.approve_plan(code, str(year))
            uow.start(code, str(year))

    # Do (February to November): monthly "三会一课" and study records.
    records = 0
    for month in range(2, 12):
        _at(clock, year, month, 28)
        with store.unit_of_work(office) as uow:
            for code, _ in orgs:
                if rng.random() < 0.9:
                    uow.add_record(
                        code,
                        str(year),
                        "meeting",
                        dt.date(year, month, 20),
                        f"{month}月支部党员大会",
                        item_code="ZZ1",
                    )
                    records += 1
                if rng.random() < 0.6:
                    uow.add_record(
                        code,
                        str(year),
                        "study",
                        dt.date(year, month, 25),
                        f"{month}月集中理论学习",
                        item_code="SX1",
                    )
                    records += 1

    # Check: daily and mid-year checks find problems (July).
    item_codes = list(PROBLEMS)
    _at(clock, year, 7, 15)
    with store.unit_of_work("机关党委考评组") as uow:
        for code, _ in orgs:
            for item_code in rng.sample(item_codes, rng.randint(1, 3)):
                uow.add_finding(
                    code,
                    str(year),
                    item_code,
                    PROBLEMS[item_code],
                    checkpoint=rng.choice(["daily", "mid-year"]),
                    severity=rng.choice(["minor", "general", "general", "serious"]),
                    source="panel",
                    deadline=dt.date(year, 10, 31),
                )
    # Act on them (August to November): most are rectified, some verified.
    _at(clock, year, 9, 1)
    with store.unit_of_work(office) as uow:
        for fnd in uow.findings(period=str(year)):
            roll = rng.random()
            if roll < 0.75:
                uow.rectify(
                    fnd.id,  # type: ignore[arg-type]
                    plan=f"制定整改清单：{fnd.description}",
                    owner=rng.choice(SECRETARIES),
                    deadline=dt.date(year, 11, 30),
                )
            elif roll < 0.8:
                uow.waive(fnd.id, reason="经核实属客观原因，不计为问题")  # type: ignore[arg-type]
    _at(clock, year, 12, 5)
    with store.unit_of_work("机关党委考评组") as uow:
        for fnd in uow.findings(period=str(year), state=FindingState.RECTIFYING.value):
            if rng.random() < 0.6:
                uow.verify(
                    fnd.id,  # type: ignore[arg-type]
                    verified_by="机关党委考评组",
                    note="现场查看资料，整改到位",
                )

    # Year-end check (自评、互评、考评、点评) and feedback; more problems found.
    _at(clock, year, 12, 20)
    with store.unit_of_work("机关党委考评组") as uow:
        for code, _ in orgs:
            uow.begin_check(code, str(year))
            if rng.random() < 0.5:
                item_code = rng.choice(item_codes)
                uow.add_finding(
                    code,
                    str(year),
                    item_code,
                    PROBLEMS[item_code],
                    checkpoint="year-end",
                    source=rng.choice(["self", "mutual", "panel"]),
                )
            uow.act(code, str(year), reason="当面反馈考核情况")

    # Close the year: unresolved problems are carried.
    _at(clock, nxt, 1, 8)
    with store.unit_of_work("机关党委") as uow:
        for code, _ in orgs:
            uow.close(code, str(year), reason="年度考核结束")
        all_findings = uow.findings(period=str(year))
        total = len(all_findings)
        resolved = sum(f.state == FindingState.RESOLVED for f in all_findings)
        waived = sum(f.state == FindingState.WAIVED for f in all_findings)
        carried = sum(f.state == FindingState.CARRIED for f in all_findings)

    # Next year's scheme and plans (改进反馈): the plans open holding last year's problems.
    _at(clock, nxt, 1, 12)
    carried_targets = 0
    with store.unit_of_work(office) as uow:
        uow.add_scheme(xiangtan_scheme(nxt))
        opened = 0
        for code, _ in orgs:
            cyc = uow.open_cycle(code, str(nxt), scheme=f"XT-{nxt}")
            opened += 1
            carried_targets += sum(t.origin == TargetOrigin.CARRIED for t in cyc.targets)

    shown = _show_plan(store, orgs, nxt)
    return DemoResult(
        scheme=f"XT-{year}",
        scheme_next=f"XT-{nxt}",
        period_from=str(year),
        period_to=str(nxt),
        organizations=len(orgs),
        cycles_closed=len(orgs),
        cycles_opened=opened,
        findings_total=total,
        findings_resolved=resolved,
        findings_waived=waived,
        findings_carried_forward=carried,
        carried_targets=carried_targets,
        records=records,
        measures=measures,
        shown_org=shown,
    )


def _show_plan(store: Store, orgs: list[tuple[str, str]], period: int) -> dict[str, Any]:
    """The new plan of the organization carrying the most problems."""
    with store.unit_of_work() as uow:
        best: tuple[int, str] = (-1, "")
        for code, _ in orgs:
            n = sum(t.origin == TargetOrigin.CARRIED for t in uow.cycle(code, str(period)).targets)
            if n > best[0]:
                best = (n, code)
        org = uow.organization(best[1])
        cyc = uow.cycle(org.code, str(period))
        targets = []
        for tgt in cyc.targets:
            entry: dict[str, Any] = {
                "title": tgt.title,
                "origin": tgt.origin,
                "item": tgt.item_code,
                "due_on": tgt.due_on.isoformat() if tgt.due_on else None,
            }
            if tgt.origin == TargetOrigin.CARRIED:
                prev = uow.finding(tgt.carried_from_id)  # type: ignore[arg-type]
                entry.update(
                    {
                        "carried_from_finding": tgt.carried_from_id,
                        "origin_period": tgt.origin_period,
                        "carry_count": tgt.carry_count,
                        "found_at": prev.checkpoint,
                        "rectification": prev.rectification,
                    }
                )
            targets.append(entry)
        return {
            "org": org.code,
            "name": org.name,
            "period": str(period),
            "state": cyc.state,
            "targets": targets,
        }
