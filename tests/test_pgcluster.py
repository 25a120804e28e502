"""Smoke tests for the throwaway PostgreSQL cluster helper (tests/pgcluster.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pgcluster import PgCluster

pytestmark = pytest.mark.skipif(
    os.environ.get("PDCA_TEST_BACKEND") != "postgresql",
    reason="PostgreSQL tests run only with PDCA_TEST_BACKEND=postgresql",
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with PgCluster() as pg:
        yield pg


def _databases(pg: PgCluster) -> set[str]:
    engine = sa.create_engine(pg.url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        return set(conn.scalars(sa.text("SELECT datname FROM pg_database")))


def test_create_roundtrip_drop(cluster: PgCluster) -> None:
    cluster.create_database("pdca_smoke")
    engine = sa.create_engine(cluster.url_for("pdca_smoke"))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (name text NOT NULL)"))
        conn.execute(sa.text("INSERT INTO t (name) VALUES (:name)"), {"name": "党建考核"})
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT name FROM t")) == "党建考核"
        assert conn.scalar(sa.text("SHOW server_encoding")) == "UTF8"
    # The engine's pooled connection is still open: drop_database must cope with that.
    cluster.drop_database("pdca_smoke")
    engine.dispose()
    assert "pdca_smoke" not in _databases(cluster)


def test_create_from_template(cluster: PgCluster) -> None:
    cluster.create_database("pdca_tpl")
    engine = sa.create_engine(cluster.url_for("pdca_tpl"), poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE marker (id int)"))
    cluster.create_database("pdca_clone", template="pdca_tpl")
    clone = sa.create_engine(cluster.url_for("pdca_clone"), poolclass=sa.NullPool)
    assert sa.inspect(clone).has_table("marker")
    cluster.drop_database("pdca_clone")
    cluster.drop_database("pdca_tpl")
    assert {"pdca_tpl", "pdca_clone"}.isdisjoint(_databases(cluster))


def test_stop_is_idempotent() -> None:
    pg = PgCluster().start()
    tempdir = pg.tempdir
    pg.stop()
    pg.stop()
    assert not pg.running
    assert not tempdir.exists()
