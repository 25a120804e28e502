"""Every sample year (``pdca demo --sample NAME``) obeys its article's rules.

Each test runs one sample through the real command on a fresh database and checks its
JSON against the scheme the sample issued: ranks, grades and outcomes are recomputed here
from the totals (never hard-coded), and the rollover carries exactly the unresolved
problems into next year's plans.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

import pdca
from pdca.cli import cli
from pdca.domain.scheme import SchemeSpec
from pdca.domain.scoring import forced_distribution_sizes
from pdca.persistence import results as sql
from pdca.persistence import tables as t

YEAR = "2025"
NEXT = str(int(YEAR) + 1)
Row = dict[str, Any]


def run_demo(url: str, sample: str) -> dict[str, Any]:
    r = CliRunner().invoke(cli, ["--db", url, "demo", "--sample", sample, "--json", "--year", YEAR])
    assert r.exit_code == 0, r.output
    data: dict[str, Any] = json.loads(r.stdout)
    assert data["sample"] == sample
    assert (data["period_from"], data["period_to"]) == (YEAR, NEXT)
    assert 1 <= len(data["highlights"]) <= 3
    return data


def specs(url: str, *codes: str) -> dict[str, SchemeSpec]:
    with pdca.open_store(url) as store, store.unit_of_work() as uow:
        return {c: uow.scheme_spec(c) for c in codes}


def competition(totals: Sequence[Decimal]) -> list[int]:
    """1, 2, 2, 4: one more than the number of strictly higher totals."""
    return [1 + sum(x > v for x in totals) for v in totals]


def labelled(rows: Iterable[Row], label: str) -> set[str]:
    return {r["org"] for r in rows if any(o["label"] == label for o in r["outcomes"])}


def by_group(rows: Iterable[Row]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[r["peer_group"]].append(r)
    return groups


def check_results(spec: SchemeSpec, rows: list[Row]) -> None:
    """Totals, ranks, grades and every non-streak outcome rule of ``spec``, recomputed."""
    assert rows
    for r in rows:
        base, bonus, penalty = (Decimal(r[k]) for k in ("base", "bonus", "penalty"))
        total = min(max(base + bonus - penalty, spec.bounds_min), spec.upper_bound())
        assert Decimal(r["total"]) == total, r
        assert sum(Decimal(v) for v in r["subtotals"].values()) == base, r
        assert r["vetoed"] == (r["veto_hits"] > 0)
    for members in by_group(rows).values():
        ranks = competition([Decimal(r["total"]) for r in members])
        for r, k in zip(members, ranks, strict=True):
            assert (r["rank"], r["group_size"]) == (k, len(members)), r

    # Grades: the band the total reaches; a veto → the lowest band; a quota only moves
    # organizations down, the lowest totals first.
    bands = spec.grade_bands
    names = [b.name for b in bands]
    for members in by_group(rows).values():
        for r in members:
            if not bands:
                assert r["grade"] is None
                continue
            natural = next(i for i, b in enumerate(bands) if Decimal(r["total"]) >= b.min)
            got = names.index(r["grade"])
            if r["vetoed"]:
                assert got == len(bands) - 1, r
            else:
                assert got in (natural, natural + 1), r
                if got != natural:
                    assert bands[natural].quota is not None, r
        for i, b in enumerate(bands):
            if b.quota is None:
                continue
            inside = [r for r in members if r["grade"] == b.name]
            assert len(inside) <= int(b.quota * len(members))
            moved = [
                r
                for r in members
                if not r["vetoed"] and r["grade"] == names[i + 1] and Decimal(r["total"]) >= b.min
            ]
            if moved:
                assert inside, "a quota moves down only those over it"
                assert max(Decimal(r["total"]) for r in moved) <= min(
                    Decimal(r["total"]) for r in inside
                )

    for rule in spec.outcomes:
        got_orgs = labelled(rows, rule.label)
        groups = (
            by_group(rows) if rule.params.get("group", "peer_group") == "peer_group" else {"": rows}
        )
        if rule.kind == "top_n":
            want: set[str] = set()
            for members in groups.values():
                eligible = [r for r in members if not r["vetoed"]]
                ranks = competition([Decimal(r["total"]) for r in eligible])
                want |= {
                    r["org"] for r, k in zip(eligible, ranks, strict=True) if k <= rule.params["n"]
                }
            assert got_orgs == want, rule.label
        elif rule.kind == "grade_link":
            want = {
                r["org"] for r in rows if not r["vetoed"] and r["grade"] in rule.params["grades"]
            }
            assert got_orgs == want, rule.label
        elif rule.kind == "forced_distribution":
            labels = rule.params["labels"]
            factors = [Decimal(f) for f in rule.params["factors"]]
            for members in groups.values():
                expected = forced_bands(members, [int(x) for x in rule.params["ratios"]])
                for r in members:
                    (entry,) = [o for o in r["outcomes"] if o["label"] == rule.label]
                    want_band = expected[r["org"]]
                    assert entry["band"] == labels[want_band], r
                    assert Decimal(entry["factor"]) == factors[want_band]


def forced_bands(members: list[Row], ratios: list[int]) -> dict[str, int]:
    """Band index of each member: by position in the order of totals, ties sharing the
    better band, vetoed organizations in the last band."""
    order = sorted(members, key=lambda r: (r["vetoed"], -Decimal(r["total"]), r["org"]))
    sizes = forced_distribution_sizes(len(order), ratios)
    edges = [sum(sizes[: i + 1]) for i in range(len(sizes))]
    band = {
        r["org"]: next(i for i, e in enumerate(edges) if pos < e) for pos, r in enumerate(order)
    }
    best: dict[Decimal, int] = {}
    for r in order:
        if not r["vetoed"]:
            best[Decimal(r["total"])] = min(best.get(Decimal(r["total"]), 9), band[r["org"]])
    return {r["org"]: len(sizes) - 1 if r["vetoed"] else best[Decimal(r["total"])] for r in order}


def check_carried(url: str, data: dict[str, Any], next_periods: Sequence[str]) -> None:
    """The unresolved problems became exactly the carried targets of next year's plans."""
    assert data["findings_carried_forward"] >= 1
    assert data["findings_carried_forward"] == data["carried_targets"]
    assert (
        data["findings_resolved"] + data["findings_waived"] + data["findings_carried_forward"]
        == data["findings_total"]
    )
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        carried = conn.scalar(
            sa.select(sa.func.count())
            .select_from(t.target)
            .join(t.cycle, t.cycle.c.id == t.target.c.cycle_id)
            .where(t.cycle.c.period.in_(next_periods), t.target.c.origin == "carried")
        )
        sources = conn.execute(
            sa.select(t.finding.c.state)
            .join(t.target, t.target.c.carried_from_id == t.finding.c.id)
            .join(t.cycle, t.cycle.c.id == t.target.c.cycle_id)
            .where(t.cycle.c.period.in_(next_periods))
        ).all()
    engine.dispose()
    assert carried == data["carried_targets"]
    assert {s for (s,) in sources} == {"carried"}
    plan = data["next_plan"]
    assert any(x["origin"] == "carried" for x in plan["targets"])


def grade_values(url: str) -> set[str]:
    """Every value entered for a grade item."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        raws = conn.execute(
            sa.select(t.score.c.raw)
            .join(t.item, t.item.c.id == t.score.c.item_id)
            .where(t.item.c.rule == "grade", t.score.c.method != "commentary")
            .distinct()
        ).all()
    engine.dispose()
    return {raw for (raw,) in raws}


# ----------------------------------------------------------------------------- samples


def test_xiangtan(empty_db_url: str) -> None:
    data = run_demo(empty_db_url, "xiangtan")
    spec = specs(empty_db_url, data["scheme"])[data["scheme"]]
    check_results(spec, data["results"]["results"])
    assert [(c.kind, c.weight) for c in spec.checkpoints] == [
        ("daily", Decimal("0.3")),
        ("mid-year", Decimal("0.2")),
        ("year-end", Decimal("0.5")),
    ]
    check_carried(empty_db_url, data, [NEXT])


def test_zhangzhou(empty_db_url: str) -> None:
    data = run_demo(empty_db_url, "zhangzhou")
    spec = specs(empty_db_url, data["scheme"])[data["scheme"]]
    rows = data["results"]["results"]
    check_results(spec, rows)

    # 74 committees in three tiers; 六比六看: six categories, 24 graded items, 100 points.
    assert data["organizations"] == len(rows) == 74
    assert len(by_group(rows)) == 3
    assert len(spec.categories) == 6
    items = spec.items()
    assert len(items) == 24
    assert sum(i.max_score for i in items) == 100 == spec.upper_bound()
    assert {i.rule for i in items} == {"grade"}
    assert {tuple(spec.grade_scales[i.scale or ""].items()) for i in items} == {
        (("好", Decimal(1)), ("较好", Decimal("0.8")), ("一般", Decimal("0.6")))
    }
    assert grade_values(empty_db_url) == {"好", "较好", "一般"}
    reviewed = [i for i in items if "report-review" in i.methods]
    assert 1 <= len(reviewed) <= 2
    assert all(set(i.methods) <= {"panel", "report-review"} for i in items)
    assert {c.kind for c in spec.checkpoints} == {"mid-year", "year-end"}

    # The 20 best totals across all 74 (not per tier) are the year's winning units.
    totals = [Decimal(r["total"]) for r in rows]
    across = competition(totals)
    winners = labelled(rows, "年度优胜单位")
    assert winners == {r["org"] for r, k in zip(rows, across, strict=True) if k <= 20}
    assert len(winners) >= 20
    assert len({r["peer_group"] for r in rows if r["org"] in winners}) >= 2

    # Weak items (短板) became findings; the report on duty was checked against the work.
    with pdca.open_store(empty_db_url) as store, store.unit_of_work() as uow:
        found = uow.findings(period=YEAR)
    assert any(f.description.startswith("短板") for f in found)
    assert any(f.source == "report-review" for f in found)
    check_carried(empty_db_url, data, [NEXT])


def test_grassroots(empty_db_url: str) -> None:
    data = run_demo(empty_db_url, "grassroots")
    code = data["scheme"]
    spec = specs(empty_db_url, code)[code]
    rows = data["results"]["results"]
    check_results(spec, rows)

    methods = {m for i in spec.items() for m in i.methods}
    assert {"questionnaire", "interview", "practical", "report-review", "panel"} <= methods
    assert any(i.rule == "count" for i in spec.items())
    assert "questionnaire" in spec.drop_extremes
    assert spec.appeal_window_days == 7
    maxima = {i.code: i.max_score for i in spec.items()}

    with pdca.open_store(empty_db_url) as store, store.unit_of_work() as uow:
        orgs = {o.id: o.code for o in uow.organizations()}
        cycles = {c.id: orgs[c.org_id] for c in uow.cycles(period=YEAR)}
        scheme_id = uow.scheme(code).id
        assert scheme_id is not None
        item_scores: dict[str, dict[str, Decimal]] = defaultdict(dict)
        for cycle_id, item, score in sql.item_scores(uow.session, spec, scheme_id, YEAR):
            item_scores[cycles[cycle_id]][item] = score
        for r in rows:
            org = r["org"]
            cyc = uow.cycle(org, YEAR)
            # Standards were set in the plan: target values with units.
            standards = [x for x in cyc.targets if x.target_value is not None]
            assert standards
            assert all(x.unit for x in standards)
            # Daily records used at the year end: the counted items and the deduction.
            records = uow.records(org, YEAR)
            count_items = [i for i in spec.items() if i.rule == "count"]
            for i in count_items:
                n = sum(x.quantity for x in records if x.kind == i.record_kind)
                assert i.target is not None
                want = Decimal(min(n, i.target)) * i.max_score / i.target
                assert abs(item_scores[org].get(i.code, Decimal(0)) - want) < Decimal("0.006")
            violations = sum(x.item_code == "RC3" and x.kind == "violation" for x in records)
            assert item_scores[org]["RC3"] == max(Decimal(10) - 2 * violations, Decimal(0))
            # Improvement advice on the weakest item.
            advice = [f for f in cyc.findings if f.description.startswith("改进建议")]
            assert len(advice) == 1
            rate = {c: item_scores[org].get(c, Decimal(0)) / m for c, m in maxima.items()}
            assert rate[advice[0].item_code] == min(rate.values())
        # One appeal, filed within the window after the year-end check, changed one score.
        appeals = [
            (o, rec)
            for o in (r["org"] for r in rows)
            for rec in uow.records(o, YEAR, kind="appeal")
        ]
        changes = [e for e in uow.events(entity="score") if e.action == "change"]
    assert len(appeals) == 1
    assert len(changes) == 1
    org, rec = appeals[0]
    year_end = spec.checkpoints[-1].on
    assert year_end is not None
    assert dt.timedelta(0) <= rec.occurred_on - year_end <= dt.timedelta(days=7)
    assert changes[0].data is not None
    assert (changes[0].data["org"], changes[0].data["item"]) == (org, rec.item_code)
    check_carried(empty_db_url, data, [NEXT])


def test_bilahe(empty_db_url: str) -> None:
    data = run_demo(empty_db_url, "bilahe")
    code = data["scheme"]
    spec = specs(empty_db_url, code)[code]
    rows = data["results"]["results"]
    check_results(spec, rows)

    # Stage targets: four dated quarterly checks of 25% each.
    assert [c.kind for c in spec.checkpoints] == ["quarterly"] * 4
    assert {c.weight for c in spec.checkpoints} == {Decimal("0.25")}
    dates = [c.on for c in spec.checkpoints if c.on is not None]
    assert len(dates) == 4
    assert dates == sorted(dates)
    # Reward and penalty: grade bands (one with a quota), grade links and a top N.
    assert any(b.quota for b in spec.grade_bands)
    kinds = {o.kind for o in spec.outcomes}
    assert {"top_n", "grade_link"} <= kinds

    with pdca.open_store(empty_db_url) as store, store.unit_of_work() as uow:
        for r in rows:
            cyc = uow.cycle(r["org"], YEAR)
            # 包抓 on every target; one own sub-target (一支部一特色) split into stages.
            for x in cyc.targets:
                assert x.lead_unit, x.title
                assert x.responsible_unit, x.title
                assert x.responsible_leader, x.title
                assert x.first_responsible
                assert x.specific_responsible
            (own,) = [x for x in cyc.targets if x.origin == "own"]
            assert own.target_value is not None
            assert own.unit
            assert [m.due_on for m in own.measures] == dates
            assert all(m.progress for m in own.measures)
            # On-the-spot scoring at every quarterly meeting, by several scorers.
            reviews = [s for s in uow.scores(r["org"], YEAR) if s.method == "report-review"]
            assert len(reviews) >= 4 * 3
            assert len({s.checkpoint_id for s in reviews}) == 4
        found = uow.findings(period=YEAR)
    serious = [f for f in found if f.severity == "serious"]
    assert serious
    assert all(f.checkpoint == "quarterly" for f in serious)
    assert "上报" in serious[0].description
    check_carried(empty_db_url, data, [NEXT])


def test_changping(empty_db_url: str) -> None:
    data = run_demo(empty_db_url, "changping")
    quarters = [f"{YEAR}-Q{q}" for q in range(1, 5)]
    by_period = data["results_by_period"]
    assert list(by_period) == quarters
    assert data["results"] == by_period[quarters[-1]]
    codes = sorted({r["scheme"] for res in by_period.values() for r in res["results"]})
    spec = specs(empty_db_url, *codes)
    branch_code = data["scheme"]
    (dept_code,) = [c for c in codes if c != branch_code]
    branch, dept = spec[branch_code], spec[dept_code]
    assert len([i for i in branch.items() if i.rule != "veto"]) == 10
    assert len([i for i in branch.items() if i.rule == "veto"]) == 3
    assert {"self", "panel", "democratic"} <= {m for i in branch.items() for m in i.methods}
    assert {c.kind for c in branch.checkpoints} == {"quarterly", "special"}
    lowest = branch.grade_bands[-1].name
    top3 = next(o for o in branch.outcomes if o.kind == "top_n")
    assert top3.params["n"] == 3
    warning = next(
        o for o in branch.outcomes if o.kind == "streak" and "grade_in" in o.params["when"]
    )
    removal = next(o for o in branch.outcomes if o.kind == "streak" and "last" in o.params["when"])
    assert warning.params["when"]["grade_in"] == [lowest]
    assert warning.params["periods"] == 2
    assert removal.params["periods"] == 3
    fd = next(o for o in dept.outcomes if o.kind == "forced_distribution")
    assert fd.params["ratios"] == [2, 7, 1]
    assert [Decimal(f) for f in fd.params["factors"]] == [
        Decimal("1.2"),
        Decimal("1.0"),
        Decimal("0.8"),
    ]

    grades: dict[str, list[str]] = defaultdict(list)
    last: dict[str, list[bool]] = defaultdict(list)
    fired: dict[str, set[tuple[str, int]]] = {warning.label: set(), removal.label: set()}
    vetoes = []
    for qi, period in enumerate(quarters):
        rows = by_period[period]["results"]
        assert by_period[period]["period"] == period
        b_rows = [r for r in rows if r["scheme"] == branch_code]
        d_rows = [r for r in rows if r["scheme"] == dept_code]
        assert {r["peer_group"] for r in b_rows} == {"基层党支部"}
        assert {r["peer_group"] for r in d_rows} == {"党群部门"}
        check_results(branch, b_rows)
        check_results(dept, d_rows)

        # One vote veto: the lowest grade and no award, whatever the total.
        for r in b_rows:
            if r["vetoed"]:
                vetoes.append((period, r))
                assert r["grade"] == lowest
                assert top3.label not in {o["label"] for o in r["outcomes"]}
        # 2:7:1 over the departments, paid 120% / 100% / 80%.
        counts = [0, 0, 0]
        for r in d_rows:
            (entry,) = [o for o in r["outcomes"] if o["kind"] == "forced_distribution"]
            counts[fd.params["labels"].index(entry["band"])] += 1
        if len({r["total"] for r in d_rows}) == len(d_rows):
            assert counts == forced_distribution_sizes(len(d_rows), [2, 7, 1])

        # Streaks, from the quarters' history.
        worst = max(r["rank"] for r in b_rows)
        for r in b_rows:
            grades[r["org"]].append(r["grade"])
            last[r["org"]].append(r["rank"] == worst)
            g, lst = grades[r["org"]], last[r["org"]]
            want_warning = qi >= 1 and g[-1] == g[-2] == lowest
            want_removal = qi >= 2 and lst[-1] and lst[-2] and lst[-3]
            labels = {o["label"] for o in r["outcomes"]}
            assert (warning.label in labels) == want_warning, (period, r)
            assert (removal.label in labels) == want_removal, (period, r)
            for label in labels & set(fired):
                fired[label].add((r["org"], qi + 1))

    # The scripted veto: a branch whose total would rank it among the top 3.
    assert len(vetoes) == 1
    period, vetoed = vetoes[0]
    b_rows = [r for r in by_period[period]["results"] if r["scheme"] == branch_code]
    ranks = competition([Decimal(r["total"]) for r in b_rows])
    assert ranks[b_rows.index(vetoed)] <= 3
    assert len(labelled(b_rows, top3.label)) == 3
    # Both streaks fire in the second half of the year.
    assert any(q >= 3 for _o, q in fired[warning.label])
    assert any(q >= 3 for _o, q in fired[removal.label])

    # Quarter cycles are children of the year cycle, inherit its scheme and are closed.
    with pdca.open_store(empty_db_url) as store, store.unit_of_work() as uow:
        for code in ("CP-Z01", "CP-B01"):
            year = uow.cycle(code, YEAR)
            for q in quarters:
                child = uow.cycle(code, q)
                assert (child.parent_id, child.scheme_id) == (year.id, year.scheme_id)
                assert child.state == "closed"
            assert year.state == "closed"
            assert uow.cycle(code, f"{NEXT}-Q1").parent_id == uow.cycle(code, NEXT).id
    check_carried(empty_db_url, data, [NEXT, f"{NEXT}-Q1"])
