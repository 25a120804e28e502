"""One exception tree for everything pdca raises.

Hosts catch :class:`PdcaError` (or one of its children) and never see the types of the
libraries pdca is built on (``transitions``, SQLAlchemy, alembic). Each child also
subclasses the builtin a Python programmer would expect, so ``except ValueError`` keeps
working around bad input.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConcurrencyConflict",
    "GuardFailed",
    "InvalidTransition",
    "NotFound",
    "PdcaError",
    "PermissionDenied",
    "TransitionRefused",
    "ValidationError",
]


class PdcaError(Exception):
    """Base class of every error pdca raises on purpose."""


class ValidationError(PdcaError, ValueError):
    """Bad input: names the field, the value and the rule it broke."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={value!r}: {rule}")


class NotFound(PdcaError, LookupError):
    """A referenced object (organization, scheme, cycle, finding, ...) does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class TransitionRefused(PdcaError):
    """A lifecycle transition was refused; nothing was written.

    ``entity`` says what was being transitioned (e.g. ``"cycle ZZ-001/2025"``),
    ``state`` its current state and ``event`` the refused event.
    """

    def __init__(self, entity: str, state: str, event: str, message: str) -> None:
        self.entity = entity
        self.state = state
        self.event = event
        super().__init__(message)


class InvalidTransition(TransitionRefused):
    """The event does not leave the current state on the lifecycle graph."""

    def __init__(self, entity: str, state: str, event: str, allowed: Sequence[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none"
        super().__init__(
            entity,
            state,
            event,
            f"{entity}: event {event!r} is not allowed from state {state!r} "
            f"(allowed from {state!r}: {allowed_text})",
        )
        self.allowed = tuple(allowed)


class GuardFailed(TransitionRefused):
    """The event is on the graph but a guard refused it; ``missing`` lists what is missing."""

    def __init__(self, entity: str, state: str, event: str, guard: str, missing: Sequence[str]):
        self.guard = guard
        self.missing = tuple(missing)
        super().__init__(
            entity,
            state,
            event,
            f"{entity}: {event!r} refused by guard {guard!r}: " + "; ".join(missing),
        )


class ConcurrencyConflict(PdcaError):
    """Someone else changed the object since it was loaded; reload and try again."""


class PermissionDenied(PdcaError, PermissionError):
    """The actor may not perform the action on the object; nothing was written.

    ``actor`` is who tried (an :class:`~pdca.domain.actor.Actor`), ``action`` the stable
    name of what they tried (``"cycle.check"``, see :data:`pdca.domain.policy.ACTIONS`),
    ``object`` what it was tried on (``obj`` is the same) and ``reason`` why the policy
    refused. pdca records every denial (``UnitOfWork.denials()``).
    """

    def __init__(self, actor: object, action: str, obj: object, reason: str | None = None):
        self.actor = actor
        self.action = action
        self.object = obj
        self.obj = obj
        self.reason = reason
        super().__init__(f"{actor} may not {action} {obj}" + (f": {reason}" if reason else ""))
