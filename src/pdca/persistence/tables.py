"""pdca's tables. Every name starts with ``pdca_`` so pdca can share a host's database."""

from __future__ import annotations

import os
import re

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from pdca.errors import ValidationError

from .types import ID, ScaledDecimal, UTCDateTime

__all__ = ["SCHEMA", "SCHEMA_ENV", "TABLE_PREFIX", "VERSION_TABLE", "metadata"]

TABLE_PREFIX = "pdca_"
VERSION_TABLE = "pdca_alembic_version"
#: The environment variable naming a PostgreSQL schema for every pdca table (read once,
#: when pdca is imported).
SCHEMA_ENV = "PDCA_SCHEMA"


def _schema_setting() -> str | None:
    value = os.environ.get(SCHEMA_ENV, "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise ValidationError(
            SCHEMA_ENV,
            value,
            "a schema name is lowercase letters, digits and '_' (not starting with a digit, "
            "at most 63 characters)",
        )
    return value


#: The PostgreSQL schema pdca's tables live in (None: the connection's default schema).
SCHEMA: str | None = _schema_setting()

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)

CODE = String(64)
NAME = String(200)
PERSON = String(100)
STATE = String(16)
PERIOD = String(16)

organization = Table(
    "pdca_organization",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("code", CODE, nullable=False, unique=True),
    Column("name", NAME, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("parent_id", ID, ForeignKey("pdca_organization.id"), nullable=True, index=True),
    Column("peer_group", CODE, nullable=True, index=True),
)

scheme = Table(
    "pdca_scheme",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("code", CODE, nullable=False, unique=True),
    Column("title", NAME, nullable=False),
    Column("period", PERIOD, nullable=False, index=True),
    Column("issuer_id", ID, ForeignKey("pdca_organization.id"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=True),
    # The full validated definition (pdca.domain.scheme.scheme_to_data); the tables below
    # repeat what SQL needs to compute results.
    Column("definition", JSON, nullable=True),
)

scheme_category = Table(
    "pdca_scheme_category",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("scheme_id", ID, ForeignKey("pdca_scheme.id"), nullable=False),
    Column("code", CODE, nullable=False),
    Column("name", NAME, nullable=False),
    Column("position", Integer, nullable=False, default=0),
    UniqueConstraint("scheme_id", "code"),
)

item = Table(
    "pdca_item",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("scheme_id", ID, ForeignKey("pdca_scheme.id"), nullable=False),
    Column("category_id", ID, ForeignKey("pdca_scheme_category.id"), nullable=False, index=True),
    Column("code", CODE, nullable=False),
    Column("title", NAME, nullable=False),
    Column("max_score", ScaledDecimal(4), nullable=False),
    Column("rule", String(16), nullable=False, default="points"),
    Column("evidence", Text, nullable=True),
    Column("per", ScaledDecimal(4), nullable=True),
    Column("scale", CODE, nullable=True),
    Column("record_kind", CODE, nullable=True),
    Column("target", Integer, nullable=True),
    Column("position", Integer, nullable=False, default=0),
    UniqueConstraint("scheme_id", "code"),
)

item_method = Table(
    "pdca_item_method",
    metadata,
    Column("item_id", ID, ForeignKey("pdca_item.id"), primary_key=True),
    Column("method", String(32), primary_key=True),
    # Weight × 10^4 (0.2 → 2000); commentary has weight 0.
    Column("weight", Integer, nullable=False),
)

checkpoint = Table(
    "pdca_checkpoint",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("scheme_id", ID, ForeignKey("pdca_scheme.id"), nullable=False),
    Column("code", CODE, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", NAME, nullable=False),
    Column("on_date", Date, nullable=True),
    Column("weight", ScaledDecimal(4), nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Column("finalized_at", UTCDateTime(), nullable=True),
    UniqueConstraint("scheme_id", "code"),
)

scheme_scope = Table(
    "pdca_scheme_scope",
    metadata,
    Column("scheme_id", ID, ForeignKey("pdca_scheme.id"), primary_key=True),
    Column("org_id", ID, ForeignKey("pdca_organization.id"), primary_key=True, index=True),
)

cycle = Table(
    "pdca_cycle",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("org_id", ID, ForeignKey("pdca_organization.id"), nullable=False),
    Column("period", PERIOD, nullable=False),
    Column("scheme_id", ID, ForeignKey("pdca_scheme.id"), nullable=True, index=True),
    Column("parent_id", ID, ForeignKey("pdca_cycle.id"), nullable=True, index=True),
    Column("state", STATE, nullable=False),
    Column("opened_at", UTCDateTime(), nullable=True),
    Column("closed_at", UTCDateTime(), nullable=True),
    # When results and problems were fed back (checking → acting): an appeal window opens.
    Column("feedback_at", UTCDateTime(), nullable=True),
    Column("version", Integer, nullable=False),
    UniqueConstraint("org_id", "period"),
    Index("ix_pdca_cycle_period_state", "period", "state"),
)

target = Table(
    "pdca_target",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("cycle_id", ID, ForeignKey("pdca_cycle.id"), nullable=False, index=True),
    Column("title", NAME, nullable=False),
    Column("origin", STATE, nullable=False),
    Column("item_code", CODE, nullable=True),
    Column("item_id", ID, ForeignKey("pdca_item.id"), nullable=True),
    Column("target_value", ScaledDecimal(4), nullable=True),
    Column("unit", String(32), nullable=True),
    Column("due_on", Date, nullable=True),
    Column("first_responsible", PERSON, nullable=True),
    Column("direct_responsible", PERSON, nullable=True),
    Column("specific_responsible", PERSON, nullable=True),
    Column("lead_unit", NAME, nullable=True),
    Column("responsible_unit", NAME, nullable=True),
    Column("responsible_leader", PERSON, nullable=True),
    # One target per carried finding: the unique key makes carrying idempotent.
    Column("carried_from_id", ID, ForeignKey("pdca_finding.id"), nullable=True, unique=True),
    Column("origin_period", PERIOD, nullable=True),
    Column("carry_count", Integer, nullable=False, default=0),
)

measure = Table(
    "pdca_measure",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("target_id", ID, ForeignKey("pdca_target.id"), nullable=False, index=True),
    Column("title", NAME, nullable=False),
    Column("owner", PERSON, nullable=True),
    Column("due_on", Date, nullable=True),
    Column("status", STATE, nullable=False),
    Column("progress", Text, nullable=True),
    Column("evidence", JSON, nullable=False),
)

record = Table(
    "pdca_record",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("cycle_id", ID, ForeignKey("pdca_cycle.id"), nullable=False, index=True),
    Column("kind", CODE, nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("title", NAME, nullable=False),
    Column("item_code", CODE, nullable=True),
    Column("quantity", Integer, nullable=False, default=1),
    Column("evidence", Text, nullable=True),
)

finding = Table(
    "pdca_finding",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("cycle_id", ID, ForeignKey("pdca_cycle.id"), nullable=False, index=True),
    Column("item_code", CODE, nullable=False),
    Column("description", Text, nullable=False),
    Column("checkpoint", String(32), nullable=False),
    Column("severity", STATE, nullable=False),
    Column("source", String(32), nullable=False),
    Column("found_on", Date, nullable=True),
    Column("deadline", Date, nullable=True),
    Column("state", STATE, nullable=False),
    Column("rectification", Text, nullable=True),
    Column("rectification_owner", PERSON, nullable=True),
    Column("resolution", Text, nullable=True),
    Column("root_id", ID, ForeignKey("pdca_finding.id"), nullable=True, index=True),
    # A finding continues in the next period at most once: carried exactly once.
    Column("previous_id", ID, ForeignKey("pdca_finding.id"), nullable=True, unique=True),
    Column("carry_count", Integer, nullable=False, default=0),
    Column("version", Integer, nullable=False),
)

score = Table(
    "pdca_score",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("cycle_id", ID, ForeignKey("pdca_cycle.id"), nullable=False),
    Column("item_id", ID, ForeignKey("pdca_item.id"), nullable=False),
    Column("checkpoint_id", ID, ForeignKey("pdca_checkpoint.id"), nullable=False),
    Column("method", String(32), nullable=False),
    Column("assessor", PERSON, nullable=False),
    Column("assessor_org", CODE, nullable=False, default=""),
    Column("raw", String(64), nullable=False),
    # Points as converted by the item's rule, exact (× 10^4).
    Column("points", ScaledDecimal(4), nullable=False),
    # Violations (deduction, penalty) or hits (veto) counted by this entry.
    Column("hits", Integer, nullable=False, default=0),
    Column("comment", Text, nullable=True),
    Column("entered_at", UTCDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint(
        "cycle_id",
        "item_id",
        "checkpoint_id",
        "method",
        "assessor",
        "assessor_org",
        name="uq_pdca_score_entry",
    ),
)

# Each cycle's sums as the results need them, kept current by every write that changes a
# score or a record (pdca.persistence.results.refresh_totals), so the year's ranking reads
# one row per organization instead of every score. Raw sums × 100, before the scheme's caps
# and bounds; ``subtotals`` is a JSON object: category code → sub-total of base items × 100.
# A cycle without any score has no row (its sums are 0).
cycle_total = Table(
    "pdca_cycle_total",
    metadata,
    Column("cycle_id", ID, ForeignKey("pdca_cycle.id"), primary_key=True, autoincrement=False),
    Column("base", BigInteger, nullable=False),
    Column("bonus", BigInteger, nullable=False),
    Column("penalty", BigInteger, nullable=False),
    Column("veto_hits", Integer, nullable=False),
    Column("subtotals", Text, nullable=False),
)

rectification = Table(
    "pdca_rectification",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("finding_id", ID, ForeignKey("pdca_finding.id"), nullable=False, index=True),
    Column("title", NAME, nullable=False),
    Column("owner", PERSON, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", STATE, nullable=False),  # planned | done
    Column("done_on", Date, nullable=True),
    Column("evidence", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

appeal = Table(
    "pdca_appeal",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("cycle_id", ID, ForeignKey("pdca_cycle.id"), nullable=False, index=True),
    Column("score_id", ID, ForeignKey("pdca_score.id"), nullable=True),
    Column("finding_id", ID, ForeignKey("pdca_finding.id"), nullable=True),
    Column("state", STATE, nullable=False),  # filed | upheld | rejected
    Column("reason", Text, nullable=False),
    Column("requested_value", String(64), nullable=True),
    Column("filed_by", PERSON, nullable=False),
    Column("filed_org", CODE, nullable=False),
    Column("filed_at", UTCDateTime(), nullable=False),
    Column("decided_by", PERSON, nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("decision", Text, nullable=True),
    # The value before and after an upheld score appeal (the original stays readable).
    Column("original_raw", String(64), nullable=True),
    Column("original_points", ScaledDecimal(4), nullable=True),
    Column("revised_raw", String(64), nullable=True),
    Column("revised_points", ScaledDecimal(4), nullable=True),
    Column("version", Integer, nullable=False),
)

publication = Table(
    "pdca_publication",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("scheme_id", ID, ForeignKey("pdca_scheme.id"), nullable=False),
    Column("period", PERIOD, nullable=False),
    Column("version", Integer, nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("published_by", PERSON, nullable=False),
    Column("reason", Text, nullable=True),
    Column("appeal_id", ID, ForeignKey("pdca_appeal.id"), nullable=True),
    Column("results", JSON, nullable=False),
    UniqueConstraint("scheme_id", "period", "version"),
)

key_content = Table(
    "pdca_key_content",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("scheme_id", ID, ForeignKey("pdca_scheme.id"), nullable=False),
    Column("period", PERIOD, nullable=False),
    Column("item_code", CODE, nullable=False),
    Column("kind", STATE, nullable=False),  # common | weak
    Column("note", Text, nullable=True),
    Column("marked_by", PERSON, nullable=False),
    Column("marked_at", UTCDateTime(), nullable=False),
    UniqueConstraint("scheme_id", "period", "item_code", "kind"),
)

rollover_run = Table(
    "pdca_rollover_run",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("scheme_code", CODE, nullable=False),
    Column("period_from", PERIOD, nullable=False),
    Column("period_to", PERIOD, nullable=False),
    Column("state", STATE, nullable=False),  # running | done
    Column("started_at", UTCDateTime(), nullable=False),
    Column("heartbeat_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("actor", PERSON, nullable=False),
    Column("stats", JSON, nullable=True),
)

event = Table(
    "pdca_event",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", PERSON, nullable=False),
    Column("actor_org", CODE, nullable=True),
    Column("actor_role", String(32), nullable=True),
    Column("entity", String(32), nullable=False),
    Column("entity_id", ID, nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", STATE, nullable=True),
    Column("to_state", STATE, nullable=True),
    Column("reason", Text, nullable=True),
    Column("data", JSON, nullable=True),
    # The hash chain (pdca.persistence.trail): filled in by the database's trigger.
    Column("seq", BigInteger, nullable=True),
    Column("hash", String(64), nullable=True),
    Index("ix_pdca_event_entity", "entity", "entity_id"),
    Index("ix_pdca_event_seq", "seq", unique=True),
)

#: Every change the permission policy refused: who tried what on which object, and why.
denial = Table(
    "pdca_denial",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", PERSON, nullable=False),
    Column("actor_org", CODE, nullable=True),
    Column("actor_role", String(32), nullable=True),
    Column("action", String(32), nullable=False),
    Column("object", String(400), nullable=False),
    Column("object_org", CODE, nullable=True, index=True),
    Column("reason", Text, nullable=False),
)
