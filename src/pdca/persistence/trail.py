"""The tamper-evident event trail: every event is hash-chained to the one before it.

The database does the chaining, so every writer is covered (pdca's ORM, its bulk paths,
the set-based rollover, and anything else that inserts into ``pdca_event``): a trigger gives
each new event the next sequence number ``seq`` and ``hash = sha256(previous hash ||
canonical text of the event)``, the canonical text being every column of the event,
length-prefixed. Appenders take a lock for the chain (PostgreSQL: a transaction-scoped
advisory lock; SQLite: its single writer), and ``seq`` is unique, so concurrent appenders
can never fork the chain. Triggers also refuse UPDATE, DELETE and TRUNCATE on the trail.

:func:`verify_chain` walks the chain and reports every event whose hash does not match its
content and its predecessor (an edit, a reorder, a forged insertion), every gap in the
sequence (a deletion) and every event outside the chain. Deleting the *newest* events leaves
a shorter chain that is still consistent; an ``anchor`` (a ``(seq, hash)`` pair recorded
earlier, e.g. in a publication or a report) catches that too.

The canonical text is defined once here, as SQL, for the trigger and for the check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from attrs import field, frozen
from sqlalchemy import Connection, Engine, event, text

__all__ = [
    "FIELDS",
    "GENESIS",
    "ChainReport",
    "canonical_sql",
    "ensure_sqlite_functions",
    "install_sqlite_functions",
    "register_sqlite_functions",
    "sha256_hex",
    "verify_chain",
]

#: The hash before the first event.
GENESIS = "0" * 64
#: The columns an event's hash covers (besides its ``seq``), in order.
FIELDS = (
    "id",
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
    "data",
)


def sha256_hex(value: str | None) -> str | None:
    """SHA-256 of ``value``'s UTF-8 bytes, in hex (SQLite's ``pdca_sha256``)."""
    if value is None:
        return None
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _as_text(dialect: str, column: str, ref: str) -> str:
    if dialect == "postgresql":
        if column == "at":  # the same text whatever the session's time zone and DateStyle
            return f"to_char({ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        return f"({ref})::text"
    return f"CAST({ref} AS TEXT)"


def _encoded(dialect: str, value_sql: str) -> str:
    length = f"length({value_sql})"
    if dialect == "postgresql":
        length = f"({length})::text"
    return f"coalesce({length} || ':' || {value_sql}, '-')"


def canonical_sql(dialect: str, row: str, seq: str) -> str:
    """The SQL expression of an event's canonical text: ``row`` is how the event's columns
    are referred to (``NEW`` in a trigger, a table alias in a query), ``seq`` the SQL of its
    sequence number. Every value is length-prefixed, NULL is ``-``, fields joined by ``|``.
    """
    parts = [_encoded(dialect, _as_text(dialect, "seq", seq))]
    for column in FIELDS:
        parts.append(_encoded(dialect, _as_text(dialect, column, f"{row}.{column}")))
    return " || '|' || ".join(parts)


# ------------------------------------------------------------------------------ SQLite


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Give a pysqlite connection ``pdca_sha256`` (the chain trigger calls it)."""
    dbapi_connection.create_function("pdca_sha256", 1, sha256_hex, deterministic=True)


def install_sqlite_functions(engine: Engine) -> None:
    """Register ``pdca_sha256`` on every connection ``engine`` hands out (idempotent)."""
    if engine.dialect.name != "sqlite" or event.contains(engine, "checkout", _on_checkout):
        return
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "checkout", _on_checkout)


def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    register_sqlite_functions(dbapi_connection)
    connection_record.info["pdca_sha256"] = True


def _on_checkout(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
    # Connections pooled before pdca saw the engine (a host's) get the function here.
    if not connection_record.info.get("pdca_sha256"):
        register_sqlite_functions(dbapi_connection)
        connection_record.info["pdca_sha256"] = True


def ensure_sqlite_functions(connection: Connection) -> None:
    """Register ``pdca_sha256`` on the connection in hand, if it is SQLite."""
    if connection.dialect.name == "sqlite":
        dbapi = connection.connection.driver_connection
        if dbapi is not None:
            register_sqlite_functions(dbapi)


# ------------------------------------------------------------------------------ checking


@frozen
class ChainReport:
    """What :func:`verify_chain` found."""

    events: int
    head_seq: int
    head_hash: str
    problems: tuple[str, ...] = field(factory=tuple)

    @property
    def intact(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "intact": self.intact,
            "problems": list(self.problems),
        }


def verify_chain(
    connection: Connection,
    *,
    anchor: tuple[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
    limit: int = 1000,
) -> ChainReport:
    """Walk the trail in chain order and report every break (at most ``limit`` of them).

    Each event's stored hash must equal sha256(the previous event's stored hash || its
    canonical text); the sequence must run 1, 2, 3, … without gaps; no event may lack a
    place in the chain. With ``anchor=(seq, hash)`` the chain must also still hold that
    event with that hash (a deletion of the newest events is otherwise undetectable).
    """
    from .tables import event as event_table

    dialect = connection.dialect.name
    name = event_table.fullname
    canon = canonical_sql(dialect, "e", "e.seq")
    order = "e.seq NULLS LAST" if dialect == "postgresql" else "e.seq IS NULL, e.seq"
    rows = connection.execute(
        text(f"SELECT e.seq, e.id, e.hash, {canon} FROM {name} e ORDER BY {order}")
    )
    problems: list[str] = []

    def problem(message: str) -> None:
        if len(problems) < limit:
            problems.append(message)

    prev_hash, expected, count = GENESIS, 1, 0
    head_seq, head_hash = 0, GENESIS
    anchored = anchor is None
    for seq, event_id, stored, canonical in rows:
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
        if seq is None:
            problem(f"event #{event_id} has no place in the chain (written around the trail)")
            continue
        if seq != expected:
            if seq > expected:
                gap = f"{expected}" if seq == expected + 1 else f"{expected}–{seq - 1}"
                problem(f"the chain skips seq {gap} (events deleted) before event #{event_id}")
            else:
                problem(f"seq {seq} appears twice (event #{event_id})")
        if stored != sha256_hex(prev_hash + canonical):
            problem(
                f"event #{event_id} (seq {seq}) does not match its hash: edited, reordered "
                "or forged"
            )
        if anchor is not None and seq == anchor[0]:
            anchored = stored == anchor[1]
            if not anchored:
                problem(f"event seq {seq} no longer has the anchored hash {anchor[1][:12]}…")
                anchored = True  # reported once
        prev_hash = stored if isinstance(stored, str) else ""
        expected = seq + 1
        head_seq, head_hash = seq, prev_hash
    if not anchored and anchor is not None:
        problem(
            f"the chain ends at seq {head_seq}, before the anchored seq {anchor[0]} "
            "(the newest events were deleted)"
        )
    return ChainReport(
        events=count, head_seq=head_seq, head_hash=head_hash, problems=tuple(problems)
    )
