"""The floors: hand-written SQL doing the same work as pdca, with none of pdca's machinery.

Each floor writes (or reads) the same rows pdca does, in plain SQL the same for SQLite and
PostgreSQL. A floor knows the data it runs on (a fresh generated data set), so it skips
what pdca must do to be safe on any data: no idempotency guards (``NOT EXISTS`` on the
unique keys), no blocker checks, no batches, no run bookkeeping, no validation.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, text

from pdca.persistence import tables as t

# --------------------------------------------------------------------------- rollover

#: PostgreSQL plans the statements after a bulk insert from statistics that say the new
#: period has no rows yet (nested loops over tens of thousands of rows: minutes instead of
#: a second); the floor refreshes them inside its transaction. SQLite needs nothing.
ANALYZE = "ANALYZE "

_ROLLOVER = [
    # 1. the old cycles' unresolved findings are carried (event first: it reads the state)
    """
    INSERT INTO pdca_event (at, actor, actor_org, actor_role, entity, entity_id, action,
                            from_state, to_state, reason)
    SELECT :now, :actor, NULL, NULL, 'finding', f.id, 'carry', f.state, 'carried', :carry_reason
    FROM pdca_finding f
    JOIN pdca_cycle c ON c.id = f.cycle_id
    JOIN pdca_scheme_scope s ON s.org_id = c.org_id AND s.scheme_id = :sid
    WHERE c.period = :p_from AND c.state = 'acting' AND f.state IN ('open', 'rectifying')
    """,
    """
    UPDATE pdca_finding SET state = 'carried', version = version + 1
    WHERE state IN ('open', 'rectifying')
      AND cycle_id IN (SELECT c.id FROM pdca_cycle c
                       JOIN pdca_scheme_scope s ON s.org_id = c.org_id AND s.scheme_id = :sid
                       WHERE c.period = :p_from AND c.state = 'acting')
    """,
    # 2. the old cycles are closed
    """
    INSERT INTO pdca_event (at, actor, actor_org, actor_role, entity, entity_id, action,
                            from_state, to_state, reason)
    SELECT :now, :actor, NULL, NULL, 'cycle', c.id, 'close', 'acting', 'closed', :close_reason
    FROM pdca_cycle c
    JOIN pdca_scheme_scope s ON s.org_id = c.org_id AND s.scheme_id = :sid
    WHERE c.period = :p_from AND c.state = 'acting'
    """,
    """
    UPDATE pdca_cycle SET state = 'closed', closed_at = :now, version = version + 1
    WHERE period = :p_from AND state = 'acting'
      AND org_id IN (SELECT org_id FROM pdca_scheme_scope WHERE scheme_id = :sid)
    """,
    # 3. the new cycles are opened, one target per item of the new scheme
    """
    INSERT INTO pdca_cycle (org_id, period, scheme_id, parent_id, state, opened_at, version)
    SELECT org_id, :p_to, :sid, NULL, 'draft', :now, 1
    FROM pdca_scheme_scope WHERE scheme_id = :sid ORDER BY org_id
    """,
    ANALYZE + "pdca_cycle",
    """
    INSERT INTO pdca_event (at, actor, actor_org, actor_role, entity, entity_id, action,
                            from_state, to_state, reason)
    SELECT :now, :actor, NULL, NULL, 'cycle', c.id, 'open', '', 'draft', :open_reason
    FROM pdca_cycle c WHERE c.period = :p_to AND c.scheme_id = :sid
    """,
    """
    INSERT INTO pdca_target (cycle_id, title, origin, item_code, item_id, due_on, carry_count)
    SELECT c.id, i.title, 'scheme', i.code, i.id, :p_to_end, 0
    FROM pdca_cycle c
    JOIN pdca_item i ON i.scheme_id = c.scheme_id
    JOIN pdca_scheme_category cat ON cat.id = i.category_id
    WHERE c.period = :p_to AND c.scheme_id = :sid
    ORDER BY c.id, cat.position, i.position
    """,
    # 4. every carried finding continues: an open finding in the same thread …
    """
    INSERT INTO pdca_finding (cycle_id, item_code, description, checkpoint, severity, source,
                              found_on, state, rectification_owner, root_id, previous_id,
                              carry_count, version)
    SELECT nc.id, f.item_code, f.description, 'carried', f.severity, f.source, :p_to_start,
           'open', f.rectification_owner, COALESCE(f.root_id, f.id), f.id, f.carry_count + 1, 1
    FROM pdca_finding f
    JOIN pdca_cycle oc ON oc.id = f.cycle_id
    JOIN pdca_cycle nc ON nc.org_id = oc.org_id AND nc.period = :p_to
    WHERE oc.period = :p_from AND oc.scheme_id = :old_sid AND f.state = 'carried'
    ORDER BY nc.id, f.id
    """,
    ANALYZE + "pdca_finding",
    """
    INSERT INTO pdca_event (at, actor, actor_org, actor_role, entity, entity_id, action,
                            from_state, to_state, reason)
    SELECT :now, :actor, NULL, NULL, 'finding', f.id, 'carry-in', '', 'open', NULL
    FROM pdca_finding f
    JOIN pdca_cycle c ON c.id = f.cycle_id
    WHERE c.period = :p_to AND c.scheme_id = :sid AND f.previous_id IS NOT NULL
    """,
    # … and a carried target linked to it
    """
    INSERT INTO pdca_target (cycle_id, title, origin, item_code, item_id, due_on,
                             direct_responsible, carried_from_id, origin_period, carry_count)
    SELECT nc.id,
           CASE WHEN length(:prefix || f.description) > 200
                THEN substr(:prefix || f.description, 1, 199) || '…'
                ELSE :prefix || f.description END,
           'carried', f.item_code, ni.id,
           CASE WHEN f.deadline IS NOT NULL AND f.deadline >= :p_to_start
                THEN f.deadline ELSE :p_to_end END,
           f.rectification_owner, f.id, rc.period, f.carry_count + 1
    FROM pdca_finding f
    JOIN pdca_cycle oc ON oc.id = f.cycle_id
    JOIN pdca_cycle nc ON nc.org_id = oc.org_id AND nc.period = :p_to
    JOIN pdca_finding root ON root.id = COALESCE(f.root_id, f.id)
    JOIN pdca_cycle rc ON rc.id = root.cycle_id
    LEFT JOIN pdca_item ni ON ni.scheme_id = nc.scheme_id AND ni.code = f.item_code
    WHERE oc.period = :p_from AND oc.scheme_id = :old_sid AND f.state = 'carried'
    ORDER BY nc.id, f.id
    """,
    ANALYZE + "pdca_target",
    """
    INSERT INTO pdca_event (at, actor, actor_org, actor_role, entity, entity_id, action,
                            from_state, to_state, reason)
    SELECT :now, :actor, NULL, NULL, 'target', tg.id, 'carry-in', NULL, NULL, NULL
    FROM pdca_target tg
    JOIN pdca_cycle c ON c.id = tg.cycle_id
    WHERE c.period = :p_to AND c.scheme_id = :sid AND tg.carried_from_id IS NOT NULL
    """,
]


def rollover(
    engine: sa.Engine,
    *,
    scheme_id: int,
    old_scheme_id: int,
    p_from: str,
    p_to: str,
    p_to_start: dt.date,
    p_to_end: dt.date,
    now: dt.datetime,
    actor: str = "rollover",
) -> None:
    """The rollover's inserts and updates, set-based, in one transaction."""
    params: dict[str, Any] = {
        "sid": scheme_id,
        "old_sid": old_scheme_id,
        "p_from": p_from,
        "p_to": p_to,
        "actor": actor,
        "carry_reason": f"cycle closed by rollover to {p_to}",
        "close_reason": f"rollover to {p_to}",
        "open_reason": f"rollover from {p_from}",
        "prefix": "整改：",
    }
    typed = [
        bindparam("now", now, type_=t.event.c.at.type),
        bindparam("p_to_start", p_to_start, type_=t.finding.c.found_on.type),
        bindparam("p_to_end", p_to_end, type_=t.target.c.due_on.type),
    ]
    with engine.begin() as conn:
        for sql in _ROLLOVER:
            if sql.startswith(ANALYZE):
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(sql)
                continue
            stmt = text(sql)
            names = set(stmt.compile().params)
            stmt = stmt.bindparams(*[b for b in typed if b.key in names])
            conn.execute(stmt, {k: v for k, v in params.items() if k in names})


# ---------------------------------------------------------------------------- results

RESULTS = """
SELECT c.id, o.code, o.peer_group, SUM(s.points) AS total,
       RANK() OVER (PARTITION BY o.peer_group ORDER BY SUM(s.points) DESC) AS rnk
FROM pdca_cycle c
JOIN pdca_organization o ON o.id = c.org_id
JOIN pdca_score s ON s.cycle_id = c.id
WHERE c.scheme_id = :sid AND c.period = :period
GROUP BY c.id, o.code, o.peer_group
"""


def results(engine: sa.Engine, scheme_id: int, period: str) -> list[Any]:
    """Totals and ranks within the peer group: one query, every row fetched."""
    with engine.connect() as conn:
        rows = conn.execute(text(RESULTS), {"sid": scheme_id, "period": period}).all()
        conn.rollback()
    return list(rows)


# ------------------------------------------------------------------------ transitions


def driver_sql(sql: str, dialect: sa.Dialect) -> str:
    """``:name`` placeholders in the driver's own style (sqlite3 takes them as they are)."""
    if dialect.name == "sqlite":  # sqlite3 takes :name as it is
        return sql
    return re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", sql)


def db_value(column: sa.Column[Any], value: Any, dialect: sa.Dialect) -> Any:
    """``value`` as the driver receives it for ``column`` (what SQLAlchemy would bind)."""
    proc = column.type.dialect_impl(dialect).bind_processor(dialect)
    return proc(value) if proc is not None else value


_STEP = """
UPDATE pdca_cycle SET state = :dst, version = version + 1{extra}
WHERE org_id = (SELECT id FROM pdca_organization WHERE code = :org)
  AND period = :period AND state = :src{guard}
RETURNING id
"""
#: approve's guard, in SQL: every target has its first responsible person and a due date.
_PLAN_COMPLETE = """
  AND EXISTS (SELECT 1 FROM pdca_target tg WHERE tg.cycle_id = pdca_cycle.id)
  AND NOT EXISTS (SELECT 1 FROM pdca_target tg WHERE tg.cycle_id = pdca_cycle.id
                  AND (tg.first_responsible IS NULL OR tg.first_responsible = ''
                       OR tg.due_on IS NULL))"""
_EVENT = """
INSERT INTO pdca_event (at, actor, actor_org, actor_role, entity, entity_id, action,
                        from_state, to_state)
VALUES (:now, :actor, :actor_org, :actor_role, 'cycle', :id, :event, :src, :dst)
"""
STEPS = [
    ("approve", "draft", "planned"),
    ("start", "planned", "doing"),
    ("check", "doing", "checking"),
    ("act", "checking", "acting"),
]


class Transitions:
    """One cycle transition as two statements sent straight to the driver: the state
    change, guarded in SQL by the state it leaves (and, for approve, by the plan being
    complete), and its event row."""

    def __init__(
        self,
        dialect: sa.Dialect,
        now: dt.datetime,
        actor: str,
        actor_org: str,
        actor_role: str,
    ) -> None:
        self.event = driver_sql(_EVENT, dialect)
        self.steps = {}
        for name, src, dst in STEPS:
            extra = ", feedback_at = :now" if name == "act" else ""
            guard = _PLAN_COMPLETE if name == "approve" else ""
            self.steps[name] = (
                driver_sql(_STEP.format(extra=extra, guard=guard), dialect),
                src,
                dst,
            )
        self.base = {
            "now": db_value(t.event.c.at, now, dialect),
            "actor": actor,
            "actor_org": actor_org,
            "actor_role": actor_role,
        }

    def fire(self, conn: sa.Connection, org: str, period: str, event: str) -> None:
        sql, src, dst = self.steps[event]
        params = {**self.base, "org": org, "period": period, "src": src, "dst": dst}
        cid = conn.exec_driver_sql(sql, params).scalar()
        if cid is None:
            raise RuntimeError(f"{org}/{period}: {event} refused")
        params["id"] = cid
        params["event"] = event
        conn.exec_driver_sql(self.event, params)


# ----------------------------------------------------------------------- score import

_SCORE = """
INSERT INTO pdca_score (id, cycle_id, item_id, checkpoint_id, method, assessor, assessor_org,
                        raw, points, hits, comment, entered_at, version)
VALUES (:id, :cycle_id, :item_id, :checkpoint_id, :method, :assessor, :assessor_org, :raw,
        :points, 0, NULL, :now, 1)
"""
_SCORE_EVENT = """
INSERT INTO pdca_event (at, actor, actor_org, actor_role, entity, entity_id, action, data)
VALUES (:now, :actor, :actor_org, :actor_role, 'score', :id, 'enter', :data)
"""


def import_scores(
    engine: sa.Engine,
    path: Path,
    now: dt.datetime,
    actor: str,
    actor_org: str,
    role: str,
    *,
    events_too: bool = True,
) -> int:
    """Read the sheet, resolve codes to ids from dictionaries loaded in one query each, and
    insert the same score rows and 'enter' event rows pdca writes (driver executemany in
    chunks of 10,000), in one transaction. ``events_too=False``: the score rows only."""
    dialect = engine.dialect
    score_sql = driver_sql(_SCORE, dialect)
    event_sql = driver_sql(_SCORE_EVENT, dialect)
    at = db_value(t.event.c.at, now, dialect)
    to_json = t.event.c.data.type.dialect_impl(dialect).bind_processor(dialect)
    assert to_json is not None
    with engine.begin() as conn:
        cycles = {
            (code, period): (cid, sid)
            for cid, sid, code, period in conn.execute(
                sa.select(
                    t.cycle.c.id, t.cycle.c.scheme_id, t.organization.c.code, t.cycle.c.period
                )
                .join(t.organization, t.organization.c.id == t.cycle.c.org_id)
                .where(t.cycle.c.state.in_(["doing", "checking"]))
            )
        }
        items = {
            (sid, code): iid
            for iid, sid, code in conn.execute(
                sa.select(t.item.c.id, t.item.c.scheme_id, t.item.c.code)
            )
        }
        checkpoints = {
            (sid, code): cpid
            for cpid, sid, code in conn.execute(
                sa.select(t.checkpoint.c.id, t.checkpoint.c.scheme_id, t.checkpoint.c.code)
            )
        }
        next_id = int(conn.scalar(sa.select(sa.func.coalesce(sa.func.max(t.score.c.id), 0))))
        scores: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        n = 0
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                cid, sid = cycles[(row["org"], row["period"])]
                value = row["value"]
                n += 1
                sc_id = next_id + n
                scores.append(
                    {
                        "id": sc_id,
                        "cycle_id": cid,
                        "item_id": items[(sid, row["item"])],
                        "checkpoint_id": checkpoints[(sid, row["checkpoint"])],
                        "method": row["method"],
                        "assessor": row["assessor"],
                        "assessor_org": row["assessor_org"],
                        "raw": value,
                        "points": int(Decimal(value) * 10_000),
                        "now": at,
                    }
                )
                data = {
                    "org": row["org"],
                    "period": row["period"],
                    "item": row["item"],
                    "checkpoint": row["checkpoint"],
                    "method": row["method"],
                    "assessor": row["assessor"],
                    "assessor_org": row["assessor_org"],
                    "raw": value,
                    "points": value,
                }
                events.append(
                    {
                        "now": at,
                        "actor": actor,
                        "actor_org": actor_org,
                        "actor_role": role,
                        "id": sc_id,
                        "data": to_json(data),
                    }
                )
                if len(scores) >= 10_000:
                    conn.exec_driver_sql(score_sql, scores)  # type: ignore[arg-type]
                    if events_too:
                        conn.exec_driver_sql(event_sql, events)  # type: ignore[arg-type]
                    scores, events = [], []
        if scores:
            conn.exec_driver_sql(score_sql, scores)  # type: ignore[arg-type]
            if events_too:
                conn.exec_driver_sql(event_sql, events)  # type: ignore[arg-type]
        if events_too:
            cycle_totals(conn)
        if dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('pdca_score', 'id'), "
                "(SELECT MAX(id) FROM pdca_score))"
            )
    return n


def cycle_totals(conn: sa.Connection) -> None:
    """The per-cycle sums pdca keeps for the results (pdca_cycle_total), written set-based
    for every cycle with scores, as a hand-written statement for this data set would: the
    mean of each item's panel scores (half-up to 10^-4, then to 10^-2; the bench scheme
    has unit weights and no dropped extremes), summed per cycle and per category."""
    cats = conn.execute(
        sa.select(t.scheme_category.c.id, t.scheme_category.c.code).order_by(t.scheme_category.c.id)
    ).all()
    pg = conn.dialect.name == "postgresql"
    pairs = ", ".join(
        f"'{code}', SUM(CASE WHEN i.category_id = {cid} THEN x.score ELSE 0 END)"
        for cid, code in cats
    )
    subs = f"CAST(json_build_object({pairs}) AS TEXT)" if pg else f"json_object({pairs})"
    conn.exec_driver_sql(
        "DELETE FROM pdca_cycle_total WHERE cycle_id IN (SELECT cycle_id FROM pdca_score)"
    )
    conn.exec_driver_sql(
        "INSERT INTO pdca_cycle_total (cycle_id, base, bonus, penalty, veto_hits, subtotals) "
        f"SELECT x.cycle_id, CAST(SUM(x.score) AS BIGINT), 0, 0, 0, {subs} "
        "FROM (SELECT cycle_id, item_id, "
        "(2 * ((2 * CAST(SUM(points) AS BIGINT) + COUNT(*)) / (2 * COUNT(*))) + 100) / 200"
        " AS score FROM pdca_score GROUP BY cycle_id, item_id) x "
        "JOIN pdca_item i ON i.id = x.item_id GROUP BY x.cycle_id"
    )


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


__all__ = ["RESULTS", "STEPS", "Transitions", "import_scores", "results", "rollover", "timed"]
