"""The unit of work and the use cases it offers.

``with store.unit_of_work(actor) as uow:`` opens one transaction. Every use case called on
``uow`` validates its input, applies the domain rules and appends its events to the trail;
leaving the block commits (or, in a host's session, flushes and releases a savepoint), and
an exception anywhere rolls everything in the block back, so a refusal or a failure halfway
leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from attrs import define, field
from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError, NotSupportedError, StatementError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from pdca.domain.actor import Actor
from pdca.domain.carry import carry_forward
from pdca.domain.lifecycle import CYCLE, FINDING, Change
from pdca.domain.model import UNRESOLVED_FINDING_STATES as UNRESOLVED
from pdca.domain.model import (
    Checkpoint,
    Cycle,
    CycleState,
    Event,
    Finding,
    FindingState,
    Measure,
    MeasureStatus,
    Organization,
    Record,
    Scheme,
    SchemeCategory,
    Score,
    Target,
    TargetOrigin,
)
from pdca.domain.period import Period, PeriodKind
from pdca.domain.policy import CYCLE_EVENT_ACTIONS, FINDING_EVENT_ACTIONS, Denial, Resource
from pdca.domain.scheme import METHODS, SchemeSpec
from pdca.errors import (
    ConcurrencyConflict,
    GuardFailed,
    NotFound,
    PdcaError,
    PermissionDenied,
    TransitionRefused,
    ValidationError,
)
from pdca.persistence import tables as t
from pdca.persistence.database import ensure_sqlite_transaction
from pdca.persistence.results import refresh_totals
from pdca.persistence.trail import ensure_sqlite_functions
from pdca.reports import ReportCases

from . import act as _act
from . import permissions as _permissions
from . import scoring as _scoring
from . import validate as v
from .act import ActCases
from .hooks import Notification

if TYPE_CHECKING:
    from .store import Store

__all__ = ["CHECKPOINTS", "CHECKPOINT_LABELS", "SEVERITIES", "UnitOfWork"]

#: Checkpoints a finding can come from (issue "schemes and scoring" adds weights and dates).
CHECKPOINTS = (
    "daily",
    "monthly",
    "quarterly",
    "mid-year",
    "year-end",
    "spot-check",
    "special",
    "carried",
)
#: How the checkpoints are called in Chinese (for reports and the CLI).
CHECKPOINT_LABELS = {
    "daily": "日常考核",
    "monthly": "月度考核",
    "quarterly": "季度考核",
    "mid-year": "年中考核",
    "year-end": "年终考核",
    "spot-check": "抽查",
    "special": "专项督查",
    "carried": "上期结转",
}
#: How serious a finding is.
SEVERITIES = ("minor", "general", "serious")
#: Where a finding came from (the method of the check).
SOURCES = (*METHODS, "inspection")
RESPONSIBILITY_FIELDS = (
    "first_responsible",
    "direct_responsible",
    "specific_responsible",
    "lead_unit",
    "responsible_unit",
    "responsible_leader",
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(x) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(x) for x in value]
    return value


@define(slots=True)
class _LightTarget:
    """What the plan guard needs of a target."""

    title: str
    first_responsible: str | None
    due_on: dt.date | None


@define(slots=True)
class _LightFinding:
    id: int
    state: str
    version: int


@define(slots=True)
class _LightCycle:
    """What the lifecycle and its guards need of a cycle, read without the ORM (bulk)."""

    id: int
    org_id: int
    period: str
    state: str
    version: int
    code: str
    targets: list[_LightTarget] = field(factory=list)
    findings: list[_LightFinding] = field(factory=list)

    def unresolved_findings(self) -> list[_LightFinding]:
        return self.findings


def _containers(p: Period) -> list[Period]:
    """The periods that contain ``p``, nearest first (a month: its quarter, half, year)."""
    out: list[Period] = []
    for kind in (PeriodKind.QUARTER, PeriodKind.HALF, PeriodKind.YEAR):
        if kind == p.kind:
            continue
        year = Period(p.year)
        candidates = [year] if kind is PeriodKind.YEAR else year.children(kind)
        out.extend(c for c in candidates if c.contains(p))
    return out


P = ParamSpec("P")
R = TypeVar("R")
U = TypeVar("U")


def _bad_input(err: BaseException) -> bool:
    """Whether ``err`` is the database (or its driver) refusing a value handed in."""
    orig = err.orig if isinstance(err, StatementError) else err
    if isinstance(orig, UnicodeError | OverflowError) or isinstance(
        err, DataError | NotSupportedError
    ):
        return True
    if isinstance(err, TypeError | ValueError | ArithmeticError):
        return True  # an argument of the wrong type (an unhashable code, a sNaN, ...)
    if getattr(orig, "sqlstate", None) in ("42883", "42804"):
        return True  # PostgreSQL: no operator for, or a mismatch with, the value's type
    text = str(orig)
    return isinstance(err, StatementError) and (
        isinstance(orig, TypeError | ValueError)
        or "Error binding parameter" in text
        or "cannot adapt type" in text
    )


#: PostgreSQL aborting a transaction that lost a race: a deadlock, a serialization failure.
_LOST_RACE = ("40P01", "40001")
_LOST_RACE_REASON = (
    "the database aborted this transaction to break a deadlock or a serialization failure "
    "with another writer (try again)"
)


def _lost_race(err: BaseException) -> bool:
    orig = err.orig if isinstance(err, StatementError) else err
    return getattr(orig, "sqlstate", None) in _LOST_RACE


def _database_errors_as_conflicts(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a write refused by the database (a stale version, a unique key another writer
    took first), wherever it surfaces (an explicit flush or an autoflush before a query),
    into :class:`~pdca.errors.ConcurrencyConflict` and roll the unit of work back."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (StaleDataError, IntegrityError) as err:
            uow = args[0]
            assert isinstance(uow, UnitOfWork)
            if isinstance(err, StaleDataError):
                reason = (
                    "another writer changed an object since it was loaded (reload it and try again)"
                )
            else:
                reason = f"the database refused a write: {str(err.orig).splitlines()[0]}"
            uow._fail(reason)
            raise ConcurrencyConflict(
                f"{reason}; nothing in this unit of work was written"
            ) from err
        except PdcaError:
            raise
        except BaseException as err:
            # Not a refusal but a failure (a callback that raised, a bug, a value the
            # database cannot bind) that may have left the use case half done: nothing of
            # this unit of work may be committed now.
            uow = args[0]
            if isinstance(uow, UnitOfWork) and uow._session is not None and not uow._failed:
                uow._failed = f"{type(err).__name__} in {fn.__name__}: {err}"
                uow._notes = []
            if _lost_race(err):
                if isinstance(uow, UnitOfWork) and uow._session is not None:
                    uow._rollback()
                raise ConcurrencyConflict(
                    f"{_LOST_RACE_REASON}; nothing in this unit of work was written"
                ) from err
            if _bad_input(err):
                # A value the checks let through but the database cannot bind or store: text
                # that is not valid Unicode (a lone surrogate), a number too large for its
                # column, an object of the wrong type where an id or a value belongs.
                orig = err.orig if isinstance(err, StatementError) else err
                msg = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
                raise ValidationError(
                    "value", type(orig).__name__, f"cannot be used: {msg}"[:300]
                ) from err
            raise

    return wrapper


def _guard_public_methods(cls: type[U]) -> type[U]:
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        for name, member in list(vars(klass).items()):
            if not name.startswith("_") and inspect.isfunction(member):
                setattr(cls, name, _database_errors_as_conflicts(member))
    return cls


@_guard_public_methods
class UnitOfWork(ActCases, ReportCases):
    """One transaction's worth of pdca use cases, performed by one actor."""

    def __init__(self, store: Store, actor: Actor | str) -> None:
        self.store = store
        self.actor = Actor.of(actor)
        self.clock = store.clock
        self._session: Session | None = None
        self._savepoint: Any = None
        self._failed: str | None = None
        self._notes: list[Notification] = []
        self._denials: list[dict[str, Any]] = []  # recorded when the unit of work ends
        self._within = 0  # > 0 while a use case carries out what it was allowed to

    # ------------------------------------------------------------------ transaction

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work inside a 'with' block")
        if self._failed is not None:
            raise ConcurrencyConflict(
                f"this unit of work was rolled back ({self._failed}); nothing in it was "
                "written: start a new one"
            )
        return self._session

    def __enter__(self) -> UnitOfWork:
        host = self.store.host_session
        if host is not None:
            self._session = host
            conn = host.connection()
            if conn.dialect.name == "sqlite":
                ensure_sqlite_functions(conn)
                ensure_sqlite_transaction(conn)
            self._savepoint = host.begin_nested()
        else:
            self._session = self.store.sessionmaker()
            self._session.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._session
        assert session is not None, "unit of work not entered"
        try:
            if self._failed is not None:
                if exc_type is None:
                    raise ConcurrencyConflict(
                        f"this unit of work was rolled back ({self._failed}); nothing in it "
                        "was written"
                    )
            elif exc_type is None:
                try:
                    if self._savepoint is not None:
                        session.flush()
                        self._savepoint.commit()
                        # Heard of only when the host's own transaction commits.
                        self.store.hooks.defer_to_host(session, self._notes)
                    else:
                        session.commit()
                        notes, self._notes = self._notes, []
                        self.store.hooks.dispatch(notes)
                except StaleDataError as err:
                    self._rollback()
                    raise ConcurrencyConflict(
                        "another writer changed this object since it was loaded; "
                        "reload it and try again"
                    ) from err
                except IntegrityError as err:
                    self._rollback()
                    raise ConcurrencyConflict(
                        f"the database refused the write (another writer got there first?): "
                        f"{err.orig}"
                    ) from err
                except BaseException as err:
                    self._rollback()
                    if _lost_race(err):
                        raise ConcurrencyConflict(
                            f"{_LOST_RACE_REASON}; nothing in this unit of work was written"
                        ) from err
                    raise
            else:
                self._rollback()
                if isinstance(exc, StaleDataError):
                    raise ConcurrencyConflict(
                        "another writer changed this object since it was loaded; "
                        "reload it and try again"
                    ) from exc
        finally:
            if self._savepoint is None:
                session.close()
            self._session = None
            self._savepoint = None
            self._failed = None
            self._notes = []
            self._record_denials()

    def _rollback(self) -> None:
        session = self._session
        assert session is not None
        if self._savepoint is not None:
            if self._savepoint.is_active:
                self._savepoint.rollback()
        else:
            session.rollback()

    def flush(self) -> None:
        """Send pending changes to the database now (the commit still comes at the end).

        A conflict with another writer rolls the whole unit of work back and raises
        :class:`~pdca.errors.ConcurrencyConflict`; the unit of work refuses further calls.
        """
        self.session.flush()

    # ------------------------------------------------------------------ permissions

    def _authorize(self, action: str, obj: Resource) -> None:
        """Ask the store's policy whether the actor may ``action`` on ``obj``; called at the
        start of every use case that changes something, before it writes. A refusal raises
        :class:`~pdca.errors.PermissionDenied` and is recorded when the unit of work ends.
        Inside :meth:`_carrying_out` (a use case doing what it was allowed to) nothing is
        asked again."""
        if self._within:
            return
        reason = self.store.policy.check(self.actor, action, obj)
        if reason is None:
            return
        self._denials.append(
            _permissions.denial_row(self.clock.now(), self.actor, action, obj, reason)
        )
        raise PermissionDenied(self.actor, action, obj, reason)

    @contextlib.contextmanager
    def _carrying_out(self) -> Iterator[None]:
        """The consequences of an allowed action (an upheld appeal re-opens a cycle and
        waives a finding) are not asked about again."""
        self._within += 1
        try:
            yield
        finally:
            self._within -= 1

    def _record_denials(self) -> None:
        rows, self._denials = self._denials, []
        _permissions.record_denials(self.store, rows)

    def _cycle_resource(
        self,
        cyc: Cycle,
        label: str | None = None,
        *,
        code: str | None = None,
        published: bool = False,
    ) -> Resource:
        """A cycle (or something of it, named by ``label``) as the object of an action."""
        if code is None:
            code = self.session.scalar(
                select(t.organization.c.code).where(t.organization.c.id == cyc.org_id)
            )
        own = f"cycle {code}/{cyc.period}"
        return Resource(
            "cycle",
            f"{label} of {own}" if label else own,
            org=str(code) if code else None,
            published=published,
        )

    def _published(self, cyc: Cycle) -> bool:
        """The results of the cycle's scheme and period are published (公示)."""
        return cyc.scheme_id is not None and _act.is_published(self, cyc.scheme_id, cyc.period)

    def denials(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        org: str | None = None,
        limit: int | None = None,
    ) -> list[Denial]:
        """Recorded permission denials, oldest first: filter by the actor's name, the
        action (``"cycle.check"``) and the organization of the object; ``limit`` keeps the
        latest ones. A denial is recorded once the unit of work it happened in has ended."""
        return _permissions.denials(self.session, actor=actor, action=action, org=org, limit=limit)

    def _fail(self, reason: str) -> None:
        self._rollback()
        self._failed = reason
        self._notes = []

    def _notify(self, name: str, data: Mapping[str, Any]) -> None:
        """Queue a post-commit notification (see :mod:`pdca.services.hooks`)."""
        self._notes.append(
            Notification(name=name, at=self.clock.now(), actor=str(self.actor), data=data)
        )

    def _org_period(self, cycle_id: int) -> dict[str, Any]:
        cyc = self.session.get(Cycle, cycle_id)
        if cyc is None:
            return {"cycle_id": cycle_id}
        org = self.session.get(Organization, cyc.org_id)
        return {"cycle_id": cycle_id, "org": org.code if org else None, "period": cyc.period}

    def _notify_logged(
        self, entity: str, entity_id: int, action: str, change: Change | None, data: Any
    ) -> None:
        hooks = self.store.hooks
        if entity == "cycle" and change is not None:
            if hooks.wants("cycle.changed"):
                self._notify(
                    "cycle.changed",
                    {
                        **self._org_period(entity_id),
                        "from_state": change.from_state,
                        "to_state": change.to_state,
                        "event": action,
                    },
                )
        elif entity == "score" and action in ("enter", "change", "revise"):
            if hooks.wants("score.entered"):
                score = self.session.get(Score, entity_id)
                info = dict(data) if isinstance(data, Mapping) else {}
                info.pop("from", None)
                base = self._org_period(score.cycle_id) if score is not None else {}
                self._notify("score.entered", {**base, **info, "score_id": entity_id})
        elif entity == "finding":
            name = None
            if action == "open":
                name = "finding.opened"
            elif change is not None and change.to_state == FindingState.RESOLVED.value:
                name = "finding.resolved"
            if name is not None and hooks.wants(name):
                fnd = self.session.get(Finding, entity_id)
                info = {"finding_id": entity_id}
                if fnd is not None:
                    if fnd.cycle_id is not None:
                        info.update(self._org_period(fnd.cycle_id))
                    info.update(
                        item=fnd.item_code, severity=fnd.severity, description=fnd.description
                    )
                self._notify(name, info)

    # ------------------------------------------------------------------------ trail

    def _log(
        self,
        entity: str,
        entity_id: int | None,
        action: str,
        *,
        change: Change | None = None,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        assert entity_id is not None, "flush before logging"
        ev = Event(
            at=self.clock.now(),
            actor=self.actor.name,
            actor_org=self.actor.org,
            actor_role=self.actor.role,
            entity=entity,
            entity_id=entity_id,
            action=action,
            from_state=change.from_state if change else None,
            to_state=change.to_state if change else None,
            reason=reason,
            data=_jsonable(dict(data)) if data else None,
        )
        self.session.add(ev)
        if self.store.hooks.active:
            self._notify_logged(entity, entity_id, action, change, ev.data)
        return ev

    # ---------------------------------------------------------------- organizations

    def add_organization(
        self,
        code: str,
        name: str,
        kind: str,
        *,
        parent: str | None = None,
        peer_group: str | None = None,
    ) -> Organization:
        """Register an organization (a node of the tree)."""
        c = v.code("code", code)
        n = v.text("name", name, 200)
        k = v.text("kind", kind, 32)
        pg = v.optional_text("peer_group", peer_group, 64)
        self._authorize("organization.add", Resource("organization", f"organization {c}", org=c))
        parent_id = None
        if parent is not None:
            parent_id = self.organization(parent).id
        if self._org_or_none(c) is not None:
            raise ValidationError("code", c, "an organization with this code already exists")
        org = Organization(code=c, name=n, kind=k, parent_id=parent_id, peer_group=pg)
        self.session.add(org)
        self.flush()
        self._log(
            "organization",
            org.id,
            "create",
            data={"code": c, "name": n, "kind": k, "parent": parent, "peer_group": pg},
        )
        return org

    def _org_or_none(self, code: str) -> Organization | None:
        return self.session.scalars(
            select(Organization).where(t.organization.c.code == code)
        ).one_or_none()

    def organization(self, code: str) -> Organization:
        """The organization with ``code``."""
        org = self._org_or_none(str(code))
        if org is None:
            raise NotFound("organization", code)
        return org

    def organizations(self, *, peer_group: str | None = None) -> list[Organization]:
        """All organizations (optionally of one peer group), by code."""
        q = select(Organization).order_by(t.organization.c.code)
        if peer_group is not None:
            q = q.where(t.organization.c.peer_group == peer_group)
        return list(self.session.scalars(q))

    def descendants(self, code: str) -> list[Organization]:
        """Every organization below ``code`` in the tree (not itself), by code."""
        root = self.organization(code)
        org = t.organization
        tree = select(org.c.id).where(org.c.parent_id == root.id).cte("tree", recursive=True)
        tree = tree.union_all(select(org.c.id).where(org.c.parent_id == tree.c.id))
        q = select(Organization).where(org.c.id.in_(select(tree.c.id))).order_by(org.c.code)
        return list(self.session.scalars(q))

    # ---------------------------------------------------------------------- schemes

    def add_scheme(
        self,
        spec: SchemeSpec | Mapping[str, Any] | str,
        title: str | None = None,
        period: str | None = None,
        *,
        issuer: str | None = None,
        scope: Sequence[str] | None = None,
        categories: Sequence[Mapping[str, Any]] | None = None,
        **settings: Any,
    ) -> Scheme:
        """Issue an assessment scheme for a period.

        Give a :class:`~pdca.domain.scheme.SchemeSpec`, a mapping in the scheme file format
        (see the docs), or the code, title and period with the other fields as keywords
        (``categories``, ``checkpoints``, ``grade_bands``, ``outcomes`` …). Every problem is
        reported at once (:class:`~pdca.domain.scheme.SchemeInvalid`). ``scope`` lists the
        codes of the organizations assessed; by default every organization below the
        issuer.
        """
        parsed = _scoring.scheme_data(spec, title, period, issuer, scope, categories, settings)
        return _scoring.add_scheme(self, parsed)

    def scheme_spec(self, code: str) -> SchemeSpec:
        """The full definition of scheme ``code``."""
        return self.scheme(code).spec()

    def finalize_checkpoint(self, scheme: str, checkpoint: str) -> Checkpoint:
        """Close a checkpoint of a scheme for score entry: later changes go through appeals."""
        return _scoring.finalize_checkpoint(self, scheme, checkpoint)

    def enter_score(
        self,
        org: str,
        period: str,
        item: str,
        checkpoint: str,
        method: str,
        value: Any,
        *,
        assessor: str | None = None,
        assessor_org: str | None = None,
        comment: str | None = None,
    ) -> Score:
        """Enter one assessor's value for an item at a checkpoint by a method.

        ``assessor`` defaults to the actor's name and ``assessor_org`` to the actor's
        organization. Entering again for the same assessor replaces the value (and the trail
        keeps both). Refused, with nothing written: a value outside the item's rule; a
        method the item does not allow; an organization scoring itself in the mutual, panel
        or democratic methods; a self-assessment by anyone but the organization itself; a
        finalized checkpoint; a cycle that is not doing or checking.
        """
        return _scoring.enter_score(
            self,
            org,
            period,
            item,
            checkpoint,
            method,
            value,
            assessor=assessor,
            assessor_org=assessor_org,
            comment=comment,
        )

    def scores(self, org: str, period: str) -> list[Score]:
        """Every score entered for an organization's cycle, in the order entered."""
        return _scoring.scores(self, org, period)

    def results(self, scheme: str, period: str) -> _scoring.Results:
        """Totals, sub-totals, grades, ranks and outcomes of every organization assessed by
        ``scheme`` in ``period`` (computed in the database)."""
        return _scoring.results(self, scheme, period)

    def scheme(self, code: str) -> Scheme:
        """The scheme with ``code``, with its categories and items."""
        s = self.session.scalars(
            select(Scheme)
            .where(t.scheme.c.code == code)
            .options(
                selectinload(Scheme.categories).selectinload(SchemeCategory.items),  # type: ignore[arg-type]
                selectinload(Scheme.checkpoints),  # type: ignore[arg-type]
            )
        ).one_or_none()
        if s is None:
            raise NotFound("scheme", code)
        return s

    def scope(self, scheme_code: str) -> list[Organization]:
        """The organizations a scheme assesses, by code."""
        s = self.scheme(scheme_code)
        q = (
            select(Organization)
            .join(t.scheme_scope, t.scheme_scope.c.org_id == t.organization.c.id)
            .where(t.scheme_scope.c.scheme_id == s.id)
            .order_by(t.organization.c.code)
        )
        return list(self.session.scalars(q))

    # ----------------------------------------------------------------------- cycles

    def _cycle_or_none(self, org_id: int | None, period: str) -> Cycle | None:
        return self.session.scalars(
            select(Cycle).where(t.cycle.c.org_id == org_id, t.cycle.c.period == period)
        ).one_or_none()

    def cycle(self, org: str, period: str | Period) -> Cycle:
        """The cycle of organization ``org`` for ``period``, with its targets (and their
        measures) and findings loaded."""
        o = self.organization(org)
        p = Period.parse(period)
        c = self.session.scalars(
            select(Cycle)
            .where(t.cycle.c.org_id == o.id, t.cycle.c.period == str(p))
            .options(
                selectinload(Cycle.targets).selectinload(Target.measures),  # type: ignore[arg-type]
                selectinload(Cycle.findings),  # type: ignore[arg-type]
            )
        ).one_or_none()
        if c is None:
            raise NotFound("cycle", f"{o.code}/{p}")
        return c

    def cycles(
        self, *, period: str | None = None, state: str | None = None, org: str | None = None
    ) -> list[Cycle]:
        """Cycles filtered by period, state and organization."""
        q = select(Cycle).order_by(t.cycle.c.period, t.cycle.c.org_id)
        if period is not None:
            q = q.where(t.cycle.c.period == str(Period.parse(period)))
        if state is not None:
            q = q.where(t.cycle.c.state == state)
        if org is not None:
            q = q.where(t.cycle.c.org_id == self.organization(org).id)
        return list(self.session.scalars(q))

    def _label(self, cyc: Cycle) -> str:
        code = self.session.scalar(
            select(t.organization.c.code).where(t.organization.c.id == cyc.org_id)
        )
        return f"cycle {code}/{cyc.period}"

    def open_cycle(self, org: str, period: str, *, scheme: str | None = None) -> Cycle:
        """Open an organization's cycle for a period, its plan pre-filled.

        The plan (in ``draft``) gets one target per item of the scheme (origin ``scheme``)
        plus one target per problem carried from the previous period (origin ``carried``).
        A half-year, quarter or month is opened as a child of the organization's cycle for the
        containing period, which must exist. The previous period's cycle, if there is one,
        must be closed first, so that none of its problems is left behind.
        """
        o = self.organization(org)
        p = Period.parse(period)
        self._authorize("cycle.open", Resource("cycle", f"cycle {o.code}/{p}", org=o.code))
        existing = self._cycle_or_none(o.id, str(p))
        if existing is not None:
            raise ValidationError(
                "period",
                str(p),
                f"organization {o.code} already has a cycle for {p} (state {existing.state})",
            )
        parent: Cycle | None = None
        if p.kind is not PeriodKind.YEAR:
            for container in _containers(p):
                parent = self._cycle_or_none(o.id, str(container))
                if parent is not None:
                    break
            if parent is None:
                raise ValidationError(
                    "period",
                    str(p),
                    f"open {o.code}'s cycle for {p.year} first: a {p.kind} cycle is a child "
                    "of the cycle of the period containing it",
                )
            if parent.state == CycleState.CLOSED:
                raise ValidationError(
                    "period", str(p), f"the containing cycle {o.code}/{parent.period} is closed"
                )
        sch: Scheme | None = None
        if scheme is not None:
            sch = self.scheme(scheme)
            sp = Period.parse(sch.period)
            if sp != p and not sp.contains(p):
                raise ValidationError(
                    "scheme", scheme, f"is for {sch.period}, which does not cover {p}"
                )
            in_scope = self.session.scalar(
                select(func.count())
                .select_from(t.scheme_scope)
                .where(t.scheme_scope.c.scheme_id == sch.id, t.scheme_scope.c.org_id == o.id)
            )
            if not in_scope:
                raise ValidationError("org", o.code, f"is not in the scope of scheme {sch.code}")
        elif parent is not None and parent.scheme_id is not None:
            sch = self.session.get(Scheme, parent.scheme_id)
        prev = self._latest_before(o.id, p)
        if (
            prev is not None
            and prev.state != CycleState.CLOSED
            and prev.period == str(p.previous())
        ):
            raise ValidationError(
                "period",
                str(p),
                f"the previous cycle {o.code}/{prev.period} is still {prev.state}: close it "
                f"first, so its unresolved problems are carried into {p}",
            )
        cyc = Cycle(
            org_id=o.id,  # type: ignore[arg-type]
            period=str(p),
            scheme_id=sch.id if sch else None,
            parent_id=parent.id if parent else None,
            state=CycleState.DRAFT.value,
            opened_at=self.clock.now(),
        )
        if sch is not None:
            for item in sch.items():
                cyc.targets.append(
                    Target(
                        title=item.title,
                        origin=TargetOrigin.SCHEME.value,
                        item_code=item.code,
                        item_id=item.id,
                        due_on=p.end,
                    )
                )
        self.session.add(cyc)
        self.flush()
        self._log(
            "cycle",
            cyc.id,
            "open",
            change=Change("open", "", cyc.state),
            data={
                "org": o.code,
                "period": str(p),
                "scheme": sch.code if sch else None,
                "parent": parent.period if parent else None,
            },
        )
        if prev is not None and prev.state == CycleState.CLOSED:
            self._carry_into(cyc, prev, sch)
        return cyc

    def _same_kind(self, org_id: int | None, p: Period) -> Select[Cycle]:
        c = t.cycle
        pattern = {
            PeriodKind.YEAR: "____",
            PeriodKind.HALF: "____-H_",
            PeriodKind.QUARTER: "____-Q_",
            PeriodKind.MONTH: "____-__",
        }[p.kind]
        q = select(Cycle).where(c.c.org_id == org_id, c.c.period.like(pattern))
        if p.kind is PeriodKind.MONTH:
            q = q.where(~c.c.period.like("%-H%"), ~c.c.period.like("%-Q%"))
        return q

    def _latest_before(self, org_id: int | None, p: Period) -> Cycle | None:
        """The organization's latest cycle of the same period kind before ``p``: usually the
        previous period; after a skipped period the one before it, so a gap never drops
        carried problems."""
        c = t.cycle
        q = self._same_kind(org_id, p).where(c.c.period < str(p))
        return self.session.scalars(q.order_by(c.c.period.desc()).limit(1)).first()

    def _earliest_after(self, org_id: int | None, p: Period) -> Cycle | None:
        c = t.cycle
        q = self._same_kind(org_id, p).where(c.c.period > str(p))
        return self.session.scalars(q.order_by(c.c.period).limit(1)).first()

    def _carry_into(self, cyc: Cycle, prev: Cycle, sch: Scheme | None) -> int:
        """Continue every carried, not yet continued finding of ``prev`` in ``cyc``."""
        f = t.finding
        nxt = f.alias("nxt")
        carried = list(
            self.session.scalars(
                select(Finding)
                .where(f.c.cycle_id == prev.id, f.c.state == FindingState.CARRIED.value)
                .where(~select(nxt.c.id).where(nxt.c.previous_id == f.c.id).exists())
                .order_by(f.c.id)
            )
        )
        if not carried:
            return 0
        root_ids = {x.root_id or x.id for x in carried}
        origin_periods = dict(
            self.session.execute(
                select(f.c.id, t.cycle.c.period)
                .join(t.cycle, t.cycle.c.id == f.c.cycle_id)
                .where(f.c.id.in_(root_ids))
            ).all()
        )
        items = {i.code: i.id for i in sch.items()} if sch is not None else {}
        period = Period.parse(cyc.period)
        for old in carried:
            root = old.root_id or old.id
            assert root is not None
            c = carry_forward(
                old,
                root_id=root,
                origin_period=str(origin_periods[root]),
                item_id=items.get(old.item_code),
            )
            c.target.due_on = (
                old.deadline if old.deadline and old.deadline > period.start else period.end
            )
            c.finding.found_on = period.start
            cyc.targets.append(c.target)
            cyc.findings.append(c.finding)
            self.flush()
            self._log(
                "target",
                c.target.id,
                "carry-in",
                data={
                    "cycle": cyc.id,
                    "from_finding": old.id,
                    "origin_period": c.target.origin_period,
                    "carry_count": c.target.carry_count,
                },
            )
            self._log(
                "finding",
                c.finding.id,
                "carry-in",
                change=Change("carry-in", "", c.finding.state),
                data={"previous": old.id, "root": root, "carry_count": c.finding.carry_count},
            )
        return len(carried)

    def _transition_cycle(
        self, org: str, period: str, event: str, reason: str | None = None
    ) -> Cycle:
        cyc = self.cycle(org, period)
        label = self._label(cyc)
        if event in CYCLE_EVENT_ACTIONS:
            self._authorize(CYCLE_EVENT_ACTIONS[event], Resource("cycle", label, org=str(org)))
        ctx: dict[str, Any] = {"reason": reason}
        p = Period.parse(cyc.period)
        if event == "close":
            children = self.session.execute(
                select(t.cycle.c.period, t.cycle.c.state).where(
                    t.cycle.c.parent_id == cyc.id, t.cycle.c.state != CycleState.CLOSED.value
                )
            ).all()
            ctx["open_children"] = [f"{org}/{per} ({st})" for per, st in children]
        if event == "reopen":
            nxt = self._earliest_after(cyc.org_id, p)
            ctx["next_cycle"] = f"{org}/{nxt.period}" if nxt is not None else None
            if cyc.parent_id is not None:
                parent = self.session.get(Cycle, cyc.parent_id)
                if parent is not None and parent.state == CycleState.CLOSED:
                    ctx["closed_parent"] = f"{org}/{parent.period}"
        change = CYCLE.fire(cyc, event, label, ctx)
        now = self.clock.now()
        carried: list[Finding] = []
        times = (cyc.feedback_at, cyc.closed_at)
        moved: list[tuple[Finding, str]] = []
        logged: list[Event] = []
        try:
            if event == "act":
                cyc.feedback_at = now
            if event == "close":
                cyc.closed_at = now
                for fnd in cyc.unresolved_findings():
                    fch = FINDING.fire(fnd, "carry", f"finding #{fnd.id}")
                    moved.append((fnd, fch.from_state))
                    carried.append(fnd)
                    logged.append(
                        self._log("finding", fnd.id, "carry", change=fch, reason=f"{label} closed")
                    )
            elif event == "reopen":
                cyc.closed_at = None
                for fnd in cyc.findings:
                    if fnd.state == FindingState.CARRIED:
                        fch = FINDING.fire(fnd, "reopen", f"finding #{fnd.id}", {"reason": reason})
                        moved.append((fnd, fch.from_state))
                        logged.append(
                            self._log("finding", fnd.id, "reopen", change=fch, reason=reason)
                        )
            self._log(
                "cycle",
                cyc.id,
                event,
                change=change,
                reason=reason,
                data={"carried": [f.id for f in carried]} if carried else None,
            )
        except BaseException:
            # A callback failed part-way (e.g. carrying the second finding): put back what
            # had moved and drop its pending events (the unit of work then refuses to
            # commit; see _database_errors_as_conflicts).
            cyc.state = change.from_state
            cyc.feedback_at, cyc.closed_at = times
            for fnd, state in moved:
                fnd.state = state
            for ev in logged:
                if self._session is not None and ev in self._session.new:
                    self._session.expunge(ev)
            raise
        self.flush()
        if event == "close":
            nxt = self._earliest_after(cyc.org_id, p)
            if nxt is not None:
                sch = self.session.get(Scheme, nxt.scheme_id) if nxt.scheme_id else None
                self._carry_into(nxt, cyc, sch)
        return cyc

    def advance_many(
        self,
        period: str,
        event: str,
        *,
        orgs: Sequence[str] | None = None,
        reason: str | None = None,
    ) -> list[tuple[str, str | None]]:
        """Fire ``event`` on the cycles of ``period`` (of ``orgs``, or all), each checked by
        the state machine and its guards exactly as one at a time, in one transaction.

        Returns ``(org, None)`` for each cycle moved and ``(org, message)`` for each
        refused; a refusal leaves that cycle as it was and the others go ahead. The cycles
        are loaded in a few queries and the events written in bulk. ``reopen`` is done one
        cycle at a time (:meth:`reopen`).
        """
        if event == "reopen":
            raise ValidationError("event", event, "re-open cycles one at a time, with a reason")
        events_known = sorted({e for _, e, _ in CYCLE.edges()})
        if event not in events_known:
            raise ValidationError("event", event, "must be one of " + ", ".join(events_known))
        p = Period.parse(period)
        ps = str(p)
        o, c, f = t.organization, t.cycle, t.finding
        chosen = select(c.c.id).where(c.c.period == ps)
        q = (
            select(c.c.id, c.c.org_id, c.c.state, c.c.version, o.c.code)
            .join(o, o.c.id == c.c.org_id)
            .where(c.c.period == ps)
            .order_by(o.c.code)
        )
        if orgs is not None:
            # By the organizations' ids: the database then finds each cycle by its unique
            # (org_id, period) instead of going through every cycle of the period.
            named = select(o.c.id).where(o.c.code.in_(list(orgs)))
            q = q.where(c.c.org_id.in_(named))
            chosen = chosen.where(c.c.org_id.in_(named))
        self.flush()  # the database must see what this unit of work already changed
        conn = self.session.connection()
        cycles = {
            int(cid): _LightCycle(int(cid), int(org_id), ps, str(state), int(version), code)
            for cid, org_id, state, version, code in conn.execute(q).all()
        }
        if orgs is not None:
            found = {x.code for x in cycles.values()}
            missing = [x for x in orgs if x not in found]
            if missing:
                raise NotFound("cycle", f"{missing[0]}/{p}")
        for code in sorted({x.code for x in cycles.values()}):  # before anything is written
            what = Resource("cycle", f"cycle {code}/{ps}", org=code)
            self._authorize(CYCLE_EVENT_ACTIONS[event], what)
        # What the guards look at, in one query each.
        if event == "approve":
            self._plan_targets(conn, chosen, cycles)
        if event == "close":
            for fid, cid, state, version in conn.execute(
                select(f.c.id, f.c.cycle_id, f.c.state, f.c.version)
                .where(f.c.cycle_id.in_(chosen), f.c.state.in_([str(x) for x in UNRESOLVED]))
                .order_by(f.c.id)
            ).all():
                if int(cid) in cycles:
                    cycles[int(cid)].findings.append(
                        _LightFinding(int(fid), str(state), int(version))
                    )
        open_children: dict[int, list[str]] = {}
        if event == "close":
            child = t.cycle.alias("child")
            for parent_id, child_period, child_state in conn.execute(
                select(child.c.parent_id, child.c.period, child.c.state).where(
                    child.c.parent_id.in_(chosen), child.c.state != CycleState.CLOSED.value
                )
            ).all():
                open_children.setdefault(int(parent_id), []).append(
                    f"{child_period} ({child_state})"
                )
        now = self.clock.now()
        actor = self.actor
        who = {"at": now, "actor": actor.name, "actor_org": actor.org, "actor_role": actor.role}
        events: list[dict[str, Any]] = []
        outcome: list[tuple[str, str | None]] = []
        # The ids of the cycles moved, by the state each moves to and its version as loaded
        cycle_moves: dict[tuple[str, int], list[int]] = {}
        finding_updates: list[dict[str, Any]] = []
        closed: list[_LightCycle] = []

        def event_row(
            entity: str,
            entity_id: int,
            action: str,
            change: Change,
            why: str | None,
            data: dict[str, Any] | None,
        ) -> dict[str, Any]:
            return {
                **who,
                "entity": entity,
                "entity_id": entity_id,
                "action": action,
                "from_state": change.from_state,
                "to_state": change.to_state,
                "reason": why,
                "data": data,
            }

        fire = CYCLE.fire
        for cyc in cycles.values():
            label = f"cycle {cyc.code}/{ps}"
            ctx: dict[str, Any] = {"reason": reason}
            if event == "close":
                ctx["open_children"] = [f"{cyc.code}/{x}" for x in open_children.get(cyc.id, [])]
            try:
                change = fire(cyc, event, label, ctx)
            except TransitionRefused as refused:
                outcome.append((cyc.code, str(refused)))
                continue
            carried: list[int] = []
            if event == "close":
                closed.append(cyc)
                for fnd in cyc.findings:
                    fch = FINDING.fire(fnd, "carry", f"finding #{fnd.id}")
                    carried.append(fnd.id)
                    finding_updates.append(
                        {"b_id": fnd.id, "b_version": fnd.version, "b_state": fnd.state}
                    )
                    events.append(
                        event_row("finding", fnd.id, "carry", fch, f"{label} closed", None)
                    )
            cycle_moves.setdefault((cyc.state, cyc.version), []).append(cyc.id)
            events.append(
                event_row(
                    "cycle",
                    cyc.id,
                    event,
                    change,
                    reason,
                    {"carried": carried} if carried else None,
                )
            )
            outcome.append((cyc.code, None))
        counting = conn.execution_options(preserve_rowcount=True)
        # One UPDATE per state moved to and version loaded (and per chunk of cycles): a row
        # another writer changed since has another version and is not counted.
        moved_rows = 0
        stamps: dict[str, Any] = {}
        if event == "act":
            stamps["feedback_at"] = now
        if event == "close":
            stamps["closed_at"] = now
        for (state, version), ids in cycle_moves.items():
            for i in range(0, len(ids), self._UPDATE_CHUNK):
                res = counting.execute(
                    update(c)
                    .where(c.c.id.in_(ids[i : i + self._UPDATE_CHUNK]), c.c.version == version)
                    .values(state=state, version=c.c.version + 1, **stamps)
                )
                moved_rows += res.rowcount
        if moved_rows != sum(len(ids) for ids in cycle_moves.values()):
            self._fail("another writer changed a cycle since it was loaded")
            raise ConcurrencyConflict(
                "another writer changed a cycle since it was loaded (reload it and try "
                "again); nothing in this unit of work was written"
            )
        if finding_updates:
            res = counting.execute(
                update(f)
                .where(f.c.id == bindparam("b_id"), f.c.version == bindparam("b_version"))
                .values(state=bindparam("b_state"), version=f.c.version + 1),
                finding_updates,
            )
            if res.rowcount != len(finding_updates):
                self._fail("another writer changed a finding since it was loaded")
                raise ConcurrencyConflict(
                    "another writer changed a finding since it was loaded (reload it and try "
                    "again); nothing in this unit of work was written"
                )
        if events:
            self._insert_events(conn, events)
        if self.store.hooks.wants("cycle.changed"):
            for ev in events:
                if ev["entity"] == "cycle":
                    moved = cycles[ev["entity_id"]]
                    self._notify(
                        "cycle.changed",
                        {
                            "cycle_id": moved.id,
                            "org": moved.code,
                            "period": moved.period,
                            "from_state": ev["from_state"],
                            "to_state": ev["to_state"],
                            "event": event,
                        },
                    )
        # Objects of this session that were written behind its back must be reloaded.
        for obj in list(self.session.identity_map.values()):
            stale_cycle = isinstance(obj, Cycle) and obj.id in cycles
            stale_finding = isinstance(obj, Finding) and obj.cycle_id in cycles
            if stale_cycle or (stale_finding and event == "close"):
                self.session.expire(obj)
        for light in closed:
            nxt = self._earliest_after(light.org_id, p)
            if nxt is not None:
                prev = self.session.get(Cycle, light.id)
                assert prev is not None
                sch = self.session.get(Scheme, nxt.scheme_id) if nxt.scheme_id else None
                self._carry_into(nxt, prev, sch)
        return outcome

    #: Cycles per UPDATE of advance_many.
    _UPDATE_CHUNK = 500
    #: Every character ``str.strip()`` removes (Unicode has no white space above U+3000).
    _WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())

    @staticmethod
    def _insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert event rows (all with the same keys, in order) in one executemany of the
        driver: each value bound as SQLAlchemy binds it (the column type's bind processor),
        without SQLAlchemy's work per row; an object many rows share (the time, the actor,
        None) is processed once."""
        dialect = conn.dialect
        compiled = insert(t.event).compile(dialect=dialect, column_keys=list(rows[0]))
        keys = list(compiled.positiontup or rows[0])
        columns: list[list[Any]] = []
        for key in keys:
            values = [row[key] for row in rows]
            proc = t.event.c[key].type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                seen: dict[int, tuple[Any, Any]] = {}
                for i, value in enumerate(values):
                    hit = seen.get(id(value))
                    if hit is None or hit[0] is not value:
                        hit = seen[id(value)] = (value, proc(value))
                    values[i] = hit[1]
            columns.append(values)
        params = list(zip(*columns, strict=True))
        if compiled.positiontup is None:  # named placeholders (psycopg's %(name)s)
            conn.exec_driver_sql(compiled.string, [dict(zip(keys, x, strict=True)) for x in params])
        else:
            conn.exec_driver_sql(compiled.string, params)

    def _plan_targets(
        self, conn: Connection, chosen: Select[tuple[int]], cycles: dict[int, _LightCycle]
    ) -> None:
        """Give each cycle what the ``plan_complete`` guard needs of its targets, without
        loading every target: the database counts each cycle's targets and those without a
        first responsible person or a due date (white space alone is none, as the guard has
        it). A cycle with such a target gets all its targets, in order, and the guard words
        the refusal from them as ever; a plan found complete gets one complete target,
        in which the guard finds nothing missing, as it would in all of them."""
        tg = t.target
        person = tg.c.first_responsible
        blank = or_(
            person.is_(None),
            tg.c.due_on.is_(None),
            func.trim(person, self._WHITESPACE) == "",
        )
        incomplete = False
        for cid, n, gaps in conn.execute(
            select(tg.c.cycle_id, func.count(), func.count(case((blank, 1))))
            .where(tg.c.cycle_id.in_(chosen))
            .group_by(tg.c.cycle_id)
        ).all():
            cyc = cycles.get(int(cid))
            if cyc is None or not n:
                continue
            if gaps:
                incomplete = True
            else:
                cyc.targets = [_LightTarget("", "-", dt.date.min)]
        if not incomplete:
            return
        lacking = select(tg.c.cycle_id).where(tg.c.cycle_id.in_(chosen), blank)
        for cid, title, first, due in conn.execute(
            select(tg.c.cycle_id, tg.c.title, tg.c.first_responsible, tg.c.due_on)
            .where(tg.c.cycle_id.in_(lacking))
            .order_by(tg.c.id)
        ).all():
            if int(cid) in cycles:
                cycles[int(cid)].targets.append(_LightTarget(title, first, due))

    def approve_plan(self, org: str, period: str, *, reason: str | None = None) -> Cycle:
        """draft → planned: every target has its first responsible person and due date."""
        return self._transition_cycle(org, period, "approve", reason)

    def start(self, org: str, period: str, *, reason: str | None = None) -> Cycle:
        """planned → doing."""
        return self._transition_cycle(org, period, "start", reason)

    def begin_check(self, org: str, period: str, *, reason: str | None = None) -> Cycle:
        """doing → checking."""
        return self._transition_cycle(org, period, "check", reason)

    def act(self, org: str, period: str, *, reason: str | None = None) -> Cycle:
        """checking → acting: results and problems are fed back."""
        return self._transition_cycle(org, period, "act", reason)

    def close(self, org: str, period: str, *, reason: str | None = None) -> Cycle:
        """acting → closed: every unresolved finding is marked ``carried``."""
        return self._transition_cycle(org, period, "close", reason)

    def reopen(self, org: str, period: str, *, reason: str) -> Cycle:
        """closed → checking, with a reason (e.g. an upheld appeal); carried findings are
        reopened. Refused once the next period's cycle is open."""
        return self._transition_cycle(org, period, "reopen", reason)

    def advance(self, org: str, period: str, event: str, *, reason: str | None = None) -> Cycle:
        """Fire a cycle event by name (``approve``, ``start``, ``check``, ``act``, ``close``,
        ``reopen``)."""
        return self._transition_cycle(org, period, event, reason)

    # --------------------------------------------------------------- plan contents

    def _editable(self, cyc: Cycle, states: Iterable[str], what: str) -> None:
        allowed = tuple(states)
        if cyc.state not in allowed:
            raise ValidationError(
                "cycle",
                f"{self._label(cyc)} ({cyc.state})",
                f"{what} only while the cycle is {' or '.join(allowed)}",
            )

    def add_target(
        self,
        org: str,
        period: str,
        title: str,
        *,
        item_code: str | None = None,
        target_value: Any = None,
        unit: str | None = None,
        due_on: dt.date | str | None = None,
        **responsibilities: str | None,
    ) -> Target:
        """Add the organization's own target (特色目标) to a draft plan."""
        cyc = self.cycle(org, period)
        self._authorize("plan.edit", self._cycle_resource(cyc, "the plan", code=str(org)))
        self._editable(cyc, [CycleState.DRAFT.value], "targets can be added")
        p = Period.parse(cyc.period)
        resp = self._responsibilities(responsibilities)
        due = v.date("due_on", due_on)
        if due is not None and not p.contains_date(due):
            raise ValidationError("due_on", str(due), f"must lie within {p} ({p.start}..{p.end})")
        item_id = None
        if item_code is not None:
            item_id = self._item_id(cyc, item_code)
        tgt = Target(
            title=v.text("title", title, 200),
            origin=TargetOrigin.OWN.value,
            item_code=item_code,
            item_id=item_id,
            target_value=(
                None if target_value is None else v.decimal("target_value", target_value)
            ),
            unit=v.optional_text("unit", unit, 32),
            due_on=due,
        )
        for key, val in resp.items():
            setattr(tgt, key, val)
        cyc.targets.append(tgt)
        self.flush()
        self._log("target", tgt.id, "create", data={"cycle": cyc.id, "title": tgt.title, **resp})
        return tgt

    def _item_id(self, cyc: Cycle, item_code: str) -> int:
        if cyc.scheme_id is None:
            raise ValidationError("item_code", item_code, "the cycle has no scheme")
        iid = self.session.scalar(
            select(t.item.c.id).where(
                t.item.c.scheme_id == cyc.scheme_id, t.item.c.code == item_code
            )
        )
        if iid is None:
            raise ValidationError("item_code", item_code, "is not an item of the cycle's scheme")
        return int(iid)

    @staticmethod
    def _responsibilities(values: Mapping[str, Any]) -> dict[str, str | None]:
        unknown = sorted(set(values) - set(RESPONSIBILITY_FIELDS))
        if unknown:
            raise ValidationError(
                unknown[0],
                values[unknown[0]],
                "unknown field; responsibilities are " + ", ".join(RESPONSIBILITY_FIELDS),
            )
        return {k: v.optional_text(k, values[k], 200) for k in values}

    def target(self, target_id: int) -> Target:
        tgt = self.session.get(Target, target_id)
        if tgt is None:
            raise NotFound("target", target_id)
        return tgt

    def update_target(
        self,
        target_id: int,
        *,
        due_on: dt.date | str | None = None,
        target_value: Any = None,
        unit: str | None = None,
        **responsibilities: str | None,
    ) -> Target:
        """Assign responsibilities, a due date or a target value to a target of a draft plan."""
        tgt = self.target(target_id)
        cyc = self.session.get(Cycle, tgt.cycle_id)
        assert cyc is not None
        self._authorize("plan.edit", self._cycle_resource(cyc, f"target #{tgt.id}"))
        self._editable(cyc, [CycleState.DRAFT.value], "targets can be changed")
        changes: dict[str, Any] = self._responsibilities(responsibilities)
        if due_on is not None:
            due = v.date("due_on", due_on)
            p = Period.parse(cyc.period)
            if due is not None and not p.contains_date(due):
                raise ValidationError("due_on", str(due), f"must lie within {p}")
            changes["due_on"] = due
        if target_value is not None:
            changes["target_value"] = v.decimal("target_value", target_value)
        if unit is not None:
            changes["unit"] = v.optional_text("unit", unit, 32)
        before = {k: getattr(tgt, k) for k in changes}
        for k, val in changes.items():
            setattr(tgt, k, val)
        self._log("target", tgt.id, "update", data={"from": before, "to": changes})
        self.flush()
        return tgt

    def add_measure(
        self,
        target_id: int,
        title: str,
        *,
        owner: str | None = None,
        due_on: dt.date | str | None = None,
    ) -> Measure:
        """Add a measure (措施) toward a target, while the cycle is planned or running."""
        tgt = self.target(target_id)
        cyc = self.session.get(Cycle, tgt.cycle_id)
        assert cyc is not None
        self._authorize("measure.add", self._cycle_resource(cyc, f"target #{tgt.id}"))
        self._editable(
            cyc,
            [CycleState.DRAFT.value, CycleState.PLANNED.value, CycleState.DOING.value],
            "measures can be added",
        )
        m = Measure(
            title=v.text("title", title, 200),
            owner=v.optional_text("owner", owner, 100),
            due_on=v.date("due_on", due_on),
            status=MeasureStatus.PLANNED.value,
        )
        tgt.measures.append(m)
        self.flush()
        self._log(
            "measure", m.id, "create", data={"target": tgt.id, "title": m.title, "owner": m.owner}
        )
        return m

    def update_measure(
        self,
        measure_id: int,
        *,
        status: str | None = None,
        progress: str | None = None,
        evidence: Sequence[str] = (),
    ) -> Measure:
        """Report progress on a measure: its status, a progress note, evidence references."""
        m = self.session.get(Measure, measure_id)
        if m is None:
            raise NotFound("measure", measure_id)
        tgt = self.target(m.target_id)  # type: ignore[arg-type]
        cyc = self.session.get(Cycle, tgt.cycle_id)
        assert cyc is not None
        self._authorize("measure.update", self._cycle_resource(cyc, f"measure #{m.id}"))
        self._editable(
            cyc,
            [CycleState.PLANNED.value, CycleState.DOING.value, CycleState.CHECKING.value],
            "measures can be updated",
        )
        changes: dict[str, Any] = {}
        if status is not None:
            if status not in {s.value for s in MeasureStatus}:
                raise ValidationError(
                    "status", status, "must be one of " + ", ".join(s.value for s in MeasureStatus)
                )
            changes["status"] = status
        if progress is not None:
            changes["progress"] = v.text("progress", progress, 4000)
        refs = [v.text("evidence", e, 500) for e in evidence]
        if refs:
            changes["evidence"] = [*m.evidence, *refs]
        if not changes:
            raise ValidationError("measure", measure_id, "nothing to update")
        before = {k: getattr(m, k) for k in changes}
        for k, val in changes.items():
            setattr(m, k, val)
        self._log("measure", m.id, "update", data={"from": before, "to": changes})
        self.flush()
        return m

    def add_record(
        self,
        org: str,
        period: str,
        kind: str,
        occurred_on: dt.date | str,
        title: str,
        *,
        item_code: str | None = None,
        quantity: int = 1,
        evidence: str | None = None,
    ) -> Record:
        """Keep a dated record (台账) of work done: a meeting held, a visit, a lesson."""
        cyc = self.cycle(org, period)
        self._authorize(
            "record.add",
            self._cycle_resource(cyc, "the records", code=str(org), published=self._published(cyc)),
        )
        self._editable(
            cyc, [CycleState.DOING.value, CycleState.CHECKING.value], "records can be kept"
        )
        if cyc.scheme_id is not None:  # count items score from records: frozen once published
            _act.ensure_not_published(self, cyc.scheme_id, cyc.period)
        day = v.date("occurred_on", occurred_on, required=True)
        assert day is not None
        p = Period.parse(cyc.period)
        if not p.contains_date(day):
            raise ValidationError("occurred_on", str(day), f"must lie within {p}")
        if day > self.clock.now().in_timezone(self.store.timezone).date():
            raise ValidationError("occurred_on", str(day), "must not be in the future")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValidationError("quantity", quantity, "must be a whole number ≥ 1")
        if item_code is not None:
            self._item_id(cyc, item_code)
        rec = Record(
            kind=v.code("kind", kind),
            occurred_on=day,
            title=v.text("title", title, 200),
            item_code=item_code,
            quantity=quantity,
            evidence=v.optional_text("evidence", evidence, 2000),
            cycle_id=cyc.id,
        )
        self.session.add(rec)
        self.flush()
        if cyc.scheme_id is not None:  # count items score from records
            assert cyc.id is not None
            refresh_totals(self.session, [cyc.id])
        self._log(
            "record",
            rec.id,
            "create",
            data={"cycle": cyc.id, "kind": rec.kind, "on": day, "title": rec.title},
        )
        return rec

    def records(self, org: str, period: str, *, kind: str | None = None) -> list[Record]:
        cyc = self.cycle(org, period)
        q = select(Record).where(t.record.c.cycle_id == cyc.id).order_by(t.record.c.occurred_on)
        if kind is not None:
            q = q.where(t.record.c.kind == kind)
        return list(self.session.scalars(q))

    # --------------------------------------------------------------------- findings

    def add_finding(
        self,
        org: str,
        period: str,
        item_code: str,
        description: str,
        *,
        checkpoint: str,
        severity: str = "general",
        source: str = "panel",
        deadline: dt.date | str | None = None,
        found_on: dt.date | str | None = None,
    ) -> Finding:
        """Record a problem found at a check (问题), tied to an item and a checkpoint."""
        cyc = self.cycle(org, period)
        self._authorize("finding.add", self._cycle_resource(cyc, "the findings", code=str(org)))
        self._editable(
            cyc, [CycleState.DOING.value, CycleState.CHECKING.value], "findings can be recorded"
        )
        if checkpoint not in CHECKPOINTS or checkpoint == "carried":
            raise ValidationError(
                "checkpoint", checkpoint, "must be one of " + ", ".join(CHECKPOINTS[:-1])
            )
        if severity not in SEVERITIES:
            raise ValidationError("severity", severity, "must be one of " + ", ".join(SEVERITIES))
        if source not in SOURCES:
            raise ValidationError("source", source, "must be one of " + ", ".join(SOURCES))
        if cyc.scheme_id is not None:
            self._item_id(cyc, item_code)
        found = (
            v.date("found_on", found_on) or self.clock.now().in_timezone(self.store.timezone).date()
        )
        deadline_day = v.date("deadline", deadline)
        if deadline_day is not None and deadline_day < found:
            raise ValidationError(
                "deadline", str(deadline_day), f"must not be before the finding ({found})"
            )
        fnd = Finding(
            item_code=v.code("item_code", item_code),
            description=v.text("description", description, 4000),
            checkpoint=checkpoint,
            severity=severity,
            source=source,
            found_on=found,
            deadline=deadline_day,
            state=FindingState.OPEN.value,
        )
        cyc.findings.append(fnd)
        self.flush()
        fnd.root_id = fnd.id
        self._log(
            "finding",
            fnd.id,
            "open",
            change=Change("open", "", fnd.state),
            data={"cycle": cyc.id, "item": item_code, "checkpoint": checkpoint},
        )
        return fnd

    def finding(self, finding_id: int) -> Finding:
        fnd = self.session.get(Finding, finding_id)
        if fnd is None:
            raise NotFound("finding", finding_id)
        return fnd

    def findings(
        self, *, org: str | None = None, period: str | None = None, state: str | None = None
    ) -> list[Finding]:
        """Findings filtered by organization, period and state."""
        q = select(Finding).join(t.cycle, t.cycle.c.id == t.finding.c.cycle_id)
        if org is not None:
            q = q.where(t.cycle.c.org_id == self.organization(org).id)
        if period is not None:
            q = q.where(t.cycle.c.period == str(Period.parse(period)))
        if state is not None:
            q = q.where(t.finding.c.state == state)
        return list(self.session.scalars(q.order_by(t.finding.c.id)))

    def _transition_finding(
        self,
        finding_id: int,
        event: str,
        ctx: dict[str, Any],
        reason: str | None,
        apply: Mapping[str, Any] | None = None,
    ) -> Finding:
        fnd = self.finding(finding_id)
        cyc = self.session.get(Cycle, fnd.cycle_id)
        assert cyc is not None
        label = f"finding #{fnd.id} of {self._label(cyc)}"
        if event in FINDING_EVENT_ACTIONS:
            frozen = event == "waive" and self._published(cyc)
            self._authorize(
                FINDING_EVENT_ACTIONS[event],
                self._cycle_resource(cyc, f"finding #{fnd.id}", published=frozen),
            )
        if cyc.state == CycleState.CLOSED:
            raise GuardFailed(
                label, fnd.state, event, "cycle_open", [f"its {self._label(cyc)} is closed"]
            )
        change = FINDING.fire(fnd, event, label, ctx)
        for key, value in (apply or {}).items():
            setattr(fnd, key, value)
        self._log("finding", fnd.id, event, change=change, reason=reason, data=ctx or None)
        self.flush()
        return fnd

    def rectify(
        self,
        finding_id: int,
        *,
        plan: str,
        owner: str,
        deadline: dt.date | str | None = None,
    ) -> Finding:
        """open → rectifying: a rectification plan (整改措施) with an owner and deadline."""
        dl = v.date("deadline", deadline)
        # Blank values are left to the guard, which names what is missing.
        plan_text = v.optional_text("plan", plan, 4000)
        owner_text = v.optional_text("owner", owner, 100)
        fnd = self._transition_finding(
            finding_id,
            "rectify",
            {"plan": plan_text, "owner": owner_text, "deadline": dl},
            reason=None,
            apply={"rectification": plan_text, "rectification_owner": owner_text}
            | ({"deadline": dl} if dl is not None else {}),
        )
        return fnd

    def verify(self, finding_id: int, *, verified_by: str, note: str | None = None) -> Finding:
        """rectifying → resolved: the assessor verifies the fix (验收)."""
        by = v.optional_text("verified_by", verified_by, 100)
        note_text = v.optional_text("note", note, 4000)
        return self._transition_finding(
            finding_id,
            "verify",
            {"verified_by": by, "note": note_text, **_act.verify_context(self, finding_id)},
            reason=note_text,
            apply={"resolution": note_text or f"verified by {by}"},
        )

    def waive(self, finding_id: int, *, reason: str) -> Finding:
        """open/rectifying → waived, with a reason."""
        why = v.optional_text("reason", reason, 4000)
        return self._transition_finding(
            finding_id, "waive", {"reason": why}, reason=why, apply={"resolution": why}
        )

    def thread(self, finding_id: int) -> list[Finding]:
        """Every finding of one problem's thread, from the first period to the latest."""
        fnd = self.finding(finding_id)
        root = fnd.root_id or fnd.id
        q = (
            select(Finding)
            .where((t.finding.c.root_id == root) | (t.finding.c.id == root))
            .order_by(t.finding.c.carry_count, t.finding.c.id)
        )
        return list(self.session.scalars(q))

    def period_of(self, finding: Finding) -> str:
        """The period of the cycle a finding belongs to."""
        return str(
            self.session.scalar(select(t.cycle.c.period).where(t.cycle.c.id == finding.cycle_id))
        )

    # ------------------------------------------------------------------------ trail

    def events(self, *, entity: str | None = None, entity_id: int | None = None) -> list[Event]:
        """The trail, oldest first, optionally for one object."""
        q = select(Event).order_by(t.event.c.id)
        if entity is not None:
            q = q.where(t.event.c.entity == entity)
        if entity_id is not None:
            q = q.where(t.event.c.entity_id == entity_id)
        return list(self.session.scalars(q))
