"""Reports: feedback (当面反馈), bulletins (通报反馈), improvement marks (改进反馈), lineage
across years, year-over-year comparison, and their files and charts.

The small scope below is built so every number can be checked by hand:

=====  =========  ====  ====  ====  =====  ======================
org    group      SX1   SX2   ZZ1   total  findings (state)
=====  =========  ====  ====  ====  =====  ======================
A      支部       9     8     18    35     SX1 ×2 (open, rectifying)
B      支部       6     7     12    25     SX1 (open)
C      支部       5     9     16    30     ZZ1 (open)
D      小组       8     6     20    34     SX2 (waived)
E      小组       4     10    10    24     SX2 (open)
=====  =========  ====  ====  ====  =====  ======================

SX1, SX2 max 10 (category SX 思想建设, max 20); ZZ1 max 20 (category ZZ 组织建设).
Averages over the 5: SX1 32/5 = 6.40 (rate 0.64), SX2 40/5 = 8.00 (0.80), ZZ1 76/5 =
15.20 (0.76). Weak items, lowest rate first: SX1, ZZ1, SX2. Common problems at 30 %: SX1
(A and B: 2 of 5 = 40 %); at 20 % also SX2 (E only: D's finding is waived) and ZZ1 (C).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pendulum
import pytest
from click.testing import CliRunner

import pdca
from pdca.cli import cli
from pdca.reports import (
    FontNotFound,
    cjk_font,
    jsonable,
    missing_glyphs,
    radar_chart,
    ranking_chart,
    trend_chart,
    write_bulletin,
    write_feedback,
    write_lineage,
)
from pdca.reports.writers import item_sheet_name

PANEL = pdca.Actor("考评组", org="JG", role="system")
SCORES = {
    "A": (9, 8, 18),
    "B": (6, 7, 12),
    "C": (5, 9, 16),
    "D": (8, 6, 20),
    "E": (4, 10, 10),
}
ORGS = [
    ("A", "第一支部", "支部"),
    ("B", "第二支部", "支部"),
    ("C", "第三支部", "支部"),
    ("D", "第一党小组", "小组"),
    ("E", "第二党小组<E&>", "小组"),
]


def scheme(year: int) -> dict[str, Any]:
    return {
        "code": f"S-{year}",
        "title": f"{year}年度党建工作考核办法",
        "period": str(year),
        "issuer": "JG",
        "checkpoints": [{"code": "year-end", "kind": "year-end", "name": "年终考核", "weight": 1}],
        "appeal_window_days": 7,
        "grade_bands": [
            {"name": "优秀", "min": 35},
            {"name": "良好", "min": 25},
            {"name": "一般", "min": 0},
        ],
        "categories": [
            {
                "code": "SX",
                "name": "思想建设",
                "items": [
                    {
                        "code": "SX1",
                        "title": "理论学习",
                        "max_score": 10,
                        "methods": {"panel": 1, "commentary": 0},
                    },
                    {"code": "SX2", "title": "专题教育", "max_score": 10},
                ],
            },
            {
                "code": "ZZ",
                "name": "组织建设",
                "items": [{"code": "ZZ1", "title": "三会一课", "max_score": 20}],
            },
        ],
    }


def _at(clock: pdca.FixedClock, year: int, month: int, day: int) -> None:
    clock.set(pendulum.datetime(year, month, day, 10, tz="Asia/Shanghai"))


def build_year(
    store: pdca.Store,
    clock: pdca.FixedClock,
    year: int,
    scores: dict[str, tuple[int, int, int]] = SCORES,
    *,
    findings: bool = True,
    close: bool = False,
) -> None:
    """Issue scheme S-<year>, run every org's cycle to acting with the scores above."""
    y = str(year)
    _at(clock, year, 1, 5)
    with store.unit_of_work(PANEL) as u:
        if not u.organizations():
            u.add_organization("JG", "机关党委", "机关党委")
            for code, name, group in ORGS:
                u.add_organization(code, name, "党支部", parent="JG", peer_group=group)
        u.add_scheme(scheme(year))
        for code, _, _ in ORGS:
            cyc = u.open_cycle(code, y, scheme=f"S-{year}")
            for tgt in cyc.targets:
                u.update_target(tgt.id, first_responsible="书记")
            u.approve_plan(code, y)
            u.start(code, y)
    _at(clock, year, 12, 20)
    with store.unit_of_work(PANEL) as u:
        for code, _, _ in ORGS:
            u.begin_check(code, y)
            for item, value in zip(("SX1", "SX2", "ZZ1"), scores[code], strict=True):
                u.enter_score(code, y, item, "year-end", "panel", value)
        u.enter_score(A := "A", y, "SX1", "year-end", "commentary", "学习扎实，记录规范")
        if findings:
            f1 = u.add_finding(A, y, "SX1", "学习记录不全", checkpoint="year-end")
            f2 = u.add_finding(A, y, "SX1", "心得体会缺失", checkpoint="year-end")
            u.rectify(f2.id, plan="补写心得", owner="张三")
            u.add_finding("B", y, "SX1", "未按计划学习", checkpoint="year-end")
            u.add_finding("C", y, "ZZ1", "三会一课记录不全", checkpoint="year-end")
            fd = u.add_finding("D", y, "SX2", "专题教育缺少方案", checkpoint="year-end")
            u.waive(fd.id, reason="申辩成立")
            u.add_finding("E", y, "SX2", "专题教育未开展", checkpoint="year-end")
            _ = f1
        for code, _, _ in ORGS:
            u.act(code, y, reason="当面反馈")
    if close:
        _at(clock, year + 1, 1, 3)
        with store.unit_of_work(PANEL) as u:
            for code, _, _ in ORGS:
                u.close(code, y)


def D(x: str) -> Decimal:
    return Decimal(x)


# --------------------------------------------------------------------------- bulletin


def test_bulletin_rankings_common_problems_and_weak_items(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    build_year(store, clock, 2025)
    with store.unit_of_work() as u:
        b = u.bulletin("S-2025", "2025", weak_count=2)
    assert b["scope_size"] == 5
    groups = {g["peer_group"]: g for g in b["groups"]}
    assert [(r["org"], r["rank"], r["total"], r["grade"]) for r in groups["支部"]["rows"]] == [
        ("A", 1, D("35.00"), "优秀"),
        ("C", 2, D("30.00"), "良好"),
        ("B", 3, D("25.00"), "良好"),
    ]
    assert [(r["org"], r["rank"], r["total"]) for r in groups["小组"]["rows"]] == [
        ("D", 1, D("34.00")),
        ("E", 2, D("24.00")),
    ]
    a = groups["支部"]["rows"][0]
    assert a["subtotals"] == {"SX": D("17.00"), "ZZ": D("18.00")}
    assert a["items"] == {"SX1": D("9.00"), "SX2": D("8.00"), "ZZ1": D("18.00")}
    assert a["findings"] == {"SX1": 2}
    stats = {i["item"]: i for i in b["items"]}
    assert (stats["SX1"]["average"], stats["SX1"]["rate"]) == (D("6.40"), D("0.6400"))
    assert (stats["SX2"]["average"], stats["SX2"]["rate"]) == (D("8.00"), D("0.8000"))
    assert (stats["ZZ1"]["average"], stats["ZZ1"]["rate"]) == (D("15.20"), D("0.7600"))
    assert (stats["ZZ1"]["min"], stats["ZZ1"]["max_seen"]) == (D("10.00"), D("20.00"))
    # Weak items: lowest average score rate first, computed in SQL.
    assert [(w["item"], w["rate"]) for w in b["weak_items"]] == [
        ("SX1", D("0.6400")),
        ("ZZ1", D("0.7600")),
    ]
    # Common problems at the default 30 %: only SX1 (A and B; A's two findings count once).
    assert [(c["item"], c["orgs"], c["findings"], c["share"]) for c in b["common_problems"]] == [
        ("SX1", 2, 3, D("0.4000"))
    ]
    assert b["common_problems"][0]["org_codes"] == ["A", "B"]
    assert b["common_problems"][0]["org_names"] == ["第一支部", "第二支部"]

    with store.unit_of_work() as u:
        low = u.bulletin("S-2025", "2025", common_share="20%", weak_count=5)
    # D's SX2 finding was waived: SX2 counts E only.
    assert [(c["item"], c["orgs"]) for c in low["common_problems"]] == [
        ("SX1", 2),
        ("SX2", 1),
        ("ZZ1", 1),
    ]
    assert [w["item"] for w in low["weak_items"]] == ["SX1", "ZZ1", "SX2"]
    with store.unit_of_work() as u:
        assert u.bulletin("S-2025", "2025", common_share=Decimal("0.5"))["common_problems"] == []
        with pytest.raises(pdca.ValidationError, match="common_share"):
            u.bulletin("S-2025", "2025", common_share=0)
        with pytest.raises(pdca.ValidationError, match="common_share"):
            u.bulletin("S-2025", "2025", common_share="1.5")
        with pytest.raises(pdca.ValidationError, match="weak_count"):
            u.bulletin("S-2025", "2025", weak_count=-1)
        with pytest.raises(pdca.ValidationError, match="period"):
            u.bulletin("S-2025", "2024")
        with pytest.raises(pdca.NotFound):
            u.bulletin("NOPE", "2025")


def test_bulletin_xlsx_has_the_summary_and_one_sheet_per_item(
    store: pdca.Store, clock: pdca.FixedClock, tmp_path: Path
) -> None:
    import openpyxl

    build_year(store, clock, 2025)
    with store.unit_of_work() as u:
        b = u.bulletin("S-2025", "2025")
    out = write_bulletin(b, tmp_path / "通报.xlsx")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == [
        "考评汇总表",
        "单项-SX1",
        "单项-SX2",
        "单项-ZZ1",
        "单项统计",
        "共性问题",
        "短板指标",
        "改进反馈",
    ]
    ws = wb["考评汇总表"]
    header = [c.value for c in ws[4]]
    assert header[:7] == [
        "同类组",
        "名次",
        "党组织代码",
        "党组织",
        "思想建设（20）",
        "组织建设（20）",
        "基础分",
    ]
    rows = [r for r in ws.iter_rows(min_row=5, values_only=True) if r[0] is not None]
    by_org = {r[2]: r for r in rows}
    assert len(rows) == 5
    total_col = header.index("总分")
    assert {code: by_org[code][total_col] for code in by_org} == {
        "A": 35,
        "B": 25,
        "C": 30,
        "D": 34,
        "E": 24,
    }
    assert by_org["A"][1] == 1
    assert by_org["A"][4:6] == (17, 18)
    assert by_org["A"][header.index("等次")] == "优秀"
    assert by_org["E"][3] == "第二党小组<E&>"

    item = wb["单项-ZZ1"]
    assert "三会一课" in item["A1"].value
    item_rows = [r for r in item.iter_rows(min_row=5, values_only=True) if r[2] is not None]
    # Ranked on the item across the scope: D 20, A 18, C 16, B 12, E 10.
    assert [(r[0], r[2], r[4], r[5]) for r in item_rows] == [
        (1, "D", 20, 20),
        (2, "A", 18, 20),
        (3, "C", 16, 20),
        (4, "B", 12, 20),
        (5, "E", 10, 20),
    ]
    assert [r[6] for r in item_rows] == [1, 0.9, 0.8, 0.6, 0.5]
    assert item_rows[2][7] == 1  # C's finding on ZZ1
    sx1 = [r for r in wb["单项-SX1"].iter_rows(min_row=5, values_only=True) if r[2] is not None]
    assert {r[2]: r[4] for r in sx1} == {"A": 9, "B": 6, "C": 5, "D": 8, "E": 4}

    common = [r for r in wb["共性问题"].iter_rows(min_row=5, values_only=True) if r[0]]
    assert [(r[0], r[2], r[3], r[4]) for r in common] == [("SX1", 2, 0.4, 3)]
    weak = [r for r in wb["短板指标"].iter_rows(min_row=5, values_only=True) if r[0]]
    assert [(r[1], r[5], r[6]) for r in weak] == [
        ("SX1", 6.4, 0.64),
        ("ZZ1", 15.2, 0.76),
        ("SX2", 8, 0.8),
    ]
    assert wb["单项统计"]["A5"].value == "SX1"


def test_item_sheet_names_are_legal_and_unique() -> None:
    taken: set[str] = set()
    long = "A/B:C*D?E[F]G\\H" * 4
    first = item_sheet_name(long, taken)
    second = item_sheet_name(long, taken)
    for name in (first, second):
        assert len(name) <= 31
        assert not set("[]:*?/\\") & set(name)
        assert name.startswith("单项-")
    assert first != second
    assert item_sheet_name("ZZ1") == "单项-ZZ1"


def test_bulletin_markdown_and_html(
    store: pdca.Store, clock: pdca.FixedClock, tmp_path: Path
) -> None:
    build_year(store, clock, 2025)
    with store.unit_of_work() as u:
        u.mark_key_content("S-2025", "2025", "SX1", "common", note="下年度单列指标")
        b = u.bulletin("S-2025", "2025")
    md = write_bulletin(b, tmp_path / "b.md").read_text(encoding="utf-8")
    for text in ("考核情况通报", "第一支部", "思想建设", "共性问题", "短板指标", "SX1 理论学习"):
        assert text in md
    assert "| 1 | 第一支部 | 17.00 | 18.00 | 35.00 | 优秀 |" in md
    assert "下年度单列指标" in md
    html_text = write_bulletin(b, tmp_path / "b.html").read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in html_text
    assert "第一支部" in html_text
    assert "理论学习" in html_text
    assert "第二党小组&lt;E&amp;&gt;" in html_text
    assert "<E&>" not in html_text
    data = json.loads(write_bulletin(b, tmp_path / "b.json").read_text(encoding="utf-8"))
    assert data["weak_items"][0]["rate"] == "0.6400"
    with pytest.raises(pdca.ValidationError, match="xlsx"):
        write_bulletin(b, tmp_path / "b.pdf")


# --------------------------------------------------------------------------- feedback


def test_feedback_of_one_organization(
    store: pdca.Store, clock: pdca.FixedClock, tmp_path: Path
) -> None:
    build_year(store, clock, 2025)
    with store.unit_of_work() as u:
        f = u.feedback("A", "S-2025", "2025")
    assert (f["total"], f["grade"], f["rank"], f["group_size"]) == (D("35.00"), "优秀", 1, 3)
    assert f["peer_group"] == "支部"
    assert f["subtotals"] == {"SX": D("17.00"), "ZZ": D("18.00")}
    cats = {c["code"]: c for c in f["categories"]}
    assert (cats["SX"]["score"], cats["SX"]["max"], cats["SX"]["rate"]) == (
        D("17.00"),
        D("20"),
        D("0.8500"),
    )
    # 支部 average: SX (17 + 13 + 14) / 3 = 14.67, ZZ (18 + 12 + 16) / 3 = 15.33.
    assert (cats["SX"]["peer_average"], cats["SX"]["peer_average_rate"]) == (
        D("14.67"),
        D("0.7335"),
    )
    assert (cats["ZZ"]["peer_average"], cats["ZZ"]["peer_average_rate"]) == (
        D("15.33"),
        D("0.7665"),
    )
    assert f["peer_average"] == {"SX": D("0.7335"), "ZZ": D("0.7665")}
    items = {i["code"]: i for i in f["items"]}
    assert (items["ZZ1"]["score"], items["ZZ1"]["max"], items["ZZ1"]["rate"]) == (
        D("18.00"),
        D("20"),
        D("0.9000"),
    )
    assert [(x["item"], x["description"], x["state"]) for x in f["findings"]] == [
        ("SX1", "学习记录不全", "open"),
        ("SX1", "心得体会缺失", "rectifying"),
    ]
    assert [(c["item"], c["comment"]) for c in f["commentary"]] == [("SX1", "学习扎实，记录规范")]
    # Fed back (act) on 2025-12-20; the scheme gives 7 days to appeal (申辩).
    assert (f["appeal_window_days"], str(f["appeal_until"])) == (7, "2025-12-27")
    with store.unit_of_work() as u:
        e = u.feedback("E", "S-2025", "2025")
        assert (e["rank"], e["group_size"], e["grade"]) == (2, 2, "一般")
        with pytest.raises(pdca.NotFound):
            u.feedback("JG", "S-2025", "2025")

    md = write_feedback(f, tmp_path / "a.md").read_text(encoding="utf-8")
    assert "第一支部（A）2025 考核情况反馈" in md
    assert "学习记录不全" in md
    assert "学习扎实，记录规范" in md
    assert "| 思想建设 | 17.00 | 20 | 85.00% | 14.67 | 73.35% |" in md
    html_text = write_feedback(f, tmp_path / "a.html").read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in html_text
    assert "整改中" in html_text
    assert "2025-12-27 前提出申辩" in html_text
    data = json.loads(write_feedback(f, tmp_path / "a.json").read_text(encoding="utf-8"))
    assert data["total"] == "35.00"


# ------------------------------------------------------------------------ key content


def test_mark_key_content(store: pdca.Store, clock: pdca.FixedClock) -> None:
    build_year(store, clock, 2025)
    with store.unit_of_work(pdca.Actor("办公室", org="JG", role="system")) as u:
        m = u.mark_key_content("S-2025", "2025", "SX1", "common", note="列入下年度重点")
        u.mark_key_content("S-2025", "2025", "SX1", "短板")
        assert m["item"] == "SX1"
        assert m["kind"] == "common"
        assert m["marked_by"] == "办公室"
        ev = u.events(entity="key_content", entity_id=m["id"])
        assert [(e.action, e.data["item"], e.data["kind"]) for e in ev] == [  # type: ignore[index]
            ("mark", "SX1", "common")
        ]
    for args, match in [
        (("SX1", "common"), "already marked"),
        (("NOPE", "weak"), "not an item"),
        (("SX2", "urgent"), "kind"),
    ]:
        with pytest.raises(pdca.ValidationError, match=match), store.unit_of_work() as u:
            u.mark_key_content("S-2025", "2025", *args)
    with store.unit_of_work() as u:
        marks = u.key_content("S-2025", "2025")
        assert [(x["item"], x["kind"], x["note"]) for x in marks] == [
            ("SX1", "common", "列入下年度重点"),
            ("SX1", "weak", None),
        ]
        b = u.bulletin("S-2025", "2025")
        assert b["common_problems"][0]["marked"] is True
        assert b["weak_items"][0]["item"] == "SX1"
        assert b["weak_items"][0]["marked"] is True
        assert len(b["key_content"]) == 2


# ---------------------------------------------------------------- lineage & compare


def build_lineage(store: pdca.Store, clock: pdca.FixedClock) -> int:
    """A's problem is found in 2024 and left open through 2024, 2025 and 2026."""
    first_id = 0
    for year in (2024, 2025, 2026):
        y = str(year)
        scores = {k: (v[0], v[1], min(v[2] + year - 2024, 20)) for k, v in SCORES.items()}
        _at(clock, year, 1, 5)
        with store.unit_of_work(PANEL) as u:
            if not u.organizations():
                u.add_organization("JG", "机关党委", "机关党委")
                for code, name, group in ORGS:
                    u.add_organization(code, name, "党支部", parent="JG", peer_group=group)
            u.add_scheme(scheme(year))
            for code, _, _ in ORGS:
                cyc = u.open_cycle(code, y, scheme=f"S-{year}")
                for tgt in cyc.targets:
                    u.update_target(tgt.id, first_responsible="书记")
                u.approve_plan(code, y)
                u.start(code, y)
            if year == 2024:
                f = u.add_finding(
                    "A", y, "ZZ1", "三会一课记录不全", checkpoint="mid-year", found_on="2024-07-01"
                )
                assert f.id is not None
                first_id = f.id
        _at(clock, year, 12, 20)
        with store.unit_of_work(PANEL) as u:
            for code, _, _ in ORGS:
                u.begin_check(code, y)
                for item, value in zip(("SX1", "SX2", "ZZ1"), scores[code], strict=True):
                    u.enter_score(code, y, item, "year-end", "panel", value)
                u.act(code, y)
        _at(clock, year + 1, 1, 3)
        with store.unit_of_work(PANEL) as u:
            for code, _, _ in ORGS:
                u.close(code, y)
    return first_id


def test_lineage_of_a_problem_left_open_three_years(
    store: pdca.Store, clock: pdca.FixedClock, tmp_path: Path
) -> None:
    first = build_lineage(store, clock)
    with store.unit_of_work() as u:
        lin = u.lineage(first)
    assert lin["origin"]["period"] == "2024"
    assert lin["origin"]["checkpoint"] == "mid-year"
    assert [(p["period"], p["state"], p["carry_count"]) for p in lin["periods"]] == [
        ("2024", "carried", 0),
        ("2025", "carried", 1),
        ("2026", "carried", 2),
    ]
    # Closed three times unresolved; the 2027 cycle that will continue it is not open yet.
    assert (lin["carry_count"], lin["times_carried"], lin["awaiting_next_period"]) == (2, 3, True)
    assert lin["recurring"] is True
    assert lin["current"]["period"] == "2026"
    # 2027 opens: the problem is carried into its third period.
    _at(clock, 2027, 1, 5)
    with store.unit_of_work(PANEL) as u:
        u.add_scheme(scheme(2027))
        u.open_cycle("A", "2027", scheme="S-2027")
    with store.unit_of_work() as u:
        latest = u.findings(org="A", period="2027")[0]
        lin = u.lineage(latest.id)  # any finding of the thread gives the same thread
        again = u.lineage(first)
    assert lin == {**again, "finding": latest.id}
    assert [p["period"] for p in lin["periods"]] == ["2024", "2025", "2026", "2027"]
    assert (lin["carry_count"], lin["times_carried"], lin["awaiting_next_period"]) == (3, 3, False)
    assert lin["recurring"] is True
    assert lin["current"] == {
        "period": "2027",
        "finding": latest.id,
        "state": "open",
        "state_name": "待整改",
    }
    assert lin["origin"]["period"] == "2024"
    md = write_lineage(lin, tmp_path / "l.md").read_text(encoding="utf-8")
    assert "三会一课记录不全" in md
    assert "（连续未整改）" in md

    with store.unit_of_work() as u:
        rec = u.recurring()
        assert [(r["org"], r["period"], r["carry_count"], r["origin_period"]) for r in rec] == [
            ("A", "2027", 3, "2024")
        ]
        assert [r["period"] for r in u.recurring(period="2026")] == ["2026"]
        assert u.recurring(period="2025") == []  # carried into 1 period only by then
        assert u.recurring(org="B") == []
        with pytest.raises(pdca.NotFound):
            u.lineage(999_999)


def test_compare_years_and_trend(store: pdca.Store, clock: pdca.FixedClock) -> None:
    build_lineage(store, clock)
    with store.unit_of_work() as u:
        rows = u.compare_years("C", ["2023", "2024", "2025", "2026"])
    # C: SX1 5 + SX2 9 + ZZ1 16, 17, 18 → 30, 31, 32; 2nd of 支部 every year (A 35, 36, 37).
    assert [(r["period"], r["total"], r["grade"], r["rank"], r["scheme"]) for r in rows] == [
        ("2023", None, None, None, None),
        ("2024", D("30.00"), "良好", 2, "S-2024"),
        ("2025", D("31.00"), "良好", 2, "S-2025"),
        ("2026", D("32.00"), "良好", 2, "S-2026"),
    ]
    assert rows[1]["group_size"] == 3
    assert rows[3]["subtotals"] == {"SX": D("14.00"), "ZZ": D("18.00")}
    assert rows[3]["rate"] == D("0.8000")
    with store.unit_of_work() as u:
        assert u.compare_years("A", ["2025"])[0]["findings"] == 1  # the carried-in problem
        with pytest.raises(pdca.ValidationError, match="twice"):
            u.compare_years("A", ["2025", "2025"])


def test_item_across_scope(store: pdca.Store, clock: pdca.FixedClock) -> None:
    build_year(store, clock, 2025)
    with store.unit_of_work() as u:
        it = u.item_across_scope("S-2025", "2025", "SX1")
        with pytest.raises(pdca.ValidationError, match="not an item"):
            u.item_across_scope("S-2025", "2025", "XX")
    assert (it["item"], it["title"], it["average"], it["rate"]) == (
        "SX1",
        "理论学习",
        D("6.40"),
        D("0.6400"),
    )
    assert [(r["org"], r["score"], r["rank"], r["findings"]) for r in it["rows"]] == [
        ("A", D("9.00"), 1, 2),
        ("D", D("8.00"), 2, 0),
        ("B", D("6.00"), 3, 1),
        ("C", D("5.00"), 4, 0),
        ("E", D("4.00"), 5, 0),
    ]
    assert it["rows"][0]["rate"] == D("0.9000")
    assert (it["finding_orgs"], it["findings"]) == (2, 3)


# ----------------------------------------------------------------------------- charts


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _texts(*values: Any) -> list[str]:
    out: list[str] = []
    for v in values:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            out.extend(_texts(*v.values()))
        elif isinstance(v, list | tuple):
            out.extend(_texts(*v))
    return out


def test_the_cjk_font_has_every_glyph_of_the_labels(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    build_year(store, clock, 2025)
    with store.unit_of_work() as u:
        b = u.bulletin("S-2025", "2025")
        f = u.feedback("A", "S-2025", "2025")
    font = cjk_font()
    from matplotlib import ft2font

    charmap = ft2font.FT2Font(str(font.path), face_index=font.face_index).get_charmap()
    labels = [
        *(r["name"] for g in b["groups"] for r in g["rows"]),
        *(c["name"] for c in b["categories"]),
        "分类得分率与同类组平均对比",
        "同类组平均总分排名历年考核总分与名次考核期间等次无考核结果第名一票否决",
        b["scheme"]["title"],
        *(g["peer_group"] for g in b["groups"]),
        f["name"],
    ]
    cjk = {ch for text in labels for ch in text if ord(ch) > 0x2E80}
    assert cjk, "the labels have Chinese characters"
    assert {ch for ch in cjk if ord(ch) not in charmap} == set()
    assert missing_glyphs(labels) == []


def test_charts_are_png_with_chinese_and_no_missing_glyph(
    store: pdca.Store, clock: pdca.FixedClock, tmp_path: Path
) -> None:
    build_lineage(store, clock)
    with store.unit_of_work() as u:
        b = u.bulletin("S-2026", "2026")
        f = u.feedback("B", "S-2026", "2026")
        years = u.compare_years("B", ["2023", "2024", "2025", "2026"])
    with warnings.catch_warnings():
        # "Glyph ... missing from font(s)" would be a UserWarning: a box instead of a 字.
        warnings.simplefilter("error")
        radar = radar_chart(f, f["peer_average"], tmp_path / "radar.png")
        ranking = ranking_chart(b, "支部", tmp_path / "ranking.png")
        small = ranking_chart(b, "小组", tmp_path / "sub" / "ranking-小组.png")
        trend = trend_chart(years, tmp_path / "trend.png")
    for png in (radar, ranking, small, trend):
        w, h = _png_size(png)
        assert w >= 400
        assert h >= 250
        assert png.stat().st_size > 10_000
    # Fewer than three categories: bars instead of a polygon.
    two = {**f, "categories": f["categories"][:2]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _png_size(radar_chart(two, None, tmp_path / "two.png"))[0] >= 400
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (
            _png_size(ranking_chart(b, "支部", tmp_path / "top2.png", top=2))[1]
            < _png_size(ranking)[1]
        )
    with pytest.raises(pdca.ValidationError, match="peer group"):
        ranking_chart(b, "nope", tmp_path / "x.png")
    with pytest.raises(pdca.ValidationError, match="name the peer group"):
        ranking_chart(b, None, tmp_path / "x.png")
    with pytest.raises(pdca.ValidationError, match="png"):
        trend_chart(years, tmp_path / "trend.jpg")


def test_a_missing_font_is_an_error_not_tofu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    try:
        bogus = tmp_path / "no-font.ttf"
        bogus.write_bytes(b"not a font")
        monkeypatch.setenv("PDCA_CJK_FONT", str(bogus))
        with pytest.raises(FontNotFound, match="PDCA_CJK_FONT"):
            cjk_font(refresh=True)
        from matplotlib import font_manager

        dejavu = font_manager.findfont("DejaVu Sans")
        monkeypatch.setenv("PDCA_CJK_FONT", dejavu)
        with pytest.raises(FontNotFound, match="glyphs for Chinese"):
            cjk_font(refresh=True)
        monkeypatch.setenv("PDCA_CJK_FONT", str(tmp_path / "missing.ttf"))
        with pytest.raises(FontNotFound, match="no such font file"):
            cjk_font(refresh=True)
        monkeypatch.delenv("PDCA_CJK_FONT")
        assert cjk_font(refresh=True).path.is_file()
    finally:
        monkeypatch.delenv("PDCA_CJK_FONT", raising=False)
        cjk_font(refresh=True)


def test_importing_pdca_does_not_import_matplotlib_or_openpyxl() -> None:
    code = (
        "import sys, pdca, pdca.reports, pdca.cli\n"
        "heavy = {'matplotlib', 'openpyxl', 'numpy'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -------------------------------------------------------------------------------- CLI


def test_cli_reports(
    db_url: str, store: pdca.Store, clock: pdca.FixedClock, tmp_path: Path
) -> None:
    build_lineage(store, clock)
    runner = CliRunner()

    def call(*args: str) -> Any:
        return runner.invoke(
            cli, ["--db", db_url, "--actor", "办公室@JG:assessor", "report", *args]
        )

    out = tmp_path / "bulletin.xlsx"
    r = call(
        "bulletin",
        "--scheme",
        "S-2026",
        "--period",
        "2026",
        "--out",
        str(out),
        "--charts",
        str(tmp_path / "charts"),
    )
    assert r.exit_code == 0, r.output
    assert out.is_file()
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == [
        "ranking-小组.png",
        "ranking-支部.png",
    ]
    r = call(
        "bulletin",
        "--scheme",
        "S-2026",
        "--period",
        "2026",
        "--out",
        str(tmp_path / "b.html"),
        "--charts",
        str(tmp_path / "charts"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["groups"][0]["rows"][0]["total"]
    assert 'src="charts/ranking-' in (tmp_path / "b.html").read_text(encoding="utf-8")
    r = call("bulletin", "--scheme", "S-2026", "--period", "2026", "--out", "b.pdf")
    assert r.exit_code == 2
    r = call("bulletin", "--scheme", "NOPE", "--period", "2026", "--out", str(out))
    assert r.exit_code == 1
    assert "scheme 'NOPE' not found" in r.output

    r = call(
        "feedback",
        "--org",
        "A",
        "--scheme",
        "S-2026",
        "--period",
        "2026",
        "--out",
        str(tmp_path / "a.md"),
        "--chart",
        str(tmp_path / "a.png"),
    )
    assert r.exit_code == 0, r.output
    assert "第一支部" in r.output
    assert "![图表](a.png)" in (tmp_path / "a.md").read_text(encoding="utf-8")
    _png_size(tmp_path / "a.png")

    r = call(
        "mark-key",
        "--scheme",
        "S-2026",
        "--period",
        "2026",
        "--item",
        "ZZ1",
        "--kind",
        "weak",
        "--note",
        "加大权重",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["marked_by"] == "办公室"
    r = call(
        "mark-key", "--scheme", "S-2026", "--period", "2026", "--item", "ZZ1", "--kind", "weak"
    )
    assert r.exit_code == 1
    assert "already marked" in r.output
    r = call(
        "mark-key", "--scheme", "S-2026", "--period", "2026", "--item", "ZZ1", "--kind", "urgent"
    )
    assert r.exit_code == 2

    r = call("recurring", "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output)
    assert [(x["org"], x["period"], x["carry_count"]) for x in rec] == [("A", "2026", 2)]
    r = call("lineage", str(rec[0]["id"]), "--json")
    assert r.exit_code == 0, r.output
    assert [p["period"] for p in json.loads(r.output)["periods"]] == ["2024", "2025", "2026"]
    r = call("lineage", str(rec[0]["id"]))
    assert r.exit_code == 0
    assert "连续未整改" in r.output

    r = call(
        "compare",
        "--org",
        "A",
        "--periods",
        "2024,2025,2026",
        "--chart",
        str(tmp_path / "t.png"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert [p["total"] for p in json.loads(r.output)["periods"]] == ["35.00", "36.00", "37.00"]
    _png_size(tmp_path / "t.png")
    r = call("compare", "--org", "A", "--periods", " , ")
    assert r.exit_code == 2
    r = call("item", "--scheme", "S-2026", "--period", "2026", "--item", "ZZ1")
    assert r.exit_code == 0
    assert "三会一课" in r.output


# ---------------------------------------------------------------------- sample year


def test_the_xiangtan_sample_bulletin(
    store: pdca.Store, clock: pdca.FixedClock, tmp_path: Path
) -> None:
    import openpyxl

    from pdca.samples import run_sample

    run_sample("xiangtan", store, clock, 2025)
    with store.unit_of_work() as u:
        res = u.results("XT-2025", "2025")
        b = u.bulletin("XT-2025", "2025")
        spec = u.scheme_spec("XT-2025")
        f = u.feedback(res.rows[-1].org, "XT-2025", "2025")
    # The summary agrees with the results.
    assert {r["org"]: r["total"] for g in b["groups"] for r in g["rows"]} == {
        r.org: r.total for r in res.rows
    }
    # Weak items from SQL = lowest average rate computed here from the item scores.
    rows = [r for g in b["groups"] for r in g["rows"]]
    base = [i for i in spec.items() if i.rule in ("points", "grade", "count", "deduction")]
    rates = sorted(
        (
            sum((r["items"][i.code] or Decimal(0) for r in rows), Decimal(0))
            / len(rows)
            / i.max_score,
            n,
            i.code,
        )
        for n, i in enumerate(base)
    )
    assert [w["item"] for w in b["weak_items"]] == [code for _, _, code in rates[:3]]
    out = write_bulletin(b, tmp_path / "xt.xlsx")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == "考评汇总表"
    assert [n for n in wb.sheetnames if n.startswith("单项-")] == [
        f"单项-{i.code}" for i in spec.items()
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _png_size(radar_chart(f, None, tmp_path / "radar.png"))
        for g in b["groups"]:
            _png_size(ranking_chart(b, g["peer_group"], tmp_path / f"r-{g['peer_group']}.png"))
    assert jsonable(b)["scope_size"] == 14
