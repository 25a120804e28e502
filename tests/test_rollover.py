"""The annual rollover: blockers, dry run, idempotence, agreement with the per-object path,
multi-year threads, and a real SIGKILL of the rollover process at several points."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import pdca
from pdca.cli import cli
from pdca.persistence import tables as t

OFFICE = pdca.Actor("office", role="system")  # the office's scripts

ITEMS = [
    {"code": "I1", "title": "三会一课", "max_score": 10},
    {"code": "I2", "title": "理论学习", "max_score": 10},
]
PROBLEMS = ["记录不全", "台账缺失", "学习心得缺失", "签到表缺页"]


def scheme(year: int, issuer: str = "JG") -> dict[str, Any]:
    return {
        "code": f"S-{year}",
        "title": f"{year}年度考核",
        "period": str(year),
        "issuer": issuer,
        "categories": [{"code": "C", "name": "组织建设", "items": ITEMS}],
    }


def build_year(
    store: pdca.Store,
    clock: pdca.FixedClock,
    year: int,
    n: int,
    doing: frozenset[int] = frozenset(),
) -> None:
    """n organizations through a year, each left in acting with findings in every state:
    org k has k % 4 unresolved problems plus one resolved and (for odd k) one waived."""
    clock.set(pendulum.datetime(year, 1, 5, tz="Asia/Shanghai"))
    with store.unit_of_work(OFFICE) as uow:
        if not uow.organizations():
            uow.add_organization("JG", "机关党委", "机关党委")
            for k in range(n):
                uow.add_organization(
                    f"B{k:03d}", f"第{k}支部", "党支部", parent="JG", peer_group="支部"
                )
        uow.add_scheme(scheme(year))
    with store.unit_of_work(OFFICE) as uow:
        for k in range(n):
            code = f"B{k:03d}"
            try:
                cyc = uow.cycle(code, str(year))
            except pdca.NotFound:
                cyc = uow.open_cycle(code, str(year), scheme=f"S-{year}")
            for tgt in cyc.targets:
                if not tgt.first_responsible:
                    uow.update_target(tgt.id, first_responsible="书记")  # type: ignore[arg-type]
            uow.approve_plan(code, str(year))
            uow.start(code, str(year))
            for j in range(k % 4):
                uow.add_finding(
                    code,
                    str(year),
                    "I1",
                    f"{PROBLEMS[j]}{year}",
                    checkpoint="mid-year",
                    found_on=f"{year}-06-01",
                )
            fixed = uow.add_finding(
                code, str(year), "I2", "已整改问题", checkpoint="daily", found_on=f"{year}-03-01"
            )
            uow.rectify(fixed.id, plan="补齐", owner="委员")  # type: ignore[arg-type]
            uow.verify(fixed.id, verified_by="考评组")  # type: ignore[arg-type]
            if k % 2:
                w = uow.add_finding(
                    code, str(year), "I2", "客观原因", checkpoint="daily", found_on=f"{year}-03-02"
                )
                uow.waive(w.id, reason="客观原因")  # type: ignore[arg-type]
            if k in doing:
                continue
            uow.begin_check(code, str(year))
            uow.act(code, str(year))
    clock.set(pendulum.datetime(year + 1, 1, 8, tz="Asia/Shanghai"))
    with store.unit_of_work(OFFICE) as uow:
        uow.add_scheme(scheme(year + 1))


def snapshot(url: str) -> dict[str, Any]:
    """Everything a rollover writes, by natural keys (ids and timestamps left out)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    o, c, tg, f, e = t.organization, t.cycle, t.target, t.finding, t.event
    prev, pc = f.alias("prev"), t.cycle.alias("pc")
    po = t.organization.alias("po")
    with engine.connect() as conn:
        cycles = sorted(
            conn.execute(
                sa.select(
                    o.c.code, c.c.period, c.c.state, c.c.closed_at.is_(None), c.c.version
                ).join(o, o.c.id == c.c.org_id)
            ).all()
        )
        src = f.alias("src")
        sc = t.cycle.alias("sc")
        targets = sorted(
            (tuple(str(x) for x in r))
            for r in conn.execute(
                sa.select(
                    o.c.code,
                    c.c.period,
                    tg.c.origin,
                    tg.c.title,
                    tg.c.item_code,
                    tg.c.item_id.is_(None),
                    tg.c.due_on,
                    tg.c.direct_responsible,
                    tg.c.origin_period,
                    tg.c.carry_count,
                    src.c.description,
                    sc.c.period,
                )
                .join(c, c.c.id == tg.c.cycle_id)
                .join(o, o.c.id == c.c.org_id)
                .outerjoin(src, src.c.id == tg.c.carried_from_id)
                .outerjoin(sc, sc.c.id == src.c.cycle_id)
            ).all()
        )
        findings = sorted(
            (tuple(str(x) for x in r))
            for r in conn.execute(
                sa.select(
                    o.c.code,
                    c.c.period,
                    f.c.item_code,
                    f.c.description,
                    f.c.checkpoint,
                    f.c.state,
                    f.c.carry_count,
                    f.c.found_on,
                    f.c.version,
                    prev.c.description,
                    pc.c.period,
                    po.c.code,
                )
                .join(c, c.c.id == f.c.cycle_id)
                .join(o, o.c.id == c.c.org_id)
                .outerjoin(prev, prev.c.id == f.c.previous_id)
                .outerjoin(pc, pc.c.id == prev.c.cycle_id)
                .outerjoin(po, po.c.id == pc.c.org_id)
            ).all()
        )
        events = Counter(
            tuple(r)
            for r in conn.execute(
                sa.select(e.c.entity, e.c.action, e.c.from_state, e.c.to_state)
            ).all()
        )
    engine.dispose()
    return {"cycles": cycles, "targets": targets, "findings": findings, "events": events}


@pytest.fixture
def year_2025(databases: Any, clock: pdca.FixedClock) -> str:
    url = databases.migrated()
    with pdca.open_store(url, clock=clock) as store:
        build_year(store, clock, 2025, 12)
    return url


def test_rollover_agrees_with_the_per_object_path(
    year_2025: str, databases: Any, clock: pdca.FixedClock
) -> None:
    a = databases.clone(year_2025)
    b = databases.clone(year_2025)
    with pdca.open_store(a, clock=clock) as store, store.unit_of_work(pdca.ROLLOVER) as uow:
        for org in uow.scope("S-2026"):
            uow.close(org.code, "2025", reason="rollover to 2026")
        for org in uow.scope("S-2026"):
            uow.open_cycle(org.code, "2026", scheme="S-2026")
    with pdca.open_store(b, clock=clock) as store:
        report = store.rollover("2025", "2026", "S-2026", batch_size=5)
    assert report.cycles_closed == report.cycles_opened == 12
    # org k has k % 4 problems: 3 × (0+1+2+3) = 18
    assert report.findings_carried == report.carried_targets == report.continued_findings == 18
    assert report.scheme_targets == 12 * len(ITEMS)
    sa_, sb = snapshot(a), snapshot(b)
    assert sa_["cycles"] == sb["cycles"]
    assert sa_["targets"] == sb["targets"]
    assert sa_["findings"] == sb["findings"]
    assert sa_["events"] == sb["events"]


def test_dry_run_writes_nothing_and_predicts_the_run(
    year_2025: str, clock: pdca.FixedClock
) -> None:
    before = snapshot(year_2025)
    r = CliRunner().invoke(
        cli,
        [
            "--db",
            year_2025,
            "rollover",
            "--from",
            "2025",
            "--to",
            "2026",
            "--scheme",
            "S-2026",
            "--dry-run",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    dry = json.loads(r.output)
    assert snapshot(year_2025) == before
    assert dry["dry_run"] is True
    assert (dry["cycles_closed"], dry["findings_carried"], dry["cycles_opened"]) == (12, 18, 12)
    assert dry["carried_targets"] == 18
    plan = {p["org"]: p for p in dry["plan"]}
    assert len(plan["B003"]["carry"]) == 3
    assert plan["B004"]["carry"] == []
    r = CliRunner().invoke(
        cli,
        [
            "--db",
            year_2025,
            "rollover",
            "--from",
            "2025",
            "--to",
            "2026",
            "--scheme",
            "S-2026",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    done = json.loads(r.output)
    for key in (
        "cycles_closed",
        "findings_carried",
        "cycles_opened",
        "scheme_targets",
        "carried_targets",
    ):
        assert done[key] == dry[key], key
    # The next year's plans hold one carried target per unresolved finding.
    with pdca.open_store(year_2025) as store, store.unit_of_work() as uow:
        for k in range(12):
            plan26 = uow.cycle(f"B{k:03d}", "2026")
            carried = [x for x in plan26.targets if x.origin == "carried"]
            assert sorted(x.title for x in carried) == sorted(
                f"整改：{p}2025" for p in PROBLEMS[: k % 4]
            )
            assert all(x.origin_period == "2025" and x.carry_count == 1 for x in carried)
    # A second run changes nothing and says so.
    again = CliRunner().invoke(
        cli,
        [
            "--db",
            year_2025,
            "rollover",
            "--from",
            "2025",
            "--to",
            "2026",
            "--scheme",
            "S-2026",
            "--json",
        ],
    )
    data = json.loads(again.output)
    assert data["changed"] is False
    assert "already complete" in data["summary"]


def test_blockers_stop_the_rollover_and_write_nothing(
    databases: Any, clock: pdca.FixedClock
) -> None:
    url = databases.migrated()
    with pdca.open_store(url, clock=clock) as store:
        build_year(store, clock, 2025, 4, doing=frozenset({3}))
        with store.unit_of_work(OFFICE) as uow:
            # B002: one finding whose measures are all done, awaiting verification.
            f = uow.findings(org="B002", period="2025", state="open")[0]
            assert f.id is not None
            r = uow.add_rectification(f.id, "整改中", owner="委员", due_on="2025-12-31")
            uow.complete_rectification(r.id, evidence="台账已补齐")  # type: ignore[arg-type]
    before = snapshot(url)
    with pdca.open_store(url, clock=clock) as store:
        report = store.rollover("2025", "2026", "S-2026")
    assert report.stopped
    reasons = {b.org: b.reason for b in report.blockers}
    assert reasons == {
        "B002": f"finding #{f.id} has every rectification measure done but is not verified: "
        "verify it, or carry it with --carry-unverified",
        "B003": "cycle B003/2025 is still doing, not yet acting",
    }
    assert snapshot(url) == before
    # Told how to treat them: carry the unverified finding, skip the unfinished cycle.
    with pdca.open_store(url, clock=clock) as store:
        report = store.rollover("2025", "2026", "S-2026", carry_unverified=True, skip_blocked=True)
    assert not report.stopped
    assert report.skipped == ["B003"]
    assert report.cycles_opened == 3
    with pdca.open_store(url, clock=clock) as store, store.unit_of_work() as uow:
        carried = [x for x in uow.cycle("B002", "2026").targets if x.origin == "carried"]
        assert len(carried) == 2
        assert uow.cycle("B003", "2025").state == "doing"
        with pytest.raises(pdca.NotFound):
            uow.cycle("B003", "2026")


def test_cli_reports_blockers_with_exit_1(databases: Any, clock: pdca.FixedClock) -> None:
    url = databases.migrated()
    with pdca.open_store(url, clock=clock) as store:
        build_year(store, clock, 2025, 3)
        with store.unit_of_work(OFFICE) as uow:
            f = uow.findings(org="B001", period="2025", state="open")[0]
            assert f.id is not None
            r = uow.add_rectification(f.id, "整改中", owner="委员", due_on="2025-12-31")
            uow.complete_rectification(r.id, evidence="已整改")  # type: ignore[arg-type]
    r = CliRunner().invoke(
        cli, ["--db", url, "rollover", "--from", "2025", "--to", "2026", "--scheme", "S-2026"]
    )
    assert r.exit_code == 1
    assert "B001" in r.output
    assert "nothing was written" in r.output
    r = CliRunner().invoke(
        cli,
        [
            "--db",
            url,
            "rollover",
            "--from",
            "2025",
            "--to",
            "2026",
            "--scheme",
            "S-2026",
            "--skip-blocked",
            "--json",
        ],
    )
    data = json.loads(r.output)
    assert data["skipped"] == ["B001"]
    assert data["cycles_opened"] == 2


def test_three_rollovers_make_a_recurring_thread(databases: Any, clock: pdca.FixedClock) -> None:
    url = databases.migrated()
    with pdca.open_store(url, clock=clock) as store:
        build_year(store, clock, 2024, 4)
        store.rollover("2024", "2025", "S-2025")
        for year in (2025, 2026):
            with store.unit_of_work(OFFICE) as uow:
                for k in range(4):
                    code = f"B{k:03d}"
                    for tgt in uow.cycle(code, str(year)).targets:
                        if not tgt.first_responsible:
                            uow.update_target(tgt.id, first_responsible="书记")  # type: ignore[arg-type]
                    for ev in ("approve", "start", "check", "act"):
                        uow.advance(code, str(year), ev)
                uow.add_scheme(scheme(year + 1))
            store.rollover(str(year), str(year + 1), f"S-{year + 1}")
        with store.unit_of_work() as uow:
            plan = uow.cycle("B003", "2027")
            carried = sorted(
                (x for x in plan.targets if x.origin == "carried"), key=lambda x: x.title
            )
            assert [(x.origin_period, x.carry_count) for x in carried] == [("2024", 3)] * 3
            assert all(pdca.is_recurring(x.carry_count) for x in carried)
            first = uow.findings(org="B003", period="2024", state="carried")[0]
            thread = uow.thread(first.id)  # type: ignore[arg-type]
            assert [(uow.period_of(x), x.state, x.carry_count) for x in thread] == [
                ("2024", "carried", 0),
                ("2025", "carried", 1),
                ("2026", "carried", 2),
                ("2027", "open", 3),
            ]


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import pendulum, sqlalchemy as sa
    import pdca

    url, mode, point = sys.argv[1], sys.argv[2], int(sys.argv[3])
    clock = pdca.FixedClock(pendulum.datetime(2026, 1, 8, tz="Asia/Shanghai"))
    store = pdca.open_store(url, clock=clock)
    if mode == "statement":
        count = [0]

        @sa.event.listens_for(store.engine, "before_cursor_execute")
        def kill(*args):
            count[0] += 1
            if count[0] == point:
                os.kill(os.getpid(), signal.SIGKILL)

    def after(batch):
        if mode == "batch" and batch == point:
            os.kill(os.getpid(), signal.SIGKILL)

    store.rollover("2025", "2026", "S-2026", batch_size=5, after_batch=after)
    print("finished")
    """
)


@pytest.mark.parametrize(
    ("mode", "point"),
    [
        ("batch", 1),
        ("batch", 2),
        # Statements: a share (in %) of those an uninterrupted run executes, so the
        # points stay inside the run whatever the number of statements on each database.
        ("statement", 5),
        ("statement", 25),
        ("statement", 50),
        ("statement", 75),
        ("statement", 95),
    ],
)
def test_sigkill_partway_then_rerun_equals_an_uninterrupted_run(
    year_2025: str, databases: Any, clock: pdca.FixedClock, tmp_path: Path, mode: str, point: int
) -> None:
    reference = databases.clone(year_2025)
    with pdca.open_store(
        reference, clock=pdca.FixedClock(pendulum.datetime(2026, 1, 8, tz="Asia/Shanghai"))
    ) as store:
        executed = [0]

        def count(*args: Any) -> None:
            executed[0] += 1

        sa.event.listen(store.engine, "before_cursor_execute", count)
        store.rollover("2025", "2026", "S-2026", batch_size=5)
        sa.event.remove(store.engine, "before_cursor_execute", count)
    if mode == "statement":
        point = max(1, executed[0] * point // 100)
    victim = databases.clone(year_2025)
    script = tmp_path / "killer.py"
    script.write_text(KILLER, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script), victim, mode, str(point)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "finished" not in proc.stdout
    # The rerun finishes the job.
    with pdca.open_store(
        victim, clock=pdca.FixedClock(pendulum.datetime(2026, 1, 8, tz="Asia/Shanghai"))
    ) as store:
        store.rollover("2025", "2026", "S-2026", batch_size=5)
    assert snapshot(victim) == snapshot(reference)


def test_a_sample_year_then_the_rollover_from_the_command_line(empty_db_url: str) -> None:
    """Issue 4's acceptance: a sample year, a dry run that writes nothing, the rollover
    carrying exactly the unresolved findings, a second run that changes nothing."""
    runner = CliRunner()
    r = runner.invoke(
        cli, ["--db", empty_db_url, "demo", "--no-rollover", "--year", "2025", "--json"]
    )
    assert r.exit_code == 0, r.output
    year = json.loads(r.output)
    unresolved = year["findings_carried_forward"]
    assert unresolved >= 1
    assert year["cycles_closed"] == 0
    before = snapshot(empty_db_url)
    args = [
        "--db",
        empty_db_url,
        "rollover",
        "--from",
        "2025",
        "--to",
        "2026",
        "--scheme",
        "XT-2026",
    ]
    dry = runner.invoke(cli, [*args, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.output)
    assert snapshot(empty_db_url) == before
    assert plan["findings_carried"] == unresolved
    assert sum(len(p["carry"]) for p in plan["plan"]) == unresolved
    done = runner.invoke(cli, [*args, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["findings_carried"] == report["carried_targets"] == unresolved
    assert report["cycles_closed"] == report["cycles_opened"] == year["organizations"]
    again = json.loads(runner.invoke(cli, [*args, "--json"]).output)
    assert again["changed"] is False
    with pdca.open_store(empty_db_url) as store, store.unit_of_work() as uow:
        carried = [
            x
            for o in uow.scope("XT-2026")
            for x in uow.cycle(o.code, "2026").targets
            if x.origin == "carried"
        ]
        assert len(carried) == unresolved
        assert all(x.origin_period == "2025" and x.carry_count == 1 for x in carried)
        sources = {x.carried_from_id for x in carried}
        assert len(sources) == unresolved
        assert all(uow.finding(i).state == "carried" for i in sources)  # type: ignore[arg-type]
