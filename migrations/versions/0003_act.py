"""Act: rectification measures, appeals, publications, key content, rollover runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Keys: BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pdca_cycle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "pdca_rectification",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("finding_id", ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["pdca_finding.id"],
            name=op.f("fk_pdca_rectification_finding_id_pdca_finding"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_rectification")),
    )
    op.create_index(op.f("ix_pdca_rectification_finding_id"), "pdca_rectification", ["finding_id"])
    op.create_table(
        "pdca_appeal",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("cycle_id", ID, nullable=False),
        sa.Column("score_id", ID, nullable=True),
        sa.Column("finding_id", ID, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_value", sa.String(length=64), nullable=True),
        sa.Column("filed_by", sa.String(length=100), nullable=False),
        sa.Column("filed_org", sa.String(length=64), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("original_raw", sa.String(length=64), nullable=True),
        sa.Column("original_points", sa.BigInteger(), nullable=True),
        sa.Column("revised_raw", sa.String(length=64), nullable=True),
        sa.Column("revised_points", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["pdca_cycle.id"], name=op.f("fk_pdca_appeal_cycle_id_pdca_cycle")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["pdca_finding.id"],
            name=op.f("fk_pdca_appeal_finding_id_pdca_finding"),
        ),
        sa.ForeignKeyConstraint(
            ["score_id"], ["pdca_score.id"], name=op.f("fk_pdca_appeal_score_id_pdca_score")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_appeal")),
    )
    op.create_index(op.f("ix_pdca_appeal_cycle_id"), "pdca_appeal", ["cycle_id"])
    op.create_table(
        "pdca_publication",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("scheme_id", ID, nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("appeal_id", ID, nullable=True),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appeal_id"],
            ["pdca_appeal.id"],
            name=op.f("fk_pdca_publication_appeal_id_pdca_appeal"),
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["pdca_scheme.id"],
            name=op.f("fk_pdca_publication_scheme_id_pdca_scheme"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_publication")),
        sa.UniqueConstraint(
            "scheme_id",
            "period",
            "version",
            name=op.f("uq_pdca_publication_scheme_id_period_version"),
        ),
    )
    op.create_table(
        "pdca_key_content",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("scheme_id", ID, nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("marked_by", sa.String(length=100), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["pdca_scheme.id"],
            name=op.f("fk_pdca_key_content_scheme_id_pdca_scheme"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_key_content")),
        sa.UniqueConstraint(
            "scheme_id",
            "period",
            "item_code",
            "kind",
            name=op.f("uq_pdca_key_content_scheme_id_period_item_code_kind"),
        ),
    )
    op.create_table(
        "pdca_rollover_run",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("scheme_code", sa.String(length=64), nullable=False),
        sa.Column("period_from", sa.String(length=16), nullable=False),
        sa.Column("period_to", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_rollover_run")),
    )


def downgrade() -> None:
    op.drop_table("pdca_rollover_run")
    op.drop_table("pdca_key_content")
    op.drop_table("pdca_publication")
    op.drop_index(op.f("ix_pdca_appeal_cycle_id"), table_name="pdca_appeal")
    op.drop_table("pdca_appeal")
    op.drop_index(op.f("ix_pdca_rectification_finding_id"), table_name="pdca_rectification")
    op.drop_table("pdca_rectification")
    with op.batch_alter_table("pdca_cycle", schema=None) as batch_op:
        batch_op.drop_column("feedback_at")
