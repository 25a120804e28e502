"""One test suite, two databases.

``PDCA_TEST_BACKEND`` chooses the database every test runs on: ``sqlite`` (default) or
``postgresql``. For PostgreSQL a throwaway cluster is started for the session
(tests/pgcluster.py) and each test gets a fresh database cloned from a migrated template;
for SQLite each test gets a copy of a migrated file.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa
from alembic.config import Config

import pdca
from pdca.persistence.migrate import alembic_config as pdca_alembic_config

BACKEND = os.environ.get("PDCA_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"PDCA_TEST_BACKEND={BACKEND!r}: use sqlite or postgresql")

_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the long variants of the reliability tests (same as PDCA_LONG=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # The reliability tests (tests/reliability.py) size themselves from PDCA_LONG, read
    # when they are imported, i.e. after this hook.
    if config.getoption("--long"):
        os.environ["PDCA_LONG"] = "1"


def pytest_report_header(config: pytest.Config) -> str:
    long = os.environ.get("PDCA_LONG", "") not in ("", "0")
    return f"pdca test backend: {BACKEND}" + (" (long reliability variants)" if long else "")


class Databases:
    """Hands out fresh databases (empty or migrated) on the session's backend."""

    def __init__(self, tmp: Path, cluster: object | None) -> None:
        self.tmp = tmp
        self.cluster = cluster
        self._template: str | None = None
        self._made: list[str] = []

    def _new_name(self) -> str:
        return f"t{next(_counter)}_{uuid.uuid4().hex[:8]}"

    def empty(self) -> str:
        """A URL of a new database with nothing in it."""
        name = self._new_name()
        if self.cluster is None:
            return f"sqlite:///{self.tmp / (name + '.sqlite3')}"
        self.cluster.create_database(name)  # type: ignore[attr-defined]
        self._made.append(name)
        return str(self.cluster.url_for(name))  # type: ignore[attr-defined]

    def migrated(self) -> str:
        """A URL of a new database already migrated to head."""
        if self._template is None:
            url = self.empty()
            engine = sa.create_engine(url, poolclass=sa.NullPool)
            pdca.upgrade(engine)
            engine.dispose()
            self._template = url
        name = self._new_name()
        if self.cluster is None:
            src = self._template.removeprefix("sqlite:///")
            dst = self.tmp / (name + ".sqlite3")
            shutil.copyfile(src, dst)
            return f"sqlite:///{dst}"
        template_db = sa.engine.make_url(self._template).database
        self.cluster.create_database(name, template=template_db)  # type: ignore[attr-defined]
        self._made.append(name)
        return str(self.cluster.url_for(name))  # type: ignore[attr-defined]

    def clone(self, url: str) -> str:
        """A new database holding a copy of the database at ``url`` (no open connections)."""
        name = self._new_name()
        if self.cluster is None:
            dst = self.tmp / (name + ".sqlite3")
            src = url.removeprefix("sqlite:///")
            shutil.copyfile(src, dst)
            if Path(src + "-wal").exists():
                shutil.copyfile(src + "-wal", str(dst) + "-wal")
            return f"sqlite:///{dst}"
        source = sa.engine.make_url(url).database
        self.cluster.create_database(name, template=source)  # type: ignore[attr-defined]
        self._made.append(name)
        return str(self.cluster.url_for(name))  # type: ignore[attr-defined]

    def drop(self, url: str) -> None:
        """Remove one database handed out here (its connections closed)."""
        if self.cluster is None:
            path = url.removeprefix("sqlite:///")
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
            return
        name = sa.engine.make_url(url).database
        self.cluster.drop_database(name)  # type: ignore[attr-defined]
        if name in self._made:
            self._made.remove(name)

    def drop_all(self) -> None:
        if self.cluster is not None:
            for name in self._made:
                self.cluster.drop_database(name)  # type: ignore[attr-defined]
        self._made.clear()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    tmp = tmp_path_factory.mktemp("db")
    if BACKEND == "sqlite":
        yield Databases(tmp, None)
        return
    from pgcluster import PgCluster  # tests/ is on sys.path (rootdir conftest)

    with PgCluster() as cluster:
        dbs = Databases(tmp, cluster)
        yield dbs


@pytest.fixture
def clock() -> pdca.FixedClock:
    """A clock at 2025-01-02 09:00 in Asia/Shanghai."""
    return pdca.FixedClock(pendulum.datetime(2025, 1, 2, 9, tz="Asia/Shanghai"))


@pytest.fixture
def db_url(databases: Databases) -> str:
    """A fresh, migrated database."""
    return databases.migrated()


@pytest.fixture
def empty_db_url(databases: Databases) -> str:
    """A fresh, empty database (never migrated)."""
    return databases.empty()


@pytest.fixture
def store(db_url: str, clock: pdca.FixedClock) -> Iterator[pdca.Store]:
    s = pdca.open_store(db_url, clock=clock)
    yield s
    s.close()


@pytest.fixture
def make_store(databases: Databases, clock: pdca.FixedClock) -> Iterator[Callable[[], pdca.Store]]:
    """Factory of extra stores (each on its own fresh, migrated database)."""
    made: list[pdca.Store] = []

    def make() -> pdca.Store:
        s = pdca.open_store(databases.migrated(), clock=clock)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


# --- pytest-alembic: its standard tests run on the session's backend ---------------------


@pytest.fixture
def alembic_config() -> Config:
    return pdca_alembic_config()


@pytest.fixture
def alembic_engine(empty_db_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(empty_db_url, poolclass=sa.NullPool)
    yield engine
    engine.dispose()
