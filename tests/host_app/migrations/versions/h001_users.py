"""The host's users and its own audit log."""

import sqlalchemy as sa
from alembic import op

revision = "h001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("login", sa.String(50), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("org_code", sa.String(64), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
    )
    op.create_table(
        "host_audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("login", sa.String(50), nullable=False),
        sa.Column("what", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("host_audit_log")
    op.drop_table("users")
