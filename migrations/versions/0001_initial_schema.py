"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Keys: BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pdca_event",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_org", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", ID, nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_event")),
    )
    op.create_index("ix_pdca_event_entity", "pdca_event", ["entity", "entity_id"], unique=False)

    op.create_table(
        "pdca_organization",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("peer_group", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["pdca_organization.id"],
            name=op.f("fk_pdca_organization_parent_id_pdca_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_organization")),
        sa.UniqueConstraint("code", name=op.f("uq_pdca_organization_code")),
    )
    op.create_index(
        op.f("ix_pdca_organization_parent_id"), "pdca_organization", ["parent_id"], unique=False
    )
    op.create_index(
        op.f("ix_pdca_organization_peer_group"), "pdca_organization", ["peer_group"], unique=False
    )

    op.create_table(
        "pdca_scheme",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("issuer_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["pdca_organization.id"],
            name=op.f("fk_pdca_scheme_issuer_id_pdca_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_scheme")),
        sa.UniqueConstraint("code", name=op.f("uq_pdca_scheme_code")),
    )
    op.create_index(op.f("ix_pdca_scheme_period"), "pdca_scheme", ["period"], unique=False)

    op.create_table(
        "pdca_cycle",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("scheme_id", ID, nullable=True),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["pdca_organization.id"],
            name=op.f("fk_pdca_cycle_org_id_pdca_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["pdca_cycle.id"], name=op.f("fk_pdca_cycle_parent_id_pdca_cycle")
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["pdca_scheme.id"], name=op.f("fk_pdca_cycle_scheme_id_pdca_scheme")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_cycle")),
        sa.UniqueConstraint("org_id", "period", name=op.f("uq_pdca_cycle_org_id_period")),
    )
    op.create_index(op.f("ix_pdca_cycle_parent_id"), "pdca_cycle", ["parent_id"], unique=False)
    op.create_index("ix_pdca_cycle_period_state", "pdca_cycle", ["period", "state"], unique=False)
    op.create_index(op.f("ix_pdca_cycle_scheme_id"), "pdca_cycle", ["scheme_id"], unique=False)

    op.create_table(
        "pdca_scheme_category",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("scheme_id", ID, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["pdca_scheme.id"],
            name=op.f("fk_pdca_scheme_category_scheme_id_pdca_scheme"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_scheme_category")),
        sa.UniqueConstraint(
            "scheme_id", "code", name=op.f("uq_pdca_scheme_category_scheme_id_code")
        ),
    )
    op.create_table(
        "pdca_scheme_scope",
        sa.Column("scheme_id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["pdca_organization.id"],
            name=op.f("fk_pdca_scheme_scope_org_id_pdca_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["pdca_scheme.id"],
            name=op.f("fk_pdca_scheme_scope_scheme_id_pdca_scheme"),
        ),
        sa.PrimaryKeyConstraint("scheme_id", "org_id", name=op.f("pk_pdca_scheme_scope")),
    )
    op.create_index(
        op.f("ix_pdca_scheme_scope_org_id"), "pdca_scheme_scope", ["org_id"], unique=False
    )

    op.create_table(
        "pdca_finding",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("cycle_id", ID, nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("checkpoint", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("found_on", sa.Date(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("rectification", sa.Text(), nullable=True),
        sa.Column("rectification_owner", sa.String(length=100), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("root_id", ID, nullable=True),
        sa.Column("previous_id", ID, nullable=True),
        sa.Column("carry_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["pdca_cycle.id"], name=op.f("fk_pdca_finding_cycle_id_pdca_cycle")
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["pdca_finding.id"],
            name=op.f("fk_pdca_finding_previous_id_pdca_finding"),
        ),
        sa.ForeignKeyConstraint(
            ["root_id"], ["pdca_finding.id"], name=op.f("fk_pdca_finding_root_id_pdca_finding")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_finding")),
        sa.UniqueConstraint("previous_id", name=op.f("uq_pdca_finding_previous_id")),
    )
    op.create_index(op.f("ix_pdca_finding_cycle_id"), "pdca_finding", ["cycle_id"], unique=False)
    op.create_index(op.f("ix_pdca_finding_root_id"), "pdca_finding", ["root_id"], unique=False)

    op.create_table(
        "pdca_item",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("scheme_id", ID, nullable=False),
        sa.Column("category_id", ID, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("max_score", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["pdca_scheme_category.id"],
            name=op.f("fk_pdca_item_category_id_pdca_scheme_category"),
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["pdca_scheme.id"], name=op.f("fk_pdca_item_scheme_id_pdca_scheme")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_item")),
        sa.UniqueConstraint("scheme_id", "code", name=op.f("uq_pdca_item_scheme_id_code")),
    )
    op.create_index(op.f("ix_pdca_item_category_id"), "pdca_item", ["category_id"], unique=False)

    op.create_table(
        "pdca_record",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("cycle_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["pdca_cycle.id"], name=op.f("fk_pdca_record_cycle_id_pdca_cycle")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_record")),
    )
    op.create_index(op.f("ix_pdca_record_cycle_id"), "pdca_record", ["cycle_id"], unique=False)

    op.create_table(
        "pdca_target",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("cycle_id", ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=True),
        sa.Column("item_id", ID, nullable=True),
        sa.Column("target_value", sa.BigInteger(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("first_responsible", sa.String(length=100), nullable=True),
        sa.Column("direct_responsible", sa.String(length=100), nullable=True),
        sa.Column("specific_responsible", sa.String(length=100), nullable=True),
        sa.Column("lead_unit", sa.String(length=200), nullable=True),
        sa.Column("responsible_unit", sa.String(length=200), nullable=True),
        sa.Column("responsible_leader", sa.String(length=100), nullable=True),
        sa.Column("carried_from_id", ID, nullable=True),
        sa.Column("origin_period", sa.String(length=16), nullable=True),
        sa.Column("carry_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["carried_from_id"],
            ["pdca_finding.id"],
            name=op.f("fk_pdca_target_carried_from_id_pdca_finding"),
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["pdca_cycle.id"], name=op.f("fk_pdca_target_cycle_id_pdca_cycle")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["pdca_item.id"], name=op.f("fk_pdca_target_item_id_pdca_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_target")),
        sa.UniqueConstraint("carried_from_id", name=op.f("uq_pdca_target_carried_from_id")),
    )
    op.create_index(op.f("ix_pdca_target_cycle_id"), "pdca_target", ["cycle_id"], unique=False)

    op.create_table(
        "pdca_measure",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("target_id", ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_id"], ["pdca_target.id"], name=op.f("fk_pdca_measure_target_id_pdca_target")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_measure")),
    )
    op.create_index(op.f("ix_pdca_measure_target_id"), "pdca_measure", ["target_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pdca_measure_target_id"), table_name="pdca_measure")

    op.drop_table("pdca_measure")
    op.drop_index(op.f("ix_pdca_target_cycle_id"), table_name="pdca_target")

    op.drop_table("pdca_target")
    op.drop_index(op.f("ix_pdca_record_cycle_id"), table_name="pdca_record")

    op.drop_table("pdca_record")
    op.drop_index(op.f("ix_pdca_item_category_id"), table_name="pdca_item")

    op.drop_table("pdca_item")
    op.drop_index(op.f("ix_pdca_finding_root_id"), table_name="pdca_finding")
    op.drop_index(op.f("ix_pdca_finding_cycle_id"), table_name="pdca_finding")

    op.drop_table("pdca_finding")
    op.drop_index(op.f("ix_pdca_scheme_scope_org_id"), table_name="pdca_scheme_scope")

    op.drop_table("pdca_scheme_scope")
    op.drop_table("pdca_scheme_category")
    op.drop_index(op.f("ix_pdca_cycle_scheme_id"), table_name="pdca_cycle")
    op.drop_index("ix_pdca_cycle_period_state", table_name="pdca_cycle")
    op.drop_index(op.f("ix_pdca_cycle_parent_id"), table_name="pdca_cycle")

    op.drop_table("pdca_cycle")
    op.drop_index(op.f("ix_pdca_scheme_period"), table_name="pdca_scheme")

    op.drop_table("pdca_scheme")
    op.drop_index(op.f("ix_pdca_organization_peer_group"), table_name="pdca_organization")
    op.drop_index(op.f("ix_pdca_organization_parent_id"), table_name="pdca_organization")

    op.drop_table("pdca_organization")
    op.drop_index("ix_pdca_event_entity", table_name="pdca_event")

    op.drop_table("pdca_event")
