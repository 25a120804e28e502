"""The host back-end: one engine, a Session per request, pdca embedded in that Session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session, sessionmaker

import pdca
from host_app.models import audit_log, users

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def host_alembic_config(connection: sa.Connection, *, naive: bool = False) -> Config:
    """The host's alembic Config (its own scripts, its own ``alembic_version`` table)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    cfg.attributes["naive"] = naive
    return cfg


class HostApp:
    def __init__(self, url: str, clock: pdca.Clock | None = None) -> None:
        # The host creates its engine its own way; pdca uses it as it is.
        self.engine = sa.create_engine(url, poolclass=sa.NullPool)
        self.sessions = sessionmaker(self.engine)
        self.clock = clock

    def migrate(self) -> None:
        """Deploy: the host's migrations and pdca's, in one transaction."""
        with self.engine.begin() as conn:
            command.upgrade(host_alembic_config(conn), "head")
            pdca.upgrade(conn)

    def autogenerate_check(self, *, naive: bool = False) -> None:
        """``alembic check``: raises when autogenerate would write a migration."""
        with self.engine.begin() as conn:
            command.check(host_alembic_config(conn, naive=naive))

    def add_user(self, login: str, name: str, org_code: str | None, role: str) -> None:
        with self.sessions.begin() as session:
            session.execute(
                sa.insert(users).values(login=login, name=name, org_code=org_code, role=role)
            )

    @contextmanager
    def request(self, login: str) -> Iterator[tuple[Session, pdca.Store, pdca.Actor]]:
        """One request: the host's session, pdca on it, and the user as pdca's actor.

        The request commits at the end and rolls back on any exception, like a web
        framework's session-per-request.
        """
        session = self.sessions()
        try:
            with session.begin():
                row = session.execute(sa.select(users).where(users.c.login == login)).one()
                actor = pdca.Actor(row.name, org=row.org_code, role=row.role)
                store = pdca.open_store(session, clock=self.clock)
                yield session, store, actor
        finally:
            session.close()

    @staticmethod
    def log(session: Session, login: str, what: str) -> None:
        session.execute(sa.insert(audit_log).values(login=login, what=what))
