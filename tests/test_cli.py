"""The ``pdca`` command: version, migrations, and the demo year with its rollover."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import pdca
from pdca.cli import cli
from pdca.persistence import tables as t


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """The messages these tests read are the English ones (test_cli_org covers Chinese)."""
    for var in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "en_US.UTF-8")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command in a child process, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if k != "PDCA_DATABASE_URL"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pdca", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
        check=False,
    )


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert pdca.__version__ in result.output


def test_db_upgrade_current_downgrade(empty_db_url: str) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["--db", empty_db_url, "db", "current", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"database": empty_db_url, "revision": None, "at_head": False}

    r = runner.invoke(cli, ["--db", empty_db_url, "db", "upgrade", "--json"])
    assert r.exit_code == 0, r.output
    head = pdca.persistence.migrate.head_revision()
    assert json.loads(r.output)["to"] == head

    engine = sa.create_engine(empty_db_url, poolclass=sa.NullPool)
    names = set(sa.inspect(engine).get_table_names())
    assert "pdca_alembic_version" in names
    assert {n for n in names if not n.startswith("pdca_")} == set()

    r = runner.invoke(cli, ["--db", empty_db_url, "db", "current"])
    assert r.exit_code == 0
    assert "(head)" in r.output

    r = runner.invoke(cli, ["--db", empty_db_url, "db", "downgrade", "base"])
    assert r.exit_code == 0, r.output
    assert set(sa.inspect(engine).get_table_names()) <= {"pdca_alembic_version"}
    engine.dispose()


def test_database_url_from_environment(empty_db_url: str) -> None:
    r = CliRunner().invoke(
        cli, ["db", "upgrade", "--json"], env={"PDCA_DATABASE_URL": empty_db_url}
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["database"] == empty_db_url


def test_default_database_is_pdca_sqlite3_in_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PDCA_DATABASE_URL", raising=False)
    r = CliRunner().invoke(cli, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "pdca.sqlite3").is_file()


def test_bad_usage_exits_2() -> None:
    r = CliRunner().invoke(cli, ["db", "downgrade"])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli, ["no-such-command"])
    assert r.exit_code == 2


def _demo_counts(url: str, period_from: str, period_to: str) -> dict[str, int]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        carried_targets = conn.execute(
            sa.select(
                t.target.c.id,
                t.target.c.carried_from_id,
                t.target.c.origin_period,
                t.target.c.carry_count,
            )
            .join(t.cycle, t.cycle.c.id == t.target.c.cycle_id)
            .where(t.cycle.c.period == period_to, t.target.c.origin == "carried")
        ).all()
        origins = conn.execute(
            sa.select(t.finding.c.id, t.finding.c.state, t.cycle.c.period)
            .join(t.cycle, t.cycle.c.id == t.finding.c.cycle_id)
            .where(t.finding.c.id.in_([row.carried_from_id for row in carried_targets]))
        ).all()
        carried_findings = conn.scalar(
            sa.select(sa.func.count())
            .select_from(t.finding)
            .join(t.cycle, t.cycle.c.id == t.finding.c.cycle_id)
            .where(t.cycle.c.period == period_from, t.finding.c.state == "carried")
        )
        events = conn.scalar(sa.select(sa.func.count()).select_from(t.event))
    engine.dispose()
    assert all(row.origin_period == period_from and row.carry_count == 1 for row in carried_targets)
    assert all(o.state == "carried" and o.period == period_from for o in origins)
    assert len(origins) == len(carried_targets)
    return {
        "carried_targets": len(carried_targets),
        "carried_findings": int(carried_findings or 0),
        "events": int(events or 0),
    }


def test_demo_json_runs_a_year_and_carries_problems(empty_db_url: str) -> None:
    r = CliRunner().invoke(cli, ["--db", empty_db_url, "demo", "--json", "--year", "2025"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["scheme"] == "XT-2025"
    assert (data["period_from"], data["period_to"]) == ("2025", "2026")
    assert data["organizations"] >= 12
    assert data["cycles_closed"] == data["organizations"] == data["cycles_opened"]
    assert data["findings_carried_forward"] >= 1
    assert data["findings_resolved"] >= 1
    assert (
        data["findings_resolved"] + data["findings_waived"] + data["findings_carried_forward"]
        == data["findings_total"]
    )
    counts = _demo_counts(empty_db_url, "2025", "2026")
    assert counts["carried_targets"] == data["findings_carried_forward"]
    assert counts["carried_findings"] == data["findings_carried_forward"]
    plan = data["next_plan"]
    carried = [x for x in plan["targets"] if x["origin"] == "carried"]
    assert carried, "the shown plan holds carried problems"
    assert all(x["origin_period"] == "2025" and x["carry_count"] == 1 for x in carried)

    # Two peer groups among the assessed organizations.
    with pdca.open_store(empty_db_url) as store, store.unit_of_work() as uow:
        groups = {o.peer_group for o in uow.scope("XT-2025")}
    assert len(groups) >= 2

    # A second run refuses, clearly, and writes nothing.
    again = CliRunner().invoke(cli, ["--db", empty_db_url, "demo", "--json", "--year", "2025"])
    assert again.exit_code == 1
    assert "empty database" in again.output
    assert _demo_counts(empty_db_url, "2025", "2026") == counts


def test_demo_without_db_uses_a_temporary_sqlite_file_and_prints_it(tmp_path: Path) -> None:
    r = run("demo", "--json", "--year", "2024", env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    path = Path(data["database"].removeprefix("sqlite:///"))
    assert path.parent == tmp_path
    assert path.is_file()
    assert not Path("pdca.sqlite3").exists() or Path("pdca.sqlite3").stat().st_size >= 0
    assert data["period_to"] == "2025"
    counts = _demo_counts(data["database"], "2024", "2025")
    assert counts["carried_targets"] == data["findings_carried_forward"] >= 1


def test_demo_text_output_is_readable_chinese(empty_db_url: str) -> None:
    r = run("--db", empty_db_url, "demo", "--year", "2025")
    assert r.returncode == 0, r.stderr
    assert "结转" in r.stdout
    assert "年度计划" in r.stdout
    assert "\ufffd" not in r.stdout


@pytest.mark.parametrize("bad", ["sqlite:///nonexistent-dir/x/y.db", "not a url"])
def test_unusable_database_is_a_clean_error(bad: str) -> None:
    r = run("--db", bad, "db", "current")
    assert r.returncode == 1
    assert r.stderr.startswith("pdca: error: database")
    assert "Traceback" not in r.stderr
