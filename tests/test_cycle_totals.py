"""The per-cycle sums the results read (``pdca_cycle_total``, migration 0006): every write
that changes a score or a record keeps them equal to a recomputation from every score,
on both databases, including two writers scoring one organization at the same moment and
a database migrated from 0005 with its scores already in.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import pdca
from pdca.cli import cli
from pdca.persistence import tables as t
from pdca.persistence.results import refresh_totals
from reliability import OFFICE, world


def _rows(conn: sa.Connection) -> dict[int, tuple[Any, ...]]:
    ct = t.cycle_total
    q = sa.select(
        ct.c.cycle_id, ct.c.base, ct.c.bonus, ct.c.penalty, ct.c.veto_hits, ct.c.subtotals
    )
    return {
        int(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4]), json.loads(r[5]))
        for r in conn.execute(q)
    }


def stored(engine: sa.Engine) -> dict[int, tuple[Any, ...]]:
    with engine.connect() as conn:
        return _rows(conn)


def recomputed(engine: sa.Engine) -> dict[int, tuple[Any, ...]]:
    """The sums computed from scratch for every cycle with a scheme (rolled back after)."""
    conn = engine.connect()
    trans = conn.begin()
    try:
        conn.execute(sa.delete(t.cycle_total))
        ids = conn.scalars(sa.select(t.cycle.c.id).where(t.cycle.c.scheme_id.is_not(None)))
        refresh_totals(conn, list(ids))
        return _rows(conn)
    finally:
        trans.rollback()
        conn.close()


@pytest.mark.parametrize("sample", ["xiangtan", "zhangzhou", "grassroots", "bilahe", "changping"])
def test_a_sample_year_leaves_the_sums_fresh(empty_db_url: str, sample: str) -> None:
    """Every source article's year (scores, imports, records, appeals, rollover) through
    the CLI: the stored sums equal a recomputation, and the results rank by them."""
    r = CliRunner().invoke(cli, ["--db", empty_db_url, "demo", "--sample", sample, "--json"])
    assert r.exit_code == 0, r.output
    engine = sa.create_engine(empty_db_url, poolclass=sa.NullPool)
    try:
        mine = stored(engine)
        assert mine, "a sample year enters scores"
        assert mine == recomputed(engine)
    finally:
        engine.dispose()


def _total(store: pdca.Store, org: str) -> Decimal:
    with store.unit_of_work(OFFICE) as u:
        return u.results("S2025", "2025").row(org).total


def test_each_write_moves_the_total(store: pdca.Store) -> None:
    world(store, 2)
    assert _total(store, "B00") == Decimal("0.00")
    with store.unit_of_work(OFFICE) as u:
        u.enter_score("B00", "2025", "P1", "year-end", "panel", 50, assessor="考核组")
    assert _total(store, "B00") == Decimal("50.00")
    with store.unit_of_work(OFFICE) as u:  # a second assessor: the mean of the two
        u.enter_score("B00", "2025", "P1", "year-end", "panel", 45, assessor="考核组2")
    assert _total(store, "B00") == Decimal("47.50")
    with store.unit_of_work(OFFICE) as u:  # a replacement
        u.enter_score("B00", "2025", "P2", "year-end", "panel", 30, assessor="考核组")
        u.enter_score("B00", "2025", "P2", "year-end", "panel", 35, assessor="考核组")
    assert _total(store, "B00") == Decimal("82.50")
    assert _total(store, "B01") == Decimal("0.00")

    def half_then_refused() -> None:
        with store.unit_of_work(OFFICE) as u:
            u.enter_score("B01", "2025", "P1", "year-end", "panel", 20, assessor="考核组")
            u.enter_score("B01", "2025", "P1", "year-end", "panel", 999, assessor="考核组")

    with pytest.raises(pdca.ValidationError):
        half_then_refused()
    assert _total(store, "B01") == Decimal("0.00")  # rolled back with the unit of work
    assert stored(store.engine) == recomputed(store.engine)


def test_two_writers_scoring_one_organization_at_once(
    store: pdca.Store, db_url: str, clock: pdca.FixedClock
) -> None:
    """A enters P1 and holds its transaction open; B enters P2 of the same cycle meanwhile.
    Each recomputes the cycle's sums; B's must include A's score (on PostgreSQL B waits for
    A's lock on the cycle, on SQLite for the write lock), or the stored total would lose
    it."""
    first = store
    world(first, 1)
    second = pdca.open_store(db_url, clock=clock)
    a_entered = threading.Event()
    errors: list[BaseException] = []

    def writer_a() -> None:
        try:
            with first.unit_of_work(OFFICE) as u:
                u.enter_score("B00", "2025", "P1", "year-end", "panel", 50, assessor="考核组")
                a_entered.set()
                threading.Event().wait(0.5)  # B starts while A's transaction is open
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)
            a_entered.set()

    def writer_b() -> None:
        try:
            a_entered.wait(10)
            with second.unit_of_work(OFFICE) as u:
                u.enter_score("B00", "2025", "P2", "year-end", "panel", 30, assessor="考核组")
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors, errors
    assert _total(first, "B00") == Decimal("80.00")
    assert stored(first.engine) == recomputed(first.engine)
    second.close()


def test_migration_0006_computes_the_sums_of_existing_scores(empty_db_url: str) -> None:
    """A database at 0005 with scores in it: upgrading computes every cycle's sums."""
    engine = sa.create_engine(empty_db_url, poolclass=sa.NullPool)
    pdca.upgrade(engine)
    clock = pdca.FixedClock(pendulum.datetime(2025, 12, 1, 9, tz="Asia/Shanghai"))
    with pdca.open_store(empty_db_url, clock=clock) as store:
        world(store, 3)
        with store.unit_of_work(OFFICE) as u:
            u.enter_score("B00", "2025", "P1", "year-end", "panel", 50, assessor="考核组")
            u.enter_score("B01", "2025", "P2", "year-end", "panel", 33.5, assessor="考核组")
        before = stored(store.engine)
    assert len(before) == 2
    pdca.downgrade(engine, "0005")
    assert "pdca_cycle_total" not in sa.inspect(engine).get_table_names()
    pdca.upgrade(engine)
    assert stored(engine) == before
    engine.dispose()
