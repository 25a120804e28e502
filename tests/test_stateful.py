"""Stateful property tests (issue 7, item 6): hypothesis drives random sequences of plan,
record, score, finding, rectify, verify/waive, transition, appeal, close and rollover over
three organizations and the years 2025-2027, through the public API, and checks after every
step:

* the state stays on the lifecycle graph: every cycle and finding is in a state of its
  lifecycle and every event of the trail is an edge of the graph (or a creation);
* closed cycles never change (their row, scores, records, findings and targets) until an
  event re-opens them;
* totals equal the weighted sum: ``uow.results`` (computed in SQL) equals the Python
  reference :func:`pdca.domain.scoring.score_org` fed the stored scores;
* every unresolved finding is carried exactly once: no finding has two successors, and a
  carried finding whose organization has the next period's cycle has exactly one;
* replaying the trail (the ``to_state`` of each object's events in id order) gives the
  current state of every cycle and finding.

CI: 200 examples × 50 steps (``PDCA_LONG=1``: 1,000 × 80). Each example starts from a copy
of one prepared database (SQLite: a file copy; PostgreSQL: a clone of a template).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import pdca
from pdca.domain.lifecycle import CYCLE, FINDING
from pdca.domain.scoring import Entry, score_org
from pdca.persistence import tables as t
from reliability import LONG, SYSTEM, record_figures, secretary

EXAMPLES, STEPS = (1000, 80) if LONG else (200, 50)
EXAMPLES = int(os.environ.get("PDCA_STATEFUL_EXAMPLES", EXAMPLES))  # to try a change quickly
ORGS = ("A", "B", "C")
YEARS = (2025, 2026, 2027)
ITEMS = [
    {"code": "P1", "title": "三会一课", "max_score": 60},
    {"code": "P2", "title": "主题党日", "max_score": 40},
]
EVENTS = ("approve", "start", "check", "act", "close", "reopen")
CYCLE_EDGES = {(a, e, b) for a, e, b in CYCLE.edges()}
FINDING_EDGES = {(a, e, b) for a, e, b in FINDING.edges()}


def scheme(year: int) -> dict[str, Any]:
    return {
        "code": f"S{year}",
        "issuer": "JG",
        "title": f"{year}年度考核",
        "period": str(year),
        "appeal_window_days": 400,
        "categories": [{"code": "ZZ", "name": "组织建设", "items": [dict(i) for i in ITEMS]}],
    }


def clock_for(year: int) -> pendulum.DateTime:
    return pendulum.datetime(year, 12, 20, 9, tz="Asia/Shanghai")


class Template:
    url: str | None = None


@pytest.fixture(scope="module")
def template(databases: Any) -> str:
    url = databases.migrated()
    clock = pdca.FixedClock(clock_for(2025))
    with pdca.open_store(url, clock=clock) as store, store.unit_of_work(SYSTEM) as u:
        u.add_organization("JG", "机关工委", "机关工委")
        for code in ORGS:
            u.add_organization(code, f"{code}支部", "党支部", parent="JG", peer_group="支部")
        for year in YEARS:
            u.add_scheme(scheme(year))
    return url


STATS: dict[str, int] = defaultdict(int)


class PdcaMachine(RuleBasedStateMachine):
    databases: Any = None
    template: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.url = self.databases.clone(self.template)
        self.clock = pdca.FixedClock(clock_for(2025))
        self.store = pdca.open_store(self.url, clock=self.clock)
        self.year = 2025  # the latest year with cycles
        self.closed: dict[int, Any] = {}  # cycle id -> what it held when last seen closed
        self.totals_stale = False  # scores changed since the totals were last compared
        self.changed = True  # something succeeded since the invariants were last checked
        self.events_seen = -1  # events in the trail at the last full check
        STATS["examples"] += 1

    def teardown(self) -> None:
        self.store.close()
        self.databases.drop(self.url)

    # ------------------------------------------------------------------ helpers

    def _do(self, name: str, fn: Any, actor: pdca.Actor = SYSTEM) -> Any:
        STATS["steps"] += 1
        try:
            with self.store.unit_of_work(actor) as u:
                out = fn(u)
            self.changed = True
            STATS[f"{name}:ok"] += 1
            if name in ("score", "appeal.decide", "plan"):
                self.totals_stale = True
            return out
        except pdca.PdcaError as e:
            STATS[f"{name}:refused"] += 1
            if isinstance(e, pdca.ConcurrencyConflict):
                raise AssertionError(f"a conflict with no other writer: {e}") from e
            return None

    def _ids(self, table: sa.Table, *where: Any) -> list[int]:
        with self.store.engine.connect() as conn:
            q = sa.select(table.c.id).order_by(table.c.id)
            for w in where:
                q = q.where(w)
            return [int(x) for x in conn.scalars(q).all()]

    # -------------------------------------------------------------------- rules

    @initialize(n=st.integers(1, 3))
    def plan_some(self, n: int) -> None:
        for org in ORGS[:n]:
            self.plan(org, 0)

    @rule(org=st.sampled_from(ORGS), dy=st.integers(0, 1), start=st.integers(0, 3))
    def plan(self, org: str, dy: int, start: int = 1) -> None:
        year = min(self.year + dy, YEARS[-1])

        def go(u: pdca.UnitOfWork) -> None:
            try:
                cyc = u.cycle(org, str(year))
            except pdca.NotFound:
                cyc = u.open_cycle(org, str(year), scheme=f"S{year}")
            if cyc.state == "draft":
                for tgt in cyc.targets:
                    if not tgt.first_responsible:
                        u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
                if start:  # approve and start: the year's work can begin
                    u.approve_plan(org, str(year))
                    u.start(org, str(year))

        self._do("plan", go)
        if year > self.year:
            self.year = year
            self.clock.set(clock_for(year))

    @rule(
        org=st.sampled_from(ORGS),
        event=st.sampled_from((*EVENTS, "next", "next", "next", "next", "next", "next")),
        back=st.integers(0, 4),
    )
    def transition(self, org: str, event: str, back: int) -> None:
        """Fire an event on a cycle of this year (or, one time in five, of last year): the
        next one round the loop (usually: that one goes through) or any (often refused)."""
        year = self.year - 1 if back == 0 and self.year > YEARS[0] else self.year

        def go(u: pdca.UnitOfWork) -> None:
            ev = event
            if ev == "next":
                state = u.cycle(org, str(year)).state
                ev = {"draft": "approve", "closed": "reopen"}.get(state) or next(
                    iter(CYCLE.events_from(state)), "approve"
                )
            u.advance(org, str(year), ev, reason="复核" if ev == "reopen" else None)

        self._do("transition", go)

    @rule(org=st.sampled_from(ORGS), to_the_end=st.integers(0, 3))
    def close(self, org: str, to_the_end: int) -> None:
        """Move a cycle one step round the loop (approve, start, check, act, close), or
        (one time in four) all the way round to closed."""

        def go(u: pdca.UnitOfWork) -> None:
            cyc = u.cycle(org, str(self.year))
            if cyc.state == "draft":
                for tgt in cyc.targets:
                    if not tgt.first_responsible:
                        u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
            for event in ("approve", "start", "check", "act", "close"):
                if event in CYCLE.events_from(cyc.state):
                    u.advance(org, str(self.year), event)
                    if to_the_end:
                        break

        self._do("close" if not to_the_end else "step", go)

    @rule(org=st.sampled_from(ORGS), quantity=st.integers(1, 3))
    def record(self, org: str, quantity: int) -> None:
        self._do(
            "record",
            lambda u: u.add_record(
                org, str(self.year), "meeting", f"{self.year}-12-01", "支部会", quantity=quantity
            ),
        )

    @rule(
        org=st.sampled_from(ORGS),
        item=st.sampled_from(["P1", "P2"]),
        who=st.sampled_from(["甲", "乙"]),
        value=st.integers(-5, 65) | st.decimals(0, 40, places=2),
    )
    def score(self, org: str, item: str, who: str, value: Any) -> None:
        self._do(
            "score",
            lambda u: u.enter_score(
                org, str(self.year), item, "year-end", "panel", value, assessor=who
            ),
        )

    @rule(org=st.sampled_from(ORGS), item=st.sampled_from(["P1", "P2"]))
    def finding(self, org: str, item: str) -> None:
        self._do(
            "finding",
            lambda u: u.add_finding(org, str(self.year), item, "台账不全", checkpoint="year-end"),
        )

    @rule(k=st.integers(0, 30), how=st.sampled_from(["rectify", "verify", "waive"]))
    def handle_finding(self, k: int, how: str) -> None:
        ids = self._ids(t.finding)
        if not ids:
            return
        fid = ids[k % len(ids)]
        if how == "rectify":
            self._do("rectify", lambda u: u.rectify(fid, plan="补齐台账", owner="组织委员"))
        elif how == "verify":
            self._do("verify", lambda u: u.verify(fid, verified_by="考评组"))
        else:
            self._do("waive", lambda u: u.waive(fid, reason="客观原因"))

    @rule(k=st.integers(0, 30), on_score=st.booleans(), uphold=st.booleans())
    def appeal(self, k: int, on_score: bool, uphold: bool) -> None:
        table = t.score if on_score else t.finding
        acting = sa.select(t.cycle.c.id).where(t.cycle.c.state == "acting")
        ids = self._ids(table, table.c.cycle_id.in_(acting))
        if not ids:
            return
        oid = ids[k % len(ids)]
        with self.store.engine.connect() as conn:
            org = conn.scalar(
                sa.select(t.organization.c.code)
                .join(t.cycle, t.cycle.c.org_id == t.organization.c.id)
                .join(table, table.c.cycle_id == t.cycle.c.id)
                .where(table.c.id == oid)
            )
        filed = self._do(
            "appeal.file",
            lambda u: (
                (
                    u.file_appeal(score_id=oid, reason="应得满分", requested_value=30)
                    if on_score
                    else u.file_appeal(finding_id=oid, reason="已整改")
                ).id
            ),
            secretary(str(org)),
        )
        if filed is not None:
            self._do(
                "appeal.decide",
                lambda u: u.decide_appeal(filed, uphold=uphold, decision="经复核"),
            )

    @precondition(lambda self: self.year < YEARS[-1])
    @rule(batch=st.integers(1, 3))
    def rollover(self, batch: int) -> None:
        old, new = self.year, self.year + 1
        with self.store.engine.connect() as conn:
            ready = conn.scalar(
                sa.select(sa.func.count())
                .select_from(t.cycle)
                .where(t.cycle.c.period == str(old), t.cycle.c.state.in_(["acting", "closed"]))
            )
        if not ready:
            return  # nothing to roll yet: spend the step elsewhere
        STATS["steps"] += 1
        self.clock.set(pendulum.datetime(new, 1, 8, 9, tz="Asia/Shanghai"))
        try:
            report = self.store.rollover(
                str(old), str(new), f"S{new}", batch_size=batch, skip_blocked=True
            )
        except pdca.PdcaError:
            STATS["rollover:refused"] += 1
            self.clock.set(clock_for(old))
            return
        STATS["rollover:ok"] += 1
        self.changed = True
        if report.cycles_opened or report.changed:
            self.totals_stale = True
            self.year = new
            self.clock.set(clock_for(new))
        else:
            self.clock.set(clock_for(old))

    # --------------------------------------------------------------- invariants

    @invariant()
    def consistent(self) -> None:
        with self.store.engine.connect() as conn:
            events = int(conn.scalar(sa.select(sa.func.count()).select_from(t.event)) or 0)
            if not self.changed:
                # Only refusals since the last full check: they must have written nothing.
                assert events == self.events_seen, "a refused use case wrote events"
                return
            self._check(conn)
        self.changed = False
        self.events_seen = events
        if self.totals_stale:
            self._check_totals()
            self.totals_stale = False

    def _check(self, conn: sa.Connection) -> None:
        c, f, e = t.cycle, t.finding, t.event
        cycles = {
            int(r[0]): r for r in conn.execute(sa.select(c.c.id, c.c.state, c.c.version)).all()
        }
        findings = {
            int(r[0]): r
            for r in conn.execute(sa.select(f.c.id, f.c.state, f.c.previous_id, f.c.cycle_id))
        }
        # On the graph.
        assert {r[1] for r in cycles.values()} <= set(CYCLE.states)
        assert {r[1] for r in findings.values()} <= set(FINDING.states)
        last: dict[tuple[str, int], str] = {}
        for entity, eid, action, frm, to in conn.execute(
            sa.select(e.c.entity, e.c.entity_id, e.c.action, e.c.from_state, e.c.to_state)
            .where(e.c.entity.in_(["cycle", "finding"]), e.c.to_state.is_not(None))
            .order_by(e.c.id)
        ):
            key = (str(entity), int(eid))
            if frm:
                edges = CYCLE_EDGES if entity == "cycle" else FINDING_EDGES
                assert (frm, action, to) in edges, (entity, eid, frm, action, to)
                assert last.get(key) == frm, f"{key}: the trail skips from {last.get(key)} to {frm}"
            else:
                assert key not in last, f"{key} created twice"
            last[key] = str(to)
        # Replaying the trail gives the current state.
        assert {k[1]: s for k, s in last.items() if k[0] == "cycle"} == {
            i: r[1] for i, r in cycles.items()
        }
        assert {k[1]: s for k, s in last.items() if k[0] == "finding"} == {
            i: r[1] for i, r in findings.items()
        }
        # Carried exactly once.
        successors: dict[int, int] = defaultdict(int)
        for r in findings.values():
            if r[2] is not None:
                successors[int(r[2])] += 1
        assert all(n == 1 for n in successors.values()), successors
        org_period = {
            int(i): (int(o), str(p))
            for i, o, p in conn.execute(sa.select(c.c.id, c.c.org_id, c.c.period))
        }
        have = set(org_period.values())
        for fid, r in findings.items():
            if r[1] == "carried":
                org, period = org_period[int(r[3])]
                if (org, str(int(period) + 1)) in have:
                    assert successors.get(fid) == 1, f"carried finding #{fid} not continued"
            if cycles[int(r[3])][1] == "closed":
                assert r[1] not in ("open", "rectifying"), f"finding #{fid} left behind"
        # Closed cycles never change while closed.
        closed = sorted(cid for cid, row in cycles.items() if row[1] == "closed")
        for cid in list(self.closed):
            if cid not in closed:
                del self.closed[cid]
        if closed:
            content = self._content(conn, closed, cycles)
            for cid in closed:
                seen = self.closed.get(cid)
                if seen is not None:
                    assert content[cid] == seen, f"closed cycle #{cid} changed"
                self.closed[cid] = content[cid]

    @staticmethod
    def _content(conn: sa.Connection, ids: list[int], cycles: dict[int, Any]) -> dict[int, Any]:
        out: dict[int, list[Any]] = {cid: [tuple(cycles[cid])] for cid in ids}
        for table, cols in (
            (t.score, ("id", "raw", "points", "version")),
            (t.record, ("id", "quantity")),
            (t.finding, ("id", "state", "version")),
            (t.target, ("id", "title", "first_responsible")),
            (t.cycle_total, ("base", "bonus", "penalty", "veto_hits", "subtotals")),
        ):
            q = sa.select(table.c.cycle_id, *(table.c[x] for x in cols)).where(
                table.c.cycle_id.in_(ids)
            )
            rows: dict[int, list[tuple[str, ...]]] = defaultdict(list)
            for r in conn.execute(q):
                rows[int(r[0])].append(tuple(str(v) for v in r[1:]))
            for cid in ids:
                out[cid].append(sorted(rows[cid]))
        return out

    def _check_totals(self) -> None:
        s, i, cp, c, o = t.score, t.item, t.checkpoint, t.cycle, t.organization
        with self.store.unit_of_work(SYSTEM) as u:
            spec = u.scheme_spec(f"S{self.year}")
            res = u.results(f"S{self.year}", str(self.year))
            stored = u.session.execute(
                sa.select(
                    o.c.code, i.c.code, cp.c.code, s.c.method, s.c.assessor, s.c.points, s.c.hits
                )
                .join(c, c.c.id == s.c.cycle_id)
                .join(o, o.c.id == c.c.org_id)
                .join(i, i.c.id == s.c.item_id)
                .join(cp, cp.c.id == s.c.checkpoint_id)
                .where(c.c.period == str(self.year))
            ).all()
        per_org: dict[str, list[Entry]] = defaultdict(list)
        for org, item, checkpoint, method, assessor, points, hits in stored:
            per_org[str(org)].append(
                Entry(str(item), str(checkpoint), str(method), str(assessor), Decimal(points), hits)
            )
        for row in res.rows:
            ref = score_org(spec, per_org[row.org])
            assert row.total == ref.total, (row.org, row.total, ref.total)
            assert dict(row.subtotals) == dict(ref.subtotals)
        STATS["totals_checked"] += len(res.rows)


def test_random_sequences_keep_the_invariants(template: str, databases: Any) -> None:
    PdcaMachine.databases = databases
    PdcaMachine.template = template
    STATS.clear()
    started = time.perf_counter()
    run_state_machine_as_test(
        PdcaMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # the same sequences in every CI run; PDCA_LONG explores more
        ),
    )
    record_figures(
        "stateful",
        {
            "examples": STATS["examples"],
            "max_examples": EXAMPLES,
            "steps_per_example": STEPS,
            "steps": STATS["steps"],
            "seconds": round(time.perf_counter() - started, 1),
            "outcomes": {k: v for k, v in sorted(STATS.items()) if ":" in k},
        },
    )
    # The sequences reached the interesting places.
    assert STATS["rollover:ok"] > 0
    assert STATS["score:ok"] > 0
