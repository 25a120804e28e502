"""The scenarios: each runs pdca and its floor, in the same run, on copies of the same data.

Every scenario returns :class:`Row` objects: one per scenario, database and size.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import floors
import generate as g
import sqlalchemy as sa
from backends import Backend
from sqlalchemy.pool import NullPool

import pdca
from pdca.io.score_files import import_scores
from pdca.persistence import tables as t
from pdca.persistence.database import create_pdca_engine

HERE = Path(__file__).resolve().parent
ASSESSOR = pdca.Actor("市委组织部", org=g.ROOT_CODE, role="assessor")
#: Cycles advanced per unit of work (one commit) in the per-object scenario.
TRANSITION_BATCH = 500
#: Cycles whose four transitions are each committed on their own (latency samples).
LATENCY_CYCLES = 50
ROLLOVER_BATCH = 2000

TARGETS = {
    "rollover": (1.3, "≤ 1.3 × floor"),
    "results": (1.5, "≤ 1.5 × floor"),
    "transitions": (20_000.0, "≥ 20,000/s (SQLite)"),
    "score-import": (100_000.0, "≥ 100,000 rows/s (SQLite)"),
    "rollover-rss": (1.2, "≤ 1.2 × RSS@10k, < 300 MB"),
}


@dataclass
class Row:
    name: str
    database: str
    n: int
    pdca_s: float | None
    floor_s: float | None
    ratio: float | None
    target: str = ""
    met: bool | None = None
    #: What the scenario's target is about when it is not the time ratio.
    metric: str = "seconds"
    pdca_value: float | None = None
    floor_value: float | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Profiler:
    """Optional cProfile of the pdca side of a scenario (``--profile DIR``)."""

    def __init__(self, directory: Path | None) -> None:
        self.dir = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        if self.dir is None:
            yield
            return
        prof = cProfile.Profile()
        prof.enable()
        try:
            yield
        finally:
            prof.disable()
            self.dump(prof, label)

    def dump(self, prof: cProfile.Profile | pstats.Stats, label: str) -> None:
        assert self.dir is not None
        out = io.StringIO()
        stats = prof if isinstance(prof, pstats.Stats) else pstats.Stats(prof, stream=out)
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        (self.dir / f"{label}.txt").write_text(out.getvalue(), encoding="utf-8")
        if isinstance(prof, cProfile.Profile):
            prof.dump_stats(str(self.dir / f"{label}.prof"))


def _best(xs: list[float]) -> float:
    return min(xs)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _log(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- fingerprints


def _fingerprint(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a rollover wrote, grouped and counted, to hold pdca and the floor to agreement."""
    queries = {
        "cycles": "SELECT period, state, version, scheme_id, COUNT(*), "
        "COUNT(closed_at), COUNT(opened_at) FROM pdca_cycle GROUP BY period, state, version, "
        "scheme_id ORDER BY 1, 2, 3, 4",
        "findings": "SELECT state, checkpoint, carry_count, version, COUNT(*), "
        "COUNT(previous_id), COUNT(rectification_owner), MIN(found_on), MAX(found_on) "
        "FROM pdca_finding GROUP BY state, checkpoint, carry_count, version ORDER BY 1, 2, 3, 4",
        "targets": "SELECT origin, carry_count, origin_period, COUNT(*), COUNT(item_id), "
        "COUNT(direct_responsible), COUNT(carried_from_id), MIN(due_on), MAX(due_on), "
        "SUM(length(title)) FROM pdca_target GROUP BY origin, carry_count, origin_period "
        "ORDER BY 1, 2, 3",
        "events": "SELECT entity, action, from_state, to_state, reason, actor, COUNT(*) "
        "FROM pdca_event GROUP BY entity, action, from_state, to_state, reason, actor "
        "ORDER BY 1, 2, 3, 4, 5, 6",
        "threads": "SELECT c.period, COUNT(*), SUM(f.carry_count) FROM pdca_finding f "
        "JOIN pdca_finding p ON p.id = f.previous_id JOIN pdca_cycle c ON c.id = f.cycle_id "
        "JOIN pdca_cycle pc ON pc.id = p.cycle_id AND pc.org_id = c.org_id GROUP BY c.period",
    }
    engine = sa.create_engine(url, poolclass=NullPool)
    out = {}
    with engine.connect() as conn:
        for k, q in queries.items():
            out[k] = [tuple(str(x) for x in r) for r in conn.exec_driver_sql(q).all()]
    engine.dispose()
    return out


def _same(a: dict[str, Any], b: dict[str, Any], what: str) -> None:
    if a != b:
        diff = {k: (a[k], b[k]) for k in a if a[k] != b.get(k)}
        raise AssertionError(f"{what}: pdca and the floor disagree: {json.dumps(diff)[:3000]}")


# -------------------------------------------------------------------------- rollover


#: A pdca rollover child still running after this many seconds is stopped and reported
#: as not finished (``pdca_s`` null).
ROLLOVER_TIMEOUT_S = 300.0


def _child(
    what: str, url: str, profile: Path | None, timeout: float | None = None
) -> dict[str, Any]:
    argv = [sys.executable, str(HERE / "child.py"), what, url, str(ROLLOVER_BATCH)]
    if profile is not None:
        argv.append(str(profile))
    try:
        res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:  # the child is killed by subprocess.run
        return {"timed_out": True, "seconds": None}
    if res.returncode != 0:
        raise RuntimeError(f"rollover child ({what}) failed:\n{res.stdout}\n{res.stderr}")
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def rollover(
    backend: Backend, n: int, repeat: int, prof: Profiler
) -> tuple[Row, dict[str, Any] | None]:
    _log(f"rollover {backend.name} n={n}: generating")
    base = backend.new_url(f"roll{n}")
    t0 = time.perf_counter()
    stats = g.generate(base, n, "acting")
    backend.settle(base)
    _log(f"generated in {time.perf_counter() - t0:.1f}s: {stats}")
    pdca_runs, floor_runs = [], []
    for r in range(repeat):
        a = backend.copy(base, "rp")
        b = backend.copy(base, "rf")
        profile = None
        if prof.dir is not None and r == 0:
            profile = prof.dir / f"rollover-{backend.name}-{n}"
        pdca_runs.append(_child("pdca", a, profile, ROLLOVER_TIMEOUT_S))
        floor_runs.append(_child("floor", b, None))
        if pdca_runs[-1].get("timed_out"):
            backend.drop(a)
            backend.drop(b)
            _log(
                f"pdca did not finish in {ROLLOVER_TIMEOUT_S:.0f}s; "
                f"floor {floor_runs[-1]['seconds']:.2f}s"
            )
            break
        if r == 0:
            report = pdca_runs[0]["report"]
            if report.get("stopped") or not report.get("changed"):
                raise RuntimeError(f"pdca's rollover did nothing: {pdca_runs[0]}")
            _same(_fingerprint(a), _fingerprint(b), f"rollover n={n}")
        backend.drop(a)
        backend.drop(b)
        _log(
            f"run {r + 1}/{repeat}: pdca {pdca_runs[-1]['seconds']:.2f}s, "
            f"floor {floor_runs[-1]['seconds']:.2f}s"
        )
        if pdca_runs[-1]["seconds"] + floor_runs[-1]["seconds"] > 10:
            break  # long enough to need no repeat
    backend.drop(base)
    f = _best([x["seconds"] for x in floor_runs])
    limit, text = TARGETS["rollover"]
    if pdca_runs[0].get("timed_out"):
        row = Row(
            "rollover",
            backend.name,
            n,
            None,
            f,
            None,
            text,
            False,
            notes=f"pdca's rollover did not finish within {ROLLOVER_TIMEOUT_S:.0f} s and was "
            f"stopped (ratio > {ROLLOVER_TIMEOUT_S / f:.0f}); batch_size={ROLLOVER_BATCH}",
            extra={"timed_out_after_s": ROLLOVER_TIMEOUT_S, "generated": stats},
        )
        return row, None
    p = _best([x["seconds"] for x in pdca_runs])
    ratio = _ratio(p, f)
    repeats = len(pdca_runs)
    row = Row(
        "rollover",
        backend.name,
        n,
        p,
        f,
        ratio,
        text,
        ratio is not None and ratio <= limit,
        notes=f"batch_size={ROLLOVER_BATCH}; best of {repeats}",
        extra={
            "report": pdca_runs[0]["report"],
            "generated": stats,
            "pdca_runs_s": [x["seconds"] for x in pdca_runs],
            "floor_runs_s": [x["seconds"] for x in floor_runs],
        },
    )
    mem = {
        "n": n,
        "seconds": pdca_runs[0]["seconds"],
        "pdca_peak_mb": max(x["peak_rss_kb"] for x in pdca_runs) / 1024,
        "pdca_before_mb": pdca_runs[0]["rss_before_kb"] / 1024,
        "floor_peak_mb": max(x["peak_rss_kb"] for x in floor_runs) / 1024,
    }
    return row, mem


def memory_rows(database: str, mems: list[dict[str, Any]]) -> list[Row]:
    """Peak RSS of the rollover child at each size; the ratio is against the smallest size."""
    if not mems:
        return []
    mems = sorted(mems, key=lambda m: m["n"])
    ref = mems[0]
    limit, text = TARGETS["rollover-rss"]
    rows = []
    for m in mems:
        ratio = m["pdca_peak_mb"] / ref["pdca_peak_mb"]
        met = None if m is ref else (ratio <= limit and m["pdca_peak_mb"] < 300)
        rows.append(
            Row(
                "rollover-rss",
                database,
                m["n"],
                m["seconds"],
                None,
                None if m is ref else ratio,
                text if m is not ref else "",
                met,
                metric="peak_rss_mb",
                pdca_value=m["pdca_peak_mb"],
                floor_value=m["floor_peak_mb"],
                notes=f"ratio = peak RSS / peak RSS at n={ref['n']}; floor_value = the "
                "floor's peak RSS",
                extra={"pdca_rss_before_mb": m["pdca_before_mb"]},
            )
        )
    return rows


# --------------------------------------------------------------------------- results


def results(backend: Backend, n: int, repeat: int, prof: Profiler) -> Row:
    _log(f"results {backend.name} n={n}: generating")
    base = backend.new_url(f"res{n}")
    t0 = time.perf_counter()
    stats = g.generate(base, n, "scores")
    backend.settle(base)
    _log(f"generated in {time.perf_counter() - t0:.1f}s: {stats}")
    sid = int(stats["scheme_id"])
    # Read-only: both run on the same copy (so both see the same caches).
    url = backend.copy(base, "res")
    store = pdca.open_store(url, clock=pdca.FixedClock(g.NOW))
    engine = create_pdca_engine(url)
    floors.results(engine, sid, g.PERIOD)  # warm-up: caches for both
    pdca_times, floor_times = [], []
    res = None
    for r in range(repeat):
        with prof(f"results-{backend.name}-{n}") if r == 0 else _nothing():
            t0 = time.perf_counter()
            with store.unit_of_work(ASSESSOR) as uow:
                res = uow.results(g.SCHEME, g.PERIOD)
            pdca_times.append(time.perf_counter() - t0)
        fs, rows = floors.timed(floors.results, engine, sid, g.PERIOD)
        floor_times.append(fs)
        _log(f"run {r + 1}/{repeat}: pdca {pdca_times[-1]:.2f}s, floor {fs:.2f}s")
        if pdca_times[-1] + fs > 10:
            break
    assert res is not None
    # Same totals and ranks.
    floor_rank = {code: (Decimal(int(total)).scaleb(-4), int(rk)) for _, code, _, total, rk in rows}
    mismatch = [r.org for r in res.rows if floor_rank.get(r.org) != (r.total, r.rank)]
    if len(res.rows) != len(rows) or mismatch:
        raise AssertionError(f"results n={n}: pdca and floor disagree on {mismatch[:5]}")
    store.close()
    engine.dispose()
    backend.drop(url)
    backend.drop(base)
    p, f = _best(pdca_times), _best(floor_times)
    limit, text = TARGETS["results"]
    ratio = _ratio(p, f)
    return Row(
        "results",
        backend.name,
        n,
        p,
        f,
        ratio,
        text,
        ratio is not None and ratio <= limit,
        notes=f"{stats['scores']} scores; best of {len(pdca_times)}",
        extra={"pdca_runs_s": pdca_times, "floor_runs_s": floor_times},
    )


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# ----------------------------------------------------------------------- transitions


def transitions(backend: Backend, n: int, prof: Profiler) -> list[Row]:
    _log(f"transitions {backend.name} n={n}: generating")
    base = backend.new_url(f"tr{n}")
    g.generate(base, n + LATENCY_CYCLES, "draft")
    backend.settle(base)
    codes = [g.branch_code(i) for i in range(n)]
    lat_codes = [g.branch_code(i) for i in range(n, n + LATENCY_CYCLES)]
    events = [name for name, _, _ in floors.STEPS]
    period = g.PERIOD

    # pdca, one call per cycle and transition
    url = backend.copy(base, "trp")
    store = pdca.open_store(url, clock=pdca.FixedClock(g.NOW))
    with prof(f"transitions-{backend.name}-{n}"):
        t0 = time.perf_counter()
        for start in range(0, n, TRANSITION_BATCH):
            with store.unit_of_work(ASSESSOR) as uow:
                for code in codes[start : start + TRANSITION_BATCH]:
                    uow.approve_plan(code, period)
                    uow.start(code, period)
                    uow.begin_check(code, period)
                    uow.act(code, period)
        one_s = time.perf_counter() - t0
    pdca_lat = []
    for code in lat_codes:
        for ev in events:
            t0 = time.perf_counter()
            with store.unit_of_work(ASSESSOR) as uow:
                uow.advance(code, period, ev)
            pdca_lat.append(time.perf_counter() - t0)
    store.close()
    _log(f"pdca one by one: {4 * n / one_s:,.0f} transitions/s")

    # pdca, advance_many: each transition of a batch of cycles in one call
    many_url = backend.copy(base, "trm")
    store = pdca.open_store(many_url, clock=pdca.FixedClock(g.NOW))
    with prof(f"transitions-many-{backend.name}-{n}"):
        t0 = time.perf_counter()
        for start in range(0, n, TRANSITION_BATCH):
            batch = codes[start : start + TRANSITION_BATCH]
            with store.unit_of_work(ASSESSOR) as uow:
                for ev in events:
                    refused = [x for x in uow.advance_many(period, ev, orgs=batch) if x[1]]
                    if refused:
                        raise RuntimeError(f"advance_many {ev} refused {refused[:3]}")
        many_s = time.perf_counter() - t0
    store.close()
    _log(f"pdca advance_many: {4 * n / many_s:,.0f} transitions/s")

    # floor
    furl = backend.copy(base, "trf")
    engine = create_pdca_engine(furl)
    tr = floors.Transitions(engine.dialect, g.NOW, ASSESSOR.name, g.ROOT_CODE, "assessor")
    t0 = time.perf_counter()
    with engine.connect() as conn:
        for start in range(0, n, TRANSITION_BATCH):
            with conn.begin():
                for code in codes[start : start + TRANSITION_BATCH]:
                    for ev in events:
                        tr.fire(conn, code, period, ev)
    floor_s = time.perf_counter() - t0
    floor_lat = []
    for code in lat_codes:
        for ev in events:
            t0 = time.perf_counter()
            with engine.begin() as conn:
                tr.fire(conn, code, period, ev)
            floor_lat.append(time.perf_counter() - t0)
    engine.dispose()
    _log(f"floor: {4 * n / floor_s:,.0f} transitions/s")
    fp_floor = _transition_fingerprint(furl)
    _same(_transition_fingerprint(url), fp_floor, f"transitions n={n}")
    fp_many = _transition_fingerprint(many_url)
    # advance_many's copy has no latency cycles advanced: compare the batch's rows only.
    if fp_many["events"] != [e for e in _batch_events(fp_floor["events"], LATENCY_CYCLES)]:
        raise AssertionError(f"advance_many: events {fp_many['events']} vs {fp_floor['events']}")
    for u in (url, many_url, furl, base):
        backend.drop(u)

    limit, text = TARGETS["transitions"]
    sqlite = backend.name == "sqlite"
    how = (
        f"{4 * n} transitions, {TRANSITION_BATCH} cycles per commit; floor: UPDATE … RETURNING "
        "guarded by the source state (approve: plan complete) + INSERT event, per transition"
    )
    rows = []
    for name, secs, what in (
        ("transitions", many_s, "uow.advance_many(period, event, orgs=batch)"),
        ("transitions-one-by-one", one_s, "uow.approve_plan/start/begin_check/act per cycle"),
    ):
        rate = 4 * n / secs
        rows.append(
            Row(
                name,
                backend.name,
                n,
                secs,
                floor_s,
                _ratio(secs, floor_s),
                text if sqlite else "(reported)",
                rate >= limit if sqlite else None,
                metric="transitions_per_s",
                pdca_value=rate,
                floor_value=4 * n / floor_s,
                notes=f"{what}; {how}",
            )
        )
    pm, fm = statistics.median(pdca_lat), statistics.median(floor_lat)
    rows.append(
        Row(
            "transition-latency",
            backend.name,
            len(pdca_lat),
            pm,
            fm,
            _ratio(pm, fm),
            "(reported)",
            None,
            metric="median_s",
            pdca_value=_p99(pdca_lat),
            floor_value=_p99(floor_lat),
            notes="one transition per unit of work (commit); pdca_s/floor_s = median, "
            "pdca_value/floor_value = p99",
        )
    )
    return rows


def _batch_events(events: list[tuple[str, ...]], latency_cycles: int) -> list[tuple[str, ...]]:
    """The floor's event counts less the latency cycles' four cycle transitions."""
    steps = {name for name, _, _ in floors.STEPS}
    out = []
    for e in events:
        if e[0] == "cycle" and e[1] in steps:
            e = (*e[:-1], str(int(e[-1]) - latency_cycles))
        out.append(e)
    return out


def _p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[98]


def _transition_fingerprint(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        out = {
            "cycles": [
                tuple(map(str, r))
                for r in conn.execute(
                    sa.select(
                        t.cycle.c.state,
                        t.cycle.c.version,
                        sa.func.count(),
                        sa.func.count(t.cycle.c.feedback_at),
                    ).group_by(t.cycle.c.state, t.cycle.c.version)
                )
            ],
            "events": [
                tuple(map(str, r))
                for r in conn.execute(
                    sa.select(
                        t.event.c.entity,
                        t.event.c.action,
                        t.event.c.from_state,
                        t.event.c.to_state,
                        t.event.c.actor,
                        sa.func.count(),
                    )
                    .group_by(
                        t.event.c.entity,
                        t.event.c.action,
                        t.event.c.from_state,
                        t.event.c.to_state,
                        t.event.c.actor,
                    )
                    .order_by(t.event.c.entity, t.event.c.action, t.event.c.from_state)
                )
            ],
        }
    engine.dispose()
    return out


# ---------------------------------------------------------------------- score import


def score_import(backend: Backend, rows: int, prof: Profiler, workdir: Path, note: str = "") -> Row:
    orgs = g.orgs_for_rows(rows)
    _log(f"score import {backend.name} rows={rows} ({orgs} organizations): generating")
    base = backend.new_url(f"imp{rows}")
    g.generate(base, orgs, "doing")
    backend.settle(base)
    sheet = workdir / f"scores-{rows}.csv"
    if not sheet.exists():
        written = g.write_score_csv(sheet, rows, orgs)
        assert written == rows, (written, rows)

    url = backend.copy(base, "imp")
    store = pdca.open_store(url, clock=pdca.FixedClock(g.NOW))
    with prof(f"score-import-{backend.name}-{rows}"):
        t0 = time.perf_counter()
        with store.unit_of_work(ASSESSOR) as uow:
            done = import_scores(uow, sheet)
        pdca_s = time.perf_counter() - t0
    store.close()
    assert done.entered == rows, done
    _log(f"pdca: {rows / pdca_s:,.0f} rows/s")

    furl = backend.copy(base, "impf")
    engine = create_pdca_engine(furl)
    floor_s, n = floors.timed(
        floors.import_scores, engine, sheet, g.NOW, ASSESSOR.name, g.ROOT_CODE, "assessor"
    )
    engine.dispose()
    assert n == rows
    _log(f"floor: {rows / floor_s:,.0f} rows/s")
    fa, fb = _score_fingerprint(url), _score_fingerprint(furl)
    _same(fa, fb, f"score import rows={rows}")
    # For the record (SQLite, where the target is): the floor without the trail.
    scores_only_s = None
    if backend.name == "sqlite":
        scores_only_s = _scores_only(backend, base, sheet)
        _log(f"floor without events: {rows / scores_only_s:,.0f} rows/s")
    for u in (url, furl, base):
        backend.drop(u)

    limit, text = TARGETS["score-import"]
    rate = rows / pdca_s
    sqlite = backend.name == "sqlite"
    return Row(
        "score-import",
        backend.name,
        rows,
        pdca_s,
        floor_s,
        _ratio(pdca_s, floor_s),
        text if sqlite else "(reported)",
        rate >= limit if sqlite else None,
        metric="rows_per_s",
        pdca_value=rate,
        floor_value=rows / floor_s,
        notes=(note + "; " if note else "")
        + "one unit of work (import_scores); floor: csv + dict look-ups + executemany of "
        "the same score and event rows + the same per-cycle sums (one GROUP BY)",
        extra={
            "floor_scores_only_s": scores_only_s,
            "floor_scores_only_rows_per_s": rows / scores_only_s if scores_only_s else None,
        },
    )


def _scores_only(backend: Backend, base: str, sheet: Path) -> float:
    surl = backend.copy(base, "imps")
    engine = create_pdca_engine(surl)
    secs, _ = floors.timed(
        floors.import_scores,
        engine,
        sheet,
        g.NOW,
        ASSESSOR.name,
        g.ROOT_CODE,
        "assessor",
        events_too=False,
    )
    engine.dispose()
    backend.drop(surl)
    return secs


def _score_fingerprint(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        s = conn.exec_driver_sql(
            "SELECT COUNT(*), SUM(points), SUM(cycle_id), SUM(item_id), COUNT(DISTINCT assessor)"
            " FROM pdca_score"
        ).one()
        e = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM pdca_event WHERE entity = 'score' AND action = 'enter'"
        ).scalar()
        totals = conn.exec_driver_sql(
            "SELECT COUNT(*), SUM(base), SUM(cycle_id * base) FROM pdca_cycle_total"
        ).one()
    engine.dispose()
    return {"scores": tuple(map(str, s)), "events": str(e), "totals": tuple(map(str, totals))}


__all__ = [
    "Profiler",
    "Row",
    "memory_rows",
    "results",
    "rollover",
    "score_import",
    "transitions",
]
