"""The host's own tables (nothing to do with pdca)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("login", sa.String(50), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("org_code", sa.String(64), nullable=True),
    sa.Column("role", sa.String(32), nullable=False),
)

audit_log = sa.Table(
    "host_audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("login", sa.String(50), nullable=False),
    sa.Column("what", sa.String(200), nullable=False),
)
