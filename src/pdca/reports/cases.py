"""The reports' use cases: what :class:`~pdca.reports.ReportCases` runs in a unit of work.

Each function takes the unit of work first and returns plain data (dicts and lists of
str, int, Decimal, date, None) that the writers in :mod:`pdca.reports` turn into files and
:func:`pdca.reports.jsonable` into JSON.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select

from pdca.domain.carry import RECURRING_AFTER, is_recurring
from pdca.domain.model import Cycle, CycleState, Finding, FindingState, Scheme, Score
from pdca.domain.period import Period
from pdca.domain.policy import Resource
from pdca.domain.scheme import BASE_RULES, SchemeSpec
from pdca.domain.scoring import TIE_RULE
from pdca.errors import NotFound, ValidationError
from pdca.persistence import results as rsql
from pdca.persistence import tables as t
from pdca.services import scoring as _scoring
from pdca.services import validate as v
from pdca.services.unit_of_work import CHECKPOINT_LABELS

from . import sql

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

    from pdca.services.unit_of_work import UnitOfWork

__all__ = [
    "KEY_CONTENT_KINDS",
    "bulletin",
    "compare_years",
    "feedback",
    "item_across_scope",
    "key_content",
    "lineage",
    "mark_key_content",
    "recurring",
]

#: Kinds of key content for next period's scheme (改进反馈), with their Chinese names.
KEY_CONTENT_KINDS = {"common": "共性问题", "weak": "短板指标"}
_KIND_ALIASES = {"共性问题": "common", "共性": "common", "短板": "weak", "短板指标": "weak"}
FINDING_STATE_LABELS = {
    "open": "待整改",
    "rectifying": "整改中",
    "resolved": "已整改验收",
    "carried": "结转下期",
    "waived": "免于整改",
}
SEVERITY_LABELS = {"minor": "轻微", "general": "一般", "serious": "严重"}
RATE_PLACES = Decimal("0.0001")
#: Cycle states in which a period has a result to compare (the check has begun).
RESULT_STATES = (CycleState.CHECKING.value, CycleState.ACTING.value, CycleState.CLOSED.value)


def _rate(score: Decimal | None, maximum: Decimal | None) -> Decimal | None:
    """score ÷ maximum, half-up to 4 places (as the SQL rates)."""
    if score is None or not maximum:
        return None
    return (score / maximum).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _scheme_period(uow: UnitOfWork, scheme_code: str, period: str) -> tuple[Scheme, str]:
    scheme = uow.scheme(scheme_code)
    p = Period.parse(period)
    sp = Period.parse(scheme.period)
    if sp != p and not sp.contains(p):
        raise ValidationError("period", str(p), f"scheme {scheme_code} is for {scheme.period}")
    return scheme, str(p)


def _categories(spec: SchemeSpec) -> list[dict[str, Any]]:
    return [
        {
            "code": c.code,
            "name": c.name,
            "max": sum((i.max_score for i in c.items if i.rule in BASE_RULES), Decimal(0)),
        }
        for c in spec.categories
    ]


def _items(spec: SchemeSpec) -> list[dict[str, Any]]:
    return [
        {
            "code": i.code,
            "title": i.title,
            "category": c.code,
            "category_name": c.name,
            "max": i.max_score,
            "rule": i.rule,
        }
        for c in spec.categories
        for i in c.items
    ]


def _scheme_info(scheme: Scheme, spec: SchemeSpec) -> dict[str, Any]:
    return {
        "code": scheme.code,
        "title": scheme.title,
        "period": scheme.period,
        "base_max": spec.base_max(),
        "max_total": spec.upper_bound(),
    }


def _origin_periods(uow: UnitOfWork, findings: Sequence[Finding]) -> dict[int, str]:
    """root finding id → the period it was first found in."""
    roots = {f.root_id or f.id for f in findings}
    roots.discard(None)
    if not roots:
        return {}
    q = (
        select(t.finding.c.id, t.cycle.c.period)
        .join(t.cycle, t.cycle.c.id == t.finding.c.cycle_id)
        .where(t.finding.c.id.in_(roots))
    )
    return {int(i): str(p) for i, p in uow.session.execute(q).all()}


def _finding_row(f: Finding, origins: dict[int, str]) -> dict[str, Any]:
    root = f.root_id or f.id
    assert root is not None
    return {
        "id": f.id,
        "root": root,
        "item": f.item_code,
        "description": f.description,
        "checkpoint": f.checkpoint,
        "checkpoint_name": CHECKPOINT_LABELS.get(f.checkpoint, f.checkpoint),
        "severity": f.severity,
        "severity_name": SEVERITY_LABELS.get(f.severity, f.severity),
        "state": f.state,
        "state_name": FINDING_STATE_LABELS.get(f.state, f.state),
        "found_on": f.found_on,
        "deadline": f.deadline,
        "rectification": f.rectification,
        "rectification_owner": f.rectification_owner,
        "resolution": f.resolution,
        "carry_count": f.carry_count,
        "origin_period": origins.get(root),
        "recurring": is_recurring(f.carry_count),
    }


# ------------------------------------------------------------------------ feedback


def feedback(uow: UnitOfWork, org: str, scheme_code: str, period: str) -> dict[str, Any]:
    """当面反馈: one organization's result, item scores, problems and commentary."""
    scheme, p = _scheme_period(uow, scheme_code, period)
    spec = scheme.spec()
    o = uow.organization(org)
    cyc = uow.session.scalars(
        select(Cycle).where(
            t.cycle.c.org_id == o.id,
            t.cycle.c.period == p,
            t.cycle.c.scheme_id == scheme.id,
        )
    ).one_or_none()
    if cyc is None:
        raise NotFound("cycle", f"{o.code}/{p} under scheme {scheme.code}")
    assert cyc.id is not None
    assert scheme.id is not None
    res = _scoring.results(uow, scheme.code, p)
    row = res.row(o.code)
    s = uow.session
    scores = sql.cycle_item_scores(s, spec, scheme.id, p, cyc.id)
    items = []
    for it in _items(spec):
        score = scores.get(it["code"])
        items.append(
            {
                **it,
                "score": score,
                "rate": _rate(score, it["max"]) if it["rule"] != "penalty" else None,
            }
        )
    cats = _categories(spec)
    sums, sizes = sql.category_sums(s, spec, scheme.id, p)
    group_n = sizes.get(row.peer_group, 0)
    categories = []
    for c in cats:
        sub = row.subtotals.get(c["code"], Decimal(0))
        avg = _scoring_avg(sums.get((row.peer_group, c["code"]), 0), group_n) if group_n else None
        categories.append(
            {
                **c,
                "score": sub,
                "rate": _rate(sub, c["max"]),
                "peer_average": avg,
                "peer_average_rate": _rate(avg, c["max"]),
            }
        )
    findings = list(
        s.scalars(select(Finding).where(t.finding.c.cycle_id == cyc.id).order_by(t.finding.c.id))
    )
    origins = _origin_periods(uow, findings)
    item_ids = {i.id: i for i in scheme.items()}
    cps = {c.id: c for c in scheme.checkpoints}
    commentary: list[dict[str, Any]] = []
    remarks: list[dict[str, Any]] = []
    for sc in s.scalars(
        select(Score)
        .where(t.score.c.cycle_id == cyc.id, t.score.c.comment.is_not(None))
        .order_by(t.score.c.id)
    ):
        it_obj = item_ids.get(sc.item_id)
        cp = cps.get(sc.checkpoint_id)
        entry = {
            "item": it_obj.code if it_obj else None,
            "title": it_obj.title if it_obj else None,
            "checkpoint": cp.code if cp else None,
            "checkpoint_name": cp.name if cp else None,
            "method": sc.method,
            "assessor": sc.assessor,
            "assessor_org": sc.assessor_org or None,
            "comment": sc.comment,
            "entered_at": sc.entered_at.isoformat() if sc.entered_at else None,
        }
        (commentary if sc.method == "commentary" else remarks).append(entry)
    appeal_until = None
    if spec.appeal_window_days is not None and cyc.feedback_at is not None:
        appeal_until = (
            cyc.feedback_at.in_timezone(uow.store.timezone).add(days=spec.appeal_window_days).date()
        )
    return {
        "kind": "feedback",
        "scheme": _scheme_info(scheme, spec),
        "period": p,
        "org": o.code,
        "name": o.name,
        "org_kind": o.kind,
        "peer_group": row.peer_group,
        "cycle_state": cyc.state,
        "total": row.total,
        "base": row.base,
        "bonus": row.bonus,
        "penalty": row.penalty,
        "grade": row.grade,
        "rank": row.rank,
        "group_size": row.group_size,
        "vetoed": row.veto_hits > 0,
        "tie_rule": TIE_RULE,
        "subtotals": dict(row.subtotals),
        "categories": categories,
        "peer_average": {c["code"]: c["peer_average_rate"] for c in categories},
        "items": items,
        "findings": [_finding_row(f, origins) for f in findings],
        "commentary": commentary,
        "remarks": remarks,
        "outcomes": [dict(x) for x in row.outcomes],
        "feedback_at": cyc.feedback_at.isoformat() if cyc.feedback_at else None,
        "appeal_window_days": spec.appeal_window_days,
        "appeal_until": appeal_until,
    }


def _scoring_avg(sum_x100: int, n: int) -> Decimal:
    """An average of amounts × 100, half-up to 2 places, exactly as the SQL does it."""
    return Decimal((2 * sum_x100 + n) // (2 * n)).scaleb(-2)


# ------------------------------------------------------------------------ bulletin


def bulletin(
    uow: UnitOfWork,
    scheme_code: str,
    period: str,
    *,
    common_share: Decimal | str | float = Decimal("0.3"),
    weak_count: int = 3,
) -> dict[str, Any]:
    """通报反馈: rankings per peer group, item scores, common problems and weak items."""
    raw_share = common_share
    if isinstance(raw_share, str) and raw_share.strip().endswith("%"):
        share = v.decimal("common_share", raw_share.strip()[:-1]) / 100
    else:
        share = v.decimal("common_share", raw_share)
    if not Decimal(0) < share <= Decimal(1):
        raise ValidationError("common_share", str(share), "must be a share in (0, 1]")
    if isinstance(weak_count, bool) or not isinstance(weak_count, int) or weak_count < 0:
        raise ValidationError("weak_count", weak_count, "must be a whole number ≥ 0")
    scheme, p = _scheme_period(uow, scheme_code, period)
    spec = scheme.spec()
    assert scheme.id is not None
    s = uow.session
    res = _scoring.results(uow, scheme.code, p)
    cycles = sql.cycles_of(s, scheme.id, p)
    org_cycle = {c["org"]: cid for cid, c in cycles.items()}
    names = {c["org"]: c["name"] for c in cycles.values()}
    per_org: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for cid, code, score in rsql.item_scores(s, spec, scheme.id, p):
        per_org[cid][code] = score
    matrix = sql.finding_matrix(s, scheme.id, p)
    item_codes = [i.code for i in spec.items()]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in res.rows:
        cid = org_cycle[r.org]
        groups.setdefault(r.peer_group, []).append(
            {
                "rank": r.rank,
                "org": r.org,
                "name": r.name,
                "total": r.total,
                "base": r.base,
                "bonus": r.bonus,
                "penalty": r.penalty,
                "subtotals": dict(r.subtotals),
                "grade": r.grade,
                "vetoed": r.veto_hits > 0,
                "outcomes": [dict(x) for x in r.outcomes],
                "state": cycles[cid]["state"],
                "items": {c: per_org[cid].get(c) for c in item_codes},
                "findings": {
                    c: matrix.get((r.org, c), 0) for c in item_codes if (r.org, c) in matrix
                },
            }
        )
    n = len(cycles)
    stats = sql.item_stats(s, spec, scheme.id, p)
    marks = key_content(uow, scheme.code, p)
    marked = {(m["item"], m["kind"]) for m in marks}
    flagged = sql.finding_counts(s, scheme.id, p)
    counts = {c["item"]: c for c in flagged}
    titles = {i.code: i.title for i in spec.items()}
    items = []
    for st in stats:
        c = counts.get(st["item"])
        items.append(
            {
                **st,
                "finding_orgs": c["orgs"] if c else 0,
                "findings": c["findings"] if c else 0,
            }
        )
    common = []
    for c in flagged:
        if n and Decimal(c["orgs"]) >= share * n:
            orgs = sorted(o for (o, i) in matrix if i == c["item"])
            common.append(
                {
                    **c,
                    "title": titles.get(c["item"]),
                    "share": _rate(Decimal(c["orgs"]), Decimal(n)),
                    "org_codes": orgs,
                    "org_names": [names[o] for o in orgs],
                    "marked": (c["item"], "common") in marked,
                }
            )
    weak = [
        {**w, "marked": (w["item"], "weak") in marked}
        for w in (sql.weak_items(s, spec, scheme.id, p, weak_count) if weak_count else [])
    ]
    return {
        "kind": "bulletin",
        "scheme": _scheme_info(scheme, spec),
        "period": p,
        "generated_at": uow.clock.now().isoformat(),
        "scope_size": n,
        "tie_rule": TIE_RULE,
        "categories": _categories(spec),
        "items": items,
        "groups": [
            {"peer_group": g, "size": len(rows), "rows": rows} for g, rows in groups.items()
        ],
        "common_share": share,
        "common_problems": common,
        "weak_count": weak_count,
        "weak_items": weak,
        "key_content": marks,
    }


# ------------------------------------------------------------------- key content


def _kind(kind: str) -> str:
    k = str(kind).strip()
    k = _KIND_ALIASES.get(k, k)
    if k not in KEY_CONTENT_KINDS:
        raise ValidationError("kind", kind, "must be common (共性问题) or weak (短板指标)")
    return k


def mark_key_content(
    uow: UnitOfWork,
    scheme_code: str,
    period: str,
    item_code: str,
    kind: str,
    note: str | None = None,
) -> dict[str, Any]:
    """改进反馈: mark an item as key content of the next period's scheme."""
    scheme, p = _scheme_period(uow, scheme_code, period)
    uow._authorize(
        "key_content.mark", Resource("key_content", f"the key content of scheme {scheme.code}")
    )
    k = _kind(kind)
    item = scheme.item(str(item_code))
    if item is None:
        raise ValidationError("item", item_code, f"is not an item of scheme {scheme.code}")
    text = v.optional_text("note", note, 4000)
    kc = t.key_content
    s = uow.session
    exists = s.scalar(
        select(kc.c.id).where(
            kc.c.scheme_id == scheme.id,
            kc.c.period == p,
            kc.c.item_code == item.code,
            kc.c.kind == k,
        )
    )
    if exists is not None:
        raise ValidationError(
            "item",
            item.code,
            f"is already marked as {k} ({KEY_CONTENT_KINDS[k]}) key content of {scheme.code}/{p}",
        )
    now = uow.clock.now()
    result = s.execute(
        kc.insert().values(
            scheme_id=scheme.id,
            period=p,
            item_code=item.code,
            kind=k,
            note=text,
            marked_by=uow.actor.name,
            marked_at=now,
        )
    )
    key = cast("CursorResult[Any]", result).inserted_primary_key
    assert key is not None
    new_id = int(key[0])
    data = {"scheme": scheme.code, "period": p, "item": item.code, "kind": k, "note": text}
    uow._log("key_content", new_id, "mark", data=data)
    uow.flush()
    return {
        "id": new_id,
        **data,
        "title": item.title,
        "kind_name": KEY_CONTENT_KINDS[k],
        "marked_by": uow.actor.name,
        "marked_at": now.isoformat(),
    }


def key_content(uow: UnitOfWork, scheme_code: str, period: str) -> list[dict[str, Any]]:
    """The items marked as key content of the next period's scheme, in scheme order."""
    scheme, p = _scheme_period(uow, scheme_code, period)
    kc = t.key_content
    rows = uow.session.execute(
        select(kc.c.id, kc.c.item_code, kc.c.kind, kc.c.note, kc.c.marked_by, kc.c.marked_at)
        .where(kc.c.scheme_id == scheme.id, kc.c.period == p)
        .order_by(kc.c.id)
    ).all()
    order = {i.code: n for n, i in enumerate(scheme.items())}
    titles = {i.code: i.title for i in scheme.items()}
    out = [
        {
            "id": int(r.id),
            "scheme": scheme.code,
            "period": p,
            "item": r.item_code,
            "title": titles.get(r.item_code),
            "kind": r.kind,
            "kind_name": KEY_CONTENT_KINDS.get(r.kind, r.kind),
            "note": r.note,
            "marked_by": r.marked_by,
            "marked_at": r.marked_at.isoformat() if r.marked_at else None,
        }
        for r in rows
    ]
    out.sort(key=lambda m: (order.get(m["item"], len(order)), m["kind"]))
    return out


# ------------------------------------------------------------------------- lineage


def lineage(uow: UnitOfWork, finding_id: int) -> dict[str, Any]:
    """One problem's thread across periods: where it came from, every period it was in."""
    thread = uow.thread(finding_id)
    if not thread:
        raise NotFound("finding", finding_id)
    s = uow.session
    info = sql.thread_periods(s, [f.id for f in thread if f.id is not None])
    cyc = s.get(Cycle, thread[0].cycle_id)
    assert cyc is not None
    o = s.execute(
        select(t.organization.c.code, t.organization.c.name).where(
            t.organization.c.id == cyc.org_id
        )
    ).one()
    root = thread[0]
    origin_period = info[root.id][0] if root.id is not None else None
    periods = []
    for f in thread:
        assert f.id is not None
        per, cstate = info[f.id]
        periods.append(
            {
                "period": per,
                "finding": f.id,
                "state": f.state,
                "state_name": FINDING_STATE_LABELS.get(f.state, f.state),
                "checkpoint": f.checkpoint,
                "checkpoint_name": CHECKPOINT_LABELS.get(f.checkpoint, f.checkpoint),
                "carry_count": f.carry_count,
                "found_on": f.found_on,
                "deadline": f.deadline,
                "severity": f.severity,
                "rectification": f.rectification,
                "rectification_owner": f.rectification_owner,
                "resolution": f.resolution,
                "cycle_state": cstate,
            }
        )
    last = thread[-1]
    carry_count = max(f.carry_count for f in thread)
    times_carried = sum(f.state == FindingState.CARRIED for f in thread)
    return {
        "finding": finding_id,
        "root": root.id,
        "org": o.code,
        "name": o.name,
        "item": root.item_code,
        "description": root.description,
        "severity": root.severity,
        "origin": {
            "period": origin_period,
            "checkpoint": root.checkpoint,
            "checkpoint_name": CHECKPOINT_LABELS.get(root.checkpoint, root.checkpoint),
            "found_on": root.found_on,
            "finding": root.id,
        },
        "periods": periods,
        "current": {
            "period": periods[-1]["period"],
            "finding": last.id,
            "state": last.state,
            "state_name": FINDING_STATE_LABELS.get(last.state, last.state),
        },
        # Periods the problem was carried into (the domain's carry count, 连续未整改 from 2).
        "carry_count": carry_count,
        # Closes it outlived unresolved: one more than carry_count while the next period's
        # cycle, which will continue it, is not open yet.
        "times_carried": times_carried,
        "awaiting_next_period": last.state == FindingState.CARRIED,
        "resolved": last.state in (FindingState.RESOLVED, FindingState.WAIVED),
        "recurring": is_recurring(carry_count),
        "recurring_after": RECURRING_AFTER,
    }


def recurring(
    uow: UnitOfWork, period: str | None = None, org: str | None = None
) -> list[dict[str, Any]]:
    """连续未整改: unresolved problems carried into two or more periods."""
    p = str(Period.parse(period)) if period is not None else None
    org_id = uow.organization(org).id if org is not None else None
    rows = sql.recurring_rows(uow.session, period=p, org_id=org_id)
    for r in rows:
        r["state_name"] = FINDING_STATE_LABELS.get(r["state"], r["state"])
        r["origin_checkpoint_name"] = CHECKPOINT_LABELS.get(
            r["origin_checkpoint"], r["origin_checkpoint"]
        )
        r["recurring"] = True
    return rows


# ----------------------------------------------------------------------- compare


def compare_years(uow: UnitOfWork, org: str, periods: Sequence[str]) -> list[dict[str, Any]]:
    """An organization's result period by period, each under its cycle's scheme."""
    if not periods:
        raise ValidationError("periods", [], "give at least one period")
    o = uow.organization(org)
    s = uow.session
    out = []
    seen: set[str] = set()
    for raw in periods:
        p = str(Period.parse(str(raw).strip()))
        if p in seen:
            raise ValidationError("periods", raw, "is given twice")
        seen.add(p)
        cyc = s.scalars(
            select(Cycle).where(t.cycle.c.org_id == o.id, t.cycle.c.period == p)
        ).one_or_none()
        entry: dict[str, Any] = {
            "period": p,
            "org": o.code,
            "name": o.name,
            "cycle_state": None,
            "scheme": None,
            "scheme_title": None,
            "total": None,
            "max_total": None,
            "rate": None,
            "grade": None,
            "rank": None,
            "group_size": None,
            "peer_group": o.peer_group or "",
            "subtotals": {},
            "findings": 0,
        }
        out.append(entry)
        if cyc is None:
            continue
        entry["cycle_state"] = cyc.state
        entry["findings"] = int(
            s.scalar(
                select(func.count())
                .select_from(t.finding)
                .where(
                    t.finding.c.cycle_id == cyc.id,
                    t.finding.c.state.in_(sql.COUNTED_FINDING_STATES),
                )
            )
            or 0
        )
        if cyc.scheme_id is None or cyc.state not in RESULT_STATES:
            continue
        scheme = s.get(Scheme, cyc.scheme_id)
        assert scheme is not None
        spec = scheme.spec()
        rows, grades = _scoring._ranked(uow, scheme, spec, p)
        mine = next((r for r in rows if r["org_id"] == o.id), None)
        if mine is None:
            continue
        assert scheme.id is not None
        assert cyc.id is not None
        scores = sql.cycle_item_scores(s, spec, scheme.id, p, cyc.id)
        subs = {
            c.code: sum(
                (scores.get(i.code, Decimal(0)) for i in c.items if i.rule in BASE_RULES),
                Decimal(0),
            )
            for c in spec.categories
        }
        entry.update(
            {
                "scheme": scheme.code,
                "scheme_title": scheme.title,
                "total": mine["total"],
                "max_total": spec.upper_bound(),
                "rate": _rate(mine["total"], spec.base_max()),
                "grade": grades[o.code],
                "rank": mine["rank"],
                "group_size": mine["group_size"],
                "peer_group": mine["peer_group"],
                "subtotals": subs,
                "category_names": {c.code: c.name for c in spec.categories},
            }
        )
    return out


def item_across_scope(
    uow: UnitOfWork, scheme_code: str, period: str, item_code: str
) -> dict[str, Any]:
    """One item's scores over the whole scope: every organization's score, rate and rank on
    the item, with the scope's average and its problems on the item."""
    scheme, p = _scheme_period(uow, scheme_code, period)
    spec = scheme.spec()
    item = scheme.item(str(item_code))
    if item is None or item.id is None or scheme.id is None:
        raise ValidationError("item", item_code, f"is not an item of scheme {scheme.code}")
    s = uow.session
    stats = sql.item_stats(s, spec, scheme.id, p, item_code=item.code)[0]
    matrix = sql.finding_matrix(s, scheme.id, p)
    rows = sql.item_column(s, spec, scheme.id, p, item.id)
    for r in rows:
        r["max"] = item.max_score
        r["rate"] = _rate(r["score"], item.max_score) if item.rule != "penalty" else None
        r["findings"] = matrix.get((r["org"], item.code), 0)
    return {
        "kind": "item",
        "scheme": _scheme_info(scheme, spec),
        "period": p,
        **stats,
        "finding_orgs": sum(1 for r in rows if r["findings"]),
        "findings": sum(r["findings"] for r in rows),
        "rows": rows,
    }
