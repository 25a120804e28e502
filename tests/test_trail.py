"""The tamper-evident trail: hash-chained by the database, append-only, checked by
``verify_chain``; on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
import random
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import pdca
from conftest import BACKEND
from pdca.persistence import migrate
from pdca.persistence.trail import FIELDS, GENESIS, canonical_sql, sha256_hex, verify_chain
from test_rollover import build_year

SYSTEM = pdca.Actor("job", role="system")


def chain(store: pdca.Store, **kw: Any) -> pdca.persistence.trail.ChainReport:
    with store.engine.connect() as conn:
        return verify_chain(conn, **kw)


def test_every_event_is_chained_and_the_chain_verifies(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    build_year(store, clock, 2025, 4)
    store.rollover("2025", "2026", "S-2026")  # set-based inserts are chained too
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, hash FROM pdca_event ORDER BY seq")).all()
        n = conn.execute(sa.text("SELECT count(*) FROM pdca_event")).scalar_one()
    assert [r.seq for r in rows] == list(range(1, n + 1))
    assert all(len(r.hash) == 64 for r in rows)
    report = chain(store)
    assert report.intact, report.problems
    assert (report.events, report.head_seq, report.head_hash) == (n, n, rows[-1].hash)


def test_the_migration_and_the_check_agree_on_the_canonical_text() -> None:
    path = migrate.migrations_path() / "versions" / "0005_trail.py"
    spec = importlib.util.spec_from_file_location("m0005", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.FIELDS == FIELDS
    assert module.GENESIS == GENESIS
    for dialect in ("sqlite", "postgresql"):
        assert module.canonical_sql(dialect, "NEW", "x") == canonical_sql(dialect, "NEW", "x")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE pdca_event SET actor = 'mallory'",
        "UPDATE pdca_event SET hash = hash",
        "DELETE FROM pdca_event",
        *(["TRUNCATE pdca_event"] if BACKEND == "postgresql" else []),
    ],
)
def test_the_trail_refuses_updates_and_deletes(
    store: pdca.Store, clock: pdca.FixedClock, statement: str
) -> None:
    build_year(store, clock, 2025, 1)
    before = chain(store)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(sa.text(statement))
    after = chain(store)
    assert after.intact
    assert (after.events, after.head_hash) == (before.events, before.head_hash)


# -------------------------------------------------------------------------- tampering


def _unguarded(conn: sa.Connection) -> None:
    """What an intruder with the database's keys does first: switch the triggers off (in
    this transaction only, which the test rolls back)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    else:
        for name in ("pdca_event_chain", "pdca_event_no_update", "pdca_event_no_delete"):
            conn.exec_driver_sql(f"DROP TRIGGER {name}")


def _tamper(conn: sa.Connection, rng: random.Random, n: int) -> str:
    kind = rng.choice(
        ["edit", "edit_hash", "delete", "delete_tail", "reorder", "forge", "forge_middle"]
    )
    seq = rng.randint(1, n)
    if kind == "edit":
        column = rng.choice(
            ["actor", "actor_org", "entity", "entity_id", "action", "to_state", "reason", "data"]
        )
        value: Any = rng.choice(["mallory", "甲", "closed", "{}", "[1]"])
        if column == "entity_id":
            value = rng.randint(10_000, 20_000)
        elif column == "data":
            value = '{"forged": true}'
        conn.execute(
            sa.text(f"UPDATE pdca_event SET {column} = :v WHERE seq = :s"), {"v": value, "s": seq}
        )
        # An edit to the value it already had is no edit: make sure something changed.
        if column in ("actor_org", "reason", "to_state"):
            conn.execute(
                sa.text(f"UPDATE pdca_event SET {column} = {column} || '*' WHERE seq = :s"),
                {"s": seq},
            )
    elif kind == "edit_hash":
        conn.execute(
            sa.text("UPDATE pdca_event SET hash = :h WHERE seq = :s"),
            {"h": sha256_hex(str(rng.random())), "s": seq},
        )
    elif kind == "delete":
        conn.execute(sa.text("DELETE FROM pdca_event WHERE seq = :s"), {"s": seq})
    elif kind == "delete_tail":
        conn.execute(sa.text("DELETE FROM pdca_event WHERE seq > :s"), {"s": max(seq - 3, 0)})
    elif kind == "reorder":
        other = rng.choice([s for s in range(1, n + 1) if s != seq])
        conn.execute(
            sa.text(
                "UPDATE pdca_event SET seq = CASE WHEN seq = :a THEN -1 ELSE -2 END "
                "WHERE seq IN (:a, :b)"
            ),
            {"a": seq, "b": other},
        )
        conn.execute(sa.text("UPDATE pdca_event SET seq = :b WHERE seq = -1"), {"b": other})
        conn.execute(sa.text("UPDATE pdca_event SET seq = :a WHERE seq = -2"), {"a": seq})
    else:
        cols = ", ".join(c for c in FIELDS if c != "id")
        if kind == "forge":  # a new event at the end, with a plausible but made-up hash
            new_seq, forged_hash = n + 1, sha256_hex(f"forged{rng.random()}")
        else:  # squeezed into the middle: everything after it moves up one place
            new_seq, forged_hash = seq, sha256_hex(f"forged{rng.random()}")
            conn.execute(sa.text("UPDATE pdca_event SET seq = -seq WHERE seq >= :s"), {"s": seq})
            conn.execute(sa.text("UPDATE pdca_event SET seq = -seq + 1 WHERE seq < 0"))
        source = rng.randint(1, n)
        conn.execute(
            sa.text(
                f"INSERT INTO pdca_event ({cols}, seq, hash) "
                f"SELECT {cols}, :seq, :hash FROM pdca_event WHERE seq = :src"
            ),
            {"seq": new_seq, "hash": forged_hash, "src": source},
        )
        if rng.random() < 0.5:
            conn.execute(
                sa.text("UPDATE pdca_event SET actor = 'forger' WHERE seq = :s"), {"s": new_seq}
            )
    return kind


def test_a_thousand_random_tamperings_are_all_detected(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    build_year(store, clock, 2025, 6)
    report = chain(store)
    assert report.intact
    anchor = (report.head_seq, report.head_hash)  # recorded elsewhere, e.g. when published
    n = report.head_seq
    rng = random.Random(20261121)
    kinds: dict[str, int] = {}
    missed: list[str] = []
    with store.engine.connect() as conn:
        for _ in range(1000):
            trans = conn.begin()
            try:
                _unguarded(conn)
                kind = _tamper(conn, rng, n)
                kinds[kind] = kinds.get(kind, 0) + 1
                found = verify_chain(conn, anchor=anchor)
                if found.intact:
                    missed.append(kind)
            finally:
                trans.rollback()
    assert missed == []
    assert set(kinds) == {
        "edit",
        "edit_hash",
        "delete",
        "delete_tail",
        "reorder",
        "forge",
        "forge_middle",
    }
    assert chain(store, anchor=anchor).intact  # every tampering was rolled back


def test_events_written_around_the_trail_are_reported(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    build_year(store, clock, 2025, 1)
    with store.engine.connect() as conn, conn.begin() as trans:
        _unguarded(conn)
        conn.execute(
            sa.text(
                "INSERT INTO pdca_event (at, actor, entity, entity_id, action) "
                "SELECT at, 'ghost', entity, entity_id, action FROM pdca_event WHERE seq = 1"
            )
        )
        found = verify_chain(conn)
        trans.rollback()
    assert not found.intact
    assert "no place in the chain" in found.problems[0]


# ----------------------------------------------------------------------- concurrency


def test_concurrent_appenders_never_fork_the_chain(db_url: str, clock: pdca.FixedClock) -> None:
    with pdca.open_store(db_url, clock=clock) as store, store.unit_of_work(SYSTEM) as uow:
        uow.add_organization("JG", "机关党委", "机关党委")
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            with pdca.open_store(db_url, clock=clock) as store:
                for j in range(15):
                    with store.unit_of_work(SYSTEM) as uow:
                        uow.add_organization(f"W{k}-{j}", f"第{k}-{j}支部", "党支部", parent="JG")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with pdca.open_store(db_url, clock=clock) as store:
        report = chain(store)
    assert report.intact, report.problems
    assert report.events == report.head_seq == 1 + 6 * 15


def test_existing_events_are_chained_by_the_migration(empty_db_url: str) -> None:
    engine = sa.create_engine(empty_db_url, poolclass=sa.NullPool)
    pdca.upgrade(engine, "0004")
    with engine.begin() as conn:
        for k in range(5):
            conn.execute(
                sa.text(
                    "INSERT INTO pdca_event (at, actor, entity, entity_id, action, data) "
                    "VALUES (:at, :actor, 'organization', :k, 'create', :data)"
                ),
                {
                    "at": "2024-12-31 16:00:00.000000"
                    if BACKEND == "sqlite"
                    else "2024-12-31T16:00:00Z",
                    "actor": f"旧系统{k}",
                    "k": k,
                    "data": f'{{"code": "B{k}"}}',
                },
            )
    pdca.upgrade(engine)
    with pdca.open_store(engine) as store:
        report = chain(store)
        assert report.intact, report.problems
        assert report.events == report.head_seq == 5
        with store.unit_of_work(SYSTEM) as uow:
            uow.add_organization("JG", "机关党委", "机关党委")
        after = chain(store)
    assert after.intact
    assert after.head_seq == 6
    engine.dispose()


def test_the_trail_needs_no_set_up_on_a_hosts_sqlite_engine(tmp_path: Path) -> None:
    if BACKEND != "sqlite":
        pytest.skip("SQLite's pdca_sha256 function")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    with engine.connect() as conn:  # a pooled connection from before pdca saw the engine
        conn.exec_driver_sql("SELECT 1")
    pdca.upgrade(engine)
    with pdca.open_store(engine) as store, store.unit_of_work(SYSTEM) as uow:
        uow.add_organization("JG", "机关党委", "机关党委")
    with engine.connect() as conn:
        assert verify_chain(conn).intact
    engine.dispose()


def test_audit_verify_prints_the_head_and_checks_an_anchor(
    store: pdca.Store, clock: pdca.FixedClock, db_url: str
) -> None:
    from click.testing import CliRunner

    from pdca.cli import cli

    env = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "LANGUAGE": ""}
    build_year(store, clock, 2025, 2)

    def verify(*args: str) -> Any:
        return CliRunner().invoke(cli, ["--db", db_url, "audit", "verify", *args], env=env)

    first = verify("--json")
    assert first.exit_code == 0, first.output
    head = json.loads(first.output)["head"]
    assert head["seq"] == chain(store).head_seq
    anchor = f"{head['seq']}:{head['hash']}"
    assert verify("--anchor", anchor).exit_code == 0
    assert anchor in verify().output  # the text report prints the head to record
    # Someone removes the newest event (the next year's scheme) and nothing else: the chain
    # alone is still consistent, the anchor is not.
    with store.engine.begin() as conn:
        _unguarded(conn)
        conn.execute(sa.text("DELETE FROM pdca_event WHERE seq = :s"), {"s": head["seq"]})
    assert verify().exit_code == 0
    anchored = verify("--anchor", anchor, "--json")
    assert anchored.exit_code == 1
    assert "newest events were deleted" in anchored.output
    bad = verify("--anchor", "12:xyz")
    assert bad.exit_code == 2
    assert "SEQ:HASH" in bad.output


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's deadlock detector")
def test_a_deadlock_over_the_chain_is_a_concurrency_conflict(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    """Appenders wait for the chain's lock: a writer holding it that then waits for a row
    the pdca unit of work holds is a deadlock; the side PostgreSQL aborts gets a
    ConcurrencyConflict, not a raw driver error."""
    import time

    build_year(store, clock, 2025, 1, doing=frozenset({0}))
    with store.unit_of_work(SYSTEM) as uow:
        cycle_id = uow.cycle("B000", "2025").id
    other = store.engine.connect()
    other.begin()
    other.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('public.pdca_event_chain'))")
    outcome: list[BaseException | None] = []

    def pdca_writer() -> None:
        try:
            with store.unit_of_work(SYSTEM) as uow:
                uow.begin_check("B000", "2025")
                uow.flush()  # UPDATE the cycle (row lock), INSERT its event: waits for the chain
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    th = threading.Thread(target=pdca_writer)
    th.start()
    waiting = 0
    with store.engine.connect() as probe:  # its own transactions: fresh statistics
        for _ in range(200):  # until pdca's writer waits for the chain's lock
            probe.rollback()
            waiting = probe.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND wait_event = 'advisory'"
            ).scalar_one()
            if waiting:
                break
            time.sleep(0.05)
    assert waiting
    try:  # now wait for the cycle's row: a deadlock, detected by the writer waiting longest
        other.exec_driver_sql(f"SELECT id FROM pdca_cycle WHERE id = {cycle_id} FOR UPDATE")
    finally:
        other.rollback()
        other.close()
    th.join(timeout=60)
    assert len(outcome) == 1
    assert isinstance(outcome[0], pdca.ConcurrencyConflict), outcome
    assert "deadlock" in str(outcome[0])
    with store.unit_of_work(SYSTEM) as uow:
        assert uow.cycle("B000", "2025").state == "doing"
    assert chain(store).intact
