"""The annual rollover under crashes and races (issue 7, items 3 and 4).

* **Crash mid-rollover**: a rollover of 200 organizations (batches of 10) is SIGKILLed at
  22 points (after 5 different batches and at 17 statements spread over the whole run:
  inside batches, between them, while the run is being registered and finished); after
  each, a rerun gives a database equal, by natural keys (``snapshot`` of
  tests/test_rollover.py), to an uninterrupted run: every unresolved finding carried
  exactly once, nothing missing, nothing duplicated. ``PDCA_LONG=1``: 60 points.
* **Racing rollovers**: two processes start the same rollover at the same instant: one set
  of new cycles exists afterwards (equal to a single run's), and the loser says why it did
  nothing: ``ConcurrencyConflict`` ("already in progress") when it came while the winner
  ran, or a report with ``changed == False`` ("already complete") when it came after.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

import pdca
from pdca.persistence import tables as t
from reliability import LONG, record_figures
from test_rollover import build_year, snapshot

ORGS = 200
BATCH = 10
KILL_POINTS = 60 if LONG else 22
RACES = 8 if LONG else 3


def new_year_clock() -> pdca.FixedClock:
    return pdca.FixedClock(pendulum.datetime(2026, 1, 8, tz="Asia/Shanghai"))


@pytest.fixture(scope="module")
def year_2025(databases: Any) -> str:
    """200 branches through 2025, left acting with findings in every state (build_year)."""
    url = databases.migrated()
    clock = pdca.FixedClock(pendulum.datetime(2025, 1, 5, tz="Asia/Shanghai"))
    with pdca.open_store(url, clock=clock) as store:
        build_year(store, clock, 2025, ORGS)
    return url


@pytest.fixture(scope="module")
def reference(year_2025: str, databases: Any) -> dict[str, Any]:
    """An uninterrupted run: its snapshot and how many statements it sends."""
    url = databases.clone(year_2025)
    statements = [0]
    with pdca.open_store(url, clock=new_year_clock()) as store:

        @sa.event.listens_for(store.engine, "before_cursor_execute")
        def _count(*args: Any) -> None:
            statements[0] += 1

        report = store.rollover("2025", "2026", "S-2026", batch_size=BATCH)
    assert report.cycles_opened == ORGS
    # Every unresolved finding (k % 4 of them for branch k) is carried exactly once.
    assert report.findings_carried == sum(k % 4 for k in range(ORGS))
    return {"url": url, "snapshot": snapshot(url), "statements": statements[0], "report": report}


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import pendulum, sqlalchemy as sa
    import pdca

    url, mode, point, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    clock = pdca.FixedClock(pendulum.datetime(2026, 1, 8, tz="Asia/Shanghai"))
    store = pdca.open_store(url, clock=clock)
    if mode == "statement":
        count = [0]

        @sa.event.listens_for(store.engine, "before_cursor_execute")
        def kill(*args):
            count[0] += 1
            if count[0] == point:
                os.kill(os.getpid(), signal.SIGKILL)

    def after(n):
        if mode == "batch" and n == point:
            os.kill(os.getpid(), signal.SIGKILL)

    store.rollover("2025", "2026", "S-2026", batch_size=batch, after_batch=after)
    print("finished")
    """
)


def kill_points(statements: int) -> list[tuple[str, int]]:
    batches = -(-ORGS // BATCH)
    n_batch = 5 if not LONG else 15
    by_batch = sorted({max(1, round(batches * (i + 1) / (n_batch + 1))) for i in range(n_batch)})
    n_stmt = KILL_POINTS - len(by_batch)
    # Spread over the whole run, the first statements (registering the run) included.
    by_stmt = sorted({1 + round((statements - 2) * i / (n_stmt - 1)) for i in range(n_stmt)})
    return [("batch", b) for b in by_batch] + [("statement", s) for s in by_stmt]


def test_sigkill_at_many_points_then_rerun_equals_an_uninterrupted_run(
    year_2025: str, reference: dict[str, Any], databases: Any, tmp_path: Path
) -> None:
    points = kill_points(reference["statements"])
    assert len(points) >= 20
    script = tmp_path / "killer.py"
    script.write_text(KILLER, encoding="utf-8")
    started = time.perf_counter()
    for mode, point in points:
        victim = databases.clone(year_2025)
        proc = subprocess.run(
            [sys.executable, str(script), victim, mode, str(point), str(BATCH)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == -signal.SIGKILL, (mode, point, proc.stderr[-2000:])
        assert "finished" not in proc.stdout
        with pdca.open_store(victim, clock=new_year_clock()) as store:
            report = store.rollover("2025", "2026", "S-2026", batch_size=BATCH)
        assert not report.stopped
        assert snapshot(victim) == reference["snapshot"], (mode, point)
        # The run the kill interrupted is not left "running" for ever.
        engine = sa.create_engine(victim, poolclass=sa.NullPool)
        with engine.connect() as conn:
            states = sorted(conn.scalars(sa.select(t.rollover_run.c.state)).all())
        engine.dispose()
        assert "running" not in states, (mode, point, states)
        assert states.count("done") == 1, (mode, point, states)
    record_figures(
        "rollover_crash",
        {
            "organizations": ORGS,
            "batch_size": BATCH,
            "statements_per_run": reference["statements"],
            "kill_points": len(points),
            "points": [f"{m}:{p}" for m, p in points],
            "findings_carried": reference["report"].findings_carried,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


RACER = textwrap.dedent(
    """
    import json, sys, time
    import pendulum
    import pdca

    url, start_at, batch = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    clock = pdca.FixedClock(pendulum.datetime(2026, 1, 8, tz="Asia/Shanghai"))
    store = pdca.open_store(url, clock=clock)
    store.engine.connect().close()  # connected before the start
    while time.time() < start_at:
        pass
    try:
        report = store.rollover("2025", "2026", "S-2026", batch_size=batch)
        out = {"outcome": "report", "changed": report.changed, "summary": report.summary(),
               "opened": report.cycles_opened}
    except pdca.PdcaError as e:
        out = {"outcome": type(e).__name__, "message": str(e)}
    except Exception as e:
        out = {"outcome": "raw", "message": f"{type(e).__module__}.{type(e).__name__}: {e}"}
    print(json.dumps(out, ensure_ascii=False))
    """
)


def test_two_rollovers_started_at_once_make_one_set_of_cycles(
    year_2025: str, reference: dict[str, Any], databases: Any, tmp_path: Path
) -> None:
    script = tmp_path / "racer.py"
    script.write_text(RACER, encoding="utf-8")
    outcomes: list[str] = []
    for _ in range(RACES):
        url = databases.clone(year_2025)
        start_at = time.time() + 3.0  # both interpreters are up and connected by then
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), url, str(start_at), str(BATCH)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=600)
            assert p.returncode == 0, err[-2000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        assert all(r["outcome"] != "raw" for r in results), results
        winners = [r for r in results if r["outcome"] == "report" and r["changed"]]
        losers = [r for r in results if r not in winners]
        assert len(winners) == 1, results
        assert winners[0]["opened"] == ORGS
        (loser,) = losers
        if loser["outcome"] == "report":
            assert loser["summary"] == "nothing to do: the rollover is already complete"
            outcomes.append("already complete")
        else:
            assert loser["outcome"] == "ConcurrencyConflict", loser
            assert "already in progress" in loser["message"]
            outcomes.append("in progress")
        assert snapshot(url) == reference["snapshot"], results
    record_figures("rollover_race", {"races": RACES, "loser_said": outcomes})
