"""The benchmark's data generator: a province's worth of party organizations and their year.

Written set-based, straight into pdca's tables (SQLAlchemy Core ``executemany`` in chunks,
and ``INSERT … SELECT`` for what derives from rows already there), after ``pdca.upgrade``.
Only the two schemes go through the API (``uow.add_scheme``: small); their scope (every
branch organization) is then written set-based too.

The organization tree: a root (市委), about N/50 mid-level committees (党委/党工委), and N
branch organizations (党支部) in 20 peer groups of uneven size. The scheme: 30 items in 5
categories (100 points), a year-end checkpoint, grade bands with a quota, top-N and 2:7:1
outcome rules. Every branch has a 2025 cycle with the scheme's 30 targets, responsibilities
filled in, and the event trail of the cycle's way so far. Depending on the scenario:

* ``acting`` (rollover): about 3 unresolved findings per organization (open or being
  rectified, some with deadlines into next year) plus some resolved ones, and next year's
  scheme (BENCH-2026) with every branch in scope;
* ``scores`` (results): the above plus one panel score per item at the year-end checkpoint,
  drawn from a per-organization quality and per-item noise (totals around 85, a few below
  60, ties within peer groups);
* ``draft`` (per-object transitions): plans complete but not yet approved;
* ``doing`` (score import): cycles open for score entry; :func:`write_score_csv` writes
  the sheet.

Everything is drawn from a seeded ``random.Random``: the same N gives the same data.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

import pdca
from pdca.persistence import tables as t
from pdca.persistence.database import create_pdca_engine
from pdca.persistence.results import refresh_totals

SEED = 20250106
ROOT_CODE = "SW"
PERIOD = "2025"
NEXT_PERIOD = "2026"
SCHEME = "BENCH-2025"
NEXT_SCHEME = "BENCH-2026"
CHUNK = 10_000
#: Organizations per mid-level committee.
PER_COMMITTEE = 50
#: Panel assessors per item in the score-import sheet.
IMPORT_ASSESSORS = 3

CATEGORIES = [
    ("SX", "思想建设", ["理论学习", "意识形态", "学习强国", "专题教育", "宣传思想", "理论宣讲"]),
    (
        "ZZ",
        "组织建设",
        ["三会一课", "组织生活会", "民主评议党员", "发展党员", "党费收缴", "换届选举"],
    ),
    ("ZF", "作风建设", ["为民服务", "调查研究", "文明办公", "志愿服务", "联系群众", "厉行节约"]),
    ("JL", "纪律建设", ["廉政教育", "警示教育", "谈心谈话", "八项规定", "执纪问责", "廉政风险"]),
    ("ZD", "制度建设", ["制度汇编", "台账管理", "阵地建设", "信息报送", "档案管理", "品牌创建"]),
]
#: Maximum points of the six items of a category (20 per category, 100 in all).
ITEM_MAX = [2, 3, 3, 4, 4, 4]

PEER_GROUPS = [
    ("机关党支部", 14), ("事业单位党支部", 10), ("国有企业党支部", 8), ("非公企业党支部", 7),
    ("社会组织党支部", 4), ("农村党支部", 12), ("社区党支部", 9), ("学校党支部", 6),
    ("医院党支部", 4), ("离退休党支部", 3), ("街道机关党支部", 3), ("乡镇机关党支部", 4),
    ("园区党支部", 2), ("窗口单位党支部", 3), ("公安党支部", 2), ("金融党支部", 2),
    ("交通党支部", 2), ("两新组织联合党支部", 2), ("流动党员党支部", 1), ("楼宇党支部", 3),
]  # fmt: skip

PROBLEMS = [
    "学习记录不全，个人自学笔记缺失",
    "“三会一课”记录不规范，会议议题单一",
    "组织生活会查摆问题不具体，整改措施笼统",
    "党费收缴台账未按月登记",
    "谈心谈话覆盖不全，记录过于简单",
    "阵地建设标识不统一，学习资料陈旧",
    "信息报送不及时，季度材料缺报",
    "发展党员程序材料不完整",
    "警示教育开展次数不足",
    "制度执行留痕不够，档案未分类归档",
]
RECTIFICATIONS = ["建立台账，按月自查", "补齐记录，书记督办", "完善制度，季度通报"]
CHECKPOINTS = ["mid-year", "year-end", "spot-check", "daily", "special"]
SEVERITIES = (["general"] * 6) + (["minor"] * 3) + ["serious"]

OPENED_AT = pendulum.datetime(2025, 1, 6, 9, tz="Asia/Shanghai")
FEEDBACK_AT = pendulum.datetime(2025, 12, 26, 9, tz="Asia/Shanghai")
ENTERED_AT = pendulum.datetime(2025, 12, 20, 9, tz="Asia/Shanghai")
#: The clock every benchmark run uses (pdca and floor alike).
NOW = pendulum.datetime(2026, 1, 5, 9, tz="Asia/Shanghai")


def branch_code(i: int) -> str:
    return f"Z{i:07d}"


def scheme_data(code: str, period: str) -> dict[str, Any]:
    categories = []
    for ccode, cname, titles in CATEGORIES:
        items = [
            {"code": f"{ccode}{k + 1}", "title": title, "max_score": ITEM_MAX[k]}
            for k, title in enumerate(titles)
        ]
        categories.append({"code": ccode, "name": cname, "items": items})
    return {
        "code": code,
        "title": f"{period}年度基层党组织党建工作考核",
        "period": period,
        "issuer": ROOT_CODE,
        "scope": [branch_code(0)],  # replaced set-based by every branch
        "grade_bands": [
            {"name": "优秀", "min": 90, "quota": "20%"},
            {"name": "良好", "min": 80},
            {"name": "一般", "min": 60},
            {"name": "较差", "min": 0},
        ],
        "outcomes": [
            {"kind": "top_n", "label": "先进基层党组织", "n": 3},
            {
                "kind": "forced_distribution",
                "label": "考核等次",
                "ratios": [2, 7, 1],
                "labels": ["A", "B", "C"],
                "factors": [1.2, 1.0, 0.8],
            },
        ],
        "categories": categories,
    }


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert(conn: sa.Connection, table: sa.Table, rows: Iterator[dict[str, Any]]) -> int:
    n = 0
    for chunk in _chunks(rows):
        conn.execute(table.insert(), chunk)
        n += len(chunk)
    return n


def _fix_sequences(conn: sa.Connection) -> None:
    """After rows with explicit ids, let PostgreSQL's sequences continue above them."""
    if conn.dialect.name != "postgresql":
        return
    for table in ("pdca_organization", "pdca_cycle", "pdca_finding"):
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
        )


class Layout:
    """Ids of the generated rows (explicit, so that they can be computed)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.committees = max(1, -(-n // PER_COMMITTEE))
        self.root_id = 1
        self.first_committee_id = 2
        self.first_branch_id = 2 + self.committees

    def org_id(self, i: int) -> int:
        return self.first_branch_id + i

    def committee_id(self, i: int) -> int:
        return self.first_committee_id + i // PER_COMMITTEE


def _organizations(conn: sa.Connection, lay: Layout, rng: random.Random) -> None:
    names = [g for g, _ in PEER_GROUPS]
    weights = [w for _, w in PEER_GROUPS]

    def rows() -> Iterator[dict[str, Any]]:
        yield {
            "id": lay.root_id,
            "code": ROOT_CODE,
            "name": "市委组织部",
            "kind": "党委",
            "parent_id": None,
            "peer_group": None,
        }
        for k in range(lay.committees):
            yield {
                "id": lay.first_committee_id + k,
                "code": f"D{k:05d}",
                "name": f"第{k + 1}党委",
                "kind": "党委",
                "parent_id": lay.root_id,
                "peer_group": "党委",
            }
        for i in range(lay.n):
            group = rng.choices(names, weights)[0]
            yield {
                "id": lay.org_id(i),
                "code": branch_code(i),
                "name": f"第{i + 1}{group}",
                "kind": "党支部",
                "parent_id": lay.committee_id(i),
                "peer_group": group,
            }

    _insert(conn, t.organization, rows())


def _scheme(engine: sa.Engine, code: str, period: str) -> int:
    store = pdca.open_store(engine, clock=pdca.FixedClock(OPENED_AT))
    with store.unit_of_work(pdca.Actor("市委组织部", org=ROOT_CODE, role="assessor")) as uow:
        scheme = uow.add_scheme(scheme_data(code, period))
        sid = int(scheme.id)  # type: ignore[arg-type]
    with engine.begin() as conn:
        s, o = t.scheme_scope, t.organization
        conn.execute(sa.delete(s).where(s.c.scheme_id == sid))
        conn.execute(
            s.insert().from_select(
                ["scheme_id", "org_id"],
                sa.select(sa.literal(sid, t.scheme.c.id.type), o.c.id)
                .where(o.c.kind == "党支部")
                .order_by(o.c.id),
            )
        )
    return sid


def _cycles(conn: sa.Connection, lay: Layout, scheme_id: int, state: str) -> None:
    version = {"draft": 1, "doing": 3, "acting": 5}[state]

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(lay.n):
            yield {
                "id": i + 1,
                "org_id": lay.org_id(i),
                "period": PERIOD,
                "scheme_id": scheme_id,
                "parent_id": None,
                "state": state,
                "opened_at": OPENED_AT,
                "closed_at": None,
                "feedback_at": FEEDBACK_AT if state == "acting" else None,
                "version": version,
            }

    _insert(conn, t.cycle, rows())
    # The plan: one target per item, responsibilities assigned (set-based).
    c, i = t.cycle, t.item
    conn.execute(
        t.target.insert().from_select(
            [
                "cycle_id",
                "title",
                "origin",
                "item_code",
                "item_id",
                "due_on",
                "first_responsible",
                "direct_responsible",
                "carry_count",
            ],
            sa.select(
                c.c.id,
                i.c.title,
                sa.literal("scheme"),
                i.c.code,
                i.c.id,
                sa.literal(dt.date(2025, 12, 31), t.target.c.due_on.type),
                sa.literal("党支部书记"),
                sa.literal("组织委员"),
                sa.literal(0),
            )
            .select_from(c.join(i, i.c.scheme_id == c.c.scheme_id))
            .where(c.c.period == PERIOD)
            .order_by(c.c.id, i.c.id),
        )
    )
    # The trail of the cycle's way so far.
    steps = [("open", "", "draft")]
    if state in ("doing", "acting"):
        steps += [("approve", "draft", "planned"), ("start", "planned", "doing")]
    if state == "acting":
        steps += [("check", "doing", "checking"), ("act", "checking", "acting")]
    for action, src, dst in steps:
        _events(conn, "cycle", sa.select(c.c.id).where(c.c.period == PERIOD), action, src, dst)


def _events(
    conn: sa.Connection,
    entity: str,
    ids: sa.Select[Any],
    action: str,
    src: str | None,
    dst: str | None,
) -> None:
    e = t.event
    sub = ids.subquery()
    conn.execute(
        e.insert().from_select(
            ["at", "actor", "actor_org", "entity", "entity_id", "action", "from_state", "to_state"],
            sa.select(
                sa.literal(OPENED_AT, e.c.at.type),
                sa.literal("市委组织部"),
                sa.literal(ROOT_CODE, e.c.actor_org.type),
                sa.literal(entity),
                sub.c[0],
                sa.literal(action),
                sa.literal(src, e.c.from_state.type),
                sa.literal(dst, e.c.to_state.type),
            ),
        )
    )


def _findings(conn: sa.Connection, lay: Layout, rng: random.Random, item_codes: list[str]) -> int:
    """About 3 unresolved findings per organization (open or being rectified) and about
    one resolved one."""

    def rows() -> Iterator[dict[str, Any]]:
        fid = 0
        year_start = dt.date(2025, 1, 1)
        for i in range(lay.n):
            unresolved = min(8, int(rng.expovariate(1 / 3.0) + 0.5))  # mean ≈ 3
            resolved = 1 if rng.random() < 0.6 else 0
            for k in range(unresolved + resolved):
                fid += 1
                found = year_start + dt.timedelta(days=rng.randrange(60, 350))
                if k >= unresolved:
                    state = "resolved"
                elif rng.random() < 0.3:
                    state = "rectifying"
                else:
                    state = "open"
                rectifying = state in ("rectifying", "resolved")
                deadline = None
                if rectifying or rng.random() < 0.4:
                    deadline = found + dt.timedelta(days=rng.choice([30, 60, 90, 180]))
                yield {
                    "id": fid,
                    "cycle_id": i + 1,
                    "item_code": rng.choice(item_codes),
                    "description": rng.choice(PROBLEMS),
                    "checkpoint": rng.choice(CHECKPOINTS),
                    "severity": rng.choice(SEVERITIES),
                    "source": "panel" if rng.random() < 0.8 else "inspection",
                    "found_on": found,
                    "deadline": deadline,
                    "state": state,
                    "rectification": rng.choice(RECTIFICATIONS) if rectifying else None,
                    "rectification_owner": "党支部书记" if rectifying else None,
                    "resolution": "已整改到位" if state == "resolved" else None,
                    "root_id": fid,
                    "previous_id": None,
                    "carry_count": 0,
                    "version": {"open": 1, "rectifying": 2, "resolved": 3}[state],
                }

    n = _insert(conn, t.finding, rows())
    f = t.finding
    _events(conn, "finding", sa.select(f.c.id), "open", "", "open")
    rect = sa.select(f.c.id).where(f.c.state.in_(["rectifying", "resolved"]))
    _events(conn, "finding", rect, "rectify", "open", "rectifying")
    done = sa.select(f.c.id).where(f.c.state == "resolved")
    _events(conn, "finding", done, "verify", "rectifying", "resolved")
    return n


def _scores(conn: sa.Connection, lay: Layout, rng: random.Random, scheme_id: int) -> int:
    """One panel score per item at the year-end checkpoint: a per-organization quality
    (mean 0.86) and per-item noise, in tenths of a point."""
    items = conn.execute(
        sa.select(t.item.c.id, t.item.c.max_score)
        .where(t.item.c.scheme_id == scheme_id)
        .order_by(t.item.c.id)
    ).all()
    cp = conn.scalar(sa.select(t.checkpoint.c.id).where(t.checkpoint.c.scheme_id == scheme_id))

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(lay.n):
            quality = min(1.0, max(0.4, rng.gauss(0.86, 0.06)))
            for item_id, max_score in items:
                x = min(1.0, max(0.0, rng.gauss(quality, 0.08)))
                pts = Decimal(round(float(max_score) * x * 10)) / 10
                yield {
                    "cycle_id": i + 1,
                    "item_id": item_id,
                    "checkpoint_id": cp,
                    "method": "panel",
                    "assessor": "考评组",
                    "assessor_org": ROOT_CODE,
                    "raw": str(pts),
                    "points": pts,
                    "hits": 0,
                    "comment": None,
                    "entered_at": ENTERED_AT,
                    "version": 1,
                }

    written = _insert(conn, t.score, rows())
    # The sums pdca keeps per cycle for the results, as its own writes keep them.
    refresh_totals(conn, range(1, lay.n + 1))
    return written


def generate(url: str, n: int, kind: str) -> dict[str, Any]:
    """Fill the (empty) database at ``url`` with a data set of ``n`` branch organizations.

    ``kind``: ``acting`` (rollover), ``scores`` (results), ``draft`` (transitions) or
    ``doing`` (score import). Returns what was written.
    """
    if kind not in ("acting", "scores", "draft", "doing"):
        raise ValueError(kind)
    rng = random.Random(SEED + n)
    engine = create_pdca_engine(url, poolclass=NullPool)
    pdca.upgrade(engine)
    lay = Layout(n)
    with engine.begin() as conn:
        _organizations(conn, lay, rng)
        _fix_sequences(conn)
    sid = _scheme(engine, SCHEME, PERIOD)
    stats: dict[str, Any] = {"n": n, "kind": kind, "scheme_id": sid}
    with engine.begin() as conn:
        item_codes = list(conn.scalars(sa.select(t.item.c.code).where(t.item.c.scheme_id == sid)))
        state = {"acting": "acting", "scores": "acting", "draft": "draft", "doing": "doing"}[kind]
        _cycles(conn, lay, sid, state)
        if kind in ("acting", "scores"):
            stats["findings"] = _findings(conn, lay, rng, item_codes)
        if kind == "scores":
            stats["scores"] = _scores(conn, lay, rng, sid)
        _fix_sequences(conn)
    if kind in ("acting", "scores"):
        stats["next_scheme_id"] = _scheme(engine, NEXT_SCHEME, NEXT_PERIOD)
    engine.dispose()
    return stats


def write_score_csv(path: Path, rows: int, orgs: int) -> int:
    """A score sheet of ``rows`` rows for the ``doing`` data set of ``orgs`` organizations:
    each organization, item by item, scored by the panel's assessors (values in tenths)."""
    rng = random.Random(SEED + rows)
    written = 0
    header = ["org", "period", "item", "checkpoint", "method", "assessor", "assessor_org", "value"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for i in range(orgs):
            quality = min(1.0, max(0.4, rng.gauss(0.86, 0.06)))
            for ccode, _, _ in CATEGORIES:
                for k, max_score in enumerate(ITEM_MAX):
                    for a in range(IMPORT_ASSESSORS):
                        if written >= rows:
                            return written
                        x = min(1.0, max(0.0, rng.gauss(quality, 0.08)))
                        value = round(max_score * x, 1)
                        w.writerow(
                            [
                                branch_code(i),
                                PERIOD,
                                f"{ccode}{k + 1}",
                                "year-end",
                                "panel",
                                f"考评组成员{a + 1}",
                                ROOT_CODE,
                                f"{value:.1f}",
                            ]
                        )
                        written += 1
    return written


def orgs_for_rows(rows: int) -> int:
    """Organizations a score sheet of ``rows`` rows covers."""
    per_org = sum(len(titles) for _, _, titles in CATEGORIES) * IMPORT_ASSESSORS
    return -(-rows // per_org)


def counts(url: str, tables: Sequence[str] = ()) -> dict[str, int]:
    """Row counts (for the report)."""
    engine = sa.create_engine(url, poolclass=NullPool)
    out = {}
    with engine.connect() as conn:
        for name in tables or ("pdca_organization", "pdca_cycle", "pdca_target", "pdca_finding"):
            out[name] = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {name}").scalar() or 0)
    engine.dispose()
    return out
