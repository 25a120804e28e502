"""Where the benchmark's databases live: SQLite files in a temporary directory, or databases
of one throwaway PostgreSQL cluster (tests/pgcluster.py).

A data set is generated once into a *base* database and every run gets its own copy
(SQLite: the file is copied; PostgreSQL: ``CREATE DATABASE … TEMPLATE base``), so pdca and
the floor always start from identical data.
"""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent

_counter = itertools.count()


def _load_pgcluster() -> Any:
    spec = importlib.util.spec_from_file_location("pgcluster", ROOT / "tests" / "pgcluster.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pgcluster"] = module
    spec.loader.exec_module(module)
    return module


class Backend:
    """Hands out databases of one kind (``sqlite`` or ``postgresql``)."""

    name: str

    def new_url(self, label: str) -> str:
        raise NotImplementedError

    def copy(self, url: str, label: str) -> str:
        raise NotImplementedError

    def drop(self, url: str) -> None:
        raise NotImplementedError

    def settle(self, url: str) -> None:
        """Make a freshly generated base database ready to copy (and to plan queries on)."""

    def version(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, base_dir: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pdca-bench-", dir=base_dir))

    def new_url(self, label: str) -> str:
        return f"sqlite:///{self.dir / f'{label}-{next(_counter)}.sqlite3'}"

    @staticmethod
    def _path(url: str) -> Path:
        return Path(url.removeprefix("sqlite:///"))

    def settle(self, url: str) -> None:
        # Fold the WAL into the main file so that one file is the whole database.
        engine = sa.create_engine(url, poolclass=NullPool)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()

    def copy(self, url: str, label: str) -> str:
        dst = self.new_url(label)
        shutil.copyfile(self._path(url), self._path(dst))
        return dst

    def drop(self, url: str) -> None:
        p = self._path(url)
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)

    def version(self) -> str:
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self) -> None:
        pgcluster = _load_pgcluster()
        self.cluster = pgcluster.PgCluster().start()
        self.admin = sa.create_engine(
            self.cluster.url, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )

    def _name(self, url: str) -> str:
        name = sa.engine.make_url(url).database
        assert name is not None
        return name

    def new_url(self, label: str) -> str:
        name = f"{label.replace('-', '_')}_{next(_counter)}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return str(self.cluster.url_for(name))

    def settle(self, url: str) -> None:
        # What autovacuum would have done by the time anyone runs a rollover.
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        engine.dispose()

    def copy(self, url: str, label: str) -> str:
        name = f"{label.replace('-', '_')}_{next(_counter)}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(
                f'CREATE DATABASE "{name}" TEMPLATE "{self._name(url)}" STRATEGY FILE_COPY'
            )
        return str(self.cluster.url_for(name))

    def drop(self, url: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self._name(url)}" WITH (FORCE)')

    def version(self) -> str:
        with self.admin.connect() as conn:
            v = conn.exec_driver_sql("SHOW server_version").scalar()
        return f"PostgreSQL {v}"

    def settings(self) -> str:
        return "fsync=off, synchronous_commit=off, full_page_writes=off (tests/pgcluster.py)"

    def close(self) -> None:
        self.admin.dispose()
        self.cluster.stop()


def open_backend(name: str) -> Backend:
    if name == "sqlite":
        return SQLiteBackend()
    if name == "postgresql":
        return PostgresBackend()
    raise ValueError(name)
