"""Totals, sub-totals and ranks of a whole scope, computed by the database.

The same arithmetic as :mod:`pdca.domain.scoring` (the reference), expressed as one SQL
statement of aggregates and a window function, on exact scaled integers so SQLite and
PostgreSQL give identical results: ``points`` are stored × 10^4, weights × 10^4, item
scores and totals come out × 10^2. Integer division is floor division on non-negative
numbers in both databases; ``(2a + b) / (2b)`` is a / b rounded half-up.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    Text,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from pdca.domain.scheme import BASE_RULES, SchemeSpec
from pdca.domain.scoring import ACCUMULATING_RULES

from . import tables as t

__all__ = ["item_scores", "refresh_totals", "subtotals", "totals"]

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


def _item_scores(
    spec: SchemeSpec | Sequence[str],
    scheme_id: int,
    period: str | None,
    *,
    cycle_ids: Sequence[int] | None = None,
) -> Any:
    """(cycle_id, item_id, score × 100, hits) for every scored or counted item of the
    scheme's cycles of ``period`` (or of the scheme's cycles among ``cycle_ids``).
    ``spec`` may be just the scheme's ``drop_extremes`` methods: nothing else of it is
    needed."""
    if cycle_ids is not None:
        cycles = (
            select(t.cycle.c.id.label("cycle_id"))
            .where(t.cycle.c.scheme_id == scheme_id, t.cycle.c.id.in_(list(cycle_ids)))
            .cte("scope_cycles")
        )
    else:
        assert period is not None
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
    drop = list(spec.drop_extremes if isinstance(spec, SchemeSpec) else spec)
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


#: Cycles recomputed per statement by :func:`refresh_totals`.
REFRESH_CHUNK = 1000


def _per_cycle(categories: Sequence[tuple[int, str]], scores: Any, dialect: str) -> Select[Any]:
    """One row per cycle of ``scores``: the raw sums :data:`tables.cycle_total` keeps."""
    it = t.item
    base_item = it.c.rule.in_(BASE_RULES)
    pairs: list[Any] = []
    for cat_id, code in categories:
        in_cat = and_(base_item, it.c.category_id == cat_id)
        pairs.append(literal(code))
        pairs.append(_big(func.sum(case((in_cat, scores.c.score), else_=0))))
    if dialect == "postgresql":
        subs: ColumnElement[Any] = cast(func.json_build_object(*pairs), Text)
    else:
        subs = func.json_object(*pairs)
    return (
        select(
            scores.c.cycle_id,
            _big(func.sum(case((base_item, scores.c.score), else_=0))).label("base"),
            _big(func.sum(case((it.c.rule == "bonus", scores.c.score), else_=0))).label("bonus"),
            _big(func.sum(case((it.c.rule == "penalty", scores.c.score), else_=0))).label(
                "penalty"
            ),
            func.sum(case((and_(it.c.rule == "veto", scores.c.hits > 0), 1), else_=0)).label(
                "veto_hits"
            ),
            subs.label("subtotals"),
        )
        .join(it, it.c.id == scores.c.item_id)
        .group_by(scores.c.cycle_id)
    )


def _scheme_facts(conn: Connection, scheme_id: int) -> tuple[list[str], list[tuple[int, str]]]:
    """A scheme's drop_extremes methods and its categories (id, code) in order."""
    definition = conn.execute(
        select(t.scheme.c.definition).where(t.scheme.c.id == scheme_id)
    ).scalar_one()
    drop = [str(m) for m in (definition or {}).get("drop_extremes", [])]
    cats = [
        (int(cid), str(code))
        for cid, code in conn.execute(
            select(t.scheme_category.c.id, t.scheme_category.c.code)
            .where(t.scheme_category.c.scheme_id == scheme_id)
            .order_by(t.scheme_category.c.position, t.scheme_category.c.id)
        ).all()
    ]
    return drop, cats


def refresh_totals(conn: Connection | Session, cycle_ids: Iterable[int]) -> None:
    """Recompute the stored sums (:data:`tables.cycle_total`) of these cycles from their
    scores and records, in the caller's transaction. Every write that changes a score or
    a record calls it; the results read the sums instead of every score.

    On PostgreSQL the cycles' rows are locked first (``FOR UPDATE``, in id order), so two
    transactions entering scores of one cycle recompute one after the other, the second
    seeing what the first committed."""
    c = conn.connection() if isinstance(conn, Session) else conn
    ids = sorted({int(x) for x in cycle_ids})
    dialect = c.dialect.name
    schemes: dict[int, tuple[list[str], list[tuple[int, str]]]] = {}
    ct = t.cycle_total
    columns = ["cycle_id", "base", "bonus", "penalty", "veto_hits", "subtotals"]
    for i in range(0, len(ids), REFRESH_CHUNK):
        chunk = ids[i : i + REFRESH_CHUNK]
        q = select(t.cycle.c.id, t.cycle.c.scheme_id).where(t.cycle.c.id.in_(chunk))
        if dialect == "postgresql":
            q = q.order_by(t.cycle.c.id).with_for_update()
        by_scheme: dict[int, list[int]] = {}
        for cid, sid in c.execute(q).all():
            if sid is not None:
                by_scheme.setdefault(int(sid), []).append(int(cid))
        c.execute(delete(ct).where(ct.c.cycle_id.in_(chunk)))
        for sid, cids in sorted(by_scheme.items()):
            if sid not in schemes:
                schemes[sid] = _scheme_facts(c, sid)
            drop, cats = schemes[sid]
            scores = _item_scores(drop, sid, None, cycle_ids=cids)
            c.execute(insert(ct).from_select(columns, _per_cycle(cats, scores, dialect)))


def totals_query(spec: SchemeSpec, scheme_id: int, period: str) -> Select[Any]:
    """One row per cycle of the scheme and period, by peer group, best total first, then
    organization code: organization, base, bonus, penalty, veto hits, total (all × 100) and
    the sub-totals as stored (a JSON object, or None for a cycle without any score). Read
    from the sums
    :func:`refresh_totals` keeps, so the cost grows with the organizations, not the
    scores."""
    ct = t.cycle_total
    cyc = t.cycle
    org = t.organization
    base: ColumnElement[Any] = func.coalesce(ct.c.base, 0)
    bonus: ColumnElement[Any] = func.coalesce(ct.c.bonus, 0)
    penalty: ColumnElement[Any] = func.coalesce(ct.c.penalty, 0)
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
    return (
        select(
            cyc.c.id.label("cycle_id"),
            org.c.id.label("org_id"),
            org.c.code.label("org"),
            org.c.name.label("name"),
            group.label("peer_group"),
            _big(base).label("base"),
            _big(bonus).label("bonus"),
            _big(penalty).label("penalty"),
            _big(func.coalesce(ct.c.veto_hits, 0)).label("veto_hits"),
            _big(total).label("total"),
            ct.c.subtotals.label("subtotals"),
        )
        .join(org, org.c.id == cyc.c.org_id)
        .outerjoin(ct, ct.c.cycle_id == cyc.c.id)
        .where(cyc.c.scheme_id == scheme_id, cyc.c.period == period)
        .order_by(group, total.desc(), org.c.code)
    )


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a large, acyclic result is built.

    Building 100,000 organizations' results allocates a few million objects, none of them
    in a reference cycle; each allocation threshold crossed starts a collection that walks
    every object alive, and at 100,000 rows those walks took a third of the call. Memory is
    still freed by reference counting; the collector is switched back on (if it was on)
    when the block ends, and runs at its next threshold as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: The fields of a :func:`totals_rows` row, in order.
TOTALS_COLUMNS = (
    "cycle_id",
    "org_id",
    "org",
    "name",
    "peer_group",
    "base",
    "bonus",
    "penalty",
    "veto_hits",
    "total",
    "subtotals",
    "rank",
    "group_size",
)


class _Amounts(dict[Any, Decimal]):
    """Scaled integers (× 100) as Decimals, ``amounts[x]``, one object per value: amounts
    repeat across thousands of organizations and Decimals are immutable."""

    def __missing__(self, x: Any) -> Decimal:
        d = self[x] = Decimal(int(x)).scaleb(-2)
        return d

    def subtotals(self, stored: str | None, codes: Sequence[str]) -> dict[str, Decimal]:
        """The stored JSON sub-totals as category code → Decimal, every category present."""
        values = _decode(stored)[0] if stored else {}
        return {code: self[values.get(code, 0)] for code in codes}


_decode = json.JSONDecoder().raw_decode  # the stored text is compact: no whitespace to skip


def totals_rows(
    conn: Connection | Session, spec: SchemeSpec, scheme_id: int, period: str
) -> tuple[list[tuple[Any, ...]], _Amounts]:
    """The rows of :func:`totals_query` (amounts as scaled integers, sub-totals as stored)
    followed by the rank in the peer group and the group's size, and the converter to
    Decimals; :func:`totals` for dicts.

    The rank is standard competition ranking (1, 2, 2, 4), counted here over rows the
    database sorted by peer group and total: the same as ``RANK() OVER (PARTITION BY
    peer_group ORDER BY total DESC)`` without a second sort of every row."""
    rows = [tuple(r) for r in conn.execute(totals_query(spec, scheme_id, period)).all()]
    out: list[tuple[Any, ...]] = []
    append = out.append
    groups = [r[4] for r in rows]
    start, n = 0, len(rows)
    while start < n:
        group = groups[start]
        end = start + 1
        while end < n and groups[end] == group:
            end += 1
        size = end - start
        rank, last = 0, None
        for k in range(start, end):
            r = rows[k]
            if r[9] != last:
                rank, last = k - start + 1, r[9]
            append((*r, rank, size))
        start = end
    return out, _Amounts()


def totals(
    conn: Connection | Session, spec: SchemeSpec, scheme_id: int, period: str
) -> list[dict[str, Any]]:
    """The rows of :func:`totals_query` as dicts with Decimal amounts; ``subtotals`` maps
    each category code to its sub-total."""
    codes = [c.code for c in spec.categories]
    with no_cyclic_gc():
        return _totals(conn, spec, scheme_id, period, codes)


def _totals(
    conn: Connection | Session, spec: SchemeSpec, scheme_id: int, period: str, codes: list[str]
) -> list[dict[str, Any]]:
    rows, dec = totals_rows(conn, spec, scheme_id, period)
    out = []
    for r in rows:
        d = dict(zip(TOTALS_COLUMNS, r, strict=True))
        for k in ("base", "bonus", "penalty", "total"):
            d[k] = dec[d[k]]
        d["veto_hits"] = int(d["veto_hits"])
        d["subtotals"] = dec.subtotals(d["subtotals"], codes)
        out.append(d)
    return out
