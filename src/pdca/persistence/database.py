"""Engines pdca creates for itself from a URL.

SQLite is configured the way a multi-writer embedded store needs: foreign keys on, a busy
timeout, WAL journal for file databases, and every transaction opened with
``BEGIN IMMEDIATE`` so that a writer takes the write lock up front (SQLite ignores
``SELECT … FOR UPDATE``) and concurrent writers queue instead of failing mid-transaction.
Engines handed in by a host are used as they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from .trail import register_sqlite_functions

__all__ = ["DEFAULT_URL", "configure_sqlite", "create_pdca_engine", "ensure_sqlite_transaction"]

DEFAULT_URL = "sqlite:///pdca.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def configure_sqlite(engine: Engine) -> None:
    """Install pdca's SQLite connection settings on ``engine`` (pysqlite driver)."""
    is_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours (and SAVEPOINTs work).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        register_sqlite_functions(dbapi_connection)  # pdca_sha256, for the trail's trigger
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not is_memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def ensure_sqlite_transaction(connection: Connection) -> None:
    """Make sure a host's SQLite connection is really inside a transaction.

    pysqlite's default ("legacy") mode defers BEGIN until the first INSERT/UPDATE/DELETE, so
    a host Session that has only read so far holds no transaction at all; a SAVEPOINT opened
    there becomes the outermost transaction and its RELEASE commits, behind the host's back.
    pdca therefore opens the transaction the driver deferred, so the host's commit or
    rollback decides. (Engines pdca creates, and hosts that apply :func:`configure_sqlite`,
    always begin explicitly.)
    """
    dbapi = connection.connection.driver_connection
    if dbapi is not None and getattr(dbapi, "in_transaction", True) is False:
        connection.exec_driver_sql("BEGIN")


def create_pdca_engine(url: str, **kwargs: Any) -> Engine:
    """Create an Engine for ``url`` with pdca's settings for its database."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
        # psycopg 3 is the driver pdca tests with; say so explicitly.
        u = u.set(drivername="postgresql+psycopg")
    engine = create_engine(u, **kwargs)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    return engine
