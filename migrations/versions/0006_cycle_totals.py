"""Each cycle's sums, kept for the results: pdca_cycle_total.

Every write that changes a score or a record recomputes its cycle's row
(pdca.persistence.results.refresh_totals), so the year's ranking reads one row per
organization instead of every score. The rows of existing cycles are computed here, by
that same function as it is in this release (the arithmetic of the results is the
library's, not the migration's: a later revision that changes it recomputes the rows).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pdca_cycle_total",
        sa.Column("cycle_id", ID, autoincrement=False, nullable=False),
        sa.Column("base", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("penalty", sa.BigInteger(), nullable=False),
        sa.Column("veto_hits", sa.Integer(), nullable=False),
        sa.Column("subtotals", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["pdca_cycle.id"],
            name=op.f("fk_pdca_cycle_total_cycle_id_pdca_cycle"),
        ),
        sa.PrimaryKeyConstraint("cycle_id", name=op.f("pk_pdca_cycle_total")),
    )
    from pdca.persistence.results import refresh_totals

    bind = op.get_bind()
    cycle = sa.table("pdca_cycle", sa.column("id"), sa.column("scheme_id"))
    ids = bind.execute(sa.select(cycle.c.id).where(cycle.c.scheme_id.is_not(None))).scalars()
    refresh_totals(bind, list(ids))


def downgrade() -> None:
    op.drop_table("pdca_cycle_total")
