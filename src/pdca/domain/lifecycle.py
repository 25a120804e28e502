"""Lifecycles of cycles and findings, driven by ``transitions`` without a Machine per row.

One :class:`Lifecycle` (and so one ``transitions.Machine``) exists per kind of object, built
at import time with no model attached. A transition is fired by triggering the machine's
event *with* the object (``machine.events[name].trigger(obj)``), so loading 100,000 cycles
creates no Machine and no per-object callbacks; only the object being transitioned is
touched. ``MachineError`` and failed guards are turned into pdca's own exceptions, and an
exception anywhere inside the transition restores the object's prior state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from attrs import frozen
from transitions import Machine, MachineError

from pdca.errors import GuardFailed, InvalidTransition

from .model import CycleState, FindingState

__all__ = ["CYCLE", "FINDING", "Change", "Guard", "Lifecycle"]


class Stateful(Protocol):
    state: str


#: A guard looks at the object and the context of the call and returns what is missing
#: (an empty list when the transition may go ahead).
Guard = Callable[[Any, Mapping[str, Any]], list[str]]


@frozen
class Change:
    """What a fired transition did."""

    event: str
    from_state: str
    to_state: str


@frozen
class _Spec:
    event: str
    sources: tuple[str, ...]
    dest: str
    guards: tuple[tuple[str, Guard], ...] = ()


class Lifecycle:
    """One state-machine definition, shared by every object of a kind."""

    def __init__(self, name: str, states: Sequence[str], initial: str, specs: Sequence[_Spec]):
        self.name = name
        self.states = tuple(str(s) for s in states)
        self.initial = str(initial)
        # transitions treats Enum members by their *name*; pdca stores plain string values.
        specs = [
            _Spec(s.event, tuple(str(x) for x in s.sources), str(s.dest), s.guards) for s in specs
        ]
        self._specs = {s.event: s for s in specs}
        self.machine = Machine(
            model=None,
            states=list(self.states),
            initial=self.initial,
            transitions=[
                {
                    "trigger": s.event,
                    "source": list(s.sources),
                    "dest": s.dest,
                    "conditions": [self._condition(s)],
                }
                for s in specs
            ],
            auto_transitions=False,
            send_event=True,
            model_attribute="state",
        )

    @staticmethod
    def _condition(spec: _Spec) -> Callable[[Any], bool]:
        def check(event_data: Any) -> bool:
            ctx: dict[str, Any] = event_data.kwargs
            failures: list[tuple[str, list[str]]] = ctx["_failures"]
            for guard_name, guard in spec.guards:
                missing = guard(event_data.model, ctx)
                if missing:
                    failures.append((guard_name, missing))
            return not failures

        return check

    def events_from(self, state: str) -> list[str]:
        """The events the graph allows from ``state``."""
        return [e for e, s in self._specs.items() if state in s.sources]

    def edges(self) -> list[tuple[str, str, str]]:
        """(source, event, destination) for every edge of the graph."""
        return [(src, s.event, s.dest) for s in self._specs.values() for src in s.sources]

    def destination(self, event: str) -> str:
        return self._specs[event].dest

    def fire(
        self, obj: Stateful, event: str, entity: str, context: Mapping[str, Any] | None = None
    ) -> Change:
        """Move ``obj`` along ``event``, or raise and leave it untouched.

        Raises :class:`~pdca.errors.InvalidTransition` when the event does not leave the
        current state and :class:`~pdca.errors.GuardFailed` naming each failed guard and what
        it found missing.
        """
        before = str(obj.state)
        if event not in self._specs or before not in self._specs[event].sources:
            raise InvalidTransition(entity, before, event, self.events_from(before))
        failures: list[tuple[str, list[str]]] = []
        kwargs = dict(context or {})
        kwargs["_failures"] = failures
        try:
            done = self.machine.events[event].trigger(obj, **kwargs)
        except MachineError as exc:  # pragma: no cover - guarded above; kept as a safety net
            obj.state = before
            raise InvalidTransition(entity, before, event, self.events_from(before)) from exc
        except BaseException:
            obj.state = before
            raise
        if not done:
            obj.state = before
            names = ", ".join(name for name, _ in failures)
            missing = [m for _, ms in failures for m in ms]
            raise GuardFailed(entity, before, event, names, missing)
        return Change(event, before, obj.state)


# --------------------------------------------------------------------------- cycle guards


def _plan_complete(cycle: Any, ctx: Mapping[str, Any]) -> list[str]:
    """Approving a plan needs targets, and every target needs a first responsible person
    and a due date."""
    targets = list(cycle.targets)
    if not targets:
        return ["the plan has no targets"]
    missing: list[str] = []
    for t in targets:
        what = []
        if not (t.first_responsible or "").strip():
            what.append("first responsible person (第一责任人)")
        if t.due_on is None:
            what.append("due date")
        if what:
            missing.append(f"target {t.title!r} has no " + " and no ".join(what))
    return missing


def _children_closed(cycle: Any, ctx: Mapping[str, Any]) -> list[str]:
    open_children: Sequence[str] = ctx.get("open_children", ())
    return [f"child cycle {c} is not closed" for c in open_children]


def _reason_given(obj: Any, ctx: Mapping[str, Any]) -> list[str]:
    return [] if (ctx.get("reason") or "").strip() else ["a reason"]


def _next_not_opened(cycle: Any, ctx: Mapping[str, Any]) -> list[str]:
    nxt = ctx.get("next_cycle")
    return [f"the next period's cycle {nxt} is already open"] if nxt else []


def _parent_open(cycle: Any, ctx: Mapping[str, Any]) -> list[str]:
    parent = ctx.get("closed_parent")
    return [f"parent cycle {parent} is closed"] if parent else []


C = CycleState
CYCLE = Lifecycle(
    "cycle",
    [s.value for s in C],
    C.DRAFT,
    [
        _Spec("approve", (C.DRAFT,), C.PLANNED, (("plan_complete", _plan_complete),)),
        _Spec("start", (C.PLANNED,), C.DOING),
        _Spec("check", (C.DOING,), C.CHECKING),
        _Spec("act", (C.CHECKING,), C.ACTING),
        _Spec("close", (C.ACTING,), C.CLOSED, (("children_closed", _children_closed),)),
        _Spec(
            "reopen",
            (C.CLOSED,),
            C.CHECKING,
            (
                ("reason_given", _reason_given),
                ("next_not_opened", _next_not_opened),
                ("parent_open", _parent_open),
            ),
        ),
    ],
)

#: The order a cycle normally goes round, event by event.
CYCLE_ROUND = ("approve", "start", "check", "act", "close")


# ------------------------------------------------------------------------- finding guards


def _rectification_planned(finding: Any, ctx: Mapping[str, Any]) -> list[str]:
    missing = []
    if not (ctx.get("plan") or "").strip():
        missing.append("a rectification plan (整改措施)")
    if not (ctx.get("owner") or "").strip():
        missing.append("a rectification owner")
    return missing


def _verifier_given(finding: Any, ctx: Mapping[str, Any]) -> list[str]:
    return [] if (ctx.get("verified_by") or "").strip() else ["the verifying assessor (验收人)"]


def _rectification_done(finding: Any, ctx: Mapping[str, Any]) -> list[str]:
    """Verifying (验收) a finding with rectification measures needs every one of them done
    (the service passes the ones not done as ``open_measures``). A finding rectified by a
    plan alone is verified on the assessor's word."""
    return [f"rectification measure {m} is not done" for m in ctx.get("open_measures", ())]


F = FindingState
FINDING = Lifecycle(
    "finding",
    [s.value for s in F],
    F.OPEN,
    [
        _Spec(
            "rectify", (F.OPEN,), F.RECTIFYING, (("rectification_planned", _rectification_planned),)
        ),
        _Spec(
            "verify",
            (F.RECTIFYING,),
            F.RESOLVED,
            (("verifier_given", _verifier_given), ("rectification_done", _rectification_done)),
        ),
        _Spec("waive", (F.OPEN, F.RECTIFYING), F.WAIVED, (("reason_given", _reason_given),)),
        _Spec("carry", (F.OPEN, F.RECTIFYING), F.CARRIED),
        _Spec("reopen", (F.CARRIED,), F.OPEN, (("reason_given", _reason_given),)),
    ],
)
