"""Recording and reading denials: every change the permission policy refused.

A denied use case raises :class:`~pdca.errors.PermissionDenied` before it writes anything;
the unit of work it ran in remembers the denial and, once the unit of work has ended
(rolled back when the error left its ``with`` block), writes it to ``pdca_denial``:

* on a store opened from a URL or an Engine, in a short transaction of its own, so the
  record stays whatever became of the unit of work;
* on a store opened on a host's Session, into the host's session (inside a savepoint),
  after pdca's savepoint was rolled back: the host's commit decides, like every pdca
  write there. A host that rolls its request back on the error loses the record with it.

A failure to write the record (say, a database not migrated to revision 0004) is logged on
the ``pdca`` logger and never hides the PermissionDenied itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from pdca.domain.actor import Actor
from pdca.domain.policy import Denial, Resource
from pdca.errors import PermissionDenied
from pdca.persistence import tables as t

if TYPE_CHECKING:
    from .store import Store

__all__ = ["authorize", "denial_row", "denials", "record_denials"]

log = logging.getLogger("pdca")


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def denial_row(at: Any, actor: Actor, action: str, obj: Resource, reason: str) -> dict[str, Any]:
    """The ``pdca_denial`` row of one refusal."""
    return {
        "at": at,
        "actor": _cut(actor.name, 100),
        "actor_org": _cut(actor.org, 64) if actor.org else None,
        "actor_role": _cut(actor.role, 32) if actor.role else None,
        "action": _cut(action, 32),
        "object": _cut(obj.label, 400),
        "object_org": _cut(obj.org, 64) if obj.org else None,
        "reason": reason,
    }


def record_denials(store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write denial rows: in their own transaction, or into the host's session."""
    if not rows:
        return
    try:
        host = store.host_session
        if host is not None:
            with host.begin_nested():
                host.execute(insert(t.denial), [dict(r) for r in rows])
        else:
            with store.engine.begin() as conn:
                conn.execute(insert(t.denial), [dict(r) for r in rows])
    except SQLAlchemyError:
        log.exception("pdca could not record %d permission denial(s): %s", len(rows), rows)


def authorize(store: Store, actor: Actor, action: str, obj: Resource) -> None:
    """Check an action done outside a unit of work (the rollover): a refusal is recorded
    at once, in its own transaction, and raises :class:`~pdca.errors.PermissionDenied`."""
    reason = store.policy.check(actor, action, obj)
    if reason is None:
        return
    record_denials(store, [denial_row(store.clock.now(), actor, action, obj, reason)])
    raise PermissionDenied(actor, action, obj, reason)


def denials(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    org: str | None = None,
    limit: int | None = None,
) -> list[Denial]:
    """Recorded denials, oldest first, filtered by the actor's name, the action and the
    organization of the object; ``limit`` keeps the latest ones."""
    d = t.denial
    q = select(d)
    if actor is not None:
        q = q.where(d.c.actor == actor)
    if action is not None:
        q = q.where(d.c.action == action)
    if org is not None:
        q = q.where(d.c.object_org == org)
    if limit is not None:
        q = q.order_by(d.c.id.desc()).limit(limit)
    rows = sorted(session.execute(q).mappings().all(), key=lambda r: int(r["id"]))
    return [
        Denial(
            id=int(r["id"]),
            at=r["at"],
            actor=r["actor"],
            actor_org=r["actor_org"],
            actor_role=r["actor_role"],
            action=r["action"],
            object=r["object"],
            object_org=r["object_org"],
            reason=r["reason"],
        )
        for r in rows
    ]
