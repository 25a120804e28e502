"""The CLI for scripted years: org import/list (GBK, UTF-8 with BOM, XLSX, YAML), cycle
open/advance with per-organization refusals, finding import, audit verify; --json on every
command, exit codes 0/1/2, Chinese messages under a Chinese locale, no progress in a pipe.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import pdca
from pdca.cli import cli
from pdca.cli_i18n import is_chinese, locale_name
from pdca.persistence import tables as t
from pdca.services.audit import verify_trail

ADMIN = pdca.Actor("管理员", role="system")
EN = {"LANG": "en_US.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
ZH = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}

# Children before their parent (JG comes last): imported in tree order.
ORG_ROWS = [
    ("B11", "第一党支部", "党支部", "DW", "支部"),
    ("B12", "第二党支部", "党支部", "DW", "支部"),
    ("DW", "机关党委", "机关党委", "JG", ""),
    ("JG", "市直机关工委", "机关工委", "", ""),
]
NAMES = {r[0]: r[1] for r in ORG_ROWS}

SCHEME_YAML = """\
code: S
issuer: JG
title: 2025年度党建考核方案
period: "2025"
scope: [B11, B12]
categories:
  - code: ZZ
    name: 组织建设
    items:
      - {code: P1, title: 三会一课, max_score: 60}
      - {code: P2, title: 主题党日, max_score: 40}
"""


def csv_text(header: str = "代码,名称,类型,上级,分组") -> str:
    lines = [header] + [",".join(r) for r in ORG_ROWS]
    return "\r\n".join(lines) + "\r\n"


def invoke(url: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["--db", url, *args], env={**EN, **(env or {})})


def ok_json(url: str, *args: str) -> Any:
    r = invoke(url, *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def stored_orgs(url: str) -> dict[str, tuple[str, str, str | None, str | None]]:
    with pdca.open_store(url) as store, store.unit_of_work(ADMIN) as u:
        every = u.organizations()
        codes = {o.id: o.code for o in every}
        return {
            o.code: (o.name, o.kind, codes.get(o.parent_id), o.peer_group)  # type: ignore[arg-type]
            for o in every
        }


def check_tree(url: str) -> None:
    orgs = stored_orgs(url)
    assert {c: v[0] for c, v in orgs.items()} == NAMES
    assert orgs["B11"] == ("第一党支部", "党支部", "DW", "支部")
    assert orgs["DW"] == ("机关党委", "机关党委", "JG", None)
    assert orgs["JG"] == ("市直机关工委", "机关工委", None, None)


# ---------------------------------------------------------------------- org import


def test_gbk_csv_of_organizations_imports_with_correct_chinese_names(
    db_url: str, tmp_path: Path
) -> None:
    f = tmp_path / "党组织.csv"
    f.write_bytes(csv_text().encode("gbk"))
    with pytest.raises(UnicodeDecodeError):
        f.read_bytes().decode("utf-8")  # really GBK, not UTF-8
    data = ok_json(db_url, "org", "import", str(f))
    assert data == {
        "file": str(f),
        "rows": 4,
        "added": 4,
        "unchanged": 0,
        "codes": ["JG", "DW", "B11", "B12"],  # parents first
    }
    check_tree(db_url)
    listed = ok_json(db_url, "org", "list")
    assert [(o["code"], o["name"], o["parent"]) for o in listed["organizations"]] == [
        ("B11", "第一党支部", "DW"),
        ("B12", "第二党支部", "DW"),
        ("DW", "机关党委", "JG"),
        ("JG", "市直机关工委", None),
    ]
    # Running it again changes nothing.
    again = ok_json(db_url, "org", "import", str(f))
    assert (again["added"], again["unchanged"]) == (0, 4)
    r = invoke(db_url, "org", "list")
    assert r.exit_code == 0
    assert "第一党支部" in r.output
    assert "4 organizations" in r.output


def test_utf8_bom_csv_with_english_headers(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "orgs.csv"
    f.write_bytes(csv_text("code,name,kind,parent,peer_group").encode("utf-8-sig"))
    assert f.read_bytes().startswith(b"\xef\xbb\xbf")
    assert ok_json(db_url, "org", "import", str(f))["added"] == 4
    check_tree(db_url)


def test_xlsx_of_organizations(db_url: str, tmp_path: Path) -> None:
    import openpyxl  # type: ignore[import-untyped]

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["组织代码", "组织名称", "组织类型", "上级代码", "同类组", "备注"])
    for code, name, kind, parent, group in ORG_ROWS:
        ws.append([code, name, kind, parent or None, group or None, "无关的列"])
    f = tmp_path / "orgs.xlsx"
    wb.save(f)
    assert ok_json(db_url, "org", "import", str(f))["added"] == 4
    check_tree(db_url)


def test_yaml_of_organizations_with_children(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "orgs.yaml"
    f.write_text(
        """\
organizations:
  - code: JG
    name: 市直机关工委
    kind: 机关工委
    children:
      - 代码: DW
        名称: 机关党委
        类型: 机关党委
        下级:
          - {code: B11, name: 第一党支部, kind: 党支部, peer_group: 支部}
  - {code: B12, name: 第二党支部, kind: 党支部, parent: DW, peer_group: 支部}
""",
        encoding="utf-8",
    )
    assert ok_json(db_url, "org", "import", str(f))["added"] == 4
    check_tree(db_url)


def test_bad_rows_are_all_reported_and_nothing_is_written(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(
        "代码,名称,类型,上级\n"
        "JG,市直机关工委,机关工委,\n"
        "B11,,党支部,JG\n"  # row 3: no name
        "B12,第二党支部,党支部,XX\n"  # row 4: unknown parent
        "JG,重复,机关工委,\n"  # row 5: code twice
        "L1,甲,党支部,L2\nL2,乙,党支部,L1\n".encode("gbk")  # rows 6-7: a loop
    )
    r = invoke(db_url, "org", "import", str(f))
    assert r.exit_code == 1
    assert r.stdout == ""
    for text in ("row 3: empty name", "row 4", "XX", "row 5", "appears twice", "loop"):
        assert text in r.stderr, r.stderr
    assert r.stderr.startswith("pdca: error: bad.csv: ")
    assert stored_orgs(db_url) == {}

    rj = invoke(db_url, "org", "import", str(f), "--json")
    assert rj.exit_code == 1
    assert rj.stdout == ""
    err = json.loads(rj.stderr)["error"]
    assert err["code"] == 1
    assert err["type"] == "ImportRefused"
    assert [p["row"] for p in err["problems"]][:2] == [3, 4]


def test_a_stored_organization_with_other_values_is_refused(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "orgs.csv"
    f.write_bytes(csv_text().encode("gbk"))
    ok_json(db_url, "org", "import", str(f))
    g = tmp_path / "renamed.csv"
    g.write_text("代码,名称,类型\nJG,市委组织部,机关工委\nNEW,新支部,党支部\n", encoding="utf-8")
    r = invoke(db_url, "org", "import", str(g))
    assert r.exit_code == 1
    assert "already stored with other values" in r.stderr
    assert "市委组织部" in r.stderr
    assert "NEW" not in stored_orgs(db_url)


def test_not_a_table_file_is_refused(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "orgs.txt"
    f.write_text("x", encoding="utf-8")
    r = invoke(db_url, "org", "import", str(f))
    assert r.exit_code == 1
    assert "must end in .csv or .xlsx" in r.stderr


# --------------------------------------------------------------- cycles, findings


@pytest.fixture
def year(db_url: str, tmp_path: Path) -> str:
    """The tree imported and scheme S (scope B11, B12) issued, through the CLI."""
    f = tmp_path / "orgs.csv"
    f.write_bytes(csv_text().encode("gbk"))
    ok_json(db_url, "org", "import", str(f))
    s = tmp_path / "scheme.yaml"
    s.write_text(SCHEME_YAML, encoding="utf-8")
    ok_json(db_url, "scheme", "import", str(s))
    return db_url


def assign_responsibles(url: str, *orgs: str) -> None:
    with pdca.open_store(url) as store, store.unit_of_work(ADMIN) as u:
        for org in orgs:
            for tgt in u.cycle(org, "2025").targets:
                u.update_target(tgt.id, first_responsible="王书记")  # type: ignore[arg-type]


def states(url: str) -> dict[str, str]:
    data = ok_json(url, "cycle", "list", "--period", "2025")
    return {c["org"]: c["state"] for c in data["cycles"]}


def test_cycle_open_and_advance_report_per_organization(year: str) -> None:
    url = year
    opened = ok_json(url, "cycle", "open", "--period", "2025", "--scheme", "S")
    assert (opened["opened"], opened["exists"], opened["refused"]) == (2, 0, 0)
    assert [(o["org"], o["outcome"], o["state"]) for o in opened["organizations"]] == [
        ("B11", "opened", "draft"),
        ("B12", "opened", "draft"),
    ]
    # Again: both exist already, nothing refused.
    again = ok_json(url, "cycle", "open", "--period", "2025", "--scheme", "S")
    assert (again["opened"], again["exists"]) == (0, 2)
    # An organization outside the scheme's scope, named explicitly, is refused (exit 1).
    r = invoke(url, "cycle", "open", "--period", "2025", "--scheme", "S", "--org", "DW", "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["refused"] == 1
    assert "not in the scope" in out["organizations"][0]["reason"]

    # B12's plan has no responsible people: approving it is refused, B11 goes on.
    assign_responsibles(url, "B11")
    r = invoke(url, "cycle", "advance", "--to", "checking", "--period", "2025", "--json")
    assert r.exit_code == 1, r.output
    data = json.loads(r.stdout)
    assert (data["moved"], data["refused"]) == (1, 1)
    by_org = {o["org"]: o for o in data["organizations"]}
    assert by_org["B11"] == {
        "org": "B11",
        "from": "draft",
        "state": "checking",
        "events": ["approve", "start", "check"],
        "outcome": "moved",
        "reason": None,
        "refused_event": None,
    }
    assert by_org["B12"]["outcome"] == "refused"
    assert by_org["B12"]["refused_event"] == "approve"
    assert by_org["B12"]["state"] == "draft"
    assert "第一责任人" in by_org["B12"]["reason"]
    assert states(url) == {"B11": "checking", "B12": "draft"}

    # The text report names the refused organization and why.
    text = invoke(url, "cycle", "advance", "--to", "checking", "--period", "2025")
    assert text.exit_code == 1
    assert "B12" in text.output
    assert "plan_complete" in text.output
    assert "0 moved, 1 already there, 1 refused" in text.output

    # One organization at a time; then the whole scope, nothing left to refuse.
    assign_responsibles(url, "B12")
    one = ok_json(url, "cycle", "advance", "--to", "doing", "--period", "2025", "--org", "B12")
    assert [(o["org"], o["state"]) for o in one["organizations"]] == [("B12", "doing")]
    scoped = ok_json(
        url, "cycle", "advance", "--to", "checking", "--period", "2025", "--scope", "JG"
    )
    assert {o["org"]: o["outcome"] for o in scoped["organizations"]} == {
        "B11": "already",
        "B12": "moved",
    }
    assert states(url) == {"B11": "checking", "B12": "checking"}

    # An organization without a cycle for the period is refused by name.
    r = invoke(url, "cycle", "advance", "--to", "acting", "--period", "2025", "--org", "DW")
    assert r.exit_code == 1
    assert "no cycle for 2025" in r.output
    assert verify_trail_ok(url)


def verify_trail_ok(url: str) -> bool:
    r = invoke(url, "audit", "verify", "--json")
    assert r.exit_code == 0, r.output
    return bool(json.loads(r.stdout)["intact"])


def checking_year(url: str) -> None:
    ok_json(url, "cycle", "open", "--period", "2025", "--scheme", "S")
    assign_responsibles(url, "B11", "B12")
    ok_json(url, "cycle", "advance", "--to", "checking", "--period", "2025")


def test_finding_import_gbk_and_resolve(year: str, tmp_path: Path) -> None:
    url = year
    checking_year(url)
    f = tmp_path / "问题清单.csv"
    f.write_bytes(
        (
            "党组织,期间,指标,检查节点,问题描述,严重程度,整改期限,发现日期\n"
            "B11,2025,P2,年终考核,主题党日记录不全,严重,2025-03-31,2025-01-02\n"
            "B12,2025,P1,year-end,三会一课次数不足,,,\n"
        ).encode("gbk")
    )
    data = ok_json(url, "finding", "import", str(f))
    assert (data["rows"], data["added"]) == (2, 2)
    with pdca.open_store(url) as store, store.unit_of_work(ADMIN) as u:
        found = {u.period_of(x) + x.item_code: x for x in u.findings(period="2025")}
        first = found["2025P2"]
        assert (first.description, first.severity, first.checkpoint) == (
            "主题党日记录不全",
            "serious",
            "year-end",
        )
        assert str(first.deadline) == "2025-03-31"
        assert found["2025P1"].severity == "general"
    fid = data["ids"][0]
    rect = invoke(
        url,
        "finding",
        "rectify",
        str(fid),
        "--title",
        "补齐记录",
        "--owner",
        "李书记",
        "--due",
        "2025-03-01",
        "--json",
    )
    assert rect.exit_code == 0, rect.output
    rid = json.loads(rect.stdout)["rectification"]["id"]
    done = invoke(url, "finding", "complete", str(rid), "--evidence", "已补齐", env=ZH)
    assert done.exit_code == 0
    assert f"整改措施 #{rid} 已于" in done.output
    res = ok_json(url, "finding", "resolve", str(fid), "--verified-by", "考核组")
    assert res["state"] == "resolved"
    assert verify_trail_ok(url)


def test_finding_import_refuses_bad_rows_and_writes_nothing(year: str, tmp_path: Path) -> None:
    url = year
    checking_year(url)
    f = tmp_path / "findings.csv"
    f.write_text(
        "org,period,item,checkpoint,description,severity\n"
        "B11,2025,P1,year-end,ok row,minor\n"
        "B11,2025,P9,year-end,no such item,minor\n"
        "B12,2025,P1,weekly,bad checkpoint,minor\n"
        "B12,2025,P1,year-end,bad severity,awful\n"
        "ZZ,2025,P1,year-end,no such org,minor\n"
        "B12,2025,P1,year-end,,minor\n",
        encoding="utf-8",
    )
    r = invoke(url, "finding", "import", str(f), "--json")
    assert r.exit_code == 1
    assert r.stdout == ""
    err = json.loads(r.stderr)["error"]
    assert [p["row"] for p in err["problems"]] == [3, 4, 5, 6, 7]
    assert "empty description" in err["problems"][-1]["message"]
    with pdca.open_store(url) as store, store.unit_of_work(ADMIN) as u:
        assert u.findings() == []


# --------------------------------------------------------------------------- audit


def tamper(url: str, *statements: Any) -> None:
    """Write behind pdca's back, as someone with the database's password could: with the
    trail's append-only triggers (if any) out of the way."""
    with pdca.open_store(url) as store, store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE pdca_event DISABLE TRIGGER USER")
        else:
            for name, sql in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'pdca_event'"
            ).all():
                if "INSERT" not in sql.upper().split(" ON ")[0]:
                    conn.exec_driver_sql(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.execute(statement)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE pdca_event ENABLE TRIGGER USER")


def tampered(url: str, *statements: Any) -> dict[str, Any]:
    tamper(url, *statements)
    r = invoke(url, "audit", "verify", "--json")
    assert r.exit_code == 1, r.output
    report: dict[str, Any] = json.loads(r.stdout)
    assert report["intact"] is False
    # The hash chain (where there is one) sees it too; the checks below are pdca's own.
    report["problems"] = [p for p in report["problems"] if p["check"] != "chain"]
    return report


@pytest.fixture
def audited(year: str) -> str:
    checking_year(year)
    return year


def cycle_event(url: str, org: str, action: str) -> int:
    e, c, o = t.event, t.cycle, t.organization
    with pdca.open_store(url) as store, store.engine.connect() as conn:
        eid = conn.scalar(
            sa.select(e.c.id)
            .join(c, (e.c.entity == "cycle") & (e.c.entity_id == c.c.id))
            .join(o, o.c.id == c.c.org_id)
            .where(o.c.code == org, e.c.action == action)
        )
    assert eid is not None
    return int(eid)


def test_audit_verify_intact_text_and_json(audited: str) -> None:
    r = invoke(audited, "audit", "verify")
    assert r.exit_code == 0
    assert "the event trail is intact" in r.output
    data = ok_json(audited, "audit", "verify")
    assert data["intact"] is True
    assert data["problems"] == []
    assert data["entities"] == 2
    assert data["events"] > 10
    assert data["checks"][:4] == ["paths", "versions", "order", "references"]


def test_audit_detects_a_deleted_event(audited: str) -> None:
    eid = cycle_event(audited, "B11", "start")
    report = tampered(audited, sa.delete(t.event).where(t.event.c.id == eid))
    checks = {p["check"] for p in report["problems"]}
    assert checks == {"paths", "versions"}
    msg = " ".join(p["message"] for p in report["problems"])
    assert "starts from 'doing'" in msg
    assert "'planned'" in msg
    text = invoke(audited, "audit", "verify")
    assert text.exit_code == 1
    assert "problem(s)" in text.output
    assert "cycle #" in text.output


def test_audit_detects_a_deleted_last_event(audited: str) -> None:
    eid = cycle_event(audited, "B12", "check")
    report = tampered(audited, sa.delete(t.event).where(t.event.c.id == eid))
    assert any("ends in 'doing' but it is 'checking'" in p["message"] for p in report["problems"])


def test_audit_detects_an_edited_state(audited: str) -> None:
    eid = cycle_event(audited, "B11", "approve")
    report = tampered(
        audited, sa.update(t.event).where(t.event.c.id == eid).values(to_state="doing")
    )
    assert any(p["event_id"] == eid for p in report["problems"])


def test_audit_detects_an_edited_time(audited: str) -> None:
    import pendulum

    eid = cycle_event(audited, "B11", "check")
    report = tampered(
        audited,
        sa.update(t.event)
        .where(t.event.c.id == eid)
        .values(at=pendulum.datetime(2001, 1, 1, tz="UTC")),
    )
    assert [p["check"] for p in report["problems"]] == ["order"]
    assert report["problems"][0]["event_id"] == eid


def test_audit_detects_an_event_of_a_missing_object_and_a_forged_event(audited: str) -> None:
    import pendulum

    row = {
        "at": pendulum.now("UTC"),
        "actor": "x",
        "entity": "score",
        "entity_id": 987654,
        "action": "enter",
    }
    report = tampered(audited, sa.insert(t.event).values(**row))
    assert [(p["check"], p["entity_id"]) for p in report["problems"]] == [("references", 987654)]

    # A forged state change at the end: the version no longer counts the events.
    with pdca.open_store(audited) as store, store.engine.connect() as conn:
        cid = conn.scalar(sa.select(t.cycle.c.id).order_by(t.cycle.c.id).limit(1))
    report = tampered(
        audited,
        sa.delete(t.event).where(t.event.c.entity_id == 987654),
        sa.insert(t.event).values(
            at=pendulum.now("UTC"),
            actor="x",
            entity="cycle",
            entity_id=cid,
            action="act",
            from_state="checking",
            to_state="acting",
        ),
        sa.update(t.cycle).where(t.cycle.c.id == cid).values(state="acting"),
    )
    assert [(p["check"], p["entity_id"]) for p in report["problems"]] == [("versions", cid)]


def test_audit_verify_on_a_demo_year(empty_db_url: str) -> None:
    r = invoke(empty_db_url, "demo", "--json")
    assert r.exit_code == 0, r.output
    with pdca.open_store(empty_db_url) as store:
        report = verify_trail(store)
    assert report.intact, [str(p) for p in report.problems]
    assert report.entities > 50


# ------------------------------------------------------------------ every command


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[Any]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, (*prefix, name))
        else:
            out.append((" ".join((*prefix, name)), cmd))
    return out


def test_every_command_takes_json() -> None:
    commands = all_commands(cli)
    names = {n for n, _ in commands}
    for needed in (
        "org import",
        "org list",
        "cycle open",
        "cycle advance",
        "score import",
        "finding import",
        "finding resolve",
        "results",
        "rollover",
        "due",
        "audit verify",
        "report feedback",
        "report bulletin",
        "db upgrade",
        "scheme validate",
        "demo",
    ):
        assert needed in names
    missing = [n for n, cmd in commands if not any("--json" in p.opts for p in cmd.params)]
    assert missing == []


def test_every_command_is_in_the_cli_reference() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [n for n, _ in all_commands(cli) if f"pdca {n}" not in doc]
    assert missing == []


# --------------------------------------------------------------------- exit codes


def test_usage_errors_exit_2_in_text_and_json(db_url: str) -> None:
    r = invoke(db_url, "org", "list", "--no-such-option")
    assert r.exit_code == 2
    assert "pdca: bad usage:" in r.stderr
    assert r.stdout == ""
    r = invoke(db_url, "cycle", "advance", "--period", "2025", "--json")
    assert r.exit_code == 2
    assert r.stdout == ""
    err = json.loads(r.stderr)["error"]
    assert err["code"] == 2
    assert "--to" in err["message"]
    r = invoke(db_url, "cycle", "open", "--period", "2025", "--json")
    assert r.exit_code == 2
    assert json.loads(r.stderr)["error"]["type"] == "UsageError"
    r = CliRunner().invoke(cli, ["--db", db_url, "--actor", "a@", "org", "list"], env=EN)
    assert r.exit_code == 2
    assert "NAME[@ORG][:ROLE]" in r.stderr


def test_refusals_exit_1_with_json_error_on_stderr(db_url: str) -> None:
    r = invoke(db_url, "org", "list", "--under", "NOPE", "--json")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert json.loads(r.stderr) == {
        "error": {
            "code": 1,
            "type": "NotFound",
            "message": "organization 'NOPE' not found",
            "kind": "organization",
            "key": "NOPE",
        }
    }
    r = invoke(db_url, "org", "list", "--under", "NOPE")
    assert r.exit_code == 1
    assert r.stderr == "pdca: error: organization 'NOPE' not found\n"


# ------------------------------------------------------------------------ locale


def test_locale_detection() -> None:
    assert is_chinese({"LANG": "zh_CN.UTF-8"})
    assert is_chinese({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"})
    assert not is_chinese({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"})  # LC_ALL wins
    assert is_chinese({"LC_MESSAGES": "zh_CN", "LANG": "en_US"})
    assert not is_chinese({"LANG": "en_US.UTF-8"})
    assert not is_chinese({})
    assert locale_name({"LC_ALL": "", "LANG": "zh_CN"}) == "zh_CN"


def test_chinese_messages_under_a_chinese_locale(year: str, tmp_path: Path) -> None:
    url = year
    r = invoke(url, "org", "list", env=ZH)
    assert r.exit_code == 0
    assert "共 4 个党组织" in r.output
    assert "上级" in r.output
    r = invoke(url, "org", "list", "--under", "NOPE", env=ZH)
    assert r.stderr.startswith("pdca：错误：")
    r = invoke(url, "org", "list", "--bad", env=ZH)
    assert r.exit_code == 2
    assert "pdca：用法错误：" in r.stderr
    r = invoke(url, "cycle", "open", "--period", "2025", "--scheme", "S", env=ZH)
    assert "开启 2 个，已存在 0 个，被拒绝 0 个" in r.output
    r = invoke(url, "audit", "verify", env=ZH)
    assert "事件记录完整" in r.output
    # English elsewhere, and --json keys never change.
    r = invoke(url, "audit", "verify", env={"LANG": "de_DE.UTF-8"})
    assert "the event trail is intact" in r.output
    assert ok_json(url, "org", "list")["organizations"][0]["code"] == "B11"


# ---------------------------------------------------------------------- progress


def test_no_progress_in_a_pipe(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "orgs.csv"
    f.write_bytes(csv_text().encode("gbk"))
    env = {k: v for k, v in os.environ.items() if k not in ("PDCA_DATABASE_URL", "CI")}
    env["PYTHONPATH"] = str(Path(pdca.__file__).resolve().parents[1])
    r = subprocess.run(
        [sys.executable, "-m", "pdca", "--db", db_url, "org", "import", str(f)],
        capture_output=True,
        text=True,
        env={**env, **EN},
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.strip().endswith("orgs.csv: 4 rows, 4 organizations added, 0 unchanged")


def test_progress_only_on_a_terminal_and_not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from pdca import cli as cli_module

    class Tty:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stdout", Tty(True))
    monkeypatch.setattr(sys, "stderr", Tty(True))
    assert cli_module.interactive()
    monkeypatch.setenv("CI", "true")
    assert not cli_module.interactive()
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys, "stdout", Tty(False))  # piped
    assert not cli_module.interactive()


def test_progress_bar_runs_on_a_terminal(
    year: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pdca import cli as cli_module

    monkeypatch.setattr(cli_module, "interactive", lambda: True)
    opened = ok_json(year, "cycle", "open", "--period", "2025", "--scheme", "S")
    assert opened["opened"] == 2
    f = tmp_path / "more.csv"
    f.write_text("code,name,kind,parent\nB13,第三党支部,党支部,DW\n", encoding="utf-8")
    assert ok_json(year, "org", "import", str(f))["added"] == 1
