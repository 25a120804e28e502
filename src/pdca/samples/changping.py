"""Sample ``changping`` (seed 004, 长平公司): the "113" target-performance model.

The company's party committee (公司党委) signs a target responsibility letter (目标责任书)
with each of its 10 grassroots branches and 10 party and mass departments (党群部门) for the
year, and assesses them every quarter: each organization's year cycle has four child
cycles 2025-Q1 … 2025-Q4 that inherit the year's scheme, open one after the other (the
previous quarter closed first, its open problems carried into the next) and are ranked
on their own.

* **Branches** (scheme ``CP-YYYY``, peer group 基层党支部): the committee's 10 key items
  in key, common and safety targets, scored by self-assessment (工作自评 20%), the
  departments (部门考评 50%) and a democratic evaluation at the quarterly review meeting
  (民主测评 30%, highest and lowest dropped). The special inspection (专项督查) checks the
  one-vote-veto items — "三违"帮教, 精神文明, 安全目标 — and finds problems; one veto hit
  (a safety accident) gives the branch the lowest grade and no award whatever its total.
  The top 3 are rewarded from the special fund; the lowest band two quarters running
  means a warning talk (诫勉谈话) for the secretary, last place three times running means
  removal (末位淘汰).
* **Departments** (scheme ``CP-BM-YYYY``, peer group 党群部门): the company leaders'
  evaluation, the branches' evaluation of their service (服务基层评价), mutual evaluation
  and safety and business targets; ranked in a 2:7:1 forced distribution paid at 120%,
  100% and 80%. (The article ranks departments monthly; the sample does it quarterly.)

The two groups are assessed under two schemes because their contents, methods and
outcome rules differ (an outcome rule applies to every peer group of its scheme). Each
quarter's results of both schemes are shown together in ``results_by_period``; every row
names its scheme.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from pdca.clock import FixedClock
from pdca.domain.actor import Actor
from pdca.domain.model import Finding, FindingState, TargetOrigin
from pdca.services.store import Store
from pdca.services.unit_of_work import UnitOfWork

from ._common import (
    OrgDef,
    SampleRun,
    add_orgs,
    at,
    open_cycles,
    rectify_some,
    require_empty,
    show_plan,
    verify_some,
)

NAME = "changping"
ARTICLE = "004 长平公司党建目标绩效管理“113”模式"
ASSESSOR = OrgDef("CPGS", "中共长平公司委员会", "党委")
BRANCH_GROUP = "基层党支部"
DEPT_GROUP = "党群部门"
BRANCHES = [
    ("CP-Z01", "综采一队党支部"),
    ("CP-Z02", "综采二队党支部"),
    ("CP-Z03", "掘进一队党支部"),
    ("CP-Z04", "掘进二队党支部"),
    ("CP-Z05", "机电队党支部"),
    ("CP-Z06", "运输队党支部"),
    ("CP-Z07", "通风队党支部"),
    ("CP-Z08", "洗煤厂党支部"),
    ("CP-Z09", "调度中心党支部"),
    ("CP-Z10", "后勤服务中心党支部"),
]
DEPARTMENTS = [
    ("CP-B01", "党委办公室", 0.93),
    ("CP-B02", "党委组织部", 0.90),
    ("CP-B03", "党委宣传部", 0.87),
    ("CP-B04", "纪委办公室", 0.85),
    ("CP-B05", "工会", 0.82),
    ("CP-B06", "团委", 0.80),
    ("CP-B07", "企业文化部", 0.78),
    ("CP-B08", "武装保卫部", 0.76),
    ("CP-B09", "信访办公室", 0.73),
    ("CP-B10", "离退休管理部", 0.69),
]
#: The quality of each branch's work quarter by quarter. Scripted so the year shows every
#: rule: Z01 is the best branch but has a safety accident in Q2 (veto); Z07 is in the
#: lowest band in Q1 and Q2 (warning talk at Q2); Z10 slides to last place from Q2 on
#: (warning talks at Q3 and Q4, removal at Q4).
QUALITY: dict[str, tuple[float, float, float, float]] = {
    "CP-Z01": (0.95, 0.96, 0.95, 0.96),
    "CP-Z02": (0.90, 0.89, 0.91, 0.90),
    "CP-Z03": (0.86, 0.87, 0.85, 0.88),
    "CP-Z04": (0.83, 0.81, 0.84, 0.82),
    "CP-Z05": (0.88, 0.92, 0.89, 0.86),
    "CP-Z06": (0.80, 0.82, 0.79, 0.81),
    "CP-Z07": (0.60, 0.63, 0.76, 0.80),
    "CP-Z08": (0.84, 0.85, 0.87, 0.85),
    "CP-Z09": (0.78, 0.79, 0.80, 0.83),
    "CP-Z10": (0.74, 0.56, 0.55, 0.56),
}
VETO_BRANCH, VETO_QUARTER, VETO_ITEM = "CP-Z01", 2, "V3"
ORGS_B = [OrgDef(c, n, "党支部", ASSESSOR.code, BRANCH_GROUP, QUALITY[c][0]) for c, n in BRANCHES]
ORGS_D = [OrgDef(c, n, "党群部门", ASSESSOR.code, DEPT_GROUP, q) for c, n, q in DEPARTMENTS]
ORGS = ORGS_B + ORGS_D
KEY_ITEMS = {
    "K01": "政治理论学习",
    "K02": "“三会一课”和组织生活",
    "K03": "党员发展和教育管理",
    "K04": "“党员先锋示范岗”",
    "K05": "“创先争优”活动",
    "K06": "宣传思想和企业文化",
    "K07": "党风廉政建设",
    "K08": "工会、共青团工作",
    "K09": "职工思想政治工作和队伍稳定",
    "K10": "党建保安全（党员身边无事故）",
}
VETO_ITEMS = {"V1": "“三违”帮教", "V2": "精神文明", "V3": "安全目标"}
DEMOCRATIC_RATERS = 4
PROBLEMS = {
    "K02": "“三会一课”记录不规范，个别党员无故缺席",
    "K04": "党员先锋示范岗作用发挥不明显",
    "K07": "廉政风险点排查不全",
    "K09": "职工思想动态分析流于形式",
    "K10": "党员安全责任区隐患排查记录缺失",
}
WARNING = "诫勉谈话（支部书记）"
REMOVAL = "末位淘汰（支部书记岗位）"
REWARD = "党群工作绩效专项奖励"


def scheme(year: int) -> dict[str, Any]:
    """The branches' scheme for ``year`` (the quarters inherit it)."""
    methods = {"自评": "20%", "考评": "50%", "民主测评": "30%"}  # 工作自评, 部门考评
    return {
        "code": f"CP-{year}",
        "title": f"长平公司{year}年度基层党支部党建目标绩效考核办法",
        "period": str(year),
        "issuer": ASSESSOR.code,
        "scope": [c for c, _n in BRANCHES],
        "checkpoints": [
            {"code": "quarterly", "kind": "quarterly", "name": "季度考核讲评", "weight": 1},
            # No weight: it checks the veto items and finds problems. (An item's methods
            # apply at every checkpoint, so a check scoring only some items can't weigh.)
            {"code": "special", "kind": "special", "name": "专项督查", "weight": 0},
        ],
        "drop_extremes": ["民主测评"],
        "grade_bands": [
            {"name": "优秀", "min": 90},
            {"name": "良好", "min": 80},
            {"name": "一般", "min": 70},
            {"name": "较差", "min": 0},
        ],
        "outcomes": [
            {"kind": "top_n", "label": REWARD, "n": 3},
            {"kind": "streak", "label": WARNING, "periods": 2, "when": {"grade_in": ["较差"]}},
            {"kind": "streak", "label": REMOVAL, "periods": 3, "when": {"last": True}},
        ],
        "categories": [
            {
                "code": "ZD",
                "name": "重点目标",
                "items": [
                    {"code": c, "title": KEY_ITEMS[c], "max_score": 10, "methods": methods}
                    for c in ("K01", "K02", "K03", "K04", "K05")
                ],
            },
            {
                "code": "GX",
                "name": "共性目标",
                "items": [
                    *(
                        {"code": c, "title": KEY_ITEMS[c], "max_score": 10, "methods": methods}
                        for c in ("K06", "K07", "K08", "K09")
                    ),
                    {"code": "V2", "title": VETO_ITEMS["V2"], "rule": "一票否决"},
                ],
            },
            {
                "code": "AQ",
                "name": "安全绩效目标",
                "items": [
                    {"code": "K10", "title": KEY_ITEMS["K10"], "max_score": 10, "methods": methods},
                    {"code": "V1", "title": VETO_ITEMS["V1"], "rule": "一票否决"},
                    {"code": "V3", "title": VETO_ITEMS["V3"], "rule": "一票否决"},
                ],
            },
        ],
    }


def dept_scheme(year: int) -> dict[str, Any]:
    """The departments' scheme for ``year``."""
    return {
        "code": f"CP-BM-{year}",
        "title": f"长平公司{year}年度党群部门绩效考核办法",
        "period": str(year),
        "issuer": ASSESSOR.code,
        "scope": [c for c, _n, _q in DEPARTMENTS],
        "checkpoints": [
            {"code": "quarterly", "kind": "quarterly", "name": "季度联合督导考核", "weight": 1}
        ],
        "drop_extremes": ["民主测评", "互评"],
        "outcomes": [
            {
                "kind": "forced_distribution",
                "label": "板块化2:7:1薪酬兑现",
                "ratios": [2, 7, 1],
                "labels": ["前20%", "中70%", "后10%"],
                "factors": ["1.2", "1.0", "0.8"],
            }
        ],
        "categories": [
            {
                "code": "PJ",
                "name": "评价",
                "items": [
                    {"code": "B1", "title": "公司领导评价", "max_score": 20},
                    {
                        "code": "B2",
                        "title": "服务基层评价",
                        "max_score": 25,
                        "methods": {"民主测评": 1},
                    },
                    {
                        "code": "B3",
                        "title": "党群部门互评",
                        "max_score": 20,
                        "methods": {"互评": 1},
                    },
                ],
            },
            {
                "code": "ZB",
                "name": "指标",
                "items": [
                    {"code": "B4", "title": "安全生产", "max_score": 15},
                    {"code": "B5", "title": "综合业务", "max_score": 20},
                ],
            },
        ],
    }


def _value(max_score: int, q: float, rng: random.Random, spread: float = 0.05) -> Decimal:
    v = max(0.0, min(1.0, q + rng.uniform(-spread, spread))) * max_score
    return Decimal(str(round(v * 2))) / 2


def _merge(branches: dict[str, Any], depts: dict[str, Any]) -> dict[str, Any]:
    """Both schemes' results for one quarter, each row naming its scheme."""
    return {
        "scheme": f"{branches['scheme']} + {depts['scheme']}",
        "schemes": {BRANCH_GROUP: branches["scheme"], DEPT_GROUP: depts["scheme"]},
        "period": branches["period"],
        "tie_rule": branches["tie_rule"],
        "rounding": branches["rounding"],
        "results": [
            *({**r, "scheme": branches["scheme"]} for r in branches["results"]),
            *({**r, "scheme": depts["scheme"]} for r in depts["results"]),
        ],
    }


def _score_quarter(uow: UnitOfWork, period: str, q: int, rng: random.Random, inspector: str) -> int:
    """The quarterly review: branches by self, departments and democratic evaluation;
    departments by the leaders, the branches, each other and their targets."""
    n = 0
    for o in ORGS_B:
        quality = QUALITY[o.code][q - 1]
        others = [x for x in ORGS if x.code != o.code]
        raters = rng.sample(others, DEMOCRATIC_RATERS)
        for item in KEY_ITEMS:
            uow.enter_score(
                o.code,
                period,
                item,
                "quarterly",
                "self",
                _value(10, quality + 0.05, rng),
                assessor=f"{o.name}书记",
                assessor_org=o.code,
            )
            uow.enter_score(
                o.code,
                period,
                item,
                "quarterly",
                "panel",
                _value(10, quality, rng),
                assessor="党群部门考评组",
                assessor_org=ASSESSOR.code,
            )
            for r in raters:
                uow.enter_score(
                    o.code,
                    period,
                    item,
                    "quarterly",
                    "democratic",
                    _value(10, quality, rng, 0.1),
                    assessor=f"{r.name}代表",
                    assessor_org=r.code,
                )
            n += 2 + len(raters)
    for o in ORGS_D:
        quality = o.quality + rng.uniform(-0.02, 0.02)
        uow.enter_score(
            o.code,
            period,
            "B1",
            "quarterly",
            "panel",
            _value(20, quality, rng),
            assessor="公司领导",
            assessor_org=ASSESSOR.code,
        )
        for b in rng.sample(ORGS_B, 5):
            uow.enter_score(
                o.code,
                period,
                "B2",
                "quarterly",
                "democratic",
                _value(25, quality, rng, 0.1),
                assessor=f"{b.name}书记",
                assessor_org=b.code,
            )
        for d in rng.sample([x for x in ORGS_D if x.code != o.code], 4):
            uow.enter_score(
                o.code,
                period,
                "B3",
                "quarterly",
                "mutual",
                _value(20, quality, rng, 0.08),
                assessor=f"{d.name}负责人",
                assessor_org=d.code,
            )
        for item, top in (("B4", 15), ("B5", 20)):
            uow.enter_score(
                o.code,
                period,
                item,
                "quarterly",
                "panel",
                _value(top, quality, rng),
                assessor=inspector,
                assessor_org=ASSESSOR.code,
            )
        n += 1 + 5 + 4 + 2
    return n


def _special(
    uow: UnitOfWork, period: str, q: int, year: int, month: int, rng: random.Random
) -> tuple[int, str | None]:
    """The special inspection (专项督查): the veto items, and problems found on site."""
    n = 0
    hit: str | None = None
    for o in ORGS_B:
        for item in VETO_ITEMS:
            hits = 1 if (o.code, q, item) == (VETO_BRANCH, VETO_QUARTER, VETO_ITEM) else 0
            uow.enter_score(
                o.code,
                period,
                item,
                "special",
                "panel",
                hits,
                assessor="专项督查组",
                assessor_org=ASSESSOR.code,
                comment="本季度发生一般安全事故，安全目标一票否决" if hits else None,
            )
            n += 1
            if hits:
                hit = o.code
                uow.add_finding(
                    o.code,
                    period,
                    item,
                    "本季度发生一般安全事故，安全目标未完成（一票否决）",
                    checkpoint="special",
                    severity="serious",
                    source="inspection",
                    deadline=dt.date(year, month, 28),
                )
        quality = QUALITY[o.code][q - 1]
        if rng.random() > quality:
            item = rng.choice(sorted(PROBLEMS))
            uow.add_finding(
                o.code,
                period,
                item,
                PROBLEMS[item],
                checkpoint="special",
                severity="general",
                source="inspection",
                deadline=dt.date(year, month, 28),
            )
    return n, hit


def _thread_counts(findings: list[Finding]) -> tuple[int, int, int, int]:
    """Problems of the year, each counted once in its final state within the year:
    (total, resolved, waived, carried out of the year)."""
    final: dict[int, Finding] = {}
    for f in findings:
        root = f.root_id or f.id
        assert root is not None
        if root not in final or f.carry_count > final[root].carry_count:
            final[root] = f
    states = [f.state for f in final.values()]
    return (
        len(states),
        sum(s == FindingState.RESOLVED for s in states),
        sum(s == FindingState.WAIVED for s in states),
        sum(s == FindingState.CARRIED for s in states),
    )


def run(store: Store, clock: FixedClock, year: int) -> SampleRun:
    rng = random.Random(year)
    committee = Actor("公司党委组织部", org=ASSESSOR.code, role="system")
    panel = Actor("党群部门联合督导组", org=ASSESSOR.code, role="system")
    y = str(year)
    code, dcode = f"CP-{year}", f"CP-BM-{year}"
    result = SampleRun(NAME, ARTICLE, code, y, str(year + 1))
    quarters = [f"{y}-Q{q}" for q in range(1, 5)]

    # Target (绩效目标): the responsibility letters for the year.
    at(clock, year, 1, 4)
    with store.unit_of_work(committee) as uow:
        require_empty(uow)
        add_orgs(uow, [ASSESSOR, *ORGS])
        uow.add_scheme(scheme(year))
        uow.add_scheme(dept_scheme(year))
        result.organizations = len(ORGS)
    at(clock, year, 1, 5)
    with store.unit_of_work(committee) as uow:
        result.measures += open_cycles(uow, ORGS_B, y, code, rng, lead_unit="党委组织部")
        result.measures += open_cycles(uow, ORGS_D, y, dcode, rng, lead_unit="党委办公室")

    history: dict[str, dict[str, Any]] = {}
    vetoed: str | None = None
    for q, period in enumerate(quarters, start=1):
        first = 3 * q - 2
        last_month = 3 * q
        # Each quarter's cycles open once the previous quarter is closed; its open
        # problems are carried in as targets.
        at(clock, year, first, 6 if q == 1 else 8)
        with store.unit_of_work(committee) as uow:
            open_cycles(uow, ORGS, period, None, rng, lead_unit="党委组织部", measures=False)
        # Implementation (绩效实施): the monthly reviews (月度讲评会).
        for month in range(first, last_month + 1):
            at(clock, year, month, 26)
            with store.unit_of_work(committee) as uow:
                for o in ORGS:
                    uow.add_record(
                        o.code,
                        period,
                        "monthly-review",
                        dt.date(year, month, 25),
                        f"{month}月党建绩效讲评会",
                    )
                    result.records += 1
        # Assessment (绩效考核): special inspection, then the quarterly review meeting.
        at(clock, year, last_month, 27)
        with store.unit_of_work(panel) as uow:
            n, hit = _special(uow, period, q, year, last_month, rng)
            result.scores += n
            vetoed = vetoed or hit
        at(clock, year, last_month, 28)
        with store.unit_of_work(panel) as uow:
            for o in ORGS:
                uow.begin_check(o.code, period)
            result.scores += _score_quarter(uow, period, q, rng, "党群部门联合督导组")
            merged = _merge(
                uow.results(code, period).as_dict(), uow.results(dcode, period).as_dict()
            )
            result.results_by_period[period] = merged
            history[period] = merged
            # Evaluation (绩效评价): ranked, scored and fed back at the review meeting.
            for o in ORGS:
                uow.act(o.code, period, reason="季度讲评会：总结、交流、讲评、打分排名")
        # Reward (奖惩兑现) and rectification; the quarter is closed before the next opens.
        at(clock, year, last_month, 30)
        with store.unit_of_work(committee) as uow:
            rectify_some(uow, period, rng, 0.7)
        with store.unit_of_work(panel) as uow:
            verify_some(uow, period, rng, 0.5, "党群部门联合督导组")
            for o in ORGS:
                uow.close(o.code, period, reason="季度兑现完毕")
    result.results = result.results_by_period[quarters[-1]]

    # The year: closed after its quarters. What the year showed goes into next year's
    # letters: the vetoed branch's safety target and the removed secretary's branch.
    warned = _outcome_orgs(history, WARNING)
    removed = _outcome_orgs(history, REMOVAL)
    at(clock, year, 12, 31)
    with store.unit_of_work(committee) as uow:
        for o in ORGS:
            uow.begin_check(o.code, y)
        if vetoed is not None:
            uow.add_finding(
                vetoed,
                y,
                VETO_ITEM,
                "全年安全目标因二季度安全事故被一票否决，列为下年度目标责任书重点",
                checkpoint="year-end",
                severity="serious",
            )
        for org, period in removed:
            uow.add_finding(
                org,
                y,
                "K02",
                f"{period}连续三次排名末位，支部书记末位淘汰，支部班子需调整加强",
                checkpoint="year-end",
                severity="serious",
            )
        for o in ORGS:
            uow.act(o.code, y, reason="年度绩效兑现")

    _roll(store, clock, result, year, committee, rng)

    rows = {r["org"]: r for r in result.results_by_period[f"{y}-Q{VETO_QUARTER}"]["results"]}
    if vetoed is not None:
        v = rows[vetoed]
        by_total = sorted(
            (r for r in rows.values() if r["peer_group"] == BRANCH_GROUP),
            key=lambda r: -Decimal(r["total"]),
        )
        place = next(i for i, r in enumerate(by_total, start=1) if r["org"] == vetoed)
        result.highlights.append(
            f"{y}-Q{VETO_QUARTER} {v['name']} 总分 {v['total']}（同类第 {place} 高），"
            f"因安全事故一票否决：等次“{v['grade']}”，不参加前三名奖励"
        )
    result.highlights.append(
        "诫勉谈话："
        + "、".join(f"{p} {_name(history, p, o)}" for o, p in warned)
        + "；末位淘汰："
        + ("、".join(f"{p} {_name(history, p, o)}" for o, p in removed) or "无")
    )
    q4 = result.results["results"]
    bands: dict[str, int] = {}
    for r in q4:
        for x in r["outcomes"]:
            if x["kind"] == "forced_distribution":
                bands[x["band"]] = bands.get(x["band"], 0) + 1
    result.highlights.append(
        f"党群部门 {len(ORGS_D)} 个按 2:7:1 排名兑现（{y}-Q4："
        + "，".join(f"{k} {v} 个" for k, v in bands.items())
        + "，薪酬系数 1.2/1.0/0.8）"
    )
    return result


def _name(history: dict[str, dict[str, Any]], period: str, org: str) -> str:
    return str(next(r["name"] for r in history[period]["results"] if r["org"] == org))


def _outcome_orgs(history: dict[str, dict[str, Any]], label: str) -> list[tuple[str, str]]:
    return [
        (r["org"], period)
        for period, res in history.items()
        for r in res["results"]
        if any(x["label"] == label for x in r["outcomes"])
    ]


def _roll(
    store: Store, clock: FixedClock, result: SampleRun, year: int, actor: Actor, rng: random.Random
) -> None:
    """Close the year (its quarters are closed), issue next year's schemes, open next
    year's cycles and its first quarter: the year's problems go to the year plan, the
    last quarter's to the first quarter's plan."""
    y, nxt = str(year), str(year + 1)
    at(clock, year + 1, 1, 6)
    with store.unit_of_work(actor) as uow:
        for o in ORGS:
            uow.close(o.code, y, reason="年度考核结束")
        found = [
            f
            for period in (y, *(f"{y}-Q{q}" for q in range(1, 5)))
            for f in uow.findings(period=period)
        ]
        (
            result.findings_total,
            result.findings_resolved,
            result.findings_waived,
            result.findings_carried_forward,
        ) = _thread_counts(found)
        result.cycles_closed = len(ORGS) * 5
    at(clock, year + 1, 1, 8)
    with store.unit_of_work(actor) as uow:
        uow.add_scheme(scheme(year + 1))
        uow.add_scheme(dept_scheme(year + 1))
        result.scheme_next = f"CP-{nxt}"
        for o in ORGS:
            sch = f"CP-{nxt}" if o.peer_group == BRANCH_GROUP else f"CP-BM-{nxt}"
            for period, scheme_code in ((nxt, sch), (f"{nxt}-Q1", None)):
                cyc = uow.open_cycle(o.code, period, scheme=scheme_code)
                result.cycles_opened += 1
                result.carried_targets += sum(t.origin == TargetOrigin.CARRIED for t in cyc.targets)
    result.next_plan = show_plan(store, [o.code for o in ORGS], nxt)
