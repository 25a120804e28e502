"""Post-commit hooks: a host subscribes to what pdca did, and hears of it only once it is
committed.

``store.subscribe("cycle.changed", callback)`` registers ``callback``; it is called with a
:class:`Notification` after the transaction that made the change commits, never before
and never for work that was rolled back. Inside a host's Session that is the host's own
commit: a unit of work that only flushed into the host's transaction notifies nobody
until the host commits, and nothing at all if the host rolls back (or rolls back a
savepoint around pdca's work).

A callback that raises is logged (logger ``pdca.hooks``) and the other callbacks still run:
the change is already committed, so an exception there cannot undo it and is not passed
to the code that made the change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import field, frozen
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from pdca.errors import ValidationError

__all__ = ["HOOK_EVENTS", "Hooks", "Notification", "Subscription"]

log = logging.getLogger("pdca.hooks")

#: What a host can subscribe to.
HOOK_EVENTS: Mapping[str, str] = {
    "cycle.changed": "a cycle moved to another state (data: cycle_id, org, period, "
    "from_state, to_state, event)",
    "score.entered": "a score was entered or changed (data: score_id, cycle_id, org, period, "
    "item, checkpoint, value)",
    "finding.opened": "a finding was recorded (data: finding_id, cycle_id, org, period, "
    "severity, description)",
    "finding.resolved": "a finding's rectification was verified (data: finding_id, cycle_id, "
    "org, period)",
    "rollover.finished": "an annual rollover finished (data: the rollover report's fields)",
}


@frozen
class Notification:
    """One committed change, as handed to a subscriber."""

    name: str
    at: Any  # datetime (UTC)
    actor: str
    data: Mapping[str, Any] = field(factory=dict)


Callback = Callable[[Notification], Any]


@frozen(eq=False)
class Subscription:
    """A registered callback; ``cancel()`` unsubscribes it."""

    hooks: Hooks
    name: str
    callback: Callback

    def cancel(self) -> None:
        self.hooks.unsubscribe(self)


class Hooks:
    """The subscribers of one store and the notifications waiting for a host's commit."""

    def __init__(self) -> None:
        self._subs: dict[str, list[Subscription]] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- subscribing

    def subscribe(self, name: str, callback: Callback) -> Subscription:
        if name not in HOOK_EVENTS:
            raise ValidationError(
                "event", name, f"unknown hook event; one of: {', '.join(HOOK_EVENTS)}"
            )
        if not callable(callback):
            raise ValidationError("callback", callback, "must be callable")
        sub = Subscription(self, name, callback)
        with self._lock:
            self._subs.setdefault(name, []).append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.name, [])
            if sub in subs:
                subs.remove(sub)

    def wants(self, name: str) -> bool:
        """True when someone listens to ``name`` (pdca builds no notification otherwise)."""
        return bool(self._subs.get(name))

    @property
    def active(self) -> bool:
        return any(self._subs.values())

    # ---------------------------------------------------------------- dispatching

    def dispatch(self, notes: Iterable[Notification]) -> None:
        for note in notes:
            for sub in list(self._subs.get(note.name, ())):
                try:
                    sub.callback(note)
                except Exception:
                    log.exception("pdca hook %s raised in %r; ignored", note.name, sub.callback)

    def defer_to_host(self, session: Session, notes: list[Notification]) -> None:
        """Hold ``notes`` until ``session``'s outermost transaction commits."""
        if not notes:
            return
        # One queue per (session, registry), kept in the session's own ``info`` so it lives
        # and dies with the session; its listeners stay attached (and idle when empty).
        key = ("pdca.hooks", id(self))
        queue = session.info.get(key)
        if not isinstance(queue, _HostQueue) or queue.hooks is not self:
            queue = _HostQueue(self, session)
            session.info[key] = queue
        queue.add(notes)


class _HostQueue:
    """Notifications waiting in one host Session, released by its outermost commit.

    Each note keeps the transactions that enclosed it when queued, so a savepoint's
    rollback drops what was queued inside it; the outermost transaction's end dispatches
    (commit) or drops (rollback) the rest.
    """

    def __init__(self, hooks: Hooks, session: Session) -> None:
        self.hooks = hooks
        self.session = session
        self.items: list[tuple[tuple[SessionTransaction, ...], Notification]] = []
        self.committed = False
        event.listen(session, "after_commit", self._after_commit)
        event.listen(session, "after_transaction_end", self._after_end)

    def add(self, notes: list[Notification]) -> None:
        # The transactions enclosing the notes (objects, not ids: ids of ended ones recur).
        chain: list[SessionTransaction] = []
        trans = self.session.get_nested_transaction() or self.session.get_transaction()
        while trans is not None:
            chain.append(trans)
            trans = trans.parent
        enclosing = tuple(chain)
        self.items.extend((enclosing, n) for n in notes)

    def _after_commit(self, session: Session) -> None:
        self.committed = True

    def _after_end(self, session: Session, trans: SessionTransaction) -> None:
        committed, self.committed = self.committed, False
        if trans.nested:
            if not committed:  # a savepoint rolled back: drop what was queued inside it
                self.items = [(c, n) for c, n in self.items if not any(t is trans for t in c)]
            return
        if trans.parent is not None:  # an internal subtransaction
            return
        items, self.items = self.items, []
        if committed and items:
            self.hooks.dispatch(n for _, n in items)
