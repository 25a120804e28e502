"""Migrations beyond pytest-alembic's standard tests (issue 7, item 7); both iterate over
whatever revisions exist, so a new migration is covered the day it is added.

* **Downgrade leaves no trace**: a host's table (with its index, a sequence on PostgreSQL,
  and rows) exists first; upgrade to head then downgrade to base: no pdca table, index,
  sequence, type, function or trigger remains, and the host's objects and rows are
  untouched. (The empty version table is left behind today: see the strict xfail below.)
* **Every migration runs on a database that already holds data**: at each revision every
  pdca table gets rows (values by column name and type, foreign keys pointing at rows of
  the same round); upgrading to the next revision keeps every row written so far, column
  by column (the columns both revisions have), and the data at head reads back through
  the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

import pdca
from pdca.persistence.database import create_pdca_engine
from pdca.persistence.migrate import alembic_config
from pdca.persistence.tables import VERSION_TABLE
from reliability import SYSTEM, record_figures


def revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[sa.Engine]:
    # pdca's own engine settings (SQLite: the functions the trail's triggers call).
    e = create_pdca_engine(empty_db_url, poolclass=sa.NullPool)
    yield e
    e.dispose()


# ------------------------------------------------------------------- no trace left


def objects(engine: sa.Engine) -> dict[str, set[str]]:
    """Every schema object a migration could leave behind, by kind."""
    insp = sa.inspect(engine)
    names = set(insp.get_table_names())
    out: dict[str, set[str]] = {
        "tables": names,
        "indexes": {f"{tb}.{ix['name']}" for tb in names for ix in insp.get_indexes(tb)},
        "views": set(insp.get_view_names()),
    }
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            out["triggers"] = set(
                conn.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            )
            out["sqlite_master"] = {
                f"{r[0]}:{r[1]}"
                for r in conn.execute(sa.text("SELECT type, name FROM sqlite_master"))
            }
        else:
            out["sequences"] = set(insp.get_sequence_names())
            out["triggers"] = set(
                conn.scalars(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
            )
            out["types"] = set(
                conn.scalars(
                    sa.text(
                        "SELECT t.typname FROM pg_type t JOIN pg_namespace n "
                        "ON n.oid = t.typnamespace WHERE n.nspname = current_schema() "
                        "AND t.typtype IN ('e', 'd', 'r', 'm')"
                    )
                )
            )
            out["functions"] = set(
                conn.scalars(
                    sa.text(
                        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n "
                        "ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"
                    )
                )
            )
    return out


def _host(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("CREATE TABLE host_member (id SERIAL PRIMARY KEY, name TEXT)"))
            conn.execute(sa.text("CREATE SEQUENCE host_ticket_seq"))
        else:
            conn.execute(sa.text("CREATE TABLE host_member (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(sa.text("CREATE INDEX ix_host_member_name ON host_member (name)"))
        conn.execute(sa.text("INSERT INTO host_member (name) VALUES ('张三'), ('李四')"))


def _without_version_table(objs: dict[str, set[str]]) -> dict[str, set[str]]:
    return {k: {x for x in v if VERSION_TABLE not in x} for k, v in objs.items()}


def test_downgrade_to_base_leaves_no_pdca_object_and_the_host_untouched(
    engine: sa.Engine,
) -> None:
    _host(engine)
    before = objects(engine)
    pdca.upgrade(engine)
    during = objects(engine)
    assert len(during["tables"]) > len(before["tables"]) + 10
    pdca.downgrade(engine, "base")
    after = objects(engine)
    assert _without_version_table(after) == before
    with engine.connect() as conn:
        assert sorted(conn.scalars(sa.text("SELECT name FROM host_member"))) == ["张三", "李四"]
    # And again: a second round trip leaves the same nothing.
    pdca.upgrade(engine)
    pdca.downgrade(engine, "base")
    assert _without_version_table(objects(engine)) == before


@pytest.mark.xfail(
    strict=True,
    reason="pdca.downgrade(..., 'base') leaves the empty pdca_alembic_version table "
    "(alembic's behaviour; tests/test_migrations.py expects it): no trace would drop it too",
)
def test_downgrade_to_base_drops_the_version_table_too(engine: sa.Engine) -> None:
    pdca.upgrade(engine)
    pdca.downgrade(engine, "base")
    assert VERSION_TABLE not in objects(engine)["tables"]


# -------------------------------------------------------------- data through each step

NAMED: dict[str, Any] = {
    "state": "acting",
    "period": "2025",
    "period_from": "2025",
    "period_to": "2026",
    "kind": "党支部",
    "method": "panel",
    "checkpoint": "year-end",
    "severity": "general",
    "source": "panel",
    "origin": "scheme",
    "rule": "points",
    "entity": "cycle",
    "action": "open",
    "actor": "考核办",
    "actor_role": "assessor",
    "raw": "45",
}


def _value(table: str, col: sa.Column[Any], k: int, rnd: int) -> Any:
    name = col.name
    ty = col.type
    if name in NAMED and isinstance(ty, sa.String):
        return NAMED[name]
    if isinstance(ty, sa.Boolean):
        return k % 2 == 0
    if isinstance(ty, sa.Integer):
        return rnd * 10 + k + 1
    if isinstance(ty, sa.Numeric):
        return Decimal(f"{rnd * 10 + k}.25")
    if isinstance(ty, sa.DateTime):
        return dt.datetime(2025, 6, 1 + k, 9, 30, tzinfo=dt.UTC)
    if isinstance(ty, sa.Date):
        return dt.date(2025, 6, 1 + k)
    if isinstance(ty, sa.JSON):
        return {"round": rnd, "k": k, "说明": "数据"}
    if isinstance(ty, sa.LargeBinary):
        return bytes([rnd, k])
    if isinstance(ty, sa.String | sa.Text):
        text = f"{name}·{rnd}·{k}·第{k}支部"
        length = getattr(ty, "length", None)
        return text[:length] if length else text
    return None


def _skip(table: str, col: sa.Column[Any]) -> bool:
    """Columns the database fills itself (the trail's chain, computed by a trigger)."""
    return table == "pdca_event" and ("hash" in col.name or col.name == "seq")


def _populate(engine: sa.Engine, rnd: int, rows: dict[str, dict[Any, dict[str, Any]]]) -> int:
    md = sa.MetaData()
    md.reflect(engine)
    n = 0
    mine: dict[str, list[Any]] = {}
    with engine.begin() as conn:
        for table in md.sorted_tables:
            if not table.name.startswith("pdca_") or table.name == VERSION_TABLE:
                continue
            pk = [c for c in table.primary_key.columns]
            for k in range(3):
                values: dict[str, Any] = {}
                for col in table.columns:
                    if _skip(table.name, col) or (
                        col.primary_key
                        and not col.foreign_keys  # a key that is a reference is given
                        and col.autoincrement is not False
                        and len(pk) == 1
                        and isinstance(col.type, sa.Integer)
                    ):
                        continue
                    fks = list(col.foreign_keys)
                    if fks:
                        target = fks[0].column.table.name
                        parents = mine.get(target) or [None]
                        if target == table.name:  # a thread (previous_id): the row before
                            values[col.name] = parents[-1] if k else None
                        else:
                            values[col.name] = parents[k % len(parents)]
                        continue
                    values[col.name] = _value(table.name, col, k, rnd)
                res = conn.execute(sa.insert(table).values(**values))
                key = tuple(res.inserted_primary_key or ())
                if len(pk) == 1:
                    mine.setdefault(table.name, []).append(key[0])
                rows.setdefault(table.name, {})[key] = {}
                n += 1
    # What the database holds now (as it reads back: types normalized by the driver).
    _read(engine, rows)
    return n


def _read(engine: sa.Engine, rows: dict[str, dict[Any, dict[str, Any]]]) -> None:
    md = sa.MetaData()
    md.reflect(engine)
    with engine.connect() as conn:
        for name, keyed in rows.items():
            table = md.tables.get(name)
            assert table is not None, f"a migration dropped {name}, which held data"
            pk = list(table.primary_key.columns)
            for key, stored in keyed.items():
                q = sa.select(table)
                for c, v in zip(pk, key, strict=True):
                    q = q.where(c == v)
                row = conn.execute(q).mappings().one_or_none()
                assert row is not None, f"{name} row {key} is gone"
                for col, value in row.items():
                    if col in stored and stored[col] != value:
                        raise AssertionError(f"{name} {key}.{col}: {stored[col]!r} → {value!r}")
                    stored.setdefault(col, value)


def test_every_migration_runs_on_a_database_that_holds_data(engine: sa.Engine) -> None:
    revs = revisions()
    assert len(revs) >= 5
    rows: dict[str, dict[Any, dict[str, Any]]] = {}
    written = 0
    steps = []
    for rnd, rev in enumerate(revs):
        pdca.upgrade(engine, rev)
        # Rows written at earlier revisions survived this migration, column by column.
        _read(engine, rows)
        written += _populate(engine, rnd, rows)
        steps.append(rev)
    # Everything written at every revision reads back through the store at head.
    url = engine.url.render_as_string(hide_password=False)
    with pdca.open_store(url) as store, store.unit_of_work(SYSTEM) as u:
        assert len(u.organizations()) == len(rows["pdca_organization"])
    record_figures("migrations_data", {"revisions": steps, "rows_written": written})
