"""Opening a store: pdca's handle on a database (a URL, a host's Engine or a host's Session)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from pdca.clock import DEFAULT_TIMEZONE, Clock, SystemClock
from pdca.domain.actor import ROLLOVER, SYSTEM, Actor
from pdca.domain.policy import DefaultPolicy, Policy
from pdca.errors import PdcaError, ValidationError
from pdca.persistence import migrate
from pdca.persistence.database import create_pdca_engine
from pdca.persistence.mapping import start_mappers
from pdca.persistence.tables import SCHEMA, SCHEMA_ENV
from pdca.persistence.trail import install_sqlite_functions

from .hooks import Hooks, Notification, Subscription
from .rollover import RolloverReport
from .rollover import rollover as _rollover
from .unit_of_work import UnitOfWork

__all__ = ["Store", "open_store"]


class Store:
    """Where pdca keeps its data. Create one with :func:`open_store`."""

    def __init__(
        self,
        *,
        engine: Engine | None = None,
        session: Session | None = None,
        clock: Clock | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        owns_engine: bool = False,
        hooks: Hooks | None = None,
        policy: Policy | None = None,
    ) -> None:
        if (engine is None) == (session is None):
            raise PdcaError("a Store needs exactly one of an engine or a session")
        start_mappers()
        self.clock: Clock = clock or SystemClock()
        self.timezone = timezone
        self.host_session = session
        self._engine = engine
        self._owns_engine = owns_engine
        self.hooks = hooks if hooks is not None else Hooks()
        if self.engine.dialect.name == "sqlite":
            install_sqlite_functions(self.engine)  # the trail's trigger calls pdca_sha256
        #: Who may do what (see :mod:`pdca.domain.policy`); replace it to change the rules.
        self.policy: Policy = policy if policy is not None else DefaultPolicy()
        self.sessionmaker = sessionmaker(
            bind=engine, expire_on_commit=False, autoflush=True, autobegin=False
        )

    @property
    def engine(self) -> Engine:
        """The Engine behind the store (a host session's bind, when embedded)."""
        if self._engine is not None:
            return self._engine
        assert self.host_session is not None
        bind = self.host_session.get_bind()
        return bind if isinstance(bind, Engine) else bind.engine

    def subscribe(self, event: str, callback: Callable[[Notification], Any]) -> Subscription:
        """Call ``callback(notification)`` after each committed change of kind ``event``
        (``cycle.changed``, ``score.entered``, ``finding.opened``, ``finding.resolved``,
        ``rollover.finished``); see :mod:`pdca.services.hooks`. Returns a subscription
        whose ``cancel()`` unsubscribes."""
        return self.hooks.subscribe(event, callback)

    def unit_of_work(self, actor: Actor | str = SYSTEM) -> UnitOfWork:
        """A transaction of use cases performed by ``actor`` (default: pdca's own
        :data:`~pdca.domain.actor.SYSTEM`); use it in a ``with`` block. Every change is
        checked against the store's :attr:`policy`."""
        return UnitOfWork(self, actor)

    def rollover(
        self,
        period_from: str,
        period_to: str,
        scheme: str,
        *,
        actor: Actor | str = ROLLOVER,
        dry_run: bool = False,
        skip_blocked: bool = False,
        carry_unverified: bool = False,
        batch_size: int = 2000,
        progress: Callable[[int, int], None] | None = None,
        after_batch: Callable[[int], None] | None = None,
    ) -> RolloverReport:
        """The annual rollover for every organization in ``scheme``'s scope: see
        :func:`pdca.services.rollover.rollover`. Runs its own transactions, one per batch
        (not available on a host's session)."""
        if self.host_session is not None:
            raise PdcaError(
                "the rollover commits batch by batch: run it on a Store opened from a URL "
                "or an Engine, not inside a host's session"
            )
        report = _rollover(
            self,
            period_from,
            period_to,
            scheme,
            actor=actor,
            dry_run=dry_run,
            skip_blocked=skip_blocked,
            carry_unverified=carry_unverified,
            batch_size=batch_size,
            progress=progress,
            after_batch=after_batch,
        )
        if not (dry_run or report.stopped) and self.hooks.wants("rollover.finished"):
            self.hooks.dispatch(
                [
                    Notification(
                        name="rollover.finished",
                        at=self.clock.now(),
                        actor=str(Actor.of(actor)),
                        data=report.as_dict(),
                    )
                ]
            )
        return report

    def _bind(self) -> Connection | Engine:
        if self.host_session is not None:
            return self.host_session.connection()
        return self.engine

    def upgrade(self, revision: str = "head") -> None:
        """Migrate pdca's tables to ``revision`` (default: newest)."""
        migrate.upgrade(self._bind(), revision)

    def downgrade(self, revision: str) -> None:
        migrate.downgrade(self._bind(), revision)

    def current_revision(self) -> str | None:
        return migrate.current_revision(self._bind())

    def check_at_head(self) -> bool:
        return migrate.check_at_head(self._bind())

    def close(self) -> None:
        """Release the connections of an engine pdca created itself."""
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(
    target: str | Engine | Session,
    *,
    clock: Clock | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    upgrade: bool = False,
    hooks: Hooks | None = None,
    policy: Policy | None = None,
) -> Store:
    """Open pdca's store on a database URL, a host's Engine, or a host's Session.

    With a URL pdca creates (and owns) the engine; SQLite files get pdca's settings (WAL,
    foreign keys, ``BEGIN IMMEDIATE``). With a host's Session pdca only flushes: the host's
    commit or rollback decides. ``upgrade=True`` migrates the schema to the newest revision.
    ``hooks`` shares one registry of post-commit subscribers between stores (a host that
    opens a store per request subscribes once, on its own :class:`~pdca.services.hooks.Hooks`).
    ``policy`` decides who may change what (default :class:`~pdca.domain.policy.DefaultPolicy`;
    :class:`~pdca.domain.policy.AllowAll` for a host that checks permissions itself).
    """
    if isinstance(target, Session):
        store = Store(session=target, clock=clock, timezone=timezone, hooks=hooks, policy=policy)
    elif isinstance(target, Engine):
        store = Store(engine=target, clock=clock, timezone=timezone, hooks=hooks, policy=policy)
    elif isinstance(target, str):
        store = Store(
            engine=create_pdca_engine(target),
            clock=clock,
            timezone=timezone,
            owns_engine=True,
            hooks=hooks,
            policy=policy,
        )
    else:
        raise PdcaError(f"open_store needs a URL, an Engine or a Session, not {target!r}")
    if SCHEMA is not None and store.engine.dialect.name != "postgresql":
        store.close()
        raise ValidationError(
            SCHEMA_ENV,
            SCHEMA,
            f"a schema for pdca's tables is a PostgreSQL setting; this database is "
            f"{store.engine.dialect.name}",
        )
    if upgrade:
        store.upgrade()
    return store
