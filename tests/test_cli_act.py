"""The act half's commands: due, finding rectify/complete/resolve, appeal file/decide/list,
publish and publications (smoke tests with --json; exit codes 0, 1 and 2).

The commands run on the system clock, so the data is set up on the system clock too: the
appeal window (7 days) opens when the cycles are fed back, just before the commands run.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pendulum
import pytest
from click.testing import CliRunner

import pdca
from pdca.cli import cli
from pdca.cli_act import parse_days

SCHEME: dict[str, Any] = {
    "code": "S",
    "issuer": "JG",
    "title": "2025年度党建考核方案",
    "period": "2025",
    "appeal_window_days": 7,
    "categories": [
        {
            "code": "ZZ",
            "name": "组织建设",
            "items": [
                {"code": "P1", "title": "三会一课", "max_score": 60},
                {"code": "P2", "title": "主题党日", "max_score": 40},
            ],
        }
    ],
}


def today() -> dt.date:
    return pendulum.now("Asia/Shanghai").date()


@pytest.fixture
def db(db_url: str) -> dict[str, Any]:
    """B11 (80) and B12 (86) checking 2025 under scheme S; B11 has an open finding."""
    store = pdca.open_store(db_url)
    try:
        with store.unit_of_work(pdca.Actor("王组长", org="JG", role="system")) as u:
            u.add_organization("JG", "市直机关工委", "机关工委")
            u.add_organization("B11", "第一党支部", "党支部", parent="JG")
            u.add_organization("B12", "第二党支部", "党支部", parent="JG")
            u.add_scheme(dict(SCHEME))
            for org in ("B11", "B12"):
                u.open_cycle(org, "2025", scheme="S")
                for tgt in u.cycle(org, "2025").targets:
                    u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]
                u.approve_plan(org, "2025")
                u.start(org, "2025")
            ids = {}
            for org, item, value in (("B11", "P1", 50), ("B11", "P2", 30), ("B12", "P1", 52)):
                s = u.enter_score(org, "2025", item, "year-end", "panel", value)
                ids[f"{org}-{item}"] = s.id
            u.enter_score("B12", "2025", "P2", "year-end", "panel", 34)
            ids["finding"] = u.add_finding(
                "B11", "2025", "P2", "主题党日记录不全", checkpoint="year-end"
            ).id
            for org in ("B11", "B12"):
                u.begin_check(org, "2025")
    finally:
        store.close()
    return {"url": db_url, **ids}


def run(db: dict[str, Any], actor: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", db["url"], "--actor", actor, *args])


def ok(db: dict[str, Any], actor: str, *args: str) -> Any:
    r = run(db, actor, *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def feedback(db: dict[str, Any]) -> None:
    store = pdca.open_store(db["url"])
    try:
        with store.unit_of_work(pdca.Actor("王组长", org="JG", role="system")) as u:
            for org in ("B11", "B12"):
                u.act(org, "2025")
    finally:
        store.close()


@pytest.mark.parametrize(("text", "days"), [("7d", 7), ("2w", 14), ("30", 30), (" 3D ", 3)])
def test_parse_days(text: str, days: int) -> None:
    assert parse_days(text) == days


def test_rectify_complete_resolve_and_due(db: dict[str, Any]) -> None:
    fid = db["finding"]
    due_on = today() + dt.timedelta(days=10)
    data = ok(
        db,
        "李书记@B11:secretary",
        "finding",
        "rectify",
        str(fid),
        "--title",
        "补齐主题党日记录",
        "--owner",
        "组织委员",
        "--due",
        str(due_on),
    )
    rid = data["rectification"]["id"]
    assert data["finding_state"] == "rectifying"
    assert data["rectification"] == {
        "id": rid,
        "finding": fid,
        "title": "补齐主题党日记录",
        "owner": "组织委员",
        "due_on": str(due_on),
        "status": "planned",
        "done_on": None,
        "evidence": None,
    }
    # Due within 2 weeks: the measure is listed with 10 days left; within 7 days it is not.
    listed = ok(db, "李书记@B11:secretary", "due", "--as-of", str(today()), "--within", "2w")
    assert listed["within_days"] == 14
    assert [(i["kind"], i["id"], i["days_left"], i["overdue"]) for i in listed["items"]] == [
        ("rectification", rid, 10, False)
    ]
    assert ok(db, "x", "due", "--as-of", str(today()), "--within", "7d")["items"] == []
    late = ok(db, "x", "due", "--as-of", str(due_on + dt.timedelta(days=2)), "--within", "0")
    assert [(i["days_left"], i["overdue"]) for i in late["items"]] == [(-2, True)]
    assert late["overdue"] == 1
    assert (
        ok(db, "x", "due", "--as-of", str(today()), "--within", "30", "--org", "B12")["items"] == []
    )
    text = run(db, "x", "due", "--as-of", str(today()), "--within", "2w")
    assert text.exit_code == 0
    assert "B11" in text.output
    assert "共 1 项，逾期 0 项" in text.output

    # Resolving before the measure is done is refused (exit 1) and names the measure.
    r = run(db, "王组长@JG:assessor", "finding", "resolve", str(fid), "--verified-by", "考核组")
    assert r.exit_code == 1
    assert "rectification_done" in r.output
    assert "补齐主题党日记录" in r.output

    done = ok(
        db, "李书记@B11:secretary", "finding", "complete", str(rid), "--evidence", "记录已补齐"
    )
    assert done["rectification"]["status"] == "done"
    assert done["rectification"]["done_on"] == str(today())
    assert done["open_measures"] == 0
    resolved = ok(
        db,
        "王组长@JG:assessor",
        "finding",
        "resolve",
        str(fid),
        "--verified-by",
        "考核组",
        "--note",
        "到位",
    )
    assert resolved == {"finding": fid, "state": "resolved", "resolution": "到位"}


def test_appeal_file_decide_list_and_publish(db: dict[str, Any]) -> None:
    pub = ok(db, "王组长@JG:assessor", "publish", "--scheme", "S", "--period", "2025")
    assert (pub["version"], pub["organizations"], pub["appeal"]) == (1, 2, None)
    feedback(db)
    sid = db["B11-P1"]

    # Another organization may not appeal B11's score: exit 1, nothing filed.
    r = run(db, "赵书记@B12:secretary", "appeal", "file", "--score", str(sid), "--reason", "不服")
    assert r.exit_code == 1
    assert "may not appeal" in r.output
    assert ok(db, "x", "appeal", "list")["appeals"] == []

    filed = ok(
        db,
        "李书记@B11:secretary",
        "appeal",
        "file",
        "--score",
        str(sid),
        "--reason",
        "记录齐全",
        "--value",
        "58",
    )
    aid = filed["id"]
    assert (filed["org"], filed["period"], filed["state"], filed["requested_value"]) == (
        "B11",
        "2025",
        "filed",
        "58",
    )
    r = run(
        db,
        "李书记@B11:secretary",
        "appeal",
        "decide",
        str(aid),
        "--uphold",
        "--decision",
        "自己裁决",
    )
    assert r.exit_code == 1
    assert "may not appeal.decide" in r.output

    decided = ok(
        db, "王组长@JG:assessor", "appeal", "decide", str(aid), "--uphold", "--decision", "属实"
    )
    assert decided["state"] == "upheld"
    assert (decided["original_raw"], decided["original_points"]) == ("50", "50")
    assert (decided["revised_raw"], decided["revised_points"]) == ("58", "58")
    assert decided["publication"] == 2

    listed = ok(db, "x", "appeal", "list", "--org", "B11")["appeals"]
    assert [(a["id"], a["state"], a["decision"]) for a in listed] == [(aid, "upheld", "属实")]
    text = run(db, "x", "appeal", "list")
    assert text.exit_code == 0
    assert "50 → 58" in text.output

    versions = ok(db, "x", "publications", "--scheme", "S", "--period", "2025")["versions"]
    assert [(v["version"], v["appeal"]) for v in versions] == [(1, None), (2, aid)]
    v1 = ok(db, "x", "publications", "--scheme", "S", "--period", "2025", "--version", "1")
    v2 = ok(db, "x", "publications", "--scheme", "S", "--period", "2025", "--version", "2")
    assert [(x["org"], x["total"]) for x in v1["results"]] == [("B12", "86.00"), ("B11", "80.00")]
    assert [(x["org"], x["total"]) for x in v2["results"]] == [("B11", "88.00"), ("B12", "86.00")]
    r = run(db, "王组长@JG:assessor", "publish", "--scheme", "S", "--period", "2025")
    assert r.exit_code == 1
    assert "published already" in r.output


def test_finding_appeal_rejected(db: dict[str, Any]) -> None:
    feedback(db)
    filed = ok(
        db,
        "李书记@B11:secretary",
        "appeal",
        "file",
        "--finding",
        str(db["finding"]),
        "--reason",
        "有记录",
    )
    rejected = ok(
        db,
        "王组长@JG:assessor",
        "appeal",
        "decide",
        str(filed["id"]),
        "--reject",
        "--decision",
        "记录缺页",
    )
    assert (rejected["state"], rejected["finding"], rejected["publication"]) == (
        "rejected",
        db["finding"],
        None,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("appeal", "file", "--reason", "不服"),
        ("appeal", "file", "--score", "1", "--finding", "1", "--reason", "不服"),
        ("appeal", "decide", "1", "--decision", "属实"),
        ("due", "--within", "soon"),
        ("due", "--as-of", "2025-13-01"),
        ("finding", "rectify", "1", "--title", "x", "--owner", "y"),
    ],
)
def test_bad_usage_exits_2(db: dict[str, Any], args: tuple[str, ...]) -> None:
    r = run(db, "李书记@B11:secretary", *args)
    assert r.exit_code == 2, r.output
