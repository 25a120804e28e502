"""Aggregates the reports need beyond :mod:`pdca.persistence.results`, computed by the database.

Same conventions as there: item scores come out of the shared ``item_scores`` CTE as
integers × 100, ``max_score`` is stored × 10^4, and every division is an exact half-up
integer division, so SQLite and PostgreSQL give the same numbers. Rates (score ÷ maximum)
come out × 10^4 (four decimal places: 0.8125 is 81.25 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, distinct, func, literal, select
from sqlalchemy.orm import Session

from pdca.domain.carry import RECURRING_AFTER
from pdca.domain.model import FindingState
from pdca.domain.scheme import BASE_RULES, SchemeSpec
from pdca.persistence import tables as t

# The scores CTE and the integer helpers are shared with the results SQL on purpose: the
# reports must add up to exactly the totals the results show.
from pdca.persistence.results import _big, _half_up, _item_scores

__all__ = [
    "COUNTED_FINDING_STATES",
    "category_sums",
    "cycle_item_scores",
    "cycles_of",
    "finding_counts",
    "finding_matrix",
    "item_column",
    "item_stats",
    "recurring_rows",
    "scope_size",
]

S2 = 100
S4 = 10_000
#: Finding states that count as "flagged" for common problems: a waived finding was judged
#: not to be a problem (or annulled on appeal), so it does not count.
COUNTED_FINDING_STATES = tuple(s.value for s in FindingState if s is not FindingState.WAIVED)
UNRESOLVED = (FindingState.OPEN.value, FindingState.RECTIFYING.value, FindingState.CARRIED.value)


def _plain(d: Decimal) -> Decimal:
    """``d`` without trailing zeros and never in exponent form (10, 2.5)."""
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def _dec2(x: Any) -> Decimal | None:
    return None if x is None else Decimal(int(x)).scaleb(-2)


def _dec4(x: Any) -> Decimal | None:
    return None if x is None else Decimal(int(x)).scaleb(-4)


def scope_size(session: Session, scheme_id: int, period: str) -> int:
    """How many organizations the scheme assesses in the period (cycles opened by it)."""
    n = session.scalar(
        select(func.count())
        .select_from(t.cycle)
        .where(t.cycle.c.scheme_id == scheme_id, t.cycle.c.period == period)
    )
    return int(n or 0)


def cycles_of(session: Session, scheme_id: int, period: str) -> dict[int, dict[str, Any]]:
    """cycle id → organization code, name, peer group and cycle state."""
    q = (
        select(
            t.cycle.c.id,
            t.organization.c.code,
            t.organization.c.name,
            func.coalesce(t.organization.c.peer_group, "").label("peer_group"),
            t.cycle.c.state,
        )
        .join(t.organization, t.organization.c.id == t.cycle.c.org_id)
        .where(t.cycle.c.scheme_id == scheme_id, t.cycle.c.period == period)
    )
    return {
        int(cid): {"org": code, "name": name, "peer_group": group, "state": state}
        for cid, code, name, group, state in session.execute(q).all()
    }


def _item_stats_query(spec: SchemeSpec, scheme_id: int, period: str) -> Select[Any]:
    """One row per item of the scheme: number of cycles in scope, number scored, sum, min,
    max (× 100), average over the scope (a missing score counts 0, as in the totals, × 100)
    and average score rate = average ÷ maximum (× 10^4)."""
    scores = _item_scores(spec, scheme_id, period)
    per_item = (
        select(
            scores.c.item_id,
            _big(func.sum(scores.c.score)).label("total"),
            _big(func.count()).label("scored"),
            _big(func.min(scores.c.score)).label("lo"),
            _big(func.max(scores.c.score)).label("hi"),
        )
        .group_by(scores.c.item_id)
        .subquery("per_item")
    )
    n = (
        select(_big(func.count()))
        .select_from(t.cycle)
        .where(t.cycle.c.scheme_id == scheme_id, t.cycle.c.period == period)
        .scalar_subquery()
    )
    it = t.item
    cat = t.scheme_category
    total = func.coalesce(per_item.c.total, 0)
    max_raw = _big(it.c.max_score)  # × 10^4
    ok = and_(n > 0, max_raw > 0)
    return (
        select(
            it.c.code.label("item"),
            it.c.title,
            it.c.rule,
            cat.c.code.label("category"),
            cat.c.name.label("category_name"),
            max_raw.label("max_raw"),
            n.label("n"),
            _big(func.coalesce(per_item.c.scored, 0)).label("scored"),
            _big(total).label("total"),
            per_item.c.lo,
            per_item.c.hi,
            case((n > 0, _half_up(total, n)), else_=None).label("average"),
            case((ok, _half_up(_big(total) * S4 * S2, max_raw * n)), else_=None).label("rate"),
            cat.c.position.label("cat_pos"),
            it.c.position.label("item_pos"),
        )
        .select_from(it)
        .join(cat, cat.c.id == it.c.category_id)
        .outerjoin(per_item, per_item.c.item_id == it.c.id)
        .where(it.c.scheme_id == scheme_id)
    )


def _stat_row(r: Any) -> dict[str, Any]:
    return {
        "item": r.item,
        "title": r.title,
        "rule": r.rule,
        "category": r.category,
        "category_name": r.category_name,
        "max": _plain(Decimal(int(r.max_raw)).scaleb(-4)),
        "scope": int(r.n),
        "scored": int(r.scored),
        "sum": _dec2(r.total),
        "min": _dec2(r.lo),
        "max_seen": _dec2(r.hi),
        "average": _dec2(r.average),
        "rate": _dec4(r.rate),
    }


def item_stats(
    session: Session,
    spec: SchemeSpec,
    scheme_id: int,
    period: str,
    *,
    item_code: str | None = None,
) -> list[dict[str, Any]]:
    """Per item (in scheme order): scope size, how many scored, sum, min, max, average and
    average score rate over the scope."""
    q = _item_stats_query(spec, scheme_id, period)
    if item_code is not None:
        q = q.where(t.item.c.code == item_code)
    q = q.order_by(t.scheme_category.c.position, t.item.c.position)
    return [_stat_row(r) for r in session.execute(q).all()]


def weak_items(
    session: Session, spec: SchemeSpec, scheme_id: int, period: str, limit: int
) -> list[dict[str, Any]]:
    """The ``limit`` base items (points, grade, count, deduction) with the lowest average
    score rate over the scope, lowest first; items nobody was scored on are left out. Ties
    go in scheme order."""
    stats = _item_stats_query(spec, scheme_id, period).subquery("stats")
    q = (
        select(stats)
        .where(stats.c.rule.in_(BASE_RULES), stats.c.scored > 0, stats.c.rate.is_not(None))
        .order_by(stats.c.rate, stats.c.cat_pos, stats.c.item_pos)
        .limit(limit)
    )
    return [_stat_row(r) for r in session.execute(q).all()]


def cycle_item_scores(
    session: Session, spec: SchemeSpec, scheme_id: int, period: str, cycle_id: int
) -> dict[str, Decimal]:
    """item code → score of one cycle (items without a score are absent)."""
    scores = _item_scores(spec, scheme_id, period)
    q = (
        select(t.item.c.code, scores.c.score)
        .join(t.item, t.item.c.id == scores.c.item_id)
        .where(scores.c.cycle_id == cycle_id)
    )
    return {code: Decimal(int(s)).scaleb(-2) for code, s in session.execute(q).all()}


def item_column(
    session: Session, spec: SchemeSpec, scheme_id: int, period: str, item_id: int
) -> list[dict[str, Any]]:
    """Every cycle of the scope with its score on one item (``None`` if not scored) and its
    rank on that item over the scope (standard competition ranking, unscored last)."""
    scores = _item_scores(spec, scheme_id, period)
    mine = (
        select(scores.c.cycle_id, scores.c.score)
        .where(scores.c.item_id == item_id)
        .subquery("mine")
    )
    cyc = t.cycle
    org = t.organization
    score = mine.c.score
    q = (
        select(
            cyc.c.id.label("cycle_id"),
            org.c.code,
            org.c.name,
            func.coalesce(org.c.peer_group, "").label("peer_group"),
            score.label("score"),
            func.rank().over(order_by=_big(func.coalesce(score, -1)).desc()).label("rank"),
        )
        .join(org, org.c.id == cyc.c.org_id)
        .outerjoin(mine, mine.c.cycle_id == cyc.c.id)
        .where(cyc.c.scheme_id == scheme_id, cyc.c.period == period)
        .order_by(_big(func.coalesce(score, -1)).desc(), org.c.code)
    )
    return [
        {
            "cycle_id": int(r.cycle_id),
            "org": r.code,
            "name": r.name,
            "peer_group": r.peer_group,
            "score": _dec2(r.score),
            "rank": int(r.rank),
        }
        for r in session.execute(q).all()
    ]


def category_sums(
    session: Session, spec: SchemeSpec, scheme_id: int, period: str
) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """(peer group, category) → sum of the group's sub-totals (× 100), and peer group → number
    of organizations assessed in it: what peer-group averages divide."""
    scores = _item_scores(spec, scheme_id, period)
    it = t.item
    cat = t.scheme_category
    cyc = t.cycle
    org = t.organization
    group = func.coalesce(org.c.peer_group, "")
    q = (
        select(group.label("peer_group"), cat.c.code, _big(func.sum(scores.c.score)))
        .select_from(scores)
        .join(it, it.c.id == scores.c.item_id)
        .join(cat, cat.c.id == it.c.category_id)
        .join(cyc, cyc.c.id == scores.c.cycle_id)
        .join(org, org.c.id == cyc.c.org_id)
        .where(it.c.rule.in_(BASE_RULES))
        .group_by(group, cat.c.code)
    )
    sums = {(g, c): int(s) for g, c, s in session.execute(q).all()}
    nq = (
        select(group, _big(func.count()))
        .select_from(cyc)
        .join(org, org.c.id == cyc.c.org_id)
        .where(cyc.c.scheme_id == scheme_id, cyc.c.period == period)
        .group_by(group)
    )
    sizes = {g: int(n) for g, n in session.execute(nq).all()}
    return sums, sizes


def finding_counts(session: Session, scheme_id: int, period: str) -> list[dict[str, Any]]:
    """Per item code flagged by a finding in the scope's cycles (waived ones left out): how
    many organizations, how many findings, how many of them carried in from earlier periods,
    most organizations first."""
    f = t.finding
    cyc = t.cycle
    orgs = _big(func.count(distinct(cyc.c.org_id)))
    q = (
        select(
            f.c.item_code,
            orgs.label("orgs"),
            _big(func.count()).label("findings"),
            _big(func.sum(case((f.c.carry_count > 0, 1), else_=0))).label("carried_in"),
        )
        .join(cyc, cyc.c.id == f.c.cycle_id)
        .where(
            cyc.c.scheme_id == scheme_id,
            cyc.c.period == period,
            f.c.state.in_(COUNTED_FINDING_STATES),
        )
        .group_by(f.c.item_code)
        .order_by(orgs.desc(), f.c.item_code)
    )
    return [
        {
            "item": r.item_code,
            "orgs": int(r.orgs),
            "findings": int(r.findings),
            "carried_in": int(r.carried_in or 0),
        }
        for r in session.execute(q).all()
    ]


def finding_matrix(session: Session, scheme_id: int, period: str) -> dict[tuple[str, str], int]:
    """(organization code, item code) → number of (not waived) findings in the period."""
    f = t.finding
    cyc = t.cycle
    org = t.organization
    q = (
        select(org.c.code, f.c.item_code, _big(func.count()))
        .select_from(f)
        .join(cyc, cyc.c.id == f.c.cycle_id)
        .join(org, org.c.id == cyc.c.org_id)
        .where(
            cyc.c.scheme_id == scheme_id,
            cyc.c.period == period,
            f.c.state.in_(COUNTED_FINDING_STATES),
        )
        .group_by(org.c.code, f.c.item_code)
    )
    return {(o, i): int(n) for o, i, n in session.execute(q).all()}


def recurring_rows(
    session: Session, *, period: str | None, org_id: int | None
) -> list[dict[str, Any]]:
    """Unresolved problems (open, rectifying, or carried at a close) carried into
    ``RECURRING_AFTER`` or more periods. With ``period``: the findings of that period's
    cycles; without: the latest finding of each thread."""
    f = t.finding
    cyc = t.cycle
    org = t.organization
    root = f.alias("root")
    root_cycle = cyc.alias("root_cycle")
    nxt = f.alias("nxt")
    q = (
        select(
            f.c.id,
            func.coalesce(f.c.root_id, f.c.id).label("root_id"),
            f.c.item_code,
            f.c.description,
            f.c.severity,
            f.c.state,
            f.c.carry_count,
            f.c.deadline,
            f.c.rectification_owner,
            cyc.c.period,
            org.c.code.label("org"),
            org.c.name,
            root_cycle.c.period.label("origin_period"),
            root.c.checkpoint.label("origin_checkpoint"),
        )
        .join(cyc, cyc.c.id == f.c.cycle_id)
        .join(org, org.c.id == cyc.c.org_id)
        .join(root, root.c.id == func.coalesce(f.c.root_id, f.c.id))
        .join(root_cycle, root_cycle.c.id == root.c.cycle_id)
        .where(f.c.carry_count >= literal(RECURRING_AFTER), f.c.state.in_(UNRESOLVED))
        .order_by(f.c.carry_count.desc(), org.c.code, f.c.id)
    )
    if period is not None:
        q = q.where(cyc.c.period == period)
    else:
        q = q.where(~select(nxt.c.id).where(nxt.c.previous_id == f.c.id).exists())
    if org_id is not None:
        q = q.where(cyc.c.org_id == org_id)
    return [dict(r) for r in session.execute(q).mappings().all()]


def thread_periods(session: Session, finding_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """finding id → (period, cycle state) of its cycle."""
    q = (
        select(t.finding.c.id, t.cycle.c.period, t.cycle.c.state)
        .join(t.cycle, t.cycle.c.id == t.finding.c.cycle_id)
        .where(t.finding.c.id.in_(list(finding_ids)))
    )
    return {int(i): (p, s) for i, p, s in session.execute(q).all()}
