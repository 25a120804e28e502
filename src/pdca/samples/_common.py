"""Building blocks shared by the sample years: organizations, plans, scoring, rollover.

Every sample is deterministic: a fixed clock walks through the year and a random
generator seeded with the year decides the details.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pendulum
from attrs import define, field

from pdca.clock import FixedClock
from pdca.domain.actor import Actor
from pdca.domain.model import FindingState, TargetOrigin
from pdca.domain.period import Period
from pdca.domain.scheme import PEER_METHODS, ItemSpec, SchemeSpec
from pdca.errors import PdcaError
from pdca.services.store import Store
from pdca.services.unit_of_work import UnitOfWork

#: Whether the samples close the year and open the next themselves (``pdca demo``) or stop
#: after issuing next year's scheme (``pdca demo --no-rollover``, then ``pdca rollover``).
ROLL_OVER: ContextVar[bool] = ContextVar("ROLL_OVER", default=True)

__all__ = [
    "ROLL_OVER",
    "SURNAMES",
    "OrgDef",
    "SampleRun",
    "at",
    "close_and_roll",
    "enter_random_scores",
    "open_cycles",
    "require_empty",
]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = (
    "建国",
    "丽华",
    "志强",
    "晓燕",
    "国庆",
    "红梅",
    "伟",
    "敏",
    "刚",
    "静",
    "磊",
    "婷",
    "斌",
    "海文",
    "秀英",
    "俊",
    "丹",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
)


@define
class OrgDef:
    code: str
    name: str
    kind: str
    parent: str | None = None
    peer_group: str | None = None
    quality: float = 0.8  # how well the organization works, 0..1 (drives its scores)


@define
class SampleRun:
    """What a sample did, for the CLI's summary and --json."""

    sample: str
    article: str
    scheme: str
    period_from: str
    period_to: str
    organizations: int = 0
    cycles_closed: int = 0
    cycles_opened: int = 0
    findings_total: int = 0
    findings_resolved: int = 0
    findings_waived: int = 0
    findings_carried_forward: int = 0
    carried_targets: int = 0
    records: int = 0
    measures: int = 0
    scores: int = 0
    scheme_next: str | None = None
    results: dict[str, Any] = field(factory=dict)
    results_by_period: dict[str, Any] = field(factory=dict)
    next_plan: dict[str, Any] = field(factory=dict)
    highlights: list[str] = field(factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "sample": self.sample,
            "article": self.article,
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
            "scores": self.scores,
            "highlights": self.highlights,
            "results": self.results,
            "next_plan": self.next_plan,
        }
        if self.results_by_period:
            out["results_by_period"] = self.results_by_period
        return out


def at(clock: FixedClock, year: int, month: int, day: int, hour: int = 10) -> None:
    """Move the sample's clock to a day (Asia/Shanghai)."""
    clock.set(pendulum.datetime(year, month, day, hour, tz="Asia/Shanghai"))


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def require_empty(uow: UnitOfWork) -> None:
    n = len(uow.organizations())
    if n:
        raise PdcaError(
            "the demo needs an empty database, and this one already holds "
            f"{n} organizations (the demo ran here before?); "
            "run it with --db pointing at a new database"
        )


def add_orgs(uow: UnitOfWork, orgs: Sequence[OrgDef]) -> None:
    for o in orgs:
        uow.add_organization(o.code, o.name, o.kind, parent=o.parent, peer_group=o.peer_group)


def open_cycles(
    uow: UnitOfWork,
    orgs: Sequence[OrgDef],
    period: str,
    scheme: str | None,
    rng: random.Random,
    *,
    lead_unit: str,
    measures: bool = True,
    approve: bool = True,
) -> int:
    """Open each organization's cycle, assign responsibilities, add a measure per target,
    approve the plan and start the work. Returns the number of measures added."""
    added = 0
    p = Period.parse(period)
    for o in orgs:
        cyc = uow.open_cycle(o.code, period, scheme=scheme)
        secretary = person(rng)
        for tgt in cyc.targets:
            assert tgt.id is not None
            uow.update_target(
                tgt.id,
                first_responsible=secretary,
                direct_responsible=person(rng),
                lead_unit=lead_unit,
                responsible_unit=o.name,
            )
            if measures and tgt.origin != TargetOrigin.CARRIED:
                uow.add_measure(tgt.id, f"落实{tgt.title}", owner=secretary, due_on=p.end)
                added += 1
        if approve:
            uow.approve_plan(o.code, period)
            uow.start(o.code, period)
    return added


def _quantize(d: Decimal, step: Decimal) -> Decimal:
    return (d / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def value_for(item: ItemSpec, spec: SchemeSpec, quality: float, rng: random.Random) -> Any:
    """A realistic value for an item, for an organization of the given quality."""
    q = min(max(quality + rng.uniform(-0.08, 0.08), 0.0), 1.0)
    if item.rule == "grade":
        assert item.scale is not None
        labels = sorted(spec.grade_scales[item.scale].items(), key=lambda kv: -kv[1])
        idx = 0 if q >= 0.85 else (1 if q >= 0.65 else len(labels) - 1)
        return labels[min(idx, len(labels) - 1)][0]
    if item.rule in ("deduction", "penalty"):
        return max(0, round((1 - q) * 4 + rng.uniform(-1, 1)))
    if item.rule == "veto":
        return 0
    if item.rule == "bonus":
        return _quantize(
            item.max_score * Decimal(str(round(max(q - 0.7, 0) * 3, 2))), Decimal("0.5")
        ).min(item.max_score)
    v = item.max_score * Decimal(str(round(q, 3)))
    return _quantize(v, Decimal("0.5")).min(item.max_score).max(Decimal(0))


def enter_random_scores(
    uow: UnitOfWork,
    orgs: Sequence[OrgDef],
    spec: SchemeSpec,
    period: str,
    checkpoints: Sequence[str],
    rng: random.Random,
    *,
    assessor_org: str,
    mutual_raters: int = 3,
    skip: Callable[[OrgDef, ItemSpec], bool] | None = None,
) -> int:
    """Score every organization on every item by every method at the given checkpoints."""
    n = 0
    by_group: dict[str | None, list[OrgDef]] = {}
    for o in orgs:
        by_group.setdefault(o.peer_group, []).append(o)
    for cp in checkpoints:
        for o in orgs:
            peers = [x for x in by_group[o.peer_group] if x.code != o.code] or [
                x for x in orgs if x.code != o.code
            ]
            for item in spec.items():
                if item.rule == "count" or (skip is not None and skip(o, item)):
                    continue
                for method in item.methods:
                    if method == "commentary":
                        uow.enter_score(
                            o.code,
                            period,
                            item.code,
                            cp,
                            method,
                            "整体较好，需在细节上下功夫"
                            if o.quality > 0.75
                            else "基础薄弱，需加强整改",
                            assessor="机关党委",
                            assessor_org=assessor_org,
                        )
                        n += 1
                        continue
                    if method == "self":
                        raters = [(f"{o.name}书记", o.code)]
                    elif method in PEER_METHODS and method != "panel":
                        chosen = rng.sample(peers, min(mutual_raters, len(peers)))
                        raters = [(f"{x.name}代表", x.code) for x in chosen]
                    else:
                        raters = [("考评组", assessor_org)]
                    for who, who_org in raters:
                        bias = 0.05 if method == "self" else 0.0
                        uow.enter_score(
                            o.code,
                            period,
                            item.code,
                            cp,
                            method,
                            value_for(item, spec, o.quality + bias, rng),
                            assessor=who,
                            assessor_org=who_org,
                        )
                        n += 1
    return n


def close_and_roll(
    store: Store,
    clock: FixedClock,
    run: SampleRun,
    orgs: Sequence[OrgDef],
    year: int,
    next_scheme: Mapping[str, Any],
    actor: Actor,
    rng: random.Random,
    lead_unit: str,
) -> None:
    """Close the year (unresolved problems carried), issue next year's scheme and open
    next year's plans, which start from the carried problems.

    Under ``ROLL_OVER.set(False)`` only next year's scheme is issued: the year stays in
    ``acting``, ready for ``pdca rollover``.
    """
    nxt = year + 1
    if not ROLL_OVER.get():
        at(clock, nxt, 1, 6)
        with store.unit_of_work(actor) as uow:
            uow.add_scheme(dict(next_scheme))
            run.scheme_next = str(next_scheme["code"])
            found = uow.findings(period=str(year))
            run.findings_total = len(found)
            run.findings_resolved = sum(f.state == FindingState.RESOLVED for f in found)
            run.findings_waived = sum(f.state == FindingState.WAIVED for f in found)
            run.findings_carried_forward = sum(
                f.state in (FindingState.OPEN, FindingState.RECTIFYING) for f in found
            )
        run.highlights.append(
            f"the year is left in acting; next: pdca rollover --from {year} --to {nxt} "
            f"--scheme {run.scheme_next}"
        )
        return
    at(clock, nxt, 1, 8)
    with store.unit_of_work(actor) as uow:
        for o in orgs:
            uow.close(o.code, str(year), reason="年度考核结束")
        found = uow.findings(period=str(year))
        run.findings_total = len(found)
        run.findings_resolved = sum(f.state == FindingState.RESOLVED for f in found)
        run.findings_waived = sum(f.state == FindingState.WAIVED for f in found)
        run.findings_carried_forward = sum(f.state == FindingState.CARRIED for f in found)
        run.cycles_closed = len(orgs)
    at(clock, nxt, 1, 12)
    with store.unit_of_work(actor) as uow:
        uow.add_scheme(dict(next_scheme))
        run.scheme_next = str(next_scheme["code"])
        for o in orgs:
            cyc = uow.open_cycle(o.code, str(nxt), scheme=run.scheme_next)
            run.cycles_opened += 1
            run.carried_targets += sum(t.origin == TargetOrigin.CARRIED for t in cyc.targets)
    run.next_plan = show_plan(store, [o.code for o in orgs], str(nxt))


def show_plan(store: Store, codes: Sequence[str], period: str) -> dict[str, Any]:
    """The new plan of the organization carrying the most problems."""
    with store.unit_of_work() as uow:
        best = max(
            codes,
            key=lambda c: (
                sum(t.origin == TargetOrigin.CARRIED for t in uow.cycle(c, period).targets),
                c,
            ),
        )
        org = uow.organization(best)
        cyc = uow.cycle(org.code, period)
        targets = []
        for tgt in cyc.targets:
            entry: dict[str, Any] = {
                "title": tgt.title,
                "origin": tgt.origin,
                "item": tgt.item_code,
                "due_on": tgt.due_on.isoformat() if tgt.due_on else None,
            }
            if tgt.origin == TargetOrigin.CARRIED:
                assert tgt.carried_from_id is not None
                prev = uow.finding(tgt.carried_from_id)
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
            "period": period,
            "state": cyc.state,
            "targets": targets,
        }


def find_and_fix(
    uow: UnitOfWork,
    orgs: Sequence[OrgDef],
    period: str,
    problems: Mapping[str, str],
    rng: random.Random,
    *,
    checkpoint: str,
    deadline: dt.date | None = None,
) -> int:
    """Checks find problems, more of them in weaker organizations."""
    n = 0
    codes = list(problems)
    for o in orgs:
        k = max(0, round((1 - o.quality) * 5 + rng.uniform(-0.6, 0.6)))
        for item_code in rng.sample(codes, min(k, len(codes))):
            uow.add_finding(
                o.code,
                period,
                item_code,
                problems[item_code],
                checkpoint=checkpoint,
                severity=rng.choice(["minor", "general", "general", "serious"]),
                deadline=deadline,
            )
            n += 1
    return n


def rectify_some(uow: UnitOfWork, period: str, rng: random.Random, share: float) -> None:
    for fnd in uow.findings(period=period, state=FindingState.OPEN.value):
        assert fnd.id is not None
        if rng.random() < share:
            uow.rectify(fnd.id, plan=f"制定整改清单：{fnd.description}", owner=person(rng))


def verify_some(uow: UnitOfWork, period: str, rng: random.Random, share: float, by: str) -> None:
    for fnd in uow.findings(period=period, state=FindingState.RECTIFYING.value):
        assert fnd.id is not None
        if rng.random() < share:
            uow.verify(fnd.id, verified_by=by, note="现场核查，整改到位")
