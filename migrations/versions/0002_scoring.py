"""Scoring: checkpoints, item methods and rule parameters, scores, scheme definitions.

Schemes created before this revision get a definition built from their categories and
items, scored by the panel (考评) alone at a single year-end checkpoint, so they keep
working unchanged.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# Keys: BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCALE = 10_000  # exact decimals are stored × 10^4


def upgrade() -> None:
    op.create_table(
        "pdca_checkpoint",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("scheme_id", ID, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=True),
        sa.Column("weight", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["pdca_scheme.id"],
            name=op.f("fk_pdca_checkpoint_scheme_id_pdca_scheme"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_checkpoint")),
        sa.UniqueConstraint("scheme_id", "code", name=op.f("uq_pdca_checkpoint_scheme_id_code")),
    )
    op.create_table(
        "pdca_item_method",
        sa.Column("item_id", ID, nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["pdca_item.id"], name=op.f("fk_pdca_item_method_item_id_pdca_item")
        ),
        sa.PrimaryKeyConstraint("item_id", "method", name=op.f("pk_pdca_item_method")),
    )
    op.create_table(
        "pdca_score",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("cycle_id", ID, nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("checkpoint_id", ID, nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("assessor", sa.String(length=100), nullable=False),
        sa.Column("assessor_org", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.String(length=64), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["pdca_checkpoint.id"],
            name=op.f("fk_pdca_score_checkpoint_id_pdca_checkpoint"),
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["pdca_cycle.id"], name=op.f("fk_pdca_score_cycle_id_pdca_cycle")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["pdca_item.id"], name=op.f("fk_pdca_score_item_id_pdca_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdca_score")),
        sa.UniqueConstraint(
            "cycle_id",
            "item_id",
            "checkpoint_id",
            "method",
            "assessor",
            "assessor_org",
            name="uq_pdca_score_entry",
        ),
    )
    with op.batch_alter_table("pdca_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("per", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("scale", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("record_kind", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("target", sa.Integer(), nullable=True))
    with op.batch_alter_table("pdca_scheme", schema=None) as batch_op:
        batch_op.add_column(sa.Column("definition", sa.JSON(), nullable=True))
    _define_existing_schemes()


def _num(scaled: int) -> int | str:
    whole, frac = divmod(int(scaled), SCALE)
    if frac == 0:
        return whole
    return f"{whole}.{frac:04d}".rstrip("0")


def _define_existing_schemes() -> None:
    """Give schemes made before scoring existed a definition (panel only, year-end)."""
    conn = op.get_bind()
    meta = sa.MetaData()
    scheme = sa.Table("pdca_scheme", meta, autoload_with=conn)
    category = sa.Table("pdca_scheme_category", meta, autoload_with=conn)
    item = sa.Table("pdca_item", meta, autoload_with=conn)
    org = sa.Table("pdca_organization", meta, autoload_with=conn)
    scope = sa.Table("pdca_scheme_scope", meta, autoload_with=conn)
    checkpoint = sa.Table("pdca_checkpoint", meta, autoload_with=conn)
    item_method = sa.Table("pdca_item_method", meta, autoload_with=conn)
    rows = conn.execute(
        sa.select(scheme.c.id, scheme.c.code, scheme.c.title, scheme.c.period, org.c.code)
        .outerjoin(org, org.c.id == scheme.c.issuer_id)
        .where(scheme.c.definition.is_(None))
        .order_by(scheme.c.id)
    ).all()
    for sid, code, title, period, issuer in rows:
        cats: list[dict[str, Any]] = []
        for cid, ccode, cname in conn.execute(
            sa.select(category.c.id, category.c.code, category.c.name)
            .where(category.c.scheme_id == sid)
            .order_by(category.c.position)
        ).all():
            items = []
            for iid, icode, ititle, imax, ievidence in conn.execute(
                sa.select(item.c.id, item.c.code, item.c.title, item.c.max_score, item.c.evidence)
                .where(item.c.category_id == cid)
                .order_by(item.c.position)
            ).all():
                entry: dict[str, Any] = {
                    "code": icode,
                    "title": ititle,
                    "max_score": _num(imax),
                    "rule": "points",
                    "methods": {"panel": 1},
                }
                if ievidence:
                    entry["evidence"] = ievidence
                items.append(entry)
                conn.execute(item_method.insert().values(item_id=iid, method="panel", weight=SCALE))
            cats.append({"code": ccode, "name": cname, "items": items})
        scope_codes = [
            c
            for (c,) in conn.execute(
                sa.select(org.c.code)
                .join(scope, scope.c.org_id == org.c.id)
                .where(scope.c.scheme_id == sid)
                .order_by(org.c.code)
            ).all()
        ]
        definition: dict[str, Any] = {"code": code, "title": title, "period": period}
        if issuer is not None:
            definition["issuer"] = issuer
        definition["scope"] = scope_codes
        definition["checkpoints"] = [
            {"code": "year-end", "kind": "year-end", "name": "年终考核", "weight": 1}
        ]
        definition["categories"] = cats
        conn.execute(
            checkpoint.insert().values(
                scheme_id=sid,
                code="year-end",
                kind="year-end",
                name="年终考核",
                weight=SCALE,
                position=0,
            )
        )
        conn.execute(scheme.update().where(scheme.c.id == sid).values(definition=definition))


def downgrade() -> None:
    with op.batch_alter_table("pdca_scheme", schema=None) as batch_op:
        batch_op.drop_column("definition")
    with op.batch_alter_table("pdca_item", schema=None) as batch_op:
        batch_op.drop_column("target")
        batch_op.drop_column("record_kind")
        batch_op.drop_column("scale")
        batch_op.drop_column("per")
    op.drop_table("pdca_score")
    op.drop_table("pdca_item_method")
    op.drop_table("pdca_checkpoint")
