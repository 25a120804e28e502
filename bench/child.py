"""One rollover in a process of its own, so that its peak memory is its own.

``python bench/child.py pdca|floor URL BATCH_SIZE`` runs pdca's rollover (or the floor's)
from 2025 to 2026 on the generated data set at URL and prints one JSON line: the seconds
the rollover took, the process's peak resident set size (VmHWM) and its resident set size
before the rollover started, and what pdca's report says it did.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import pdca  # noqa: F401
except ImportError:  # run from a checkout without pdca installed: use ./src
    sys.path.insert(0, str(HERE.parent / "src"))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _dump(prof: object, path: Path) -> None:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)  # type: ignore[arg-type]
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    path.with_suffix(".txt").write_text(out.getvalue(), encoding="utf-8")
    stats.dump_stats(str(path.with_suffix(".prof")))


def main(argv: list[str]) -> int:
    what, url, batch_size = argv[0], argv[1], int(argv[2])
    profile = argv[3] if len(argv) > 3 else None
    import floors
    import generate as g
    import sqlalchemy as sa

    import pdca
    from pdca.domain.period import Period
    from pdca.persistence import tables as t
    from pdca.persistence.database import create_pdca_engine

    engine = create_pdca_engine(url)
    with engine.connect() as conn:  # connect before measuring: both sides pay it alike
        ids = dict(conn.execute(sa.select(t.scheme.c.code, t.scheme.c.id)).all())
        conn.rollback()
    before = _status_kb("VmRSS")
    out: dict[str, object] = {}
    if what == "pdca":
        store = pdca.open_store(engine, clock=pdca.FixedClock(g.NOW))
        prof = None
        if profile is not None:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0 = time.perf_counter()
        report = store.rollover(g.PERIOD, g.NEXT_PERIOD, g.NEXT_SCHEME, batch_size=batch_size)
        seconds = time.perf_counter() - t0
        if prof is not None:
            prof.disable()
            _dump(prof, Path(profile))
        d = report.as_dict()
        out["report"] = {k: v for k, v in d.items() if isinstance(v, int | bool)}
        if report.stopped:
            out["blockers"] = d["blockers"][:5]
    elif what == "floor":
        p_to = Period.parse(g.NEXT_PERIOD)
        t0 = time.perf_counter()
        floors.rollover(
            engine,
            scheme_id=ids[g.NEXT_SCHEME],
            old_scheme_id=ids[g.SCHEME],
            p_from=g.PERIOD,
            p_to=g.NEXT_PERIOD,
            p_to_start=p_to.start,
            p_to_end=p_to.end,
            now=g.NOW,
        )
        seconds = time.perf_counter() - t0
    else:
        raise SystemExit(f"unknown: {what}")
    engine.dispose()
    out.update(seconds=seconds, peak_rss_kb=_status_kb("VmHWM"), rss_before_kb=before, what=what)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
