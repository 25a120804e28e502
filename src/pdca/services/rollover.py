"""The annual rollover: close a period for a whole scope and open the next from a new scheme,
carrying every unresolved problem forward. Set-based, batched, idempotent and resumable.

For every organization in the new scheme's scope, in batches of organizations (each batch
one transaction, so a batch is done completely or not at all):

1. findings still unresolved (open or rectifying) in the old period's ``acting`` cycles
   are marked ``carried``;
2. those cycles are closed;
3. the new period's cycles are opened (``draft``) from the new scheme, one target per item;
4. every carried finding of the old cycles continues in the new cycle: an open finding in
   the same thread and a carried target linked to it, with the carry count raised by one.

Every step is an ``INSERT … SELECT`` or ``UPDATE … WHERE`` over the batch, guarded by the
state it moves from or by ``NOT EXISTS`` on the unique keys, so running again does nothing
that was already done: a second run changes nothing, and a run killed halfway is finished
by the next one with nothing duplicated and nothing lost. The same rules as the
per-object path (:meth:`UnitOfWork.close`, :meth:`UnitOfWork.open_cycle`) produce the same
rows; a test holds the two paths to agreement.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pendulum
from attrs import define, field
from sqlalchemy import (
    Connection,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)

from pdca.domain.actor import ROLLOVER, Actor
from pdca.domain.carry import CARRIED_CHECKPOINT, TITLE_MAX
from pdca.domain.model import CycleState, FindingState, TargetOrigin
from pdca.domain.period import Period
from pdca.domain.policy import Resource
from pdca.errors import ConcurrencyConflict, NotFound, ValidationError
from pdca.persistence import tables as t

from . import permissions

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Blocker", "RolloverReport", "rollover"]

#: A run whose heartbeat is older than this is taken to have died and may be taken over.
STALE_AFTER_S = 300
CARRY_PREFIX = "整改："


@define
class Blocker:
    org: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"org": self.org, "reason": self.reason}


@define
class RolloverReport:
    """What a rollover did (or, with ``dry_run``, would do)."""

    scheme: str
    period_from: str
    period_to: str
    dry_run: bool
    organizations: int = 0
    batches: int = 0
    cycles_closed: int = 0
    findings_carried: int = 0
    cycles_opened: int = 0
    scheme_targets: int = 0
    carried_targets: int = 0
    continued_findings: int = 0
    blockers: list[Blocker] = field(factory=list)
    skipped: list[str] = field(factory=list)
    stopped: bool = False
    plan: list[dict[str, Any]] = field(factory=list)

    @property
    def changed(self) -> bool:
        return any(
            (
                self.cycles_closed,
                self.findings_carried,
                self.cycles_opened,
                self.scheme_targets,
                self.carried_targets,
                self.continued_findings,
            )
        )

    def summary(self) -> str:
        if self.stopped:
            return (
                f"stopped: {len(self.blockers)} blocker(s); nothing was written "
                "(use --skip-blocked or --carry-unverified to decide how to treat them)"
            )
        verb = "would" if self.dry_run else "did"
        if not self.changed:
            return "nothing to do: the rollover is already complete"
        return (
            f"{verb} close {self.cycles_closed} cycles, carry {self.findings_carried} "
            f"findings, open {self.cycles_opened} cycles with {self.scheme_targets} scheme "
            f"targets and {self.carried_targets} carried targets"
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scheme": self.scheme,
            "period_from": self.period_from,
            "period_to": self.period_to,
            "dry_run": self.dry_run,
            "organizations": self.organizations,
            "batches": self.batches,
            "cycles_closed": self.cycles_closed,
            "findings_carried": self.findings_carried,
            "cycles_opened": self.cycles_opened,
            "scheme_targets": self.scheme_targets,
            "carried_targets": self.carried_targets,
            "continued_findings": self.continued_findings,
            "changed": self.changed,
            "stopped": self.stopped,
            "blockers": [b.as_dict() for b in self.blockers],
            "skipped": self.skipped,
            "summary": self.summary(),
        }
        if self.dry_run:
            out["plan"] = self.plan
        return out


# --------------------------------------------------------------------------- queries


def _scope_count(conn: Connection, scheme_id: int) -> int:
    s = t.scheme_scope
    return int(
        conn.scalar(select(func.count()).select_from(s).where(s.c.scheme_id == scheme_id)) or 0
    )


def _scope_batches(
    engine: Any, scheme_id: int, blocked: set[int], size: int
) -> Iterator[list[int]]:
    """The scope's organization ids in id order, blocked ones left out, ``size`` at a
    time; read a page at a time, so only one batch is ever held."""
    s = t.scheme_scope
    after = 0
    batch: list[int] = []
    while True:
        with engine.connect() as conn:
            page = [
                int(x)
                for x in conn.scalars(
                    select(s.c.org_id)
                    .where(s.c.scheme_id == scheme_id, s.c.org_id > after)
                    .order_by(s.c.org_id)
                    .limit(size)
                ).all()
            ]
            conn.rollback()
        if not page:
            break
        after = page[-1]
        for oid in page:
            if oid not in blocked:
                batch.append(oid)
                if len(batch) == size:
                    yield batch
                    batch = []
    if batch:
        yield batch


def _blockers(
    conn: Connection, scheme_id: int, p_from: str, carry_unverified: bool
) -> list[tuple[int, Blocker]]:
    """Organizations whose old cycle cannot be closed as things stand."""
    c = t.cycle
    o = t.organization
    s = t.scheme_scope
    f = t.finding
    out: list[tuple[int, Blocker]] = []
    not_ready = conn.execute(
        select(o.c.id, o.c.code, c.c.state)
        .join(c, c.c.org_id == o.c.id)
        .join(s, and_(s.c.org_id == o.c.id, s.c.scheme_id == scheme_id))
        .where(
            c.c.period == p_from,
            c.c.state.not_in([CycleState.ACTING.value, CycleState.CLOSED.value]),
        )
        .order_by(o.c.id)
    ).all()
    for oid, code, state in not_ready:
        out.append((oid, Blocker(code, f"cycle {code}/{p_from} is still {state}, not yet acting")))
    child = c.alias("child")
    children = conn.execute(
        select(o.c.id, o.c.code, child.c.period, child.c.state)
        .join(c, c.c.org_id == o.c.id)
        .join(s, and_(s.c.org_id == o.c.id, s.c.scheme_id == scheme_id))
        .join(child, child.c.parent_id == c.c.id)
        .where(c.c.period == p_from, c.c.state == CycleState.ACTING.value)
        .where(child.c.state != CycleState.CLOSED.value)
        .order_by(o.c.id, child.c.period)
    ).all()
    for oid, code, period, state in children:
        out.append((oid, Blocker(code, f"child cycle {code}/{period} is still {state}")))
    if not carry_unverified:
        # Awaiting verification: every rectification measure done, but not verified.
        r = t.rectification
        undone = r.alias("undone")
        pending = conn.execute(
            select(o.c.id, o.c.code, f.c.id)
            .join(c, c.c.org_id == o.c.id)
            .join(s, and_(s.c.org_id == o.c.id, s.c.scheme_id == scheme_id))
            .join(f, f.c.cycle_id == c.c.id)
            .where(
                c.c.period == p_from,
                c.c.state == CycleState.ACTING.value,
                f.c.state == FindingState.RECTIFYING.value,
                exists(select(r.c.id).where(r.c.finding_id == f.c.id)),
                ~exists(
                    select(undone.c.id).where(
                        undone.c.finding_id == f.c.id, undone.c.status != "done"
                    )
                ),
            )
            .order_by(o.c.id, f.c.id)
        ).all()
        for oid, code, fid in pending:
            out.append(
                (
                    oid,
                    Blocker(
                        code,
                        f"finding #{fid} has every rectification measure done but is not "
                        "verified: verify it, or carry it with --carry-unverified",
                    ),
                )
            )
    return out


# ---------------------------------------------------------------------------- batch


class _Batch:
    """The statements of one batch of organizations (ids in ``ids``)."""

    def __init__(
        self,
        conn: Connection,
        *,
        scheme_id: int,
        p_from: Period,
        p_to: Period,
        ids: Sequence[int],
        excluded: Sequence[int] = (),
        now: pendulum.DateTime,
        actor: Actor,
        carry_unverified: bool,
    ) -> None:
        # SQLAlchemy keeps an INSERT … SELECT's row count only when asked to.
        self.conn = conn.execution_options(preserve_rowcount=True)
        self.scheme_id = scheme_id
        self.p_from = p_from
        self.p_to = p_to
        self.ids = list(ids)
        # The batch is bound as an id range of the scope (ids are in id order), not as a
        # list of every id: a few parameters per statement instead of thousands, and plans
        # that look up only the batch's rows whatever earlier batches wrote.
        self.lo = min(self.ids) if self.ids else 0
        self.hi = max(self.ids) if self.ids else -1
        self.excluded = [i for i in excluded if self.lo <= i <= self.hi]
        self.now = now
        self.actor = actor
        # Unresolved findings, as a cycle's close carries them.
        self.carry_states = [FindingState.OPEN.value, FindingState.RECTIFYING.value]

    def _in_batch(self, col: Any) -> Any:
        """``col`` (an organization id) is one of the batch's organizations."""
        s = t.scheme_scope
        cond = and_(
            col.between(self.lo, self.hi),
            col.in_(
                select(s.c.org_id).where(
                    s.c.scheme_id == self.scheme_id, s.c.org_id.between(self.lo, self.hi)
                )
            ),
        )
        if self.excluded:
            cond = and_(cond, col.not_in(self.excluded))
        return cond

    def _head(self, entity: str) -> list[Any]:
        """The first columns of an event row: when, who, what kind of object."""
        e = t.event
        return [
            literal(self.now, e.c.at.type).label("at"),
            literal(self.actor.name).label("actor"),
            literal(self.actor.org, e.c.actor_org.type).label("actor_org"),
            literal(self.actor.role, e.c.actor_role.type).label("actor_role"),
            literal(entity).label("entity"),
        ]

    def _insert_logged(
        self,
        ins: Any,
        table: Any,
        entity: str,
        action: str,
        from_state: str | None,
        to_state: str | None,
    ) -> int:
        """Run ``ins`` (an ``INSERT … SELECT``) and log an event for exactly the rows it
        inserted, so that no statement scans or probes what earlier batches wrote.

        PostgreSQL: one statement, the insert in a data-modifying CTE whose ``RETURNING``
        feeds the event insert. SQLite (one writer at a time, so the rows of one insert
        have consecutive ids): the event insert selects the id range returned."""
        e = t.event
        cols = [
            literal(from_state, e.c.from_state.type).label("from_state"),
            literal(to_state, e.c.to_state.type).label("to_state"),
            literal(None, e.c.reason.type).label("reason"),
        ]
        if self.conn.dialect.name == "postgresql":
            new = ins.returning(table.c.id).cte(f"new_{entity}")
            return self._log_select(
                select(
                    *self._head(entity),
                    new.c.id.label("entity_id"),
                    literal(action).label("action"),
                    *cols,
                ).order_by(new.c.id)
            )
        ids = [int(x) for x in self.conn.scalars(ins.returning(table.c.id)).all()]
        if not ids:
            return 0
        self._log_select(
            select(
                *self._head(entity),
                table.c.id.label("entity_id"),
                literal(action).label("action"),
                *cols,
            )
            .where(table.c.id.between(min(ids), max(ids)))
            .order_by(table.c.id)
        )
        return len(ids)

    def _log_select(self, q: Any) -> int:
        cols = [
            "at",
            "actor",
            "actor_org",
            "actor_role",
            "entity",
            "entity_id",
            "action",
            "from_state",
            "to_state",
            "reason",
        ]
        return int(self.conn.execute(insert(t.event).from_select(cols, q)).rowcount or 0)

    # -- 1. carry the old cycles' unresolved findings
    def carry_findings(self, dry: bool) -> int:
        f, c = t.finding, t.cycle
        where = and_(
            f.c.cycle_id == c.c.id,
            c.c.period == str(self.p_from),
            c.c.state == CycleState.ACTING.value,
            self._in_batch(c.c.org_id),
            f.c.state.in_(self.carry_states),
            ~self._open_children(c),
        )
        if dry:
            return int(
                self.conn.scalar(
                    select(func.count()).select_from(f).join(c, f.c.cycle_id == c.c.id).where(where)
                )
                or 0
            )
        q = (
            select(
                *self._head("finding"),
                f.c.id.label("entity_id"),
                literal("carry").label("action"),
                f.c.state.label("from_state"),
                literal(FindingState.CARRIED.value).label("to_state"),
                literal(f"cycle closed by rollover to {self.p_to}").label("reason"),
            )
            .select_from(f.join(c, f.c.cycle_id == c.c.id))
            .where(where)
        )
        self._log_select(q)
        res = self.conn.execute(
            update(f)
            .where(
                f.c.cycle_id.in_(
                    select(c.c.id).where(
                        c.c.period == str(self.p_from),
                        c.c.state == CycleState.ACTING.value,
                        self._in_batch(c.c.org_id),
                        ~self._open_children(c),
                    )
                ),
                f.c.state.in_(self.carry_states),
            )
            .values(state=FindingState.CARRIED.value, version=f.c.version + 1)
        )
        return int(res.rowcount or 0)

    @staticmethod
    def _open_children(c: Any) -> Any:
        child = t.cycle.alias("open_child")
        return exists(
            select(child.c.id).where(
                child.c.parent_id == c.c.id, child.c.state != CycleState.CLOSED.value
            )
        )

    # -- 2. close the old cycles
    def close_cycles(self, dry: bool) -> int:
        c = t.cycle
        where = and_(
            c.c.period == str(self.p_from),
            c.c.state == CycleState.ACTING.value,
            self._in_batch(c.c.org_id),
            ~self._open_children(c),
        )
        if dry:
            return int(self.conn.scalar(select(func.count()).select_from(c).where(where)) or 0)
        q = select(
            *self._head("cycle"),
            c.c.id.label("entity_id"),
            literal("close").label("action"),
            literal(CycleState.ACTING.value).label("from_state"),
            literal(CycleState.CLOSED.value).label("to_state"),
            literal(f"rollover to {self.p_to}").label("reason"),
        ).where(where)
        self._log_select(q)
        res = self.conn.execute(
            update(c)
            .where(where)
            .values(state=CycleState.CLOSED.value, closed_at=self.now, version=c.c.version + 1)
        )
        return int(res.rowcount or 0)

    def _openable(self) -> Any:
        """Organizations of the batch in scope that have no new cycle yet and whose old
        cycle, if any, is closed."""
        s, c = t.scheme_scope, t.cycle
        new = c.alias("new")
        old = c.alias("old")
        return (
            select(s.c.org_id)
            .where(
                s.c.scheme_id == self.scheme_id,
                s.c.org_id.between(self.lo, self.hi),
                *([s.c.org_id.not_in(self.excluded)] if self.excluded else []),
            )
            .where(
                ~exists(
                    select(new.c.id).where(
                        new.c.org_id == s.c.org_id, new.c.period == str(self.p_to)
                    )
                )
            )
            .where(
                ~exists(
                    select(old.c.id).where(
                        old.c.org_id == s.c.org_id,
                        old.c.period == str(self.p_from),
                        old.c.state != CycleState.CLOSED.value,
                    )
                )
            )
        )

    # -- 3. open the new cycles with the scheme's targets
    def open_cycles(self, dry: bool) -> tuple[int, int]:
        c = t.cycle
        items = int(
            self.conn.scalar(
                select(func.count()).select_from(t.item).where(t.item.c.scheme_id == self.scheme_id)
            )
            or 0
        )
        if dry:
            # Old cycles closed by this batch become openable too.
            n = int(
                self.conn.scalar(select(func.count()).select_from(self._openable().subquery())) or 0
            )
            n += self._would_unblock()
            return n, n * items
        new = sorted(
            int(x)
            for x in self.conn.scalars(
                insert(c)
                .from_select(
                    ["org_id", "period", "scheme_id", "parent_id", "state", "opened_at", "version"],
                    self._openable()
                    .with_only_columns(
                        t.scheme_scope.c.org_id,
                        literal(str(self.p_to), c.c.period.type),
                        literal(self.scheme_id, c.c.scheme_id.type),
                        literal(None, c.c.parent_id.type),
                        literal(CycleState.DRAFT.value, c.c.state.type),
                        literal(self.now, c.c.opened_at.type),
                        literal(1),
                    )
                    .order_by(t.scheme_scope.c.org_id),
                )
                .returning(c.c.id)
            ).all()
        )
        if not new:
            return 0, 0
        # The cycles just opened: in the id range of those returned, of the new period and
        # the batch (each organization has one cycle per period: these are the new ones).
        new_ids = select(c.c.id).where(
            c.c.id.between(new[0], new[-1]),
            c.c.period == str(self.p_to),
            self._in_batch(c.c.org_id),
        )
        self._log_select(
            select(
                *self._head("cycle"),
                c.c.id.label("entity_id"),
                literal("open").label("action"),
                literal("").label("from_state"),
                literal(CycleState.DRAFT.value).label("to_state"),
                literal(f"rollover from {self.p_from}", t.event.c.reason.type).label("reason"),
            )
            .where(c.c.id.in_(new_ids))
            .order_by(c.c.id)
        )
        i, cat = t.item, t.scheme_category
        q = (
            select(
                c.c.id,
                i.c.title,
                literal(TargetOrigin.SCHEME.value),
                i.c.code,
                i.c.id,
                literal(self.p_to.end, t.target.c.due_on.type),
                literal(0),
            )
            .select_from(
                c.join(i, i.c.scheme_id == c.c.scheme_id).join(cat, cat.c.id == i.c.category_id)
            )
            .where(c.c.id.in_(new_ids))
            .order_by(c.c.id, cat.c.position, i.c.position)
        )
        res = self.conn.execute(
            insert(t.target).from_select(
                ["cycle_id", "title", "origin", "item_code", "item_id", "due_on", "carry_count"], q
            )
        )
        return len(new), int(res.rowcount or 0)

    def _would_unblock(self) -> int:
        """(dry run) acting old cycles of the batch that would close, with no new cycle yet."""
        c = t.cycle
        new = c.alias("new2")
        return int(
            self.conn.scalar(
                select(func.count())
                .select_from(c)
                .join(
                    t.scheme_scope,
                    and_(
                        t.scheme_scope.c.org_id == c.c.org_id,
                        t.scheme_scope.c.scheme_id == self.scheme_id,
                    ),
                )
                .where(
                    c.c.period == str(self.p_from),
                    c.c.state == CycleState.ACTING.value,
                    self._in_batch(c.c.org_id),
                    ~self._open_children(c),
                    ~exists(
                        select(new.c.id).where(
                            new.c.org_id == c.c.org_id, new.c.period == str(self.p_to)
                        )
                    ),
                )
            )
            or 0
        )

    # -- 4. continue the carried findings in the new cycles
    def _carried_source(self, dry: bool) -> tuple[Any, Any, Any, Any]:
        f, oc = t.finding, t.cycle.alias("oc")
        nc = t.cycle.alias("nc")
        base = f.join(oc, oc.c.id == f.c.cycle_id).join(
            nc, and_(nc.c.org_id == oc.c.org_id, nc.c.period == str(self.p_to))
        )
        states = [FindingState.CARRIED.value]
        if dry:  # not yet carried: what the batch would carry
            states += self.carry_states
        where = and_(
            oc.c.period == str(self.p_from),
            self._in_batch(oc.c.org_id),
            f.c.state.in_(states),
        )
        return base, where, f, nc

    def continue_findings(self, dry: bool) -> tuple[int, int]:
        f = t.finding
        if dry:
            oc = t.cycle.alias("oc")
            later = t.finding.alias("later")
            n = int(
                self.conn.scalar(
                    select(func.count())
                    .select_from(f.join(oc, oc.c.id == f.c.cycle_id))
                    .where(
                        oc.c.period == str(self.p_from),
                        self._in_batch(oc.c.org_id),
                        f.c.state.in_([FindingState.CARRIED.value, *self.carry_states]),
                        ~exists(select(later.c.id).where(later.c.previous_id == f.c.id)),
                    )
                )
                or 0
            )
            return n, n
        base, where, f, nc = self._carried_source(False)
        x = t.finding.alias("x")
        not_continued = ~exists(select(x.c.id).where(x.c.previous_id == f.c.id))
        period_start = literal(self.p_to.start, f.c.found_on.type)
        cont = (
            select(
                nc.c.id,
                f.c.item_code,
                f.c.description,
                literal(CARRIED_CHECKPOINT),
                f.c.severity,
                f.c.source,
                period_start,
                literal(FindingState.OPEN.value),
                f.c.rectification_owner,
                func.coalesce(f.c.root_id, f.c.id),
                f.c.id,
                f.c.carry_count + 1,
                literal(1),
            )
            .select_from(base)
            .where(where, not_continued)
            .order_by(nc.c.id, f.c.id)
        )
        continued = self._insert_logged(
            insert(f).from_select(
                [
                    "cycle_id",
                    "item_code",
                    "description",
                    "checkpoint",
                    "severity",
                    "source",
                    "found_on",
                    "state",
                    "rectification_owner",
                    "root_id",
                    "previous_id",
                    "carry_count",
                    "version",
                ],
                cont,
            ),
            f,
            "finding",
            "carry-in",
            "",
            FindingState.OPEN.value,
        )
        # Carried targets, one per carried finding.
        tg = t.target
        root = t.finding.alias("root")
        rc = t.cycle.alias("rc")
        ni = t.item.alias("ni")
        title = literal(CARRY_PREFIX) + f.c.description
        title_expr = case(
            (func.length(title) > TITLE_MAX, func.substr(title, 1, TITLE_MAX - 1) + "…"),
            else_=title,
        )
        due = case(
            (
                and_(
                    f.c.deadline.is_not(None),
                    f.c.deadline >= literal(self.p_to.start, f.c.deadline.type),
                ),
                f.c.deadline,
            ),
            else_=literal(self.p_to.end, f.c.deadline.type),
        )
        has_target = exists(select(tg.c.id).where(tg.c.carried_from_id == f.c.id))
        tq = (
            select(
                nc.c.id,
                title_expr,
                literal(TargetOrigin.CARRIED.value),
                f.c.item_code,
                ni.c.id,
                due,
                f.c.rectification_owner,
                f.c.id,
                rc.c.period,
                f.c.carry_count + 1,
            )
            .select_from(
                base.join(root, root.c.id == func.coalesce(f.c.root_id, f.c.id))
                .join(rc, rc.c.id == root.c.cycle_id)
                .outerjoin(ni, and_(ni.c.scheme_id == nc.c.scheme_id, ni.c.code == f.c.item_code))
            )
            .where(where, ~has_target)
            .order_by(nc.c.id, f.c.id)
        )
        targets = self._insert_logged(
            insert(tg).from_select(
                [
                    "cycle_id",
                    "title",
                    "origin",
                    "item_code",
                    "item_id",
                    "due_on",
                    "direct_responsible",
                    "carried_from_id",
                    "origin_period",
                    "carry_count",
                ],
                tq,
            ),
            tg,
            "target",
            "carry-in",
            None,
            None,
        )
        return continued, targets


# ----------------------------------------------------------------------------- run


def rollover(
    store: Store,
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
    """Roll every organization in ``scheme``'s scope from ``period_from`` to ``period_to``.

    Stops before writing anything when an organization is blocked (its old cycle is not
    yet acting, a child cycle is open, or a finding awaits verification: every
    rectification measure done but not verified), unless ``skip_blocked`` (roll the
    others, leave the blocked ones for a later run) or ``carry_unverified`` (carry findings
    awaiting verification as unresolved) says how to treat them.
    ``dry_run`` computes exactly what would happen and writes nothing. ``progress`` is
    called with (organizations done, organizations in scope) after each batch.
    """
    who = Actor.of(actor)
    permissions.authorize(store, who, "rollover.run", Resource("rollover", f"rollover {scheme}"))
    p_from = Period.parse(period_from, "period_from")
    p_to = Period.parse(period_to, "period_to")
    if p_to.kind != p_from.kind or not p_from.start < p_to.start:
        raise ValidationError(
            "period_to", str(p_to), f"must be a later period of the same kind as {p_from}"
        )
    if batch_size < 1:
        raise ValidationError("batch_size", batch_size, "must be at least 1")
    report = RolloverReport(scheme, str(p_from), str(p_to), dry_run)
    engine = store.engine
    with engine.connect() as conn:
        row = conn.execute(
            select(t.scheme.c.id, t.scheme.c.period).where(t.scheme.c.code == scheme)
        ).first()
        if row is None:
            raise NotFound("scheme", scheme)
        scheme_id, scheme_period = int(row[0]), str(row[1])
        if Period.parse(scheme_period) != p_to:
            raise ValidationError(
                "scheme", scheme, f"is for {scheme_period}, not for the new period {p_to}"
            )
        in_scope = _scope_count(conn, scheme_id)
        blockers = _blockers(conn, scheme_id, str(p_from), carry_unverified)
        conn.rollback()
    report.organizations = in_scope
    report.blockers = [b for _, b in blockers]
    blocked_ids = {oid for oid, _ in blockers}
    if blockers and not skip_blocked:
        report.stopped = True
        return report
    report.skipped = sorted({b.org for _, b in blockers})
    total = in_scope - len(blocked_ids)
    run_id = None if dry_run else _start_run(store, scheme, report, who)
    done = 0
    try:
        # The scope is read a batch at a time (keyset pagination): memory does not grow
        # with the number of organizations.
        for batch_ids in _scope_batches(engine, scheme_id, blocked_ids, batch_size):
            now = store.clock.now()
            with engine.begin() as conn:
                batch = _Batch(
                    conn,
                    scheme_id=scheme_id,
                    p_from=p_from,
                    p_to=p_to,
                    ids=batch_ids,
                    excluded=sorted(blocked_ids),
                    now=now,
                    actor=who,
                    carry_unverified=carry_unverified,
                )
                if dry_run:
                    report.plan.extend(_plan(conn, batch))
                carried = batch.carry_findings(dry_run)
                closed = batch.close_cycles(dry_run)
                opened, scheme_targets = batch.open_cycles(dry_run)
                continued, carried_targets = batch.continue_findings(dry_run)
                if run_id is not None:
                    conn.execute(
                        update(t.rollover_run)
                        .where(t.rollover_run.c.id == run_id)
                        .values(heartbeat_at=now)
                    )
                if dry_run:
                    conn.rollback()
            report.findings_carried += carried
            report.cycles_closed += closed
            report.cycles_opened += opened
            report.scheme_targets += scheme_targets
            report.continued_findings += continued
            report.carried_targets += carried_targets
            report.batches += 1
            if report.batches == 1 and not dry_run and engine.dialect.name == "postgresql":
                _analyze(engine)
            done += len(batch_ids)
            if progress is not None:
                progress(done, total)
            if after_batch is not None:
                after_batch(report.batches)
    finally:
        if run_id is not None:
            _finish_run(store, run_id, report)
    return report


def _analyze(engine: Any) -> None:
    """Fresh planner statistics once the first batch is in: until autovacuum gets there,
    PostgreSQL believes the new period is empty and may plan the later batches' joins as
    nested loops over everything written so far. Sampled, so cheap; skipped (with a
    warning from the server) where the connecting role does not own the tables."""
    quote = engine.dialect.identifier_preparer.format_table
    names = ", ".join(quote(x) for x in (t.cycle, t.finding, t.target))
    with engine.connect() as conn:
        conn.execute(text(f"ANALYZE {names}"))
        conn.commit()


def _plan(conn: Connection, batch: _Batch) -> list[dict[str, Any]]:
    """Per organization: what a dry run would do."""
    c, f = t.cycle, t.finding
    og = t.organization
    codes = {
        int(i): str(code)
        for i, code in conn.execute(
            select(og.c.id, og.c.code).where(og.c.id.between(batch.lo, batch.hi))
        ).all()
    }
    old = {
        int(org_id): (int(cid), str(state))
        for org_id, cid, state in conn.execute(
            select(c.c.org_id, c.c.id, c.c.state).where(
                c.c.period == str(batch.p_from), c.c.org_id.in_(batch.ids)
            )
        ).all()
    }
    new = set(
        int(x)
        for x in conn.scalars(
            select(c.c.org_id).where(c.c.period == str(batch.p_to), c.c.org_id.in_(batch.ids))
        ).all()
    )
    carry: dict[int, list[int]] = {}
    x = t.finding.alias("x")
    for org_id, fid in conn.execute(
        select(c.c.org_id, f.c.id)
        .join(c, c.c.id == f.c.cycle_id)
        .where(
            c.c.period == str(batch.p_from),
            c.c.org_id.in_(batch.ids),
            f.c.state.in_([FindingState.CARRIED.value, *batch.carry_states]),
            ~exists(select(x.c.id).where(x.c.previous_id == f.c.id)),
        )
        .order_by(f.c.id)
    ).all():
        carry.setdefault(int(org_id), []).append(int(fid))
    out = []
    for oid in batch.ids:
        o = old.get(oid)
        entry = {
            "org": codes.get(oid, str(oid)),
            "close": o is not None and o[1] == CycleState.ACTING.value,
            "open": oid not in new,
            "carry": carry.get(oid, []),
        }
        if entry["close"] or entry["open"] or entry["carry"]:
            out.append(entry)
    return out


def _start_run(store: Store, scheme: str, report: RolloverReport, actor: Actor) -> int:
    r = t.rollover_run
    now = store.clock.now()
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two runs starting at once must not both find no running run and both go on:
            # the second waits here for the first to register (SQLite: BEGIN IMMEDIATE).
            table = conn.dialect.identifier_preparer.format_table(r)
            conn.exec_driver_sql(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        running = conn.execute(
            select(r.c.id, r.c.heartbeat_at, r.c.stats).where(
                r.c.scheme_code == scheme,
                r.c.period_from == report.period_from,
                r.c.period_to == report.period_to,
                r.c.state == "running",
            )
        ).all()
        for rid, beat, owner in running:
            fresh = beat is not None and (now - beat).in_seconds() < STALE_AFTER_S
            if fresh and _alive(owner):
                raise ConcurrencyConflict(
                    f"a rollover {report.period_from} → {report.period_to} with scheme "
                    f"{scheme} is already in progress (run #{rid}); try again when it is done"
                )
            conn.execute(update(r).where(r.c.id == rid).values(state="abandoned"))
        res = conn.execute(
            insert(r).values(
                scheme_code=scheme,
                period_from=report.period_from,
                period_to=report.period_to,
                state="running",
                started_at=now,
                heartbeat_at=now,
                actor=actor.name,
                stats={"pid": os.getpid(), "host": socket.gethostname()},
            )
        )
        pk = res.inserted_primary_key
        assert pk is not None
        return int(pk[0])


def _alive(owner: Any) -> bool:
    """Whether the process that started a run still lives (known only on this host)."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return True  # another machine: trust its heartbeat
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _finish_run(store: Store, run_id: int, report: RolloverReport) -> None:
    r = t.rollover_run
    with store.engine.begin() as conn:
        conn.execute(
            update(r)
            .where(r.c.id == run_id)
            .values(
                state="done",
                finished_at=store.clock.now(),
                stats={k: v for k, v in report.as_dict().items() if isinstance(v, int | bool)},
            )
        )
