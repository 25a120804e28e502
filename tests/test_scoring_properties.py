"""Properties of scoring over random schemes and random score entries (hypothesis).

Every example builds a fresh database (``databases.migrated()``) on the session's backend,
issues a random scheme, enters random scores through ``UnitOfWork.enter_score`` and reads
``UnitOfWork.results`` (computed in SQL). The properties:

(a) the SQL item scores, sub-totals and totals equal the Python reference
    :func:`pdca.domain.scoring.score_org` fed the same entries;
(b) every total lies within the scheme's bounds;
(c) the results do not depend on the order the scores (and records, and organizations)
    were entered;
(d) raising one value of a points item never lowers that organization's total, never
    worsens its rank and leaves every other total as it was.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pendulum
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import pdca
from pdca.domain.scheme import SchemeSpec, parse_scheme
from pdca.domain.scoring import (
    Entry,
    OrgScore,
    Ranked,
    assign_grades,
    competition_rank,
    convert,
    forced_distribution_sizes,
    score_org,
)
from pdca.persistence import results as sql
from pdca.services.scoring import Results

D = Decimal
ASSESSOR = pdca.Actor("考核办", org="JG", role="system")
ORG_CODES = ("A", "B", "C", "D", "E")
METHOD_POOL = ("self", "mutual", "panel", "democratic")
CHECKPOINT_KINDS = ("daily", "mid-year", "year-end")
GRADES = ("好", "较好", "一般")
BASE_RULES = ("points", "grade", "count", "deduction", "veto")
ALL_RULES = (*BASE_RULES, "bonus", "penalty")

#: One example builds one or two databases; keep the examples few enough for < 60 s.
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- strategies


def amounts(lo: int, hi: int) -> st.SearchStrategy[Decimal]:
    """Decimals with 2 places from lo/100 to hi/100."""
    return st.integers(lo, hi).map(lambda c: D(c).scaleb(-2))


@st.composite
def partitions(draw: st.DrawFn, k: int, *, positive: bool) -> list[int]:
    """k whole percentages adding up to 100 (each > 0 when ``positive``)."""
    if k == 1:
        return [100]
    if positive:
        cuts = draw(st.lists(st.integers(1, 99), min_size=k - 1, max_size=k - 1, unique=True))
    else:
        cuts = draw(st.lists(st.integers(0, 100), min_size=k - 1, max_size=k - 1))
    edges = [0, *sorted(cuts), 100]
    return [b - a for a, b in itertools.pairwise(edges)]


@st.composite
def items(draw: st.DrawFn, code: str, rule: str) -> dict[str, Any]:
    d: dict[str, Any] = {"code": code, "title": f"指标{code}", "rule": rule}
    if rule != "veto":
        d["max_score"] = draw(amounts(1, 100_00))
    if rule == "grade":
        d["scale"] = "三档"
    if rule in ("deduction", "penalty"):
        d["per"] = draw(amounts(1, 5_00))
    if rule == "count":
        d["record_kind"] = draw(st.sampled_from(["meeting", "visit"]))
        d["target"] = draw(st.integers(1, 12))
    else:
        methods = draw(st.lists(st.sampled_from(METHOD_POOL), min_size=1, max_size=4, unique=True))
        weights = draw(partitions(len(methods), positive=True))
        d["methods"] = {m: f"{w}%" for m, w in zip(methods, weights, strict=True)}
    return d


#: Added by ``schemes(force_bonus=True)``: a bonus and a penalty item of small maxima.
FORCED_ITEMS = [
    {"code": "BX", "title": "加分", "rule": "bonus", "max_score": 5, "methods": {"panel": 1}},
    {
        "code": "NX",
        "title": "减分",
        "rule": "penalty",
        "max_score": 5,
        "per": 1,
        "methods": {"panel": 1},
    },
]


@st.composite
def schemes(
    draw: st.DrawFn,
    rules: Sequence[str],
    *,
    force_bonus: bool = False,
    need_points: bool = False,
) -> dict[str, Any]:
    """A valid scheme mapping: 1-3 weighted checkpoints, 1-4 items of random rules and
    method weights in two categories, optional caps, bounds, grade bands (with quotas) and
    outcomes."""
    n_cp = draw(st.integers(1, 3))
    kinds = draw(st.permutations(CHECKPOINT_KINDS))[:n_cp]
    cp_weights = draw(partitions(n_cp, positive=False))
    rule_list = draw(st.lists(st.sampled_from(rules), min_size=1, max_size=4))
    if need_points:
        rule_list = ["points", *rule_list]
    its = [draw(items(f"I{i}", r)) for i, r in enumerate(rule_list)]
    if force_bonus:
        its += FORCED_ITEMS
    its = draw(st.permutations(its))
    split = draw(st.integers(1, len(its) - 1)) if len(its) > 1 else 1
    scheme: dict[str, Any] = {
        "code": "S",
        "title": "随机方案",
        "period": "2025",
        "issuer": "JG",
        "grade_scales": {"三档": {g: draw(amounts(0, 100)) for g in GRADES}},
        "checkpoints": [
            {"code": k, "kind": k, "weight": f"{w}%"}
            for k, w in zip(kinds, cp_weights, strict=True)
        ],
        "categories": [
            {"code": code, "name": name, "items": part}
            for code, name, part in (("C1", "甲类", its[:split]), ("C2", "乙类", its[split:]))
            if part
        ],
        "drop_extremes": draw(
            st.lists(st.sampled_from(["mutual", "democratic"]), unique=True, max_size=2)
        ),
    }
    used = {i["rule"] for i in its}
    if "bonus" in used:
        scheme["bonus_cap"] = draw(amounts(1_00, 20_00) if force_bonus else amounts(0, 20_00))
    if "penalty" in used:
        scheme["penalty_cap"] = draw(amounts(1_00, 20_00) if force_bonus else amounts(0, 20_00))
    # bounds.min at most the base maximum (parse_scheme refuses a higher one).
    base_max = sum(
        D(i["max_score"]) for i in its if i["rule"] in ("points", "grade", "count", "deduction")
    )
    bmin = D(0)
    if draw(st.booleans()):
        bmin = draw(amounts(0, int(min(base_max, D(20)) * 100)))
        bounds: dict[str, Any] = {"min": bmin}
        if draw(st.booleans()):
            bounds["max"] = draw(amounts(max(int(bmin * 100), 1), 300_00))
        scheme["bounds"] = bounds
    band_names = ["优秀", "良好", "一般", "较差"]
    if draw(st.booleans()):
        mins = sorted(draw(st.lists(st.integers(1, 300), min_size=1, max_size=3, unique=True)))
        bands: list[dict[str, Any]] = []
        for name, m in zip(band_names, reversed(mins), strict=False):
            band: dict[str, Any] = {"name": name, "min": m}
            if draw(st.booleans()):
                band["quota"] = f"{draw(st.integers(1, 100))}%"
            bands.append(band)
        bands.append({"name": "末等", "min": 0})
        scheme["grade_bands"] = bands
        scheme["outcomes"] = [{"kind": "grade_link", "label": "加分", "grades": [bands[0]["name"]]}]
    outcomes = scheme.setdefault("outcomes", [])
    if draw(st.booleans()):
        outcomes.append({"kind": "top_n", "label": "先进", "n": draw(st.integers(1, 3))})
    if draw(st.booleans()):
        outcomes.append(
            {
                "kind": "forced_distribution",
                "label": "系数",
                "ratios": [2, 7, 1],
                "labels": ["A", "B", "C"],
                "factors": [1.2, 1, 0.8],
                "group": draw(st.sampled_from(["peer_group", "scope"])),
            }
        )
    return scheme


def scored_items(scheme: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for c in scheme["categories"] for i in c["items"] if i["rule"] != "count"]


@st.composite
def values(draw: st.DrawFn, item: dict[str, Any]) -> Any:
    rule = item["rule"]
    if rule in ("points", "bonus"):
        return draw(amounts(0, int(D(item["max_score"]) * 100)))
    if rule == "grade":
        return draw(st.sampled_from(GRADES))
    if rule == "veto":
        return draw(st.sampled_from([0, 0, 0, 1, 2]))
    return draw(st.integers(0, 8))  # deduction, penalty: violations


@st.composite
def entry_for(
    draw: st.DrawFn, scheme: dict[str, Any], orgs: Sequence[str], item: dict[str, Any]
) -> dict[str, Any]:
    """One valid score for ``item``: the method decides who may give it."""
    org = draw(st.sampled_from(orgs))
    method = draw(st.sampled_from(sorted(item["methods"])))
    others = [o for o in orgs if o != org]
    if method == "self":
        by = org
    elif method == "panel":
        by = draw(st.sampled_from(["JG", *others]))
    else:
        by = draw(st.sampled_from(others))
    return {
        "org": org,
        "item": item["code"],
        "cp": draw(st.sampled_from([c["code"] for c in scheme["checkpoints"]])),
        "method": method,
        "by": by,
        "who": draw(st.sampled_from(["甲", "乙", "丙"])),
        "value": draw(values(item)),
    }


@st.composite
def entries(draw: st.DrawFn, scheme: dict[str, Any], orgs: Sequence[str]) -> list[dict[str, Any]]:
    its = scored_items(scheme)
    if not its:
        return []
    n = draw(st.integers(3, 25))
    out = [draw(entry_for(scheme, orgs, draw(st.sampled_from(its)))) for _ in range(n)]
    # Bursts: many assessors of other organizations score one organization's item by a
    # peer method, so that highest and lowest get dropped.
    peer = [i for i in its if {"mutual", "democratic"} & set(i["methods"])]
    for _ in range(draw(st.integers(0, 2)) if peer else 0):
        item = draw(st.sampled_from(peer))
        method = draw(st.sampled_from(sorted({"mutual", "democratic"} & set(item["methods"]))))
        one = draw(entry_for(scheme, orgs, item))
        pairs = [(o, w) for o in orgs if o != one["org"] for w in ("甲", "乙", "丙")]
        chosen = draw(st.lists(st.sampled_from(pairs), min_size=3, max_size=6, unique=True))
        for by, who in chosen:
            out.append({**one, "method": method, "by": by, "who": who, "value": draw(values(item))})
    return out


@st.composite
def cases(
    draw: st.DrawFn, rules: Sequence[str], *, force_bonus: bool = False, need_points: bool = False
) -> dict[str, Any]:
    """A scheme, its organizations (with peer groups), score entries and record counts."""
    scheme = draw(schemes(rules, force_bonus=force_bonus, need_points=need_points))
    orgs = list(ORG_CODES[: draw(st.integers(3, len(ORG_CODES)))])
    groups = {o: draw(st.sampled_from(["甲组", "乙组", None])) for o in orgs}
    es = draw(entries(scheme, orgs))
    if force_bonus:
        # Always a bonus and a penalty the reference counts (so the example shows them).
        es.append(entry("A", "BX", scheme["checkpoints"][0]["code"], 2))
        es.append(entry("B", "NX", scheme["checkpoints"][0]["code"], 1))
    records = {
        o: {k: draw(st.integers(0, 15)) for k in ("meeting", "visit", "other")} for o in orgs
    }
    return {"scheme": scheme, "orgs": orgs, "groups": groups, "entries": es, "records": records}


def entry(org: str, item: str, cp: str, value: Any) -> dict[str, Any]:
    """A panel score by JG's 甲."""
    return {
        "org": org,
        "item": item,
        "cp": cp,
        "method": "panel",
        "by": "JG",
        "who": "甲",
        "value": value,
    }


def key(e: dict[str, Any]) -> tuple[str, ...]:
    return (e["org"], e["item"], e["cp"], e["method"], e["by"], e["who"])


def last_per_key(es: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the store keeps: re-entering for the same assessor replaces the value."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for e in es:
        out.pop(key(e), None)
        out[key(e)] = e
    return list(out.values())


# ----------------------------------------------------------------------------- helpers


def build(
    databases: Any,
    case: dict[str, Any],
    *,
    es: Sequence[dict[str, Any]] | None = None,
    orgs: Sequence[str] | None = None,
    records: Sequence[tuple[str, str, int]] | None = None,
) -> pdca.Store:
    """A fresh database with the case's organizations, scheme, cycles (doing), records and
    scores, entered in the order given."""
    clock = pdca.FixedClock(pendulum.datetime(2025, 12, 20, 9, tz="Asia/Shanghai"))
    store = pdca.open_store(databases.migrated(), clock=clock)
    orgs = list(orgs if orgs is not None else case["orgs"])
    if records is None:
        records = record_list(case)
    with store.unit_of_work(ASSESSOR) as u:
        u.add_organization("JG", "机关工委", "机关工委")
        for o in orgs:
            u.add_organization(o, f"{o}支部", "党支部", parent="JG", peer_group=case["groups"][o])
        u.add_scheme(case["scheme"])
        for o in orgs:
            u.open_cycle(o, "2025", scheme="S")
            for tgt in u.cycle(o, "2025").targets:
                u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
            u.approve_plan(o, "2025")
            u.start(o, "2025")
        for i, (o, kind, q) in enumerate(records):
            u.add_record(o, "2025", kind, dt.date(2025, 1 + i % 12, 1), "台账", quantity=q)
        for e in es if es is not None else case["entries"]:
            enter(u, e)
    return store


def enter(u: pdca.UnitOfWork, e: dict[str, Any]) -> None:
    u.enter_score(
        e["org"],
        "2025",
        e["item"],
        e["cp"],
        e["method"],
        e["value"],
        assessor=e["who"],
        assessor_org=e["by"],
    )


def record_list(case: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(o, k, q) for o, counts in case["records"].items() for k, q in counts.items() if q]


def results(store: pdca.Store) -> Results:
    with store.unit_of_work(ASSESSOR) as u:
        return u.results("S", "2025")


def reference(spec: SchemeSpec, case: dict[str, Any]) -> dict[str, OrgScore]:
    """score_org for every organization from the entries the store keeps."""
    per_org: dict[str, list[Entry]] = defaultdict(list)
    for e in last_per_key(case["entries"]):
        item = spec.item(e["item"])
        assert item is not None
        _, pts, hits = convert(item, e["value"], spec.grade_scales)
        per_org[e["org"]].append(
            Entry(e["item"], e["cp"], e["method"], f"{e['by']}/{e['who']}", pts, hits)
        )
    return {o: score_org(spec, per_org[o], case["records"][o]) for o in case["orgs"]}


def describe(spec: SchemeSpec, case: dict[str, Any], res: Results) -> None:
    """Hypothesis events (see --hypothesis-show-statistics): what the examples exercised."""
    kept = last_per_key(case["entries"])
    event(f"entries: {len(kept) // 10 * 10}+")
    for rule in sorted({i.rule for i in spec.items()}):
        event(f"rule {rule}")
    groups: dict[tuple[str, ...], int] = defaultdict(int)
    for e in kept:
        groups[(e["org"], e["item"], e["cp"], e["method"])] += 1
    if any(n >= 3 and k[3] in spec.drop_extremes for k, n in groups.items()):
        event("extremes dropped")
    if any(r.veto_hits for r in res.rows):
        event("veto hit")
    if any(r.total in (spec.bounds_min, spec.upper_bound()) for r in res.rows):
        event("a total at a bound")
    if len({r.total for r in res.rows}) < len(res.rows):
        event("tied totals")
    if any(r.grade for r in res.rows):
        event("grades")


def assert_within_bounds(spec: SchemeSpec, res: Results) -> None:
    for r in res.rows:
        assert spec.bounds_min <= r.total <= spec.upper_bound(), (r.org, r.total)
        assert r.base >= 0
        assert 0 <= r.bonus <= (spec.bonus_cap or 0)
        assert 0 <= r.penalty <= (spec.penalty_cap or 0)
        for amount in (r.total, r.base, r.bonus, r.penalty, *r.subtotals.values()):
            assert type(amount) is Decimal


def check_against_reference(databases: Any, case: dict[str, Any]) -> None:
    spec = parse_scheme(case["scheme"])
    with build(databases, case) as store:
        res = results(store)
        with store.unit_of_work(ASSESSOR) as u:
            assert u.scheme_spec("S") == spec
            scheme_id = u.scheme("S").id
            cycles = {u.cycle(o, "2025").id: o for o in case["orgs"]}
            sql_items: dict[str, dict[str, Decimal]] = defaultdict(dict)
            for cycle_id, code, score in sql.item_scores(u.session, spec, scheme_id, "2025"):
                sql_items[cycles[cycle_id]][code] = score
    ref = reference(spec, case)
    describe(spec, case, res)
    # (a) item by item, then the sums.
    for o in case["orgs"]:
        expected_items = {code: s for code, s in ref[o].items.items() if s != 0}
        got_items = {code: s for code, s in sql_items[o].items() if s != 0}
        assert got_items == expected_items, o
    assert {r.org for r in res.rows} == set(case["orgs"])
    for r in res.rows:
        want = ref[r.org]
        assert (r.total, r.base, r.bonus, r.penalty, r.veto_hits) == (
            want.total,
            want.base,
            want.bonus,
            want.penalty,
            want.veto_hits,
        ), r.org
        assert dict(r.subtotals) == dict(want.subtotals), r.org
    # Ranks: competition ranking of the reference totals within each peer group; grades
    # from those ranks.
    by_group: dict[str, list[str]] = defaultdict(list)
    for o in case["orgs"]:
        by_group[case["groups"][o] or ""].append(o)
    ranks: dict[str, int] = {}
    for members in by_group.values():
        for o, k in zip(members, competition_rank([ref[o].total for o in members]), strict=True):
            ranks[o] = k
    assert {r.org: (r.rank, r.group_size) for r in res.rows} == {
        o: (ranks[o], len(by_group[case["groups"][o] or ""])) for o in case["orgs"]
    }
    grades = assign_grades(
        spec,
        [
            Ranked(o, case["groups"][o] or "", ref[o].total, ranks[o], ref[o].veto_hits > 0)
            for o in case["orgs"]
        ],
    )
    assert {r.org: r.grade for r in res.rows} == grades
    # (b)
    assert_within_bounds(spec, res)


# ------------------------------------------------------------------------------ (a), (b)


@settings(SETTINGS, max_examples=30)
@given(case=cases(ALL_RULES))
def test_sql_equals_reference_and_stays_in_bounds(databases: Any, case: dict[str, Any]) -> None:
    """(a) + (b) for items of every rule."""
    check_against_reference(databases, case)


@settings(SETTINGS, max_examples=8)
@given(case=cases(ALL_RULES, force_bonus=True))
def test_sql_equals_reference_with_bonus_and_penalty(databases: Any, case: dict[str, Any]) -> None:
    """(a) + (b) where every example has a bonus of 2 for A and a penalty of 1 for B on
    items of small maxima (their caps were once scaled wrongly in SQL, scoring them 0)."""
    check_against_reference(databases, case)


# ----------------------------------------------------------------------------------- (c)


@settings(SETTINGS, max_examples=12)
@given(case=cases(ALL_RULES), data=st.data())
def test_results_do_not_depend_on_entry_order(
    databases: Any, case: dict[str, Any], data: st.DataObject
) -> None:
    es = last_per_key(case["entries"])
    shuffled = data.draw(st.permutations(es), label="entries")
    orgs = data.draw(st.permutations(case["orgs"]), label="organizations")
    records = data.draw(st.permutations(record_list(case)), label="records")
    with build(databases, case, es=es) as first:
        one = results(first)
    with build(databases, case, es=shuffled, orgs=orgs, records=records) as second:
        two = results(second)
    assert one.as_dict() == two.as_dict()
    assert_within_bounds(parse_scheme(case["scheme"]), two)  # (b) with every rule


# ----------------------------------------------------------------------------------- (d)


@settings(SETTINGS, max_examples=20)
@given(case=cases(ALL_RULES, need_points=True), data=st.data())
def test_raising_a_points_value_never_lowers_total_or_rank(
    databases: Any, case: dict[str, Any], data: st.DataObject
) -> None:
    scheme = case["scheme"]
    pts = [i for i in scored_items(scheme) if i["rule"] == "points"]
    item = data.draw(st.sampled_from(pts), label="item")
    cents = int(D(item["max_score"]) * 100)
    low = data.draw(entry_for(scheme, case["orgs"], item), label="entry")
    low["value"] = data.draw(amounts(0, cents - 1), label="low")
    high = {**low, "value": data.draw(amounts(int(low["value"] * 100) + 1, cents), label="high")}
    es = [*last_per_key(case["entries"]), low]
    with build(databases, {**case, "entries": es}) as store:
        before = results(store)
        with store.unit_of_work(ASSESSOR) as u:
            enter(u, high)
        after = results(store)
    org = low["org"]
    assert after.row(org).total >= before.row(org).total
    assert after.row(org).rank <= before.row(org).rank
    for r in before.rows:
        if r.org != org:
            assert after.row(r.org).total == r.total
    assert_within_bounds(parse_scheme(scheme), after)


# ----------------------------------------------------------------------- pure functions


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 200),
    ratios=st.lists(st.integers(0, 10), min_size=2, max_size=5).filter(lambda r: sum(r) > 0),
)
def test_forced_distribution_sizes_add_up(n: int, ratios: list[int]) -> None:
    sizes = forced_distribution_sizes(n, ratios)
    assert len(sizes) == len(ratios)
    assert sum(sizes) == n
    assert all(s >= 0 for s in sizes)


@settings(max_examples=300, deadline=None)
@given(st.lists(amounts(0, 100_00), max_size=30))
def test_competition_rank(totals: list[Decimal]) -> None:
    ranks = competition_rank(totals)
    for t, r in zip(totals, ranks, strict=True):
        assert r == 1 + sum(1 for x in totals if x > t)
