"""Permissions: the record of every change the permission policy refused.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Keys: BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pdca_denial",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_org", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("object", sa.String(length=400), nullable=False),
        sa.Column("object_org", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_denial")),
    )
    op.create_index(op.f("ix_pdca_denial_object_org"), "pdca_denial", ["object_org"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pdca_denial_object_org"), table_name="pdca_denial")
    op.drop_table("pdca_denial")
