"""Scoring: how entered values become item scores, totals, grades, ranks and outcomes.

This module is the reference: pure Python on exact integers, used for one organization's
score sheet and by the tests. The database computes the same numbers for a whole scope
in SQL (:mod:`pdca.persistence.results`); a test holds the two to agreement.

The arithmetic, all on exact scaled integers (rounding is **half-up**, always):

1. An entry's value is converted by the item's rule into points with at most 4 decimal
   places (see :func:`convert`).
2. Per item × checkpoint × method, the entries of the assessors are averaged; for a method
   in the scheme's ``drop_extremes`` with at least 3 entries, one highest and one lowest are
   dropped first. The mean is rounded half-up to 4 decimal places.
3. An item's score is the sum over checkpoints and scored methods of
   checkpoint weight × method weight × mean, rounded half-up to 2 decimal places. A
   missing entry counts 0. Bonus and penalty items accumulate instead: the sum over
   checkpoints of method weight × mean (no checkpoint weight), rounded half-up to 2 places
   and capped at the item's maximum. A ``count`` item scores
   min(actual / target, 1) × maximum from the cycle's records, rounded half-up to 2 places.
4. Category sub-total = sum of its base items (points, grade, count, deduction).
5. Total = base items + min(bonus items, bonus_cap) − min(penalty items, penalty_cap),
   then held within the scheme's bounds (default 0 .. base maximum + bonus cap).
6. Grade: the first band (highest threshold first) whose threshold the total reaches; a
   veto hit gives the lowest band whatever the total. A band with a quota keeps at most
   floor(quota × group size) organizations of a peer group, best ranked first; when
   organizations tied on total straddle that limit, all of them move down (the quota is a
   maximum). Those moved down take the next band.
7. Rank within the peer group by total, highest first, standard competition ranking:
   equal totals share a rank and the next rank skips (1, 2, 2, 4).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from pdca.errors import ValidationError

from .scheme import BASE_RULES, ItemSpec, OutcomeRule, SchemeSpec

__all__ = [
    "TIE_RULE",
    "Entry",
    "OrgScore",
    "Ranked",
    "assign_grades",
    "competition_rank",
    "convert",
    "evaluate_outcomes",
    "half_up_div",
    "score_org",
]

TIE_RULE = (
    "standard competition ranking: equal totals share a rank and the next rank is skipped "
    "(1, 2, 2, 4)"
)
#: Rules whose points add up over checkpoints instead of being weighted by them.
ACCUMULATING_RULES = ("bonus", "penalty")
S4 = 10_000  # 4 decimal places
S2 = 100  # 2 decimal places


def half_up_div(a: int, b: int) -> int:
    """a / b rounded half-up, for a ≥ 0 and b > 0 (exact integer arithmetic, as in SQL)."""
    return (2 * a + b) // (2 * b)


def to_s4(d: Decimal) -> int:
    return int(d * S4)


def from_s2(v: int) -> Decimal:
    return Decimal(v).scaleb(-2)


# ------------------------------------------------------------------------ conversion


def convert(
    item: ItemSpec, value: Any, scales: Mapping[str, Mapping[str, Decimal]]
) -> tuple[str, Decimal, int]:
    """Check ``value`` against the item's rule and convert it.

    Returns ``(raw, points, hits)``: the value as stored text, the points it gives and the
    violations or veto hits it counts. Raises :class:`ValidationError` naming the rule's
    range when the value does not fit.
    """
    rule = item.rule
    if rule == "count":
        raise ValidationError(
            "item", item.code, "a count item is computed from the cycle's records, not entered"
        )
    if rule == "grade":
        assert item.scale is not None
        scale = scales[item.scale]
        label = str(value).strip() if value is not None else ""
        if label not in scale:
            raise ValidationError(
                "value", value, f"item {item.code} takes a grade of " + "/".join(scale)
            )
        return label, scale[label] * item.max_score, 0
    if rule in ("deduction", "penalty", "veto"):
        n = _whole(value, item.code, "a number of violations" if rule != "veto" else "hits")
        if rule == "veto":
            return str(n), Decimal(0), n
        assert item.per is not None
        if rule == "deduction":
            return str(n), max(item.max_score - n * item.per, Decimal(0)), n
        return str(n), min(n * item.per, item.max_score), n
    # points, bonus
    d = _decimal(value, item.code)
    if d < 0 or d > item.max_score:
        raise ValidationError(
            "value", value, f"item {item.code} ({rule}) takes 0 to {item.max_score}"
        )
    return _plain(d), d, 0


def _plain(d: Decimal) -> str:
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _decimal(value: Any, code: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValidationError("value", value, f"item {code} needs a number")
    if isinstance(value, float):
        value = repr(value)
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except ArithmeticError:
        raise ValidationError("value", value, f"item {code} needs a number") from None
    except ValueError:
        raise ValidationError("value", value, f"item {code} needs a number") from None
    if not d.is_finite():
        raise ValidationError("value", value, "must be a finite number")
    if abs(d) >= 10**9:
        raise ValidationError("value", value, "is too large")
    if d != d.quantize(Decimal("0.01")):
        raise ValidationError("value", value, "must have at most 2 decimal places")
    return d


def _whole(value: Any, code: str, what: str) -> int:
    d = _decimal(value, code)
    if d != d.to_integral_value() or d < 0:
        raise ValidationError("value", value, f"item {code} takes {what}: a whole number ≥ 0")
    if d > 10_000:
        raise ValidationError("value", value, f"item {code}: at most 10000 {what}")
    return int(d)


# --------------------------------------------------------------------------- scoring


@frozen
class Entry:
    """One stored score: points already converted by the item's rule."""

    item: str
    checkpoint: str
    method: str
    assessor: str
    points: Decimal
    hits: int = 0


@frozen
class OrgScore:
    """One organization's computed result before ranking."""

    total: Decimal
    base: Decimal
    bonus: Decimal
    penalty: Decimal
    items: Mapping[str, Decimal]
    subtotals: Mapping[str, Decimal]
    veto_hits: int


def _item_score_s2(
    spec: SchemeSpec,
    item: ItemSpec,
    entries: Sequence[Entry],
    record_counts: Mapping[str, int],
) -> int:
    if item.rule == "count":
        assert item.target is not None
        assert item.record_kind is not None
        actual = record_counts.get(item.record_kind, 0)
        return half_up_div(min(actual, item.target) * to_s4(item.max_score), item.target * S2)
    cp_weight = {cp.code: to_s4(cp.weight) for cp in spec.checkpoints}
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for e in entries:
        if e.method == "commentary":
            continue
        groups[(e.checkpoint, e.method)].append(to_s4(e.points))
    raw = 0
    for (cp, method), values in groups.items():
        weight = item.methods.get(method)
        if weight is None or cp not in cp_weight:
            continue
        if method in spec.drop_extremes and len(values) >= 3:
            mean = half_up_div(sum(values) - max(values) - min(values), len(values) - 2)
        else:
            mean = half_up_div(sum(values), len(values))
        cw = S4 if item.rule in ACCUMULATING_RULES else cp_weight[cp]
        raw += mean * to_s4(weight) * cw
    score = half_up_div(raw, S4 * S4 * S4 // S2)
    if item.rule in ACCUMULATING_RULES:
        score = min(score, to_s4(item.max_score) // S2)
    return score


def score_org(
    spec: SchemeSpec, entries: Iterable[Entry], record_counts: Mapping[str, int] | None = None
) -> OrgScore:
    """Compute one organization's item scores, sub-totals and total."""
    by_item: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_item[e.item].append(e)
    counts = record_counts or {}
    items: dict[str, int] = {}
    subtotals: dict[str, int] = {}
    base = bonus = penalty = 0
    veto_hits = 0
    for cat in spec.categories:
        subtotals[cat.code] = 0
        for item in cat.items:
            s = _item_score_s2(spec, item, by_item.get(item.code, []), counts)
            items[item.code] = s
            if item.rule in BASE_RULES:
                base += s
                subtotals[cat.code] += s
            elif item.rule == "bonus":
                bonus += s
            elif item.rule == "penalty":
                penalty += s
            elif item.rule == "veto":
                veto_hits += int(any(e.hits > 0 for e in by_item.get(item.code, [])))
    bonus_capped = min(bonus, to_s4(spec.bonus_cap) // S2) if spec.bonus_cap is not None else 0
    penalty_capped = (
        min(penalty, to_s4(spec.penalty_cap) // S2) if spec.penalty_cap is not None else 0
    )
    total = base + bonus_capped - penalty_capped
    lo = to_s4(spec.bounds_min) // S2
    hi = to_s4(spec.upper_bound()) // S2
    total = min(max(total, lo), hi)
    return OrgScore(
        total=from_s2(total),
        base=from_s2(base),
        bonus=from_s2(bonus_capped),
        penalty=from_s2(penalty_capped),
        items={k: from_s2(v) for k, v in items.items()},
        subtotals={k: from_s2(v) for k, v in subtotals.items()},
        veto_hits=veto_hits,
    )


# ------------------------------------------------------------------- rank and grade


def competition_rank(totals: Sequence[Decimal]) -> list[int]:
    """Standard competition ranks (1, 2, 2, 4) of ``totals``, highest first, in input order."""
    order = sorted(totals, reverse=True)
    first: dict[Decimal, int] = {}
    for i, t in enumerate(order):
        first.setdefault(t, i + 1)
    return [first[t] for t in totals]


@frozen
class Ranked:
    """What grading and outcomes need to know of one organization."""

    key: str
    group: str
    total: Decimal
    rank: int
    vetoed: bool
    grade: str | None = None
    outcomes: tuple[str, ...] = field(factory=tuple)


def _band_for(spec: SchemeSpec, total: Decimal) -> int:
    for i, band in enumerate(spec.grade_bands):
        if total >= band.min:
            return i
    return len(spec.grade_bands) - 1


def assign_grades(spec: SchemeSpec, rows: Sequence[Ranked]) -> dict[str, str | None]:
    """Grade every organization (see the module's rule 6)."""
    if not spec.grade_bands:
        return {r.key: None for r in rows}
    lowest = len(spec.grade_bands) - 1
    band: dict[str, int] = {r.key: lowest if r.vetoed else _band_for(spec, r.total) for r in rows}
    groups: dict[str, list[Ranked]] = defaultdict(list)
    for r in rows:
        groups[r.group].append(r)
    for members in groups.values():
        n = len(members)
        for bi, b in enumerate(spec.grade_bands):
            if b.quota is None:
                continue
            limit = int(b.quota * n)  # floor: a quota is a maximum
            inside = sorted((r for r in members if band[r.key] == bi), key=lambda r: r.rank)
            if len(inside) <= limit:
                continue
            keep = inside[:limit]
            # Ties straddling the limit all move down.
            if keep and len(inside) > limit and inside[limit].total == keep[-1].total:
                tied = keep[-1].total
                keep = [r for r in keep if r.total != tied]
            kept = {r.key for r in keep}
            for r in inside:
                if r.key not in kept:
                    band[r.key] = bi + 1
    return {k: spec.grade_bands[v].name for k, v in band.items()}


# -------------------------------------------------------------------------- outcomes


def _groups(rows: Sequence[Ranked], rule: OutcomeRule) -> dict[str, list[Ranked]]:
    groups: dict[str, list[Ranked]] = defaultdict(list)
    for r in rows:
        groups[r.group if rule.params.get("group", "peer_group") == "peer_group" else ""].append(r)
    return groups


def _eligible_rank(members: Sequence[Ranked]) -> dict[str, int]:
    """Competition rank among the organizations not hit by a veto."""
    eligible = [r for r in members if not r.vetoed]
    ranks = competition_rank([r.total for r in eligible])
    return {r.key: k for r, k in zip(eligible, ranks, strict=True)}


def forced_distribution_sizes(n: int, ratios: Sequence[int]) -> list[int]:
    """How many of ``n`` fall in each band of a forced distribution (e.g. 2:7:1).

    Each band but the middle one gets round_half_up(n × ratio / sum); the middle band (the
    largest ratio, first if several) takes the rest, so the sizes always add up to n.
    """
    total = sum(ratios)
    middle = max(range(len(ratios)), key=lambda i: (ratios[i], -i))
    sizes = [half_up_div(n * r, total) if i != middle else 0 for i, r in enumerate(ratios)]
    while sum(sizes) > n:  # tiny groups: take from the outer bands, bottom first
        for i in reversed(range(len(sizes))):
            if i != middle and sizes[i] > 0 and sum(sizes) > n:
                sizes[i] -= 1
    sizes[middle] = n - sum(sizes)
    return sizes


def evaluate_outcomes(
    spec: SchemeSpec,
    rows: Sequence[Ranked],
    grades: Mapping[str, str | None],
    history: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Apply the scheme's outcome rules; returns key → list of outcomes.

    A rule with ``peer_groups`` applies to the organizations of those peer groups only.
    ``history`` gives, per organization, its results in the previous periods (most recent
    first), each a mapping with ``grade``, ``rank``, ``group_size`` and ``last`` (ranked
    last in its group), for streaks. A veto hit excludes an organization from every award:
    it takes no top-N place (the others are ranked without it), no grade link, and the
    lowest band of a forced distribution.
    """
    out: dict[str, list[dict[str, Any]]] = {r.key: [] for r in rows}
    everyone = rows
    for rule in spec.outcomes:
        only = rule.params.get("peer_groups")
        rows = [r for r in everyone if r.group in only] if only else everyone
        if rule.kind == "top_n":
            n = int(rule.params["n"])
            for members in _groups(rows, rule).values():
                ranks = _eligible_rank(members)
                for r in members:
                    if r.key in ranks and ranks[r.key] <= n:
                        out[r.key].append({"kind": "top_n", "label": rule.label})
        elif rule.kind == "forced_distribution":
            ratios = [int(x) for x in rule.params["ratios"]]
            labels = list(rule.params["labels"])
            factors = [Decimal(str(f)) for f in rule.params["factors"]]
            for members in _groups(rows, rule).values():
                ordered = sorted(members, key=lambda r: (r.vetoed, -r.total, r.key))
                band_sizes = forced_distribution_sizes(len(ordered), ratios)
                bounds: list[int] = []
                acc = 0
                for s in band_sizes:
                    acc += s
                    bounds.append(acc)
                band_of: dict[str, int] = {}
                for pos, r in enumerate(ordered):
                    b = next(i for i, edge in enumerate(bounds) if pos < edge)
                    if r.vetoed:
                        b = len(band_sizes) - 1
                    band_of[r.key] = b
                # Ties straddling an edge share the better band.
                best_for_total: dict[Decimal, int] = {}
                for r in ordered:
                    if not r.vetoed:
                        best_for_total[r.total] = min(
                            best_for_total.get(r.total, band_of[r.key]), band_of[r.key]
                        )
                for r in ordered:
                    b = band_of[r.key] if r.vetoed else best_for_total[r.total]
                    out[r.key].append(
                        {
                            "kind": "forced_distribution",
                            "label": rule.label,
                            "band": labels[b],
                            "factor": str(factors[b]),
                        }
                    )
        elif rule.kind == "grade_link":
            wanted = set(rule.params["grades"])
            for r in rows:
                if not r.vetoed and grades.get(r.key) in wanted:
                    entry = {"kind": "grade_link", "label": rule.label}
                    if rule.params.get("value"):
                        entry["value"] = rule.params["value"]
                    out[r.key].append(entry)
        elif rule.kind == "streak":
            periods = int(rule.params["periods"])
            when = rule.params["when"]
            last_rank: dict[str, int] = defaultdict(int)
            for r in rows:
                last_rank[r.group] = max(last_rank[r.group], r.rank)
            sizes: dict[str, int] = defaultdict(int)
            for r in rows:
                sizes[r.group] += 1
            for r in rows:
                now = {
                    "grade": grades.get(r.key),
                    "rank": r.rank,
                    "group_size": sizes[r.group],
                    "last": r.rank == last_rank[r.group],
                }
                past = list((history or {}).get(r.key, ()))[: periods - 1]
                seq = [now, *past]
                if len(seq) == periods and all(_meets(when, x) for x in seq):
                    out[r.key].append({"kind": "streak", "label": rule.label, "periods": periods})
    return out


def _meets(when: Mapping[str, Any], res: Mapping[str, Any]) -> bool:
    if "grade_in" in when:
        return res.get("grade") in set(when["grade_in"])
    rank = res.get("rank")
    size = res.get("group_size")
    if rank is None or size is None:
        return False
    if "last" in when:
        # Last place: no organization of the group ranks below it.
        return bool(res.get("last", rank == size))
    return bool(rank > size - int(when["bottom"]))
