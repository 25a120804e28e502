"""Shared helpers of the reliability suite (issue 7): a small world of organizations under
one scheme, the actors, the long-run switch and a per-test figures log.

Not a test module: imported by tests/test_concurrency.py, test_hammer.py,
test_rollover_crash.py, test_stateful.py and test_hostile_input.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pendulum
import sqlalchemy as sa

import pdca
from pdca.persistence import tables as t

BACKEND = os.environ.get("PDCA_TEST_BACKEND", "sqlite")
#: ``PDCA_LONG=1`` (or ``pytest --long``, which sets it) runs the long variants.
LONG = os.environ.get("PDCA_LONG", "") not in ("", "0")

SYSTEM = pdca.Actor("job", role="system")
OFFICE = pdca.Actor("考核办", org="JG", role="assessor")


def secretary(org: str) -> pdca.Actor:
    return pdca.Actor("书记", org=org, role="secretary")


ITEMS: list[dict[str, Any]] = [
    {"code": "P1", "title": "三会一课", "max_score": 60},
    {"code": "P2", "title": "主题党日", "max_score": 40},
]


def scheme(year: int, *, window: int = 30) -> dict[str, Any]:
    return {
        "code": f"S{year}",
        "issuer": "JG",
        "title": f"{year}年度党建考核方案",
        "period": str(year),
        "appeal_window_days": window,
        "categories": [{"code": "ZZ", "name": "组织建设", "items": [dict(i) for i in ITEMS]}],
    }


def org_codes(n: int) -> list[str]:
    return [f"B{k:02d}" for k in range(n)]


def world(store: pdca.Store, n: int, year: int = 2025, *, state: str = "doing") -> list[str]:
    """JG and ``n`` branches, each with a cycle of ``year`` under scheme S<year>, moved to
    ``state`` (draft, planned, doing, checking or acting). Returns the branch codes."""
    codes = org_codes(n)
    with store.unit_of_work(SYSTEM) as u:
        if not u.organizations():
            u.add_organization("JG", "市直机关工委", "机关工委")
            for code in codes:
                u.add_organization(code, f"{code}党支部", "党支部", parent="JG", peer_group="支部")
        u.add_scheme(scheme(year))
        for code in codes:
            advance(u, code, str(year), state, scheme=f"S{year}")
    return codes


ROUND = ["draft", "planned", "doing", "checking", "acting", "closed"]


def advance(
    u: pdca.UnitOfWork, org: str, period: str, state: str, *, scheme: str | None = None
) -> None:
    """Open (if needed) and move a cycle forward to ``state``."""
    try:
        cyc = u.cycle(org, period)
    except pdca.NotFound:
        cyc = u.open_cycle(org, period, scheme=scheme)
    for tgt in cyc.targets:
        if not tgt.first_responsible:
            u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
    events = dict(zip(ROUND[:-1], ["approve", "start", "check", "act", "close"], strict=True))
    while cyc.state != state:
        u.advance(org, period, events[cyc.state])


def count(url_or_store: str | pdca.Store, table: sa.Table, *where: Any) -> int:
    engine = _engine(url_or_store)
    try:
        with engine.connect() as conn:
            q = sa.select(sa.func.count()).select_from(table)
            for w in where:
                q = q.where(w)
            return int(conn.scalar(q) or 0)
    finally:
        if isinstance(url_or_store, str):
            engine.dispose()


def _engine(url_or_store: str | pdca.Store) -> sa.Engine:
    if isinstance(url_or_store, str):
        return sa.create_engine(url_or_store, poolclass=sa.NullPool)
    return url_or_store.engine


def cycle_row(url_or_store: str | pdca.Store, org: str, period: str) -> tuple[str, int]:
    engine = _engine(url_or_store)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(t.cycle.c.state, t.cycle.c.version)
                .join(t.organization, t.organization.c.id == t.cycle.c.org_id)
                .where(t.organization.c.code == org, t.cycle.c.period == period)
            ).one()
            return str(row[0]), int(row[1])
    finally:
        if isinstance(url_or_store, str):
            engine.dispose()


def events_of(url_or_store: str | pdca.Store, entity: str, entity_id: int) -> list[tuple[Any, ...]]:
    """(action, from_state, to_state, actor) of an object's events, in id order (only the
    columns every version of the trail has: hash columns may be added beside them)."""
    e = t.event
    engine = _engine(url_or_store)
    try:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    sa.select(e.c.action, e.c.from_state, e.c.to_state, e.c.actor)
                    .where(e.c.entity == entity, e.c.entity_id == entity_id)
                    .order_by(e.c.id)
                ).all()
            ]
    finally:
        if isinstance(url_or_store, str):
            engine.dispose()


def percentile(values: Iterable[float], q: float) -> float:
    xs = sorted(values)
    if not xs:
        return 0.0
    k = min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))
    return xs[k]


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Append a test's figures (JSON line) to ``$PDCA_FIGURES`` (default
    build/reliability-figures.jsonl), for docs/reliability.md."""
    path = Path(
        os.environ.get(
            "PDCA_FIGURES",
            Path(__file__).resolve().parent.parent / "build" / "reliability-figures.jsonl",
        )
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"test": name, "backend": BACKEND, "long": LONG, "at": time.time(), **figures}
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
    print(f"\n[figures] {json.dumps(line, ensure_ascii=False, default=str)}")


def clock_at(*args: int) -> pdca.FixedClock:
    return pdca.FixedClock(pendulum.datetime(*args, tz="Asia/Shanghai"))
