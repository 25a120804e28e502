"""Use cases of the check half: schemes, score entry, checkpoint finalization, results.

The functions take the :class:`~pdca.services.unit_of_work.UnitOfWork` they run in; the
unit of work exposes them as methods.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attrs import field, frozen
from sqlalchemy import select

from pdca.domain.model import (
    Checkpoint,
    Cycle,
    CycleState,
    Item,
    Scheme,
    SchemeCategory,
    Score,
)
from pdca.domain.period import Period
from pdca.domain.scheme import PEER_METHODS, SchemeSpec, parse_scheme, scheme_to_data
from pdca.domain.scoring import TIE_RULE, Ranked, assign_grades, convert, evaluate_outcomes
from pdca.errors import NotFound, ValidationError
from pdca.persistence import results as sql
from pdca.persistence import tables as t

from . import validate as v
from .act import ensure_not_published

if TYPE_CHECKING:
    from .unit_of_work import UnitOfWork

__all__ = ["OrgResult", "Results"]

S4 = 10_000


# ------------------------------------------------------------------------- schemes


def scheme_data(
    spec: SchemeSpec | Mapping[str, Any] | str,
    title: str | None,
    period: str | None,
    issuer: str | None,
    scope: Sequence[str] | None,
    categories: Sequence[Mapping[str, Any]] | None,
    settings: Mapping[str, Any],
) -> SchemeSpec:
    """Build a validated spec from any of the accepted forms of ``add_scheme``."""
    if isinstance(spec, SchemeSpec):
        data: dict[str, Any] = scheme_to_data(spec)
    elif isinstance(spec, Mapping):
        data = dict(spec)
    else:
        data = {"code": spec, "title": title, "period": period}
        if issuer is not None:
            data["issuer"] = issuer
        if scope is not None:
            data["scope"] = list(scope)
        data["categories"] = list(categories or [])
        data.update(settings)
        return parse_scheme(data)
    if title is not None or period is not None or categories or settings:
        raise ValidationError(
            "add_scheme", "…", "give either a scheme (spec or mapping) or code, title, period…"
        )
    return parse_scheme(data)


def add_scheme(uow: UnitOfWork, spec: SchemeSpec) -> Scheme:
    s = uow.session
    if s.scalars(select(Scheme).where(t.scheme.c.code == spec.code)).first():
        raise ValidationError("code", spec.code, "a scheme with this code already exists")
    issuer = uow.organization(spec.issuer) if spec.issuer is not None else None
    if spec.scope is None:
        if issuer is None:
            raise ValidationError("scope", None, "give a scope or an issuer")
        scope_orgs = uow.descendants(issuer.code)
    else:
        scope_orgs = [uow.organization(code) for code in spec.scope]
    scheme = Scheme(
        code=spec.code,
        title=spec.title,
        period=spec.period,
        issuer_id=issuer.id if issuer else None,
        created_at=uow.clock.now(),
        definition=scheme_to_data(spec),
    )
    s.add(scheme)
    uow.flush()
    for ci, cat in enumerate(spec.categories):
        category = SchemeCategory(code=cat.code, name=cat.name, position=ci)
        for ii, it in enumerate(cat.items):
            category.items.append(
                Item(
                    code=it.code,
                    title=it.title,
                    max_score=it.max_score,
                    rule=it.rule,
                    evidence=it.evidence,
                    per=it.per,
                    scale=it.scale,
                    record_kind=it.record_kind,
                    target=it.target,
                    position=ii,
                    scheme_id=scheme.id,
                )
            )
        scheme.categories.append(category)
    for pi, cp in enumerate(spec.checkpoints):
        scheme.checkpoints.append(
            Checkpoint(
                code=cp.code,
                kind=cp.kind,
                name=cp.name,
                weight=cp.weight,
                on_date=cp.on,
                position=pi,
            )
        )
    uow.flush()
    methods = [
        {"item_id": item.id, "method": m, "weight": int(w * S4)}
        for cat_obj, cat_spec in zip(scheme.categories, spec.categories, strict=True)
        for item, item_spec in zip(cat_obj.items, cat_spec.items, strict=True)
        for m, w in item_spec.methods.items()
    ]
    if methods:
        s.execute(t.item_method.insert(), methods)
    if scope_orgs:
        s.execute(
            t.scheme_scope.insert(),
            [{"scheme_id": scheme.id, "org_id": o.id} for o in scope_orgs],
        )
    uow._log(
        "scheme",
        scheme.id,
        "create",
        data={
            "code": spec.code,
            "period": spec.period,
            "issuer": spec.issuer,
            "items": [i.code for i in spec.items()],
            "scope": len(scope_orgs),
        },
    )
    uow.flush()
    return scheme


# ---------------------------------------------------------------------- checkpoints


def finalize_checkpoint(uow: UnitOfWork, scheme_code: str, checkpoint_code: str) -> Checkpoint:
    scheme = uow.scheme(scheme_code)
    cp = scheme.checkpoint(checkpoint_code)
    if cp is None:
        raise NotFound("checkpoint", f"{scheme_code}/{checkpoint_code}")
    if cp.finalized_at is not None:
        raise ValidationError(
            "checkpoint", checkpoint_code, f"was finalized at {cp.finalized_at.isoformat()}"
        )
    cp.finalized_at = uow.clock.now()
    uow._log("checkpoint", cp.id, "finalize", data={"scheme": scheme_code, "code": cp.code})
    uow.flush()
    return cp


# --------------------------------------------------------------------------- scores


def enter_score(
    uow: UnitOfWork,
    org: str,
    period: str,
    item_code: str,
    checkpoint_code: str,
    method: str,
    value: Any,
    *,
    assessor: str | None,
    assessor_org: str | None,
    comment: str | None,
) -> Score:
    from pdca.domain.scheme import METHOD_ALIASES

    s = uow.session
    o = uow.organization(org)
    p = Period.parse(period)
    cyc = s.scalars(
        select(Cycle).where(t.cycle.c.org_id == o.id, t.cycle.c.period == str(p))
    ).one_or_none()
    if cyc is None:
        raise NotFound("cycle", f"{o.code}/{p}")
    if cyc.state not in (CycleState.DOING, CycleState.CHECKING):
        raise ValidationError(
            "cycle",
            f"{o.code}/{p} ({cyc.state})",
            "scores are entered only while the cycle is doing or checking",
        )
    if cyc.scheme_id is None:
        raise ValidationError("cycle", f"{o.code}/{p}", "the cycle has no scheme to score by")
    ensure_not_published(uow, cyc.scheme_id, cyc.period)
    scheme = s.get(Scheme, cyc.scheme_id)
    assert scheme is not None
    spec = scheme.spec()
    item_spec = spec.item(item_code)
    if item_spec is None:
        raise ValidationError("item", item_code, f"is not an item of scheme {scheme.code}")
    if item_spec.rule == "count":
        raise ValidationError(
            "item", item_code, "a count item is computed from the cycle's records, not entered"
        )
    cp = scheme.checkpoint(checkpoint_code)
    if cp is None:
        raise ValidationError(
            "checkpoint",
            checkpoint_code,
            f"is not a checkpoint of scheme {scheme.code} ("
            + ", ".join(c.code for c in scheme.checkpoints)
            + ")",
        )
    if cp.finalized_at is not None:
        raise ValidationError(
            "checkpoint",
            checkpoint_code,
            "is finalized: its scores change only through an appeal",
        )
    m = METHOD_ALIASES.get(str(method).strip(), str(method).strip())
    if m not in item_spec.methods:
        raise ValidationError(
            "method",
            method,
            f"item {item_code} is assessed by " + ", ".join(item_spec.methods) + " only",
        )
    who = v.text("assessor", assessor if assessor is not None else uow.actor.name, 100)
    who_org_raw = assessor_org if assessor_org is not None else uow.actor.org
    who_org = v.code("assessor_org", who_org_raw) if who_org_raw else ""
    if m == "self" and who_org != o.code:
        raise ValidationError(
            "assessor_org",
            who_org or None,
            f"a self-assessment (自评) of {o.code} is entered only by {o.code} itself",
        )
    if m in PEER_METHODS and who_org == o.code:
        raise ValidationError(
            "assessor_org",
            who_org,
            f"an organization does not score itself in the {m} method",
        )
    if m in PEER_METHODS and m != "panel" and not who_org:
        raise ValidationError(
            "assessor_org", None, f"a {m} score names the organization that gives it"
        )
    if m == "commentary":
        raw, points, hits = "", Decimal(0), 0
        text = v.text("value", value if value is not None else comment, 4000)
        comment = text
    else:
        raw, points, hits = convert(item_spec, value, spec.grade_scales)
        comment = v.optional_text("comment", comment, 4000)
    item_id = s.scalar(
        select(t.item.c.id).where(t.item.c.scheme_id == scheme.id, t.item.c.code == item_code)
    )
    assert item_id is not None
    existing = s.scalars(
        select(Score).where(
            t.score.c.cycle_id == cyc.id,
            t.score.c.item_id == item_id,
            t.score.c.checkpoint_id == cp.id,
            t.score.c.method == m,
            t.score.c.assessor == who,
            t.score.c.assessor_org == who_org,
        )
    ).one_or_none()
    data = {
        "org": o.code,
        "period": str(p),
        "item": item_code,
        "checkpoint": checkpoint_code,
        "method": m,
        "assessor": who,
        "assessor_org": who_org,
        "raw": raw,
        "points": str(points),
    }
    if existing is not None:
        before = {"raw": existing.raw, "points": str(existing.points), "comment": existing.comment}
        existing.raw, existing.points, existing.hits = raw, points, hits
        existing.comment = comment
        existing.entered_at = uow.clock.now()
        uow.flush()
        uow._log("score", existing.id, "change", data={**data, "from": before})
        return existing
    score = Score(
        cycle_id=cyc.id,  # type: ignore[arg-type]
        item_id=int(item_id),
        checkpoint_id=cp.id,  # type: ignore[arg-type]
        method=m,
        assessor=who,
        assessor_org=who_org,
        raw=raw,
        points=points,
        hits=hits,
        comment=comment,
        entered_at=uow.clock.now(),
    )
    s.add(score)
    uow.flush()
    uow._log("score", score.id, "enter", data=data)
    return score


# -------------------------------------------------------------------------- results


@frozen
class OrgResult:
    """One organization's result for a scheme and period."""

    org: str
    name: str
    peer_group: str
    total: Decimal
    base: Decimal
    bonus: Decimal
    penalty: Decimal
    subtotals: Mapping[str, Decimal]
    grade: str | None
    rank: int
    group_size: int
    veto_hits: int
    outcomes: tuple[Mapping[str, Any], ...] = field(factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "name": self.name,
            "peer_group": self.peer_group,
            "total": str(self.total),
            "base": str(self.base),
            "bonus": str(self.bonus),
            "penalty": str(self.penalty),
            "subtotals": {k: str(x) for k, x in self.subtotals.items()},
            "grade": self.grade,
            "rank": self.rank,
            "group_size": self.group_size,
            "veto_hits": self.veto_hits,
            "vetoed": self.veto_hits > 0,
            "outcomes": [dict(o) for o in self.outcomes],
        }


@frozen
class Results:
    """A scheme's results for a period: one row per organization, best first per group."""

    scheme: str
    period: str
    tie_rule: str
    rows: tuple[OrgResult, ...]

    def row(self, org: str) -> OrgResult:
        for r in self.rows:
            if r.org == org:
                return r
        raise NotFound("result", org)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "period": self.period,
            "tie_rule": self.tie_rule,
            "rounding": "half-up, 2 decimal places",
            "results": [r.as_dict() for r in self.rows],
        }


def _ranked(
    uow: UnitOfWork, scheme: Scheme, spec: SchemeSpec, period: str
) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    rows = sql.totals(uow.session, spec, scheme.id, period)  # type: ignore[arg-type]
    ranked = [
        Ranked(
            key=r["org"],
            group=r["peer_group"],
            total=r["total"],
            rank=r["rank"],
            vetoed=r["veto_hits"] > 0,
        )
        for r in rows
    ]
    return rows, assign_grades(spec, ranked)


def results(uow: UnitOfWork, scheme_code: str, period: str) -> Results:
    scheme = uow.scheme(scheme_code)
    spec = scheme.spec()
    p = str(Period.parse(period))
    sp = Period.parse(scheme.period)
    if sp != Period.parse(p) and not sp.contains(Period.parse(p)):
        raise ValidationError("period", p, f"scheme {scheme_code} is for {scheme.period}")
    rows, grades = _ranked(uow, scheme, spec, p)
    ranked = [
        Ranked(
            key=r["org"],
            group=r["peer_group"],
            total=r["total"],
            rank=r["rank"],
            vetoed=r["veto_hits"] > 0,
        )
        for r in rows
    ]
    history = _history(uow, spec, [r["org_id"] for r in rows], Period.parse(p))
    outcomes = evaluate_outcomes(spec, ranked, grades, history)
    subs: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for cycle_id, cat, value in sql.subtotals(uow.session, spec, scheme.id, p):  # type: ignore[arg-type]
        subs[cycle_id][cat] = value
    cats = [c.code for c in spec.categories]
    out = [
        OrgResult(
            org=r["org"],
            name=r["name"],
            peer_group=r["peer_group"],
            total=r["total"],
            base=r["base"],
            bonus=r["bonus"],
            penalty=r["penalty"],
            subtotals={c: subs[r["cycle_id"]].get(c, Decimal("0.00")) for c in cats},
            grade=grades[r["org"]],
            rank=r["rank"],
            group_size=r["group_size"],
            veto_hits=r["veto_hits"],
            outcomes=tuple(outcomes[r["org"]]),
        )
        for r in rows
    ]
    return Results(scheme=scheme.code, period=p, tie_rule=TIE_RULE, rows=tuple(out))


def _history(
    uow: UnitOfWork, spec: SchemeSpec, org_ids: Sequence[int], period: Period
) -> dict[str, list[dict[str, Any]]]:
    """Grades and ranks of the same organizations in the previous periods (for streaks)."""
    depth = max((int(o.params["periods"]) for o in spec.outcomes if o.kind == "streak"), default=1)
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if depth <= 1 or not org_ids:
        return history
    s = uow.session
    prev = period
    for _ in range(depth - 1):
        prev = prev.previous()
        scheme_ids = s.scalars(
            select(t.cycle.c.scheme_id)
            .where(
                t.cycle.c.period == str(prev),
                t.cycle.c.org_id.in_(org_ids),
                t.cycle.c.scheme_id.is_not(None),
            )
            .group_by(t.cycle.c.scheme_id)
        ).all()
        for sid in scheme_ids:
            past = s.get(Scheme, sid)
            assert past is not None
            past_spec = past.spec()
            rows, grades = _ranked(uow, past, past_spec, str(prev))
            last: dict[str, int] = defaultdict(int)
            for r in rows:
                last[r["peer_group"]] = max(last[r["peer_group"]], r["rank"])
            for r in rows:
                if r["org_id"] in org_ids:
                    history[r["org"]].append(
                        {
                            "period": str(prev),
                            "grade": grades[r["org"]],
                            "rank": r["rank"],
                            "group_size": r["group_size"],
                            "last": r["rank"] == last[r["peer_group"]],
                        }
                    )
    return history


def scores(uow: UnitOfWork, org: str, period: str) -> list[Score]:
    o = uow.organization(org)
    cyc = uow.cycle(o.code, period)
    return list(
        uow.session.scalars(
            select(Score).where(t.score.c.cycle_id == cyc.id).order_by(t.score.c.id)
        )
    )
