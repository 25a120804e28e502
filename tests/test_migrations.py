"""pdca's alembic migrations: pytest-alembic's standard checks plus pdca's own rules
(``pdca_`` prefix, own version table, coexistence with a host's schema, packaging)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_alembic
import sqlalchemy as sa
from pytest_alembic import tests as standard
from pytest_alembic.config import Config as PytestAlembicConfig
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

import pdca
from pdca.persistence import migrate
from pdca.persistence.tables import TABLE_PREFIX

# pytest-alembic's standard tests, run with conftest's ``alembic_config`` and
# ``alembic_engine`` (pytest-alembic hands env.py the Engine; env.py opens a connection).
__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]

STANDARD_CHECKS = (
    "test_single_head_revision",
    "test_upgrade",
    "test_model_definitions_match_ddl",
    "test_up_down_consistency",
)

REPO = Path(__file__).resolve().parents[1]
HEAD = "0006"
EXPECTED_TABLES = {
    "pdca_organization",
    "pdca_scheme",
    "pdca_scheme_category",
    "pdca_item",
    "pdca_scheme_scope",
    "pdca_cycle",
    "pdca_target",
    "pdca_measure",
    "pdca_checkpoint",
    "pdca_item_method",
    "pdca_score",
    "pdca_rectification",
    "pdca_appeal",
    "pdca_publication",
    "pdca_key_content",
    "pdca_rollover_run",
    "pdca_record",
    "pdca_finding",
    "pdca_event",
    "pdca_denial",
    "pdca_cycle_total",
}


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[sa.Engine]:
    e = sa.create_engine(empty_db_url, poolclass=sa.NullPool)
    yield e
    e.dispose()


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


@pytest.mark.parametrize("check", STANDARD_CHECKS)
def test_standard_checks_pass_when_env_py_gets_a_connection(empty_db_url: str, check: str) -> None:
    """The same pytest-alembic checks, bound to a Connection (which pdca's env.py accepts):
    the migrations and the models agree, and every revision goes up and down cleanly."""
    engine = sa.create_engine(empty_db_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            config = PytestAlembicConfig.from_raw_config(migrate.alembic_config())
            with pytest_alembic.runner(config=config, engine=conn) as runner:
                getattr(standard, check)(runner)
            conn.rollback()
    finally:
        engine.dispose()


# ------------------------------------------------------------------------- metadata


def test_every_table_in_metadata_starts_with_pdca() -> None:
    names = set(pdca.METADATA.tables)
    assert names == EXPECTED_TABLES
    assert all(n.startswith("pdca_") for n in names)
    assert TABLE_PREFIX == "pdca_"
    assert pdca.VERSION_TABLE == "pdca_alembic_version"


def test_every_index_and_constraint_name_is_prefixed() -> None:
    """Index names are global per schema on PostgreSQL: pdca's must not clash with a host's."""
    names = []
    for table in pdca.METADATA.tables.values():
        names += [ix.name for ix in table.indexes]
        names += [c.name for c in table.constraints]
    assert names
    prefixes = ("ix_pdca_", "uq_pdca_", "fk_pdca_", "pk_pdca_", "ck_pdca_")
    assert [n for n in names if not str(n).startswith(prefixes)] == []


# ----------------------------------------------------------------- upgrade / downgrade


def test_upgrade_creates_the_tables_and_own_version_table(engine: sa.Engine) -> None:
    assert tables(engine) == set()
    assert pdca.current_revision(engine) is None
    assert pdca.check_at_head(engine) is False
    pdca.upgrade(engine)
    assert tables(engine) == EXPECTED_TABLES | {"pdca_alembic_version"}
    assert "alembic_version" not in tables(engine)
    head = migrate.head_revision()
    assert head == HEAD
    assert pdca.current_revision(engine) == head
    assert pdca.check_at_head(engine) is True
    with engine.connect() as conn:
        assert conn.scalars(sa.text("SELECT version_num FROM pdca_alembic_version")).all() == [head]


def test_upgrade_twice_is_a_no_op(engine: sa.Engine) -> None:
    pdca.upgrade(engine)
    pdca.upgrade(engine)
    assert pdca.current_revision(engine) == HEAD
    assert tables(engine) == EXPECTED_TABLES | {"pdca_alembic_version"}


def test_downgrade_to_base_leaves_only_the_version_table(engine: sa.Engine) -> None:
    pdca.upgrade(engine)
    pdca.downgrade(engine, "base")
    assert {n for n in tables(engine) if n.startswith("pdca_")} == {"pdca_alembic_version"}
    assert tables(engine) == {"pdca_alembic_version"}
    assert pdca.current_revision(engine) is None
    assert pdca.check_at_head(engine) is False
    # ... and back up again.
    pdca.upgrade(engine)
    assert pdca.check_at_head(engine) is True
    assert tables(engine) == EXPECTED_TABLES | {"pdca_alembic_version"}


def test_migrations_leave_a_hosts_schema_alone(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('host_0042')"))
        conn.execute(sa.text("CREATE TABLE host_user (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(sa.text("INSERT INTO host_user VALUES (1, '组织部')"))
    pdca.upgrade(engine)
    assert tables(engine) == EXPECTED_TABLES | {
        "pdca_alembic_version",
        "alembic_version",
        "host_user",
    }
    assert pdca.current_revision(engine) == HEAD
    pdca.downgrade(engine, "base")
    assert tables(engine) == {"pdca_alembic_version", "alembic_version", "host_user"}
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "host_0042"
        assert conn.scalar(sa.text("SELECT name FROM host_user")) == "组织部"


def test_upgrade_on_a_connection_joins_the_callers_transaction(engine: sa.Engine) -> None:
    conn = engine.connect()
    try:
        conn.begin()
        pdca.upgrade(conn)
        assert pdca.current_revision(conn) == HEAD
        conn.rollback()
    finally:
        conn.close()
    if engine.dialect.name == "postgresql":
        # Transactional DDL: the rolled-back migration left nothing behind.
        assert tables(engine) == set()
        assert pdca.current_revision(engine) is None


def test_store_migration_api(empty_db_url: str) -> None:
    with pdca.open_store(empty_db_url) as store:
        assert store.current_revision() is None
        assert store.check_at_head() is False
        store.upgrade()
        assert store.current_revision() == HEAD
        assert store.check_at_head() is True
        store.downgrade("base")
        assert store.current_revision() is None
    with pdca.open_store(empty_db_url, upgrade=True) as store:
        assert store.check_at_head() is True
        with store.unit_of_work(pdca.Actor("部署", role="system")) as u:
            u.add_organization("JG", "市直机关工委", "机关工委")
            assert [o.code for o in u.organizations()] == ["JG"]


def test_unit_of_work_on_an_unmigrated_database_fails(empty_db_url: str) -> None:
    def list_organizations() -> None:
        with pdca.open_store(empty_db_url) as store, store.unit_of_work() as u:
            u.organizations()

    with pytest.raises(sa.exc.DBAPIError, match=r"pdca_organization"):
        list_organizations()


# ------------------------------------------------------------------------- packaging


def test_migrations_path_holds_env_and_versions() -> None:
    path = migrate.migrations_path()
    assert (path / "env.py").is_file()
    assert (path / "script.py.mako").is_file()
    assert (path / "versions").is_dir()
    assert sorted(p.name for p in (path / "versions").glob("*.py")) == [
        "0001_initial_schema.py",
        "0002_scoring.py",
        "0003_act.py",
        "0004_permissions.py",
        "0005_trail.py",
        "0006_cycle_totals.py",
    ]
    package_dir = Path(pdca.__file__).resolve().parent
    if "site-packages" in package_dir.parts:
        # The installed wheel carries its migrations inside the package.
        assert path.resolve() == package_dir / "migrations"
    else:
        # Run from a source checkout: the top-level migrations/ folder.
        assert path.resolve() == REPO / "migrations"


def test_wheel_ships_the_migrations_inside_the_package() -> None:
    pyproject = REPO / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("no source checkout next to the tests")
    build = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["hatch"]["build"]
    assert build["targets"]["wheel"]["force-include"] == {"migrations": "pdca/migrations"}


def _installed_copy(tmp_path: Path, *, with_migrations: bool) -> Path:
    """Lay pdca out the way the wheel installs it: ``<site>/pdca/migrations``."""
    site = tmp_path / "site"
    pkg = site / "pdca"
    src = Path(pdca.__file__).resolve().parent
    shutil.copytree(src, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    if with_migrations and not (pkg / "migrations").exists():
        shutil.copytree(
            migrate.migrations_path(),
            pkg / "migrations",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    if not with_migrations and (pkg / "migrations").exists():
        shutil.rmtree(pkg / "migrations")
    return site


def _run_with(site: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_installed_layout_finds_and_runs_the_packaged_migrations(tmp_path: Path) -> None:
    site = _installed_copy(tmp_path, with_migrations=True)
    db = tmp_path / "x.sqlite3"
    code = (
        "import pdca, sqlalchemy as sa\n"
        "from pdca.persistence.migrate import migrations_path\n"
        "print(pdca.__file__)\n"
        "print(migrations_path())\n"
        f"e = sa.create_engine('sqlite:///{db}')\n"
        "pdca.upgrade(e)\n"
        "print(pdca.current_revision(e))\n"
    )
    r = _run_with(site, code, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    package_file, path, revision = r.stdout.split()
    assert Path(package_file).resolve() == (site / "pdca" / "__init__.py").resolve()
    assert Path(path).resolve() == (site / "pdca" / "migrations").resolve()
    assert revision == HEAD


def test_missing_migrations_are_a_clear_error(tmp_path: Path) -> None:
    site = _installed_copy(tmp_path, with_migrations=False)
    code = (
        "import pdca\n"
        "from pdca.persistence.migrate import migrations_path\n"
        "try:\n"
        "    migrations_path()\n"
        "except pdca.PdcaError as e:\n"
        "    print('ERR', e)\n"
    )
    r = _run_with(site, code, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ERR pdca's migrations were not found")
