"""Totals, sub-totals and ranks of a whole scope, computed by the database.

The same arithmetic as :mod:`pdca.domain.scoring` (the reference), expressed as one SQL
statement of aggregates and a window function, on exact scaled integers so SQLite and
PostgreSQL give identical results: ``points`` are stored × 10^4, weights × 10^4, item
scores and totals come out × 10^2. Integer division is floor division on non-negative
numbers in both databases; ``(2a + b) / (2b)`` is a / b rounded half-up.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from pdca.domain.scheme import BASE_RULES, SchemeSpec
from pdca.domain.scoring import ACCUMULATING_RULES

from . import tables as t

__all__ = ["item_scores", "subtotals", "totals"]

S4 = 10_000
S2 = 100


def _big(x: Any) -> ColumnElement[int]:
    return cast(x, BigInteger)


def _raw(col: Any) -> ColumnElement[int]:
    """A scaled-decimal column as the plain integer it stores, so literals next to it are
    plain integers too (not scaled again by the column's type)."""
    return type_coerce(col, BigInteger)


def _half_up(a: Any, b: Any) -> ColumnElement[int]:
    return _big((2 * _big(a) + _big(b)) // _big(2 * _big(b)))


def _scheme_cycles(scheme_id: int, period: str) -> Any:
    return (
        select(t.cycle.c.id.label("cycle_id"))
        .where(t.cycle.c.scheme_id == scheme_id, t.cycle.c.period == period)
        .cte("scope_cycles")
    )


def _item_scores(spec: SchemeSpec, scheme_id: int, period: str) -> Any:
    """(cycle_id, item_id, score × 100, hits) for every scored or counted item."""
    cycles = _scheme_cycles(scheme_id, period)
    sc = t.score
    entries = (
        select(
            sc.c.cycle_id,
            sc.c.item_id,
            sc.c.checkpoint_id,
            sc.c.method,
            _big(func.sum(_raw(sc.c.points))).label("s"),
            _big(func.count()).label("n"),
            _big(func.max(_raw(sc.c.points))).label("hi"),
            _big(func.min(_raw(sc.c.points))).label("lo"),
            _big(func.sum(sc.c.hits)).label("hits"),
        )
        .where(sc.c.cycle_id.in_(select(cycles.c.cycle_id)), sc.c.method != "commentary")
        .group_by(sc.c.cycle_id, sc.c.item_id, sc.c.checkpoint_id, sc.c.method)
        .cte("entries")
    )
    drop = list(spec.drop_extremes)
    dropping = and_(entries.c.method.in_(drop), entries.c.n >= 3) if drop else false()
    mean = case(
        (dropping, _half_up(entries.c.s - entries.c.hi - entries.c.lo, entries.c.n - 2)),
        else_=_half_up(entries.c.s, entries.c.n),
    )
    im = t.item_method
    cp = t.checkpoint
    it = t.item
    accumulating = it.c.rule.in_(ACCUMULATING_RULES)
    cp_weight = case((accumulating, literal(S4, BigInteger)), else_=_raw(cp.c.weight))
    weighted = (
        select(
            entries.c.cycle_id,
            entries.c.item_id,
            _big(func.sum(_big(mean) * im.c.weight * cp_weight)).label("raw"),
            _big(func.sum(entries.c.hits)).label("hits"),
        )
        .join(im, and_(im.c.item_id == entries.c.item_id, im.c.method == entries.c.method))
        .join(cp, cp.c.id == entries.c.checkpoint_id)
        .join(it, it.c.id == entries.c.item_id)
        .group_by(entries.c.cycle_id, entries.c.item_id)
        .cte("weighted")
    )
    it2 = t.item.alias("it2")
    rounded = _half_up(weighted.c.raw, S4 * S4 * S4 // S2)
    item_max = _big(_raw(it2.c.max_score) // S2)
    scored = select(
        weighted.c.cycle_id,
        weighted.c.item_id,
        case(
            (and_(it2.c.rule.in_(ACCUMULATING_RULES), rounded > item_max), item_max),
            else_=rounded,
        ).label("score"),
        weighted.c.hits,
    ).join(it2, it2.c.id == weighted.c.item_id)
    # Count items: min(actual, target) × max / target, from the cycle's records.
    rec = t.record
    it = t.item
    actual = (
        select(rec.c.cycle_id, rec.c.kind, _big(func.sum(rec.c.quantity)).label("actual"))
        .where(rec.c.cycle_id.in_(select(cycles.c.cycle_id)))
        .group_by(rec.c.cycle_id, rec.c.kind)
        .cte("actual")
    )
    capped = case((actual.c.actual > it.c.target, it.c.target), else_=actual.c.actual)
    counted = (
        select(
            actual.c.cycle_id,
            it.c.id.label("item_id"),
            _half_up(_big(capped) * _raw(it.c.max_score), it.c.target * S2).label("score"),
            _big(literal(0)).label("hits"),
        )
        .join(it, and_(it.c.record_kind == actual.c.kind, it.c.rule == "count"))
        .where(it.c.scheme_id == scheme_id)
    )
    return union_all(scored, counted).cte("item_scores")


def item_scores(
    conn: Connection | Session, spec: SchemeSpec, scheme_id: int, period: str
) -> list[tuple[int, str, Decimal]]:
    """(cycle_id, item_code, score) for every item that has a score."""
    scores = _item_scores(spec, scheme_id, period)
    q = (
        select(scores.c.cycle_id, t.item.c.code, scores.c.score)
        .join(t.item, t.item.c.id == scores.c.item_id)
        .order_by(scores.c.cycle_id, t.item.c.position)
    )
    return [(c, code, Decimal(s).scaleb(-2)) for c, code, s in conn.execute(q).all()]


def subtotals(
    conn: Connection | Session, spec: SchemeSpec, scheme_id: int, period: str
) -> list[tuple[int, str, Decimal]]:
    """(cycle_id, category_code, sub-total of base items) — categories without scores omitted."""
    scores = _item_scores(spec, scheme_id, period)
    it = t.item
    cat = t.scheme_category
    q = (
        select(scores.c.cycle_id, cat.c.code, _big(func.sum(scores.c.score)))
        .join(it, it.c.id == scores.c.item_id)
        .join(cat, cat.c.id == it.c.category_id)
        .where(it.c.rule.in_(BASE_RULES))
        .group_by(scores.c.cycle_id, cat.c.code)
    )
    return [(c, code, Decimal(s).scaleb(-2)) for c, code, s in conn.execute(q).all()]


def totals_query(spec: SchemeSpec, scheme_id: int, period: str) -> Select[Any]:
    """One row per cycle of the scheme and period: organization, base, bonus, penalty,
    veto hits, total (all × 100), rank in the peer group and, as ``sub_0``, ``sub_1``, …,
    the sub-total of each of the scheme's categories (in ``spec.categories`` order): the item
    scores are computed once for all of them."""
    scores = _item_scores(spec, scheme_id, period)
    it = t.item
    cat = t.scheme_category
    base_item = it.c.rule.in_(BASE_RULES)
    subs = [
        _big(
            func.sum(case((and_(base_item, cat.c.code == c.code), scores.c.score), else_=0))
        ).label(f"sub_{k}")
        for k, c in enumerate(spec.categories)
    ]
    per_cycle = (
        select(
            scores.c.cycle_id,
            _big(func.sum(case((it.c.rule.in_(BASE_RULES), scores.c.score), else_=0))).label(
                "base"
            ),
            _big(func.sum(case((it.c.rule == "bonus", scores.c.score), else_=0))).label("bonus"),
            _big(func.sum(case((it.c.rule == "penalty", scores.c.score), else_=0))).label(
                "penalty"
            ),
            _big(func.sum(case((and_(it.c.rule == "veto", scores.c.hits > 0), 1), else_=0))).label(
                "veto_hits"
            ),
            *subs,
        )
        .join(it, it.c.id == scores.c.item_id)
        .join(cat, cat.c.id == it.c.category_id)
        .group_by(scores.c.cycle_id)
        .cte("per_cycle")
    )
    cyc = t.cycle
    org = t.organization
    base: ColumnElement[Any] = func.coalesce(per_cycle.c.base, 0)
    bonus: ColumnElement[Any] = func.coalesce(per_cycle.c.bonus, 0)
    penalty: ColumnElement[Any] = func.coalesce(per_cycle.c.penalty, 0)
    if spec.bonus_cap is not None:
        cap = int(spec.bonus_cap * S2)
        bonus = case((bonus > cap, cap), else_=bonus)
    else:
        bonus = literal(0)
    if spec.penalty_cap is not None:
        pcap = int(spec.penalty_cap * S2)
        penalty = case((penalty > pcap, pcap), else_=penalty)
    else:
        penalty = literal(0)
    lo = int(spec.bounds_min * S2)
    hi = int(spec.upper_bound() * S2)
    raw_total = _big(base + bonus - penalty)
    total = case((raw_total < lo, lo), (raw_total > hi, hi), else_=raw_total)
    group = func.coalesce(org.c.peer_group, "")
    inner = (
        select(
            cyc.c.id.label("cycle_id"),
            org.c.id.label("org_id"),
            org.c.code.label("org"),
            org.c.name.label("name"),
            group.label("peer_group"),
            _big(base).label("base"),
            _big(bonus).label("bonus"),
            _big(penalty).label("penalty"),
            _big(func.coalesce(per_cycle.c.veto_hits, 0)).label("veto_hits"),
            _big(total).label("total"),
            *(
                _big(func.coalesce(per_cycle.c[f"sub_{k}"], 0)).label(f"sub_{k}")
                for k in range(len(spec.categories))
            ),
        )
        .join(org, org.c.id == cyc.c.org_id)
        .outerjoin(per_cycle, per_cycle.c.cycle_id == cyc.c.id)
        .where(cyc.c.scheme_id == scheme_id, cyc.c.period == period)
        .subquery("totals")
    )
    return select(
        inner,
        func.rank()
        .over(partition_by=inner.c.peer_group, order_by=inner.c.total.desc())
        .label("rank"),
        func.count().over(partition_by=inner.c.peer_group).label("group_size"),
    ).order_by(inner.c.peer_group, inner.c.total.desc(), inner.c.org)


def totals(
    conn: Connection | Session, spec: SchemeSpec, scheme_id: int, period: str
) -> list[dict[str, Any]]:
    """The rows of :func:`totals_query` as dicts with Decimal amounts; ``subtotals`` maps
    each category code to its sub-total."""
    rows = conn.execute(totals_query(spec, scheme_id, period)).mappings().all()
    codes = [(f"sub_{k}", c.code) for k, c in enumerate(spec.categories)]
    out = []
    for r in rows:
        d = dict(r)
        d["subtotals"] = {code: Decimal(int(d.pop(k))).scaleb(-2) for k, code in codes}
        for k in ("base", "bonus", "penalty", "total"):
            d[k] = Decimal(int(d[k])).scaleb(-2)
        d["veto_hits"] = int(d["veto_hits"])
        d["rank"] = int(d["rank"])
        d["group_size"] = int(d["group_size"])
        out.append(d)
    return out
