"""pdca's benchmarks: every scenario runs pdca and a hand-written SQL floor on the same data.

    nox -s bench                              # quick sizes (a few minutes)
    nox -s bench -- --full                    # the sizes of docs/performance.md
    nox -s bench -- --json bench/results/quick.json --db sqlite --only rollover

Scenarios (``--only``, repeatable): rollover (and its peak RSS), results, transitions,
score-import. Prints a table; ``--json FILE`` also writes the rows as a JSON list.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
try:
    import pdca
except ImportError:  # a checkout without pdca installed: use ./src
    sys.path.insert(0, str(ROOT / "src"))
    import pdca

import backends  # noqa: E402
import scenarios  # noqa: E402
import sqlalchemy  # noqa: E402
from scenarios import Profiler, Row  # noqa: E402

SCENARIOS = ("rollover", "results", "transitions", "score-import")

#: Sizes per scenario: quick (nox -s bench) and full (--full, the issue's sizes).
QUICK = {
    "rollover": [2_000, 10_000],
    "results": [10_000],
    "transitions": [2_000],
    "score-import": [30_000],
}
FULL = {
    "rollover": [10_000, 100_000],
    "results": [100_000],
    "transitions": [10_000],
    "score-import": [3_000_000],
}


def _repeat(n: int) -> int:
    """Small sizes are over in a second: best of three to steady them."""
    return 3 if n <= 10_000 else 1


def machine_info(versions: dict[str, str]) -> dict[str, Any]:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "pdca": pdca.__version__,
        "commit": commit,
        "databases": versions,
    }


def _secs(r: Row, x: float | None) -> str:
    if x is None and "timed_out_after_s" in r.extra and r.floor_s is not None:
        return f"> {r.extra['timed_out_after_s']:.0f}"
    return _fmt(x, ".4f" if (x or 0) < 0.1 else ".3f")


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def _value(r: Row) -> str:
    if r.pdca_value is None:
        return ""
    if r.metric == "transitions_per_s":
        return f"{r.pdca_value:,.0f}/s (floor {r.floor_value:,.0f}/s)"
    if r.metric == "rows_per_s":
        return f"{r.pdca_value:,.0f} rows/s (floor {r.floor_value:,.0f})"
    if r.metric == "median_s":
        return f"p99 {r.pdca_value * 1000:.2f} ms (floor {r.floor_value * 1000:.2f})"  # type: ignore[operator]
    if r.metric == "peak_rss_mb":
        return f"{r.pdca_value:.0f} MB (floor {r.floor_value:.0f} MB)"
    return f"{r.pdca_value:g}"


def table(rows: list[Row]) -> str:
    head = ["scenario", "database", "n", "pdca_s", "floor_s", "ratio", "value", "target", "met"]
    body = [
        [
            r.name,
            r.database,
            f"{r.n:,}",
            _secs(r, r.pdca_s),
            _secs(r, r.floor_s),
            _fmt(r.ratio, ".2f"),
            _value(r),
            r.target,
            "—" if r.met is None else ("yes" if r.met else "NO"),
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    right = {2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [line(head), line(["-" * w for w in widths])]
    out += [line(b) for b in body]
    return "\n".join(out)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows of one or more ``--json`` files as a Markdown table (for the docs)."""
    out = [
        "| scenario | database | n | pdca s | floor s | ratio | rate / memory | target | met |",
        "|---|---|--:|--:|--:|--:|---|---|---|",
    ]
    for d in rows:
        r = Row(**{k: v for k, v in d.items() if k in Row.__dataclass_fields__})
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        out.append(
            f"| {r.name} | {r.database} | {r.n:,} | {_secs(r, r.pdca_s)} | "
            f"{_secs(r, r.floor_s)} | {_fmt(r.ratio, '.2f')} | {_value(r)} | {r.target} | {met} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the full sizes (takes a while)")
    ap.add_argument("--json", metavar="FILE", type=Path, help="also write the rows as JSON")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--only", action="append", choices=SCENARIOS, help="run only these")
    ap.add_argument(
        "--import-rows", type=int, metavar="N", help="score-import size (overrides the default)"
    )
    ap.add_argument(
        "--sizes",
        action="append",
        default=[],
        metavar="SCENARIO=N[,N]",
        help="override a scenario's sizes, e.g. rollover=5000,50000",
    )
    ap.add_argument(
        "--profile", metavar="DIR", type=Path, help="write cProfile stats of the pdca side"
    )
    ap.add_argument(
        "--markdown",
        nargs="+",
        metavar="JSON",
        type=Path,
        help="print the rows of earlier --json files as a Markdown table, and exit",
    )
    args = ap.parse_args(argv)
    if args.markdown:
        rows_in: list[dict[str, Any]] = []
        for f in args.markdown:
            rows_in += json.loads(f.read_text(encoding="utf-8"))
        print(markdown(rows_in))
        return 0
    # A SIGTERM unwinds like Ctrl-C, so the throwaway server and files are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    sizes = {k: list(v) for k, v in (FULL if args.full else QUICK).items()}
    if args.import_rows:
        sizes["score-import"] = [args.import_rows]
    for spec in args.sizes:
        name, _, ns = spec.partition("=")
        if name not in SCENARIOS:
            ap.error(f"--sizes: unknown scenario {name!r}")
        sizes[name] = [int(x.replace("_", "")) for x in ns.split(",") if x]
    only = args.only or list(SCENARIOS)
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    prof = Profiler(args.profile)
    import_note = ""
    if not args.full and not args.import_rows:
        import_note = "quick size"
    elif args.full and args.import_rows and args.import_rows != FULL["score-import"][0]:
        import_note = f"full size {FULL['score-import'][0]:,} reduced to {args.import_rows:,}"

    started = time.perf_counter()
    rows: list[Row] = []
    versions: dict[str, str] = {}
    workdir = Path(tempfile.mkdtemp(prefix="pdca-bench-csv-"))
    try:
        for db in dbs:
            print(f"== {db}", file=sys.stderr, flush=True)
            backend = backends.open_backend(db)
            versions[db] = backend.version()
            try:
                if "rollover" in only:
                    mems = []
                    for n in sizes["rollover"]:
                        row, mem = scenarios.rollover(backend, n, _repeat(n), prof)
                        rows.append(row)
                        if mem is not None:
                            mems.append(mem)
                    rows += scenarios.memory_rows(db, mems)
                if "results" in only:
                    for n in sizes["results"]:
                        rows.append(scenarios.results(backend, n, _repeat(n), prof))
                if "transitions" in only:
                    for n in sizes["transitions"]:
                        rows += scenarios.transitions(backend, n, prof)
                if "score-import" in only:
                    for n in sizes["score-import"]:
                        rows.append(scenarios.score_import(backend, n, prof, workdir, import_note))
            finally:
                backend.close()
    finally:
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()
    elapsed = time.perf_counter() - started
    info = machine_info(versions)
    print()
    print(table(rows))
    print()
    dbv = ", ".join(info.get("databases", {}).values())
    print(
        f"{info.get('date')} · {info.get('cpus')} CPUs · {info.get('memory')} · Python "
        f"{info.get('python')} · SQLAlchemy {info.get('sqlalchemy')} · {dbv} · pdca "
        f"{info.get('pdca')} ({info.get('commit')}) · {elapsed:.0f}s"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = [{**r.as_dict(), "machine": info, "full": args.full} for r in rows]
        args.json.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
