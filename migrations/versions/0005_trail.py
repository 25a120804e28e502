"""The tamper-evident trail: pdca_event hash-chained by the database, and append-only.

Every event gets ``seq`` (its place in the chain) and ``hash`` = sha256(previous hash ||
its canonical text), computed by a trigger on insert, so every writer is covered. Existing
events are chained in id order. Triggers refuse UPDATE and DELETE (and, on PostgreSQL,
TRUNCATE) of the trail. See pdca.persistence.trail, which defines the canonical text and
checks the chain.

The SQL below is frozen with this revision (migrations must not change with the code);
tests/test_trail.py checks that it agrees with pdca.persistence.trail.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
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


def _as_text(dialect: str, column: str, ref: str) -> str:
    if dialect == "postgresql":
        if column == "at":
            return f"to_char({ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        return f"({ref})::text"
    return f"CAST({ref} AS TEXT)"


def _encoded(dialect: str, value_sql: str) -> str:
    length = f"length({value_sql})"
    if dialect == "postgresql":
        length = f"({length})::text"
    return f"coalesce({length} || ':' || {value_sql}, '-')"


def canonical_sql(dialect: str, row: str, seq: str) -> str:
    parts = [_encoded(dialect, _as_text(dialect, "seq", seq))]
    for column in FIELDS:
        parts.append(_encoded(dialect, _as_text(dialect, column, f"{row}.{column}")))
    return " || '|' || ".join(parts)


PG_CHAIN = """
CREATE FUNCTION pdca_event_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    prev_seq bigint;
    prev_hash text;
BEGIN
    -- One appender at a time (until commit), so the chain cannot fork.
    PERFORM pg_advisory_xact_lock(hashtext(TG_TABLE_SCHEMA || '.pdca_event_chain'));
    SELECT e.seq, e.hash INTO prev_seq, prev_hash
      FROM pdca_event e WHERE e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1;
    NEW.seq := coalesce(prev_seq, 0) + 1;
    NEW.hash := encode(
        sha256(convert_to(coalesce(prev_hash, '{genesis}') || {canonical}, 'UTF8')),
        'hex'
    );
    RETURN NEW;
END
$$
"""

PG_REFUSE = """
CREATE FUNCTION pdca_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'pdca_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

SQLITE_CHAIN = """
CREATE TRIGGER pdca_event_chain AFTER INSERT ON pdca_event
BEGIN
    UPDATE pdca_event SET
        seq = (SELECT coalesce(max(s.seq), 0) + 1 FROM pdca_event s),
        hash = pdca_sha256(
            coalesce(
                (SELECT p.hash FROM pdca_event p
                  WHERE p.seq = (SELECT max(s.seq) FROM pdca_event s)),
                '{genesis}'
            ) || {canonical}
        )
    WHERE id = NEW.id;
END
"""


def _chain_existing(bind: sa.Connection) -> None:
    """Give the events already there their place and hash, in id order."""
    dialect = bind.dialect.name
    ids = [r[0] for r in bind.execute(sa.text("SELECT id FROM pdca_event ORDER BY id"))]
    if not ids:
        return
    bind.execute(
        sa.text("UPDATE pdca_event SET seq = :seq WHERE id = :id"),
        [{"seq": n, "id": i} for n, i in enumerate(ids, start=1)],
    )
    canon = canonical_sql(dialect, "e", "e.seq")
    rows = bind.execute(sa.text(f"SELECT e.id, {canon} FROM pdca_event e ORDER BY e.seq"))
    prev, hashes = GENESIS, []
    for event_id, canonical in rows:
        prev = hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()
        hashes.append({"hash": prev, "id": event_id})
    bind.execute(sa.text("UPDATE pdca_event SET hash = :hash WHERE id = :id"), hashes)


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.add_column("pdca_event", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column("pdca_event", sa.Column("hash", sa.String(length=64), nullable=True))
    _chain_existing(bind)
    op.create_index("ix_pdca_event_seq", "pdca_event", ["seq"], unique=True)
    if dialect == "postgresql":
        op.execute(
            PG_CHAIN.replace("{genesis}", GENESIS).replace(
                "{canonical}", canonical_sql(dialect, "NEW", "NEW.seq")
            )
        )
        op.execute(PG_REFUSE)
        op.execute(
            "CREATE TRIGGER pdca_event_chain BEFORE INSERT ON pdca_event "
            "FOR EACH ROW EXECUTE FUNCTION pdca_event_chain()"
        )
        op.execute(
            "CREATE TRIGGER pdca_event_append_only BEFORE UPDATE OR DELETE ON pdca_event "
            "FOR EACH ROW EXECUTE FUNCTION pdca_event_append_only()"
        )
        op.execute(
            "CREATE TRIGGER pdca_event_no_truncate BEFORE TRUNCATE ON pdca_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION pdca_event_append_only()"
        )
    elif dialect == "sqlite":
        seq = "(SELECT coalesce(max(s.seq), 0) + 1 FROM pdca_event s)"
        op.execute(
            SQLITE_CHAIN.replace("{genesis}", GENESIS).replace(
                "{canonical}", canonical_sql(dialect, "NEW", seq)
            )
        )
        op.execute(
            "CREATE TRIGGER pdca_event_no_update BEFORE UPDATE ON pdca_event "
            "WHEN OLD.seq IS NOT NULL "
            "BEGIN SELECT RAISE(ABORT, 'pdca_event is append-only: UPDATE refused'); END"
        )
        op.execute(
            "CREATE TRIGGER pdca_event_no_delete BEFORE DELETE ON pdca_event "
            "BEGIN SELECT RAISE(ABORT, 'pdca_event is append-only: DELETE refused'); END"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS pdca_event_no_truncate ON pdca_event")
        op.execute("DROP TRIGGER IF EXISTS pdca_event_append_only ON pdca_event")
        op.execute("DROP TRIGGER IF EXISTS pdca_event_chain ON pdca_event")
        op.execute("DROP FUNCTION IF EXISTS pdca_event_append_only()")
        op.execute("DROP FUNCTION IF EXISTS pdca_event_chain()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS pdca_event_no_delete")
        op.execute("DROP TRIGGER IF EXISTS pdca_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS pdca_event_chain")
    op.drop_index("ix_pdca_event_seq", table_name="pdca_event")
    with op.batch_alter_table("pdca_event") as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("seq")
