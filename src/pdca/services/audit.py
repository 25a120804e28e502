"""Checking the event trail against the state it describes (``pdca audit verify``).

Every change pdca makes appends an event; :func:`verify_trail` reads the trail back and
checks that it still tells the story of the rows it describes:

* **lifecycle paths** — for every cycle, finding and appeal, its state-changing events
  (oldest first) start with its creation (``"" → initial state``), each event is an edge
  of the lifecycle graph (``from_state --action--> to_state``), each starts where the one
  before ended, and the last ends in the row's current state;
* **versions** — a cycle's or an appeal's ``version`` column counts its state-changing
  events exactly; a finding's is at least that count (setting its thread root after the
  insert is a second write);
* **order** — one object's events never go back in time (and, when ``max_skew`` is given,
  no event is more than ``max_skew`` older than one written before it, across the whole
  trail: off by default, as concurrent transactions take their timestamps before their
  ids, and data entered for past dates legitimately goes back);
* **references** — no event names an object that does not exist;
* **chain** — where the trail is hash-chained (:mod:`pdca.persistence.trail`), every
  event matches its hash and its predecessor and the sequence has no gaps.

A deleted event breaks a path (or leaves a count short of the version); an edited state
breaks a path or the last state; an edited time shows in the order. Each check is a
function over one database connection yielding :class:`AuditProblem`; :data:`CHECKS`
lists them, so a later check (a hash chain over the events) is one more function.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from attrs import field, frozen
from sqlalchemy import Connection, Table, exists, func, select, type_coerce

from pdca.domain.lifecycle import CYCLE, FINDING, Lifecycle
from pdca.persistence import tables as t
from pdca.persistence.types import UTCDateTime

if TYPE_CHECKING:
    from .store import Store

__all__ = ["CHECKS", "AuditProblem", "AuditReport", "verify_trail"]

#: How many problems a report lists (the rest are counted).
MAX_PROBLEMS = 1000


@frozen
class AuditProblem:
    """One thing the trail gets wrong: which check, which event or object, and what."""

    check: str
    message: str
    entity: str | None = None
    entity_id: int | None = None
    event_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "event_id": self.event_id,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = []
        if self.entity is not None:
            where.append(f"{self.entity} #{self.entity_id}")
        if self.event_id is not None:
            where.append(f"event #{self.event_id}")
        return (", ".join(where) + ": " if where else "") + self.message


@frozen
class AuditReport:
    """What :func:`verify_trail` found."""

    events: int
    entities: int
    checks: tuple[str, ...]
    problems: tuple[AuditProblem, ...] = field(default=())
    more: int = 0  # problems found beyond those listed
    #: The hash chain's newest event ``(seq, hash)``: record it outside the database and
    #: pass it back as ``anchor`` to catch a deletion of the newest events.
    head: tuple[int, str] | None = None

    @property
    def intact(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "events": self.events,
            "entities": self.entities,
            "checks": list(self.checks),
            "problems": [p.as_dict() for p in self.problems],
            "more": self.more,
            "head": None if self.head is None else {"seq": self.head[0], "hash": self.head[1]},
        }


def _appeal_lifecycle() -> Lifecycle:
    from .act import APPEAL

    return APPEAL


#: The objects with a lifecycle: event entity name → (table, lifecycle, version rule).
#: ``"exact"``: the version counts the state-changing events; ``"at_least"``: it may be
#: higher (other writes bump it too).
def _stateful() -> list[tuple[str, Table, Lifecycle, str]]:
    return [
        ("cycle", t.cycle, CYCLE, "exact"),
        ("finding", t.finding, FINDING, "at_least"),
        ("appeal", t.appeal, _appeal_lifecycle(), "exact"),
    ]


#: Event entity name → the table of the objects it names.
ENTITY_TABLES: dict[str, Table] = {
    "organization": t.organization,
    "scheme": t.scheme,
    "checkpoint": t.checkpoint,
    "cycle": t.cycle,
    "target": t.target,
    "measure": t.measure,
    "record": t.record,
    "finding": t.finding,
    "score": t.score,
    "rectification": t.rectification,
    "appeal": t.appeal,
    "publication": t.publication,
    "key_content": t.key_content,
}


def check_paths(conn: Connection, stats: dict[str, int]) -> Iterator[AuditProblem]:
    """Each object's state-changing events form a path on its lifecycle graph ending in
    its current state, and agree with its version."""
    e = t.event
    for entity, table, life, version_rule in _stateful():
        edges = set(life.edges())
        current = {
            int(i): (str(s), int(v))
            for i, s, v in conn.execute(select(table.c.id, table.c.state, table.c.version))
        }
        stats["entities"] += len(current)
        seen: set[int] = set()

        def finish(
            oid: int,
            last: str | None,
            count: int,
            last_event: int | None,
            entity: str = entity,
            current: dict[int, tuple[str, int]] = current,
            version_rule: str = version_rule,
        ) -> Iterator[AuditProblem]:
            row = current.get(oid)
            if row is None:
                return  # reported by check_references
            state, version = row
            if last is not None and last != state:
                yield AuditProblem(
                    "paths",
                    f"its last event (#{last_event}) ends in {last!r} but it is {state!r}",
                    entity,
                    oid,
                    last_event,
                )
            if version_rule == "exact" and version != count:
                yield AuditProblem(
                    "versions",
                    f"version {version} but {count} state-changing event(s)",
                    entity,
                    oid,
                )
            elif version_rule == "at_least" and version < count:
                yield AuditProblem(
                    "versions",
                    f"version {version} but {count} state-changing event(s) (more changes "
                    "recorded than made)",
                    entity,
                    oid,
                )

        q = (
            select(e.c.entity_id, e.c.id, e.c.action, e.c.from_state, e.c.to_state)
            .where(e.c.entity == entity, e.c.to_state.is_not(None))
            .order_by(e.c.entity_id, e.c.id)
        )
        oid: int | None = None
        last: str | None = None
        last_event: int | None = None
        count = 0
        for ent_id, ev_id, action, from_state, to_state in conn.execute(q).yield_per(5000):
            ent_id = int(ent_id)
            if ent_id != oid:
                if oid is not None:
                    yield from finish(oid, last, count, last_event)
                oid, last, count = ent_id, None, 0
                seen.add(ent_id)
            stats["state_events"] += 1
            count += 1
            src = from_state or ""
            if count == 1:
                if src != "":
                    yield AuditProblem(
                        "paths",
                        f"its first event {action!r} starts from {src!r}, not from its "
                        "creation (events before it are missing)",
                        entity,
                        ent_id,
                        int(ev_id),
                    )
                elif to_state != life.initial:
                    yield AuditProblem(
                        "paths",
                        f"created in {to_state!r}, not in {life.initial!r}",
                        entity,
                        ent_id,
                        int(ev_id),
                    )
            else:
                if src == "":
                    yield AuditProblem(
                        "paths",
                        f"event {action!r} creates it a second time",
                        entity,
                        ent_id,
                        int(ev_id),
                    )
                elif src != last:
                    yield AuditProblem(
                        "paths",
                        f"event {action!r} starts from {src!r} but the event before ended in "
                        f"{last!r} (an event is missing or was changed)",
                        entity,
                        ent_id,
                        int(ev_id),
                    )
                if src != "" and (src, action, to_state) not in edges:
                    yield AuditProblem(
                        "paths",
                        f"{src!r} --{action}--> {to_state!r} is not on the {life.name} "
                        "lifecycle graph",
                        entity,
                        ent_id,
                        int(ev_id),
                    )
            last, last_event = str(to_state), int(ev_id)
        if oid is not None:
            yield from finish(oid, last, count, last_event)
        for missing in sorted(set(current) - seen):
            yield AuditProblem(
                "paths",
                f"is {current[missing][0]!r} but has no state-changing events",
                entity,
                missing,
            )


def check_order(
    conn: Connection, stats: dict[str, int], max_skew: dt.timedelta | None
) -> Iterator[AuditProblem]:
    """Timestamps go forward: per object by id; across the trail within ``max_skew``
    (when given)."""
    e = t.event
    stats["events"] += int(conn.scalar(select(func.count()).select_from(e)) or 0)
    prev = type_coerce(
        func.lag(e.c.at).over(partition_by=(e.c.entity, e.c.entity_id), order_by=e.c.id),
        UTCDateTime(),
    ).label("prev")
    inner = select(e.c.id, e.c.entity, e.c.entity_id, e.c.at, prev).subquery()
    for ev_id, entity, ent_id, at, before in conn.execute(
        select(inner).where(inner.c.at < inner.c.prev).order_by(inner.c.id)
    ):
        yield AuditProblem(
            "order",
            f"written at {at} but an earlier event of the same {entity} is from {before}",
            str(entity),
            int(ent_id),
            int(ev_id),
        )
    if max_skew is None:
        return
    latest = type_coerce(
        func.max(e.c.at).over(order_by=e.c.id, rows=(None, -1)), UTCDateTime()
    ).label("latest")
    inner2 = select(e.c.id, e.c.entity, e.c.entity_id, e.c.at, latest).subquery()
    for ev_id, entity, ent_id, at, newest in conn.execute(
        select(inner2).where(inner2.c.at < inner2.c.latest).order_by(inner2.c.id)
    ):
        if newest - at > max_skew:
            yield AuditProblem(
                "order",
                f"written at {at}, {newest - at} before an event with a smaller id ({newest})",
                str(entity),
                int(ent_id),
                int(ev_id),
            )


def check_references(conn: Connection, stats: dict[str, int]) -> Iterator[AuditProblem]:
    """No event names an object that does not exist."""
    e = t.event
    for entity, table in ENTITY_TABLES.items():
        q = (
            select(e.c.id, e.c.entity_id, e.c.action)
            .where(e.c.entity == entity)
            .where(~exists(select(table.c.id).where(table.c.id == e.c.entity_id)))
            .order_by(e.c.id)
        )
        for ev_id, ent_id, action in conn.execute(q):
            yield AuditProblem(
                "references",
                f"event {action!r} names {entity} #{ent_id}, which does not exist",
                entity,
                int(ent_id),
                int(ev_id),
            )
    kinds = [k for (k,) in conn.execute(select(e.c.entity).distinct())]
    for kind in kinds:
        if kind not in ENTITY_TABLES:
            stats.setdefault("unchecked_kinds", 0)
            stats["unchecked_kinds"] += 1


def _chain_available() -> bool:
    if "seq" not in t.event.c or "hash" not in t.event.c:
        return False
    try:
        from pdca.persistence import trail  # noqa: F401
    except ImportError:  # pragma: no cover - a trail without its hash chain
        return False
    return True


def check_chain(
    conn: Connection, stats: dict[str, Any], anchor: tuple[int, str] | None = None
) -> Iterator[AuditProblem]:
    """The hash chain over the events (:func:`pdca.persistence.trail.verify_chain`)."""
    from pdca.persistence.trail import verify_chain

    report = verify_chain(conn, anchor=anchor, limit=MAX_PROBLEMS)
    stats["head"] = (report.head_seq, report.head_hash)
    for message in report.problems:
        yield AuditProblem("chain", str(message))


Check = Callable[[Connection, dict[str, int]], Iterator[AuditProblem]]


def _checks(
    max_skew: dt.timedelta | None, anchor: tuple[int, str] | None = None
) -> list[tuple[str, Check]]:
    checks: list[tuple[str, Check]] = [
        ("paths", check_paths),
        ("order", lambda conn, stats: check_order(conn, stats, max_skew)),
        ("references", check_references),
    ]
    if _chain_available():
        checks.append(("chain", lambda conn, stats: check_chain(conn, stats, anchor)))
    return checks


#: The names of the checks :func:`verify_trail` runs, in order (``chain`` where the
#: trail is hash-chained).
CHECKS: tuple[str, ...] = ("paths", "versions", "order", "references", "chain")


def verify_trail(
    store: Store,
    *,
    max_skew: dt.timedelta | None = None,
    only: Sequence[str] | None = None,
    anchor: tuple[int, str] | None = None,
) -> AuditReport:
    """Check the event trail against the current state; see the module's docstring.

    ``only`` restricts the run to some of :data:`CHECKS` (``versions`` comes with
    ``paths``). ``anchor`` is a ``(seq, hash)`` head recorded earlier (see
    :attr:`AuditReport.head`): the chain must still hold it. Reads in one transaction;
    writes nothing.
    """
    stats: dict[str, Any] = {"events": 0, "entities": 0, "state_events": 0}
    problems: list[AuditProblem] = []
    more = 0
    ran: list[str] = []
    with store.engine.connect() as conn, conn.begin():
        for name, check in _checks(max_skew, anchor):
            if only is not None and name not in only:
                continue
            ran.append(name)
            if name == "paths":
                ran.append("versions")
            for problem in check(conn, stats):
                if len(problems) < MAX_PROBLEMS:
                    problems.append(problem)
                else:
                    more += 1
    if "order" not in ran:
        with store.engine.connect() as conn:
            stats["events"] = int(conn.scalar(select(func.count()).select_from(t.event)) or 0)
    return AuditReport(
        events=stats["events"],
        entities=stats["entities"],
        checks=tuple(ran),
        problems=tuple(problems),
        more=more,
        head=stats.get("head"),
    )
