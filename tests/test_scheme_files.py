"""Scheme files: YAML and the Excel workbook an assessment office keeps (pure, no database).

The rich scheme below follows the seed articles: Zhangzhou's 考评项目一览表 with 好/较好/一般
grades and the top 20 as annual winners (001), Xiangtan's self/mutual/panel weights and
daily 30% + mid-year 20% + year-end 50% checks (000), Changping's 2:7:1 forced distribution
at 120%/100%/80%, warning talks after two low periods and one-vote veto items (004).
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import openpyxl  # type: ignore[import-untyped]
import openpyxl.xml  # type: ignore[import-untyped]
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdca import ValidationError
from pdca.domain.scheme import (
    DROPPABLE_METHODS,
    SchemeInvalid,
    SchemeProblem,
    SchemeSpec,
    parse_scheme,
)
from pdca.io.scheme_files import (
    CHECKPOINT_SHEET,
    GRADE_BAND_SHEET,
    ITEM_SHEET,
    OUTCOME_SHEET,
    SCHEME_SHEET,
    dumps_yaml,
    loads_yaml,
    read_scheme,
    write_scheme,
)

RICH: dict[str, Any] = {
    "code": "ZZ-SZJG-2016",
    "title": "2016年度市直机关党建重点工作考评",
    "period": "2016",
    "issuer": "ZZ-SZGW",
    "scope": ["ZZ-001", "ZZ-002", "ZZ-003"],
    "bounds": {"min": 0, "max": 110},
    "bonus_cap": 5,
    "penalty_cap": 10,
    "drop_extremes": ["mutual", "democratic"],
    "appeal_window_days": 7,
    "grade_scales": {"三档": {"好": 1, "较好": 0.8, "一般": 0.6}},
    "checkpoints": [
        {"code": "daily", "kind": "daily", "name": "日常考核", "weight": 0.3},
        {"code": "mid", "kind": "mid-year", "name": "年中检查", "weight": 0.2, "on": "2016-06-30"},
        {
            "code": "final",
            "kind": "year-end",
            "name": "年终考核",
            "weight": 0.5,
            "on": dt.date(2016, 12, 20),
        },
    ],
    "grade_bands": [
        {"name": "优秀", "min": 90, "quota": 0.2},
        {"name": "良好", "min": 80},
        {"name": "一般", "min": 60},
        {"name": "较差", "min": 0},
    ],
    "outcomes": [
        {"kind": "top_n", "label": "年度优胜单位", "n": 20},
        {
            "kind": "forced_distribution",
            "label": "绩效系数",
            "ratios": [2, 7, 1],
            "labels": ["A", "B", "C"],
            "factors": [1.2, 1, 0.8],
        },
        {"kind": "streak", "label": "诫勉谈话", "periods": 2, "when": {"grade_in": ["一般"]}},
        {"kind": "grade_link", "label": "绩效考核加分", "grades": ["优秀"], "value": "+2"},
    ],
    "categories": [
        {
            "code": "SX",
            "name": "思想政治",
            "items": [
                {
                    "code": "SX-01",
                    "title": "理论学习中心组学习",
                    "max_score": 10,
                    "methods": {"self": 0.2, "mutual": 0.2, "panel": 0.6, "commentary": 0},
                    "evidence": "学习记录、会议纪要",
                },
                {
                    "code": "SX-02",
                    "title": "意识形态工作",
                    "max_score": 8,
                    "rule": "grade",
                    "scale": "三档",
                    "methods": {"panel": 1},
                },
            ],
        },
        {
            "code": "ZZ",
            "name": "基层组织",
            "items": [
                {
                    "code": "ZZ-01",
                    "title": "三会一课",
                    "max_score": 12,
                    "rule": "count",
                    "record_kind": "meeting",
                    "target": 12,
                },
                {
                    "code": "ZZ-02",
                    "title": "党费收缴",
                    "max_score": 5.5,
                    "rule": "deduction",
                    "per": 0.5,
                    "methods": {"democratic": 0.5, "panel": 0.5},
                },
            ],
        },
        {
            "code": "JX",
            "name": "加减分",
            "items": [
                {"code": "JX-01", "title": "创新工作加分", "max_score": 3, "rule": "bonus"},
                {
                    "code": "JX-02",
                    "title": "违纪扣分",
                    "max_score": 10,
                    "rule": "penalty",
                    "per": 2,
                },
                {"code": "JX-03", "title": "严重违纪", "rule": "veto"},
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def rich() -> SchemeSpec:
    return parse_scheme(copy.deepcopy(RICH))


def problems_of(exc: pytest.ExceptionInfo[SchemeInvalid]) -> dict[str, SchemeProblem]:
    return {p.field: p for p in exc.value.problems}


def line_of(text: str, location: str) -> str:
    """The YAML line a location such as ``scheme.yaml, line 12`` points at."""
    m = re.search(r"line (\d+)$", location)
    assert m, location
    return text.splitlines()[int(m.group(1)) - 1]


def edit_yaml(text: str, *edits: tuple[str, str]) -> str:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def edit_xlsx(path: Path, edits: dict[str, dict[str, Any]]) -> None:
    wb = openpyxl.load_workbook(path)
    for sheet, cells in edits.items():
        for ref, value in cells.items():
            wb[sheet][ref] = value
    wb.save(path)


# ----------------------------------------------------------------------- round trips


def test_rich_scheme_covers_every_rule_and_outcome(rich: SchemeSpec) -> None:
    assert {i.rule for i in rich.items()} == {
        "points",
        "grade",
        "count",
        "deduction",
        "bonus",
        "penalty",
        "veto",
    }
    assert {o.kind for o in rich.outcomes} == {
        "top_n",
        "forced_distribution",
        "streak",
        "grade_link",
    }
    assert [cp.weight for cp in rich.checkpoints] == [
        Decimal("0.3"),
        Decimal("0.2"),
        Decimal("0.5"),
    ]
    assert rich.checkpoints[1].on == dt.date(2016, 6, 30)


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".xlsx", ".XLSX"])
def test_round_trip(rich: SchemeSpec, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"scheme{suffix}"
    write_scheme(rich, path)
    assert read_scheme(path) == rich
    assert read_scheme(str(path)) == rich
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_yaml_text_is_readable_chinese_with_plain_numbers(rich: SchemeSpec) -> None:
    text = dumps_yaml(rich)
    assert "思想政治" in text
    assert "\\u" not in text
    assert "weight: 0.3\n" in text  # a number, not the string '0.3'
    assert "max_score: 5.5\n" in text
    assert text.index("code:") < text.index("categories:")  # in scheme order, not sorted
    assert loads_yaml(text) == rich
    assert loads_yaml(text.encode("utf-8")) == rich


def test_yaml_written_by_hand(rich: SchemeSpec) -> None:
    """Unquoted dates (``on: 2016-06-30``: ``on`` stays a key, not YAML 1.1's True),
    percentages, Chinese method names and a BOM."""
    text = edit_yaml(
        dumps_yaml(rich),
        ("'on': '2016-06-30'", "on: 2016-06-30"),
        ("'on': '2016-12-20'", "on: 2016-12-20"),
        ("self: 0.2\n", "自评: 20%\n"),
        ("mutual: 0.2\n", "互评: 20%\n"),
    )
    text = text.replace("period: '2016'", "period: 2016")
    spec = loads_yaml(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert spec == rich
    assert spec.checkpoints[2].on == dt.date(2016, 12, 20)


def test_yaml_impossible_date_is_located(rich: SchemeSpec) -> None:
    text = edit_yaml(dumps_yaml(rich), ("'on': '2016-06-30'", "on: 2016-02-30"))
    with pytest.raises(SchemeInvalid) as exc:
        loads_yaml(text)
    problem = problems_of(exc)["checkpoints[1].on"]
    assert "YYYY-MM-DD" in problem.rule
    assert "on: 2016-02-30" in line_of(text, problem.location)


def test_yaml_codes_yes_no_stay_text() -> None:
    text = dumps_yaml(parse_scheme(copy.deepcopy(RICH))).replace("code: SX\n", "code: no\n", 1)
    spec = loads_yaml(text)
    assert spec.categories[0].code == "no"


def test_xlsx_layout(rich: SchemeSpec, tmp_path: Path) -> None:
    path = tmp_path / "scheme.xlsx"
    write_scheme(rich, path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:2] == [SCHEME_SHEET, ITEM_SHEET]
    items = [list(r) for r in wb[ITEM_SHEET].iter_rows(values_only=True)]
    assert items[0] == [
        "大类代码",
        "大类名称",
        "项目代码",
        "考核项目",
        "分值",
        "计分规则",
        "等次量表",
        "每次扣分",
        "记录类型",
        "目标次数",
        "考核方法及权重",
        "考核依据",
    ]
    assert items[1][:6] == ["SX", "思想政治", "SX-01", "理论学习中心组学习", 10, "计分"]
    assert items[1][10] == "自评 20%; 互评 20%; 考评 60%; 点评"
    assert items[4][4] == 5.5
    assert items[-1][5] == "一票否决"
    scheme = {r[0]: r[1] for r in wb[SCHEME_SHEET].iter_rows(min_row=2, values_only=True)}
    assert scheme["考核期间"] == "2016"
    assert scheme["考核范围"] == "ZZ-001; ZZ-002; ZZ-003"
    assert scheme["去掉最高最低分"] == "互评; 民主测评"
    cps = list(wb[CHECKPOINT_SHEET].iter_rows(min_row=2, values_only=True))
    assert cps[1] == ("mid", "mid-year", "年中检查", 0.2, dt.datetime(2016, 6, 30))
    bands = list(wb[GRADE_BAND_SHEET].iter_rows(min_row=2, values_only=True))
    assert bands[0] == ("优秀", 90, 0.2)
    outcomes = list(wb[OUTCOME_SHEET].iter_rows(min_row=2, values_only=True))
    assert (
        outcomes[1][2]
        == '{"ratios": [2, 7, 1], "labels": ["A", "B", "C"], "factors": [1.2, 1, 0.8]}'
    )


def test_xlsx_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    data = copy.deepcopy(RICH)
    data["categories"][0]["items"][0]["title"] = "=SUM(A1:A9)"
    data["categories"][0]["items"][0]["evidence"] = "#N/A"
    data["categories"][0]["items"][1]["code"] = "007"
    spec = parse_scheme(data)
    path = tmp_path / "scheme.xlsx"
    write_scheme(spec, path)
    assert read_scheme(path) == spec


def test_xlsx_as_an_office_keeps_it(tmp_path: Path) -> None:
    """A hand-made workbook: title rows, 序号 and 备注 columns, merged category cells, blank
    category cells continuing the one above, Chinese rule and method names, percentages, a
    合计 row, English field names and full-width separators in the 方案 sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = SCHEME_SHEET
    for row in [
        ("2016年度市直机关党建考评方案",),
        ("项目", "内容"),
        ("code", "ZZ-2016"),
        ("方案名称", "2016年度市直机关党建重点工作考评"),
        ("考核期间", 2016),
        ("考核范围", "ZZ-001，ZZ-002、ZZ-003"),
        ("加分上限", 5),
        ("减分上限", 10),
        ("去掉最高最低分", "互评；民主测评"),
        ("申辩期限(天)", 7),
    ]:
        ws.append(row)
    ws = wb.create_sheet("2016年度考评项目一览表")
    ws.append(["2016年度市直机关党建重点工作考评项目一览表"])
    ws.merge_cells("A1:H1")
    ws.append(
        [
            "序号",
            "大类代码",
            "大类名称",
            "项目代码",
            "考核项目",
            "分值",
            "计分规则",
            "考核方法及权重",
        ]
    )
    ws.append(
        [1, "SX", "思想政治", "SX-01", "理论学习", 10, "计分", "自评 20%； 互评20%；考评 60%；点评"]
    )
    ws.append([2, None, None, "SX-02", "意识形态", 8, "points", "self=0.2, mutual=0.2, panel=0.6"])
    ws.merge_cells("B3:B4")
    ws.merge_cells("C3:C4")
    ws.append([3, "JX", "加减分", "JX-01", "创新加分", 3, "加分", "考评"])
    ws.append([4, None, None, "JX-02", "违纪扣分", 10, "减分", None])
    ws.append([None, None, None, None, "合计", 31, None, None])
    ws["I2"] = "每次扣分"
    ws["I6"] = 2
    ws["J2"] = "备注"
    ws["J3"] = "示例"
    path = tmp_path / "office.xlsx"
    wb.save(path)
    spec = read_scheme(path)
    expected = parse_scheme(
        {
            "code": "ZZ-2016",
            "title": "2016年度市直机关党建重点工作考评",
            "period": "2016",
            "scope": ["ZZ-001", "ZZ-002", "ZZ-003"],
            "bonus_cap": 5,
            "penalty_cap": 10,
            "drop_extremes": ["mutual", "democratic"],
            "appeal_window_days": 7,
            "categories": [
                {
                    "code": "SX",
                    "name": "思想政治",
                    "items": [
                        {
                            "code": "SX-01",
                            "title": "理论学习",
                            "max_score": 10,
                            "methods": {"self": 0.2, "mutual": 0.2, "panel": 0.6, "commentary": 0},
                        },
                        {
                            "code": "SX-02",
                            "title": "意识形态",
                            "max_score": 8,
                            "methods": {"self": 0.2, "mutual": 0.2, "panel": 0.6},
                        },
                    ],
                },
                {
                    "code": "JX",
                    "name": "加减分",
                    "items": [
                        {"code": "JX-01", "title": "创新加分", "max_score": 3, "rule": "bonus"},
                        {
                            "code": "JX-02",
                            "title": "违纪扣分",
                            "max_score": 10,
                            "rule": "penalty",
                            "per": 2,
                        },
                    ],
                },
            ],
        }
    )
    assert spec == expected


def test_xlsx_categories_group_by_code_in_first_appearance_order(
    rich: SchemeSpec, tmp_path: Path
) -> None:
    path = tmp_path / "scheme.xlsx"
    write_scheme(rich, path)
    wb = openpyxl.load_workbook(path)
    ws = wb[ITEM_SHEET]
    rows = [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]
    # Interleave: SX-01, ZZ-01, SX-02, ZZ-02, JX-...
    order = [rows[0], rows[2], rows[1], rows[3], *rows[4:]]
    for r, values in enumerate(order, start=2):
        for c, v in enumerate(values, start=1):
            ws.cell(r, c).value = v
    wb.save(path)
    spec = read_scheme(path)
    assert [c.code for c in spec.categories] == ["SX", "ZZ", "JX"]
    assert [i.code for i in spec.categories[0].items] == ["SX-01", "SX-02"]
    assert spec == rich


def patch_values(path: Path, values: dict[str, str]) -> None:
    """Replace number values in the sheets' XML (openpyxl itself rounds what it writes)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    for name, body in members.items():
        if name.startswith("xl/worksheets/"):
            for old, new in values.items():
                body = body.replace(f"<v>{old}</v>".encode(), f"<v>{new}</v>".encode())
            members[name] = body
    with zipfile.ZipFile(path, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)


def test_xlsx_float_noise_reads_as_excel_shows_it(rich: SchemeSpec, tmp_path: Path) -> None:
    """Excel stores 0.1 + 0.2 as 0.30000000000000004 and shows 0.3; pdca reads 0.3."""
    path = tmp_path / "scheme.xlsx"
    write_scheme(rich, path)
    edit_xlsx(
        path,
        {
            CHECKPOINT_SHEET: {"D2": 0.111, "D3": 0.222, "D4": 0.333},
            ITEM_SHEET: {"E5": 0.444, "H5": 0.555},
            GRADE_BAND_SHEET: {"C2": 0.666},
        },
    )
    patch_values(
        path,
        {
            "0.111": "0.30000000000000004",
            "0.222": "0.19999999999999998",
            "0.333": "0.49999999999999994",
            "0.444": "5.500000000000001",
            "0.555": "0.49999999999999994",
            "0.666": "0.20000000000000001",
        },
    )
    with zipfile.ZipFile(path) as zf:  # the noise really is in the file
        sheets = b"".join(zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/"))
    assert sheets.count(b"<v>0.30000000000000004</v>") == 1
    assert read_scheme(path) == rich


def test_defusedxml_guards_openpyxl() -> None:
    assert openpyxl.xml.DEFUSEDXML is True


def test_reading_writes_nothing(rich: SchemeSpec, tmp_path: Path) -> None:
    for name in ("s.yaml", "s.xlsx"):
        write_scheme(rich, tmp_path / name)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    for name in ("s.yaml", "s.xlsx"):
        read_scheme(tmp_path / name)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


# ------------------------------------------------------------------ YAML refusals

# (edits to the rich scheme's YAML, the field of the problem, words of its rule, the key on
# the located line)
YAML_CASES = [
    pytest.param(
        [("self: 0.2\n", "self: 0.3\n")],
        "categories[0].items[0].methods",
        "must add up to 1",
        "methods:",
        id="item-weights",
    ),
    pytest.param(
        [("weight: 0.3\n", "weight: 0.4\n")],
        "checkpoints",
        "must add up to 1",
        "checkpoints:",
        id="checkpoint-weights",
    ),
    pytest.param(
        [("code: ZZ-02\n", "code: SX-01\n")],
        "categories[1].items[1].code",
        "duplicate item code (also at scheme.yaml, line",
        "code: SX-01",
        id="duplicate-item",
    ),
    pytest.param(
        [("code: ZZ\n", "code: SX\n")],
        "categories[1].code",
        "duplicate category code",
        "code: SX",
        id="duplicate-category",
    ),
    pytest.param(
        [("panel: 0.5\n", "考试: 0.5\n")],
        "categories[1].items[1].methods.考试",
        "unknown method",
        "考试:",
        id="unknown-method",
    ),
    pytest.param(
        [("rule: bonus\n", "rule: 奖励\n")],
        "categories[2].items[0].rule",
        "unknown rule",
        "rule: 奖励",
        id="unknown-rule",
    ),
    pytest.param(
        [("max_score: 8\n", "max_score: 0\n")],
        "categories[0].items[1].max_score",
        "greater than 0",
        "max_score: 0",
        id="max-score-0",
    ),
    pytest.param(
        [("max_score: 3\n", "max_score: -1\n")],
        "categories[2].items[0].max_score",
        "greater than 0",
        "max_score: -1",
        id="max-score-negative",
    ),
    pytest.param(
        [("- democratic\n", "- panel\n")],
        "drop_extremes[1]",
        "dropped only for",
        "- panel",
        id="drop-extremes",
    ),
    pytest.param(
        [("scale: 三档\n", "scale: 四档\n")],
        "categories[0].items[1].scale",
        "grade_scales",
        "scale: 四档",
        id="unknown-scale",
    ),
    pytest.param(
        [("period: '2016'\n", "period: 2016-Q5\n")],
        "period",
        "a period is",
        "period:",
        id="bad-period",
    ),
]


@pytest.mark.parametrize(("edits", "path", "rule", "line_text"), YAML_CASES)
def test_yaml_refusal(
    rich: SchemeSpec, edits: list[tuple[str, str]], path: str, rule: str, line_text: str
) -> None:
    text = edit_yaml(dumps_yaml(rich), *edits)
    with pytest.raises(SchemeInvalid) as exc:
        loads_yaml(text, source="/schemes/scheme.yaml")
    found = problems_of(exc)
    assert path in found, str(exc.value)
    problem = found[path]
    assert rule in problem.rule
    assert problem.location.startswith("scheme.yaml, line ")
    assert line_text in line_of(text, problem.location)
    assert "scheme.yaml" in str(exc.value)


def test_duplicate_item_names_both_places(rich: SchemeSpec) -> None:
    text = edit_yaml(dumps_yaml(rich), ("code: ZZ-02\n", "code: SX-01\n"))
    with pytest.raises(SchemeInvalid) as exc:
        loads_yaml(text)
    problem = problems_of(exc)["categories[1].items[1].code"]
    other = re.search(r"also at (scheme\.yaml, line \d+)", problem.rule)
    assert other
    assert "code: SX-01" in line_of(text, other.group(1))
    assert other.group(1) != problem.location


def test_yaml_every_problem_at_once(rich: SchemeSpec) -> None:
    edits = [e for case in YAML_CASES for e in cast(list[tuple[str, str]], case.values[0])]
    edits = [e for e in edits if e != ("code: ZZ\n", "code: SX\n")] + [("code: JX\n", "code: SX\n")]
    text = edit_yaml(dumps_yaml(rich), *edits)
    with pytest.raises(SchemeInvalid) as exc:
        loads_yaml(text)
    fields = set(problems_of(exc))
    assert {
        "categories[0].items[0].methods",
        "checkpoints",
        "categories[1].items[1].code",
        "categories[2].code",
        "categories[1].items[1].methods.考试",
        "categories[2].items[0].rule",
        "categories[0].items[1].max_score",
        "drop_extremes[1]",
        "categories[0].items[1].scale",
        "period",
    } <= fields
    lines = [
        int(m.group(1)) for p in exc.value.problems if (m := re.search(r"line (\d+)", p.location))
    ]
    assert lines == sorted(lines)  # in the order of the file
    assert f"{len(exc.value.problems)} problem" in str(exc.value)


def test_yaml_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("code: ZZ\ntitle: 市直机关党建考评\nperiod: 2016\n".encode("gbk"))
    with pytest.raises(ValidationError) as exc:
        read_scheme(path)
    assert exc.value.field == "file"
    assert exc.value.value == str(path)
    assert "must be UTF-8" in exc.value.rule
    assert "byte offset 16" in exc.value.rule
    assert "line 2" in exc.value.rule


def test_yaml_utf16_is_not_utf8() -> None:
    with pytest.raises(ValidationError, match="must be UTF-8"):
        loads_yaml("code: ZZ\n".encode("utf-16"))


def test_yaml_python_tag_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f'code: !!python/object/apply:os.system ["touch {marker}"]\ntitle: x\nperiod: 2016\n'
    with pytest.raises(ValidationError) as exc:
        loads_yaml(text)
    assert "line 1" in exc.value.rule
    assert "plain data only" in exc.value.rule
    assert not marker.exists()
    path = tmp_path / "tag.yaml"
    path.write_text("!!python/object:pdca.domain.scheme.SchemeSpec\ncode: x\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="python/object"):
        read_scheme(path)


def test_yaml_syntax_error_gives_line_and_column() -> None:
    with pytest.raises(ValidationError) as exc:
        loads_yaml("code: ZZ\ntitle: [考评\nperiod: 2016\n", source="s.yaml")
    assert exc.value.value == "s.yaml"
    assert re.search(r"line \d+, column \d+: YAML syntax error", exc.value.rule)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("- code: ZZ\n", "top level must be a mapping"),
        ("just text\n", "top level must be a mapping"),
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("code: ZZ\n---\ncode: JX\n", "YAML syntax error"),
        ("a: &a [*a]\n", "levels deep"),
        ("code: \x07\n", "not valid YAML"),
    ],
)
def test_yaml_unreadable(text: str, words: str) -> None:
    with pytest.raises(ValidationError) as exc:
        loads_yaml(text)
    assert not isinstance(exc.value, SchemeInvalid)
    assert words in exc.value.rule


def test_yaml_alias_bomb_is_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    with pytest.raises(ValidationError, match="too large"):
        loads_yaml("\n".join(lines) + "\n")


def test_yaml_duplicate_key_is_a_problem(rich: SchemeSpec) -> None:
    text = dumps_yaml(rich).replace("bonus_cap: 5\n", "bonus_cap: 5\nbonus_cap: 6\n")
    with pytest.raises(SchemeInvalid) as exc:
        loads_yaml(text)
    (problem,) = exc.value.problems
    assert problem.field == "bonus_cap"
    assert "given twice" in problem.rule
    assert "bonus_cap: 6" in line_of(text, problem.location)


def test_yaml_not_a_mapping_inside(rich: SchemeSpec) -> None:
    text = dumps_yaml(rich).replace("scope:\n- ZZ-001\n- ZZ-002\n- ZZ-003\n", "scope: ZZ-001\n")
    with pytest.raises(SchemeInvalid) as exc:
        loads_yaml(text)
    assert "scope" in problems_of(exc)


# ------------------------------------------------------------------ Excel refusals


@pytest.fixture
def xlsx(rich: SchemeSpec, tmp_path: Path) -> Path:
    path = tmp_path / "scheme.xlsx"
    write_scheme(rich, path)
    return path


# Rows of the rich workbook's item sheet: 2 SX-01, 3 SX-02, 4 ZZ-01, 5 ZZ-02, 6 JX-01,
# 7 JX-02, 8 JX-03. Its 方案 sheet: 2 code, 3 title, 4 period, ... 11 drop_extremes.
XLSX_CASES = [
    pytest.param(
        {ITEM_SHEET: {"K2": "自评 30%; 互评 20%; 考评 60%"}},
        "categories[0].items[0].methods",
        "must add up to 1",
        "scheme.xlsx, sheet 考评项目一览表, row 2, column 考核方法及权重",
        id="item-weights",
    ),
    pytest.param(
        {CHECKPOINT_SHEET: {"D2": 0.4}},
        "checkpoints",
        "must add up to 1",
        "scheme.xlsx, sheet 检查节点",
        id="checkpoint-weights",
    ),
    pytest.param(
        {ITEM_SHEET: {"C5": "SX-01"}},
        "categories[1].items[1].code",
        "duplicate item code (also at scheme.xlsx, sheet 考评项目一览表, row 2, column 项目代码)",
        "scheme.xlsx, sheet 考评项目一览表, row 5, column 项目代码",
        id="duplicate-item",
    ),
    pytest.param(
        {ITEM_SHEET: {"K5": "民主测评 50%; 考试 50%"}},
        "categories[1].items[1].methods.考试",
        "unknown method",
        "scheme.xlsx, sheet 考评项目一览表, row 5, column 考核方法及权重",
        id="unknown-method",
    ),
    pytest.param(
        {ITEM_SHEET: {"F6": "奖励"}},
        "categories[2].items[0].rule",
        "unknown rule",
        "scheme.xlsx, sheet 考评项目一览表, row 6, column 计分规则",
        id="unknown-rule",
    ),
    pytest.param(
        {ITEM_SHEET: {"E3": 0}},
        "categories[0].items[1].max_score",
        "greater than 0",
        "scheme.xlsx, sheet 考评项目一览表, row 3, column 分值",
        id="max-score-0",
    ),
    pytest.param(
        {ITEM_SHEET: {"E7": -1}},
        "categories[2].items[1].max_score",
        "greater than 0",
        "scheme.xlsx, sheet 考评项目一览表, row 7, column 分值",
        id="max-score-negative",
    ),
    pytest.param(
        {SCHEME_SHEET: {"B11": "互评; 考评"}},
        "drop_extremes[1]",
        "dropped only for",
        "scheme.xlsx, sheet 方案, row 11, column 内容",
        id="drop-extremes",
    ),
    pytest.param(
        {ITEM_SHEET: {"G3": "四档"}},
        "categories[0].items[1].scale",
        "grade_scales",
        "scheme.xlsx, sheet 考评项目一览表, row 3, column 等次量表",
        id="unknown-scale",
    ),
    pytest.param(
        {SCHEME_SHEET: {"B4": "2016-Q5"}},
        "period",
        "a period is",
        "scheme.xlsx, sheet 方案, row 4, column 内容",
        id="bad-period",
    ),
    pytest.param(
        {ITEM_SHEET: {"E4": "=10+2"}},
        "categories[1].items[0].max_score",
        "cell E4 holds a formula",
        "scheme.xlsx, sheet 考评项目一览表, row 4, column 分值",
        id="formula",
    ),
    pytest.param(
        {GRADE_BAND_SHEET: {"B3": "#VALUE!"}},
        "grade_bands[1].min",
        "error value #VALUE!",
        "scheme.xlsx, sheet 等次, row 3, column 最低分",
        id="error-cell",
    ),
    pytest.param(
        {ITEM_SHEET: {"B5": "组织建设"}},
        "categories[1].name",
        "is named '基层组织' in row 4",
        "scheme.xlsx, sheet 考评项目一览表, row 5, column 大类名称",
        id="category-renamed",
    ),
    pytest.param(
        {OUTCOME_SHEET: {"C2": "{n: 20}"}},
        "outcomes[0].params",
        "is not valid JSON",
        "scheme.xlsx, sheet 结果运用, row 2, column 参数",
        id="bad-json",
    ),
    pytest.param(
        {OUTCOME_SHEET: {"C2": '{"n": 0}'}},
        "outcomes[0].n",
        "whole number",
        "scheme.xlsx, sheet 结果运用, row 2, column 参数",
        id="outcome-param",
    ),
    pytest.param(
        {SCHEME_SHEET: {"A13": "考核对象", "B13": "全体"}},
        "方案!A13",
        "unknown field",
        "scheme.xlsx, sheet 方案, row 13, column 项目",
        id="unknown-scheme-field",
    ),
    pytest.param(
        {ITEM_SHEET: {"M1": "考核时间"}},
        "考评项目一览表!M1",
        "unknown column",
        "scheme.xlsx, sheet 考评项目一览表, row 1, column 考核时间",
        id="unknown-column",
    ),
]


@pytest.mark.parametrize(("edits", "path", "rule", "location"), XLSX_CASES)
def test_xlsx_refusal(
    xlsx: Path, edits: dict[str, dict[str, Any]], path: str, rule: str, location: str
) -> None:
    edit_xlsx(xlsx, edits)
    with pytest.raises(SchemeInvalid) as exc:
        read_scheme(xlsx)
    found = problems_of(exc)
    assert path in found, str(exc.value)
    assert rule in found[path].rule
    assert found[path].location == location
    assert "scheme.xlsx, sheet " in str(exc.value)


def test_xlsx_formula_cell_is_reported_once(xlsx: Path) -> None:
    edit_xlsx(xlsx, {ITEM_SHEET: {"C3": '=C2&"x"'}})
    with pytest.raises(SchemeInvalid) as exc:
        read_scheme(xlsx)
    (problem,) = exc.value.problems
    assert problem.field == "categories[0].items[1].code"
    assert "formula" in problem.rule


def test_xlsx_every_problem_at_once(xlsx: Path) -> None:
    edits: dict[str, dict[str, Any]] = {}
    for case in XLSX_CASES:
        for sheet, cells in cast(dict[str, dict[str, Any]], case.values[0]).items():
            edits.setdefault(sheet, {}).update(cells)
    edits[OUTCOME_SHEET]["C2"] = "{n: 20}"  # the bad-json case wins over outcome-param
    edit_xlsx(xlsx, edits)
    with pytest.raises(SchemeInvalid) as exc:
        read_scheme(xlsx)
    fields = set(problems_of(exc))
    expected = {c.values[1] for c in XLSX_CASES if c.id != "outcome-param"}
    assert expected <= fields, fields ^ expected
    sheets = [
        SCHEME_SHEET,
        ITEM_SHEET,
        CHECKPOINT_SHEET,
        "等次量表",
        GRADE_BAND_SHEET,
        OUTCOME_SHEET,
    ]
    places = []
    for p in exc.value.problems:
        m = re.fullmatch(r"scheme\.xlsx, sheet (\S+)(?:, row (\d+))?(?:, column .*)?", p.location)
        assert m, p.location
        places.append((sheets.index(m.group(1)), int(m.group(2) or 0)))
    assert places == sorted(places)  # in the order of the workbook


def test_xlsx_not_a_workbook(tmp_path: Path) -> None:
    cases = {
        "random.xlsx": os.urandom(2048),
        "csv.xlsx": "大类代码,项目代码\nSX,SX-01\n".encode(),
        "empty.xlsx": b"",
        "yaml.xlsx": b"code: ZZ\n",
    }
    other = tmp_path / "zip.xlsx"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "hello")
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("[Content_Types].xml", "<not-xml")
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
    for path in [*(tmp_path / n for n in cases), other, broken]:
        with pytest.raises(ValidationError) as exc:
            read_scheme(path)
        assert not isinstance(exc.value, SchemeInvalid)
        assert exc.value.field == "file"
        assert exc.value.value == str(path)
        assert "not an Excel workbook" in exc.value.rule


@pytest.mark.parametrize("sheet", [ITEM_SHEET, SCHEME_SHEET])
def test_xlsx_missing_required_sheet(xlsx: Path, sheet: str) -> None:
    wb = openpyxl.load_workbook(xlsx)
    del wb[sheet]
    wb.save(xlsx)
    with pytest.raises(ValidationError) as exc:
        read_scheme(xlsx)
    assert not isinstance(exc.value, SchemeInvalid)
    assert f"has no sheet {sheet}" in exc.value.rule


def test_xlsx_missing_required_column(xlsx: Path) -> None:
    wb = openpyxl.load_workbook(xlsx)
    wb[ITEM_SHEET].delete_cols(3)  # 项目代码
    wb[CHECKPOINT_SHEET].delete_cols(4)  # 权重
    wb.save(xlsx)
    with pytest.raises(ValidationError) as exc:
        read_scheme(xlsx)
    assert "sheet 考评项目一览表 lacks the column(s) 项目代码" in exc.value.rule
    assert "sheet 检查节点 lacks the column(s) 权重" in exc.value.rule


def test_xlsx_optional_sheets_may_be_missing(rich: SchemeSpec, xlsx: Path) -> None:
    wb = openpyxl.load_workbook(xlsx)
    for name in (CHECKPOINT_SHEET, OUTCOME_SHEET):
        del wb[name]
    wb.save(xlsx)
    spec = read_scheme(xlsx)
    assert [cp.kind for cp in spec.checkpoints] == ["year-end"]  # the default
    assert spec.outcomes == ()
    assert spec.categories == rich.categories


# ------------------------------------------------------------------ file handling


def test_unknown_extension(rich: SchemeSpec, tmp_path: Path) -> None:
    for name in ("scheme.json", "scheme.xls", "scheme"):
        with pytest.raises(ValidationError) as exc:
            read_scheme(tmp_path / name)
        assert (exc.value.field, exc.value.value) == ("file", str(tmp_path / name))
        assert exc.value.rule == "must end in .yaml, .yml or .xlsx"
        with pytest.raises(ValidationError, match=r"must end in \.yaml, \.yml or \.xlsx"):
            write_scheme(rich, tmp_path / name)


def test_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        read_scheme(tmp_path / "nope.yaml")
    assert exc.value.value == str(tmp_path / "nope.yaml")
    assert "does not exist" in exc.value.rule
    (tmp_path / "dir.xlsx").mkdir()
    with pytest.raises(ValidationError, match="directory"):
        read_scheme(tmp_path / "dir.xlsx")


# ------------------------------------------------------------------ known gaps in scheme.py


def test_factor_spelling_survives_round_trip() -> None:
    data = copy.deepcopy(RICH)
    data["outcomes"][1]["factors"] = [1.2, 1.0, 0.8]
    spec = parse_scheme(data)
    assert loads_yaml(dumps_yaml(spec)) == spec


def test_an_empty_scope_is_refused() -> None:
    data = copy.deepcopy(RICH)
    data["scope"] = []
    with pytest.raises(SchemeInvalid, match=r"scope=\[\]: an empty scope assesses nobody"):
        parse_scheme(data)


def test_an_empty_category_is_refused() -> None:
    data = copy.deepcopy(RICH)
    data["categories"].append({"code": "KONG", "name": "暂无项目", "items": []})
    with pytest.raises(SchemeInvalid, match=r"a category needs at least one item"):
        parse_scheme(data)


def test_unhashable_grade_in_outcome_is_a_problem(rich: SchemeSpec) -> None:
    text = dumps_yaml(rich).replace("    - 一般\n", "    - [一般]\n")
    with pytest.raises(SchemeInvalid):
        loads_yaml(text)


# ------------------------------------------------------------------ property: round trips

_CODE = st.text(
    alphabet=st.sampled_from("ABCDEFGHJKXYZ0123456789-_.党委支部"), min_size=1, max_size=8
)
_TEXT = (
    st.lists(
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
        | st.sampled_from(["\n", "\r\n", "\x85", "\u2028", "_x000D_", "_x005F_", "=", "#N/A"]),
        min_size=1,
        max_size=12,
    )
    .map("".join)
    .filter(lambda s: s.strip() != "")
)


def _decimal(places: int, low: int, high: int) -> st.SearchStrategy[Decimal]:
    scale = 10**places
    return st.integers(low * scale, high * scale).map(lambda n: Decimal(n) / scale)


def _weights(n: int) -> st.SearchStrategy[list[Decimal]]:
    """n positive weights with at most 4 decimal places that add up to exactly 1."""
    return (
        st.lists(st.integers(1, 9999), min_size=n - 1, max_size=n - 1, unique=True)
        .filter(lambda cuts: all(0 < c < 10000 for c in cuts))
        .map(lambda cuts: sorted(cuts))
        .map(
            lambda cuts: [
                Decimal(b - a) / 10000 for a, b in zip([0, *cuts], [*cuts, 10000], strict=True)
            ]
        )
    )


@st.composite
def schemes(draw: st.DrawFn) -> dict[str, Any]:
    codes = iter(draw(st.lists(_CODE, min_size=40, max_size=40, unique=True)))
    scale_names = draw(st.lists(_CODE, min_size=1, max_size=2, unique=True))
    scales = {
        name: dict(
            zip(
                draw(st.lists(_CODE, min_size=1, max_size=3, unique=True)),
                draw(st.lists(_decimal(2, 0, 1), min_size=3, max_size=3)),
                strict=False,
            )
        )
        for name in scale_names
    }
    methods_pool = ["self", "mutual", "panel", "democratic", "questionnaire", "report-review"]
    cats = []
    rules_used: set[str] = set()
    for _ in range(draw(st.integers(1, 3))):
        items = []
        for _ in range(draw(st.integers(1, 3))):
            rule = draw(
                st.sampled_from(
                    ["points", "grade", "count", "deduction", "bonus", "penalty", "veto"]
                )
            )
            rules_used.add(rule)
            item: dict[str, Any] = {"code": next(codes), "title": draw(_TEXT), "rule": rule}
            if rule != "veto":
                item["max_score"] = draw(_decimal(2, 0, 100).filter(lambda d: d > 0))
            if rule == "grade":
                item["scale"] = draw(st.sampled_from(scale_names))
            if rule in ("deduction", "penalty"):
                item["per"] = draw(_decimal(2, 0, 10).filter(lambda d: d > 0))
            if rule == "count":
                item["record_kind"] = next(codes)
                item["target"] = draw(st.integers(1, 50))
            else:
                chosen = draw(
                    st.lists(st.sampled_from(methods_pool), min_size=1, max_size=3, unique=True)
                )
                methods: dict[str, Any] = dict(
                    zip(chosen, draw(_weights(len(chosen))), strict=True)
                )
                if draw(st.booleans()):
                    methods["commentary"] = 0
                item["methods"] = methods
            if draw(st.booleans()):
                item["evidence"] = draw(_TEXT)
            items.append(item)
        cats.append({"code": next(codes), "name": draw(_TEXT), "items": items})
    year = draw(st.integers(2000, 2030))
    n_cp = draw(st.integers(1, 3))
    cps = []
    for w in draw(_weights(n_cp)):
        cp: dict[str, Any] = {
            "code": next(codes),
            "kind": draw(st.sampled_from(["daily", "monthly", "mid-year", "year-end", "special"])),
            "name": draw(_TEXT),
            "weight": w,
        }
        if draw(st.booleans()):
            cp["on"] = draw(st.dates(dt.date(year, 1, 1), dt.date(year, 12, 31)))
        cps.append(cp)
    mins = sorted(draw(st.lists(st.integers(1, 99), max_size=3, unique=True)), reverse=True)
    band_names = draw(
        st.lists(_TEXT.map(str.strip), min_size=len(mins) + 1, max_size=len(mins) + 1, unique=True)
    )
    bands: list[dict[str, Any]] = [
        {
            "name": n,
            "min": m,
            **(
                {"quota": draw(_decimal(2, 0, 1).filter(lambda d: d > 0))}
                if draw(st.booleans())
                else {}
            ),
        }
        for n, m in zip(band_names, [*mins, 0], strict=True)
    ]
    bands[-1].pop("quota", None)
    outcomes: list[dict[str, Any]] = []
    if draw(st.booleans()):
        outcomes.append({"kind": "top_n", "label": draw(_TEXT), "n": draw(st.integers(1, 100))})
    if draw(st.booleans()):
        k = draw(st.integers(2, 4))
        outcomes.append(
            {
                "kind": "forced_distribution",
                "label": draw(_TEXT),
                "ratios": draw(st.lists(st.integers(1, 9), min_size=k, max_size=k)),
                "labels": [next(codes) for _ in range(k)],
                # normalised spellings: see test_factor_spelling_survives_round_trip
                "factors": [
                    str(d.normalize())
                    for d in draw(st.lists(_decimal(2, 0, 2), min_size=k, max_size=k))
                ],
            }
        )
    if draw(st.booleans()):
        outcomes.append(
            {
                "kind": "streak",
                "label": draw(_TEXT),
                "periods": draw(st.integers(2, 4)),
                "when": draw(
                    st.sampled_from([{"grade_in": [band_names[-1]]}, {"last": True}, {"bottom": 3}])
                ),
                "group": draw(st.sampled_from(["peer_group", "scope"])),
            }
        )
    if draw(st.booleans()):
        outcomes.append(
            {
                "kind": "grade_link",
                "label": draw(_TEXT),
                "grades": [band_names[0]],
                "value": draw(_TEXT),
            }
        )
    data: dict[str, Any] = {
        "code": next(codes),
        "title": draw(_TEXT),
        "period": str(year),
        "categories": cats,
        "checkpoints": cps,
        "grade_scales": scales,
        "grade_bands": bands,
        "outcomes": outcomes,
    }
    if draw(st.booleans()):
        data["issuer"] = next(codes)
    if draw(st.booleans()):
        data["scope"] = [next(codes) for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        data["drop_extremes"] = draw(st.lists(st.sampled_from(DROPPABLE_METHODS), unique=True))
    if "bonus" in rules_used or draw(st.booleans()):
        data["bonus_cap"] = draw(_decimal(2, 0, 20))
    if "penalty" in rules_used or draw(st.booleans()):
        data["penalty_cap"] = draw(_decimal(2, 0, 20))
    if draw(st.booleans()):
        data["bounds"] = {"min": 0, "max": draw(_decimal(1, 1, 1000).filter(lambda d: d > 0))}
    if draw(st.booleans()):
        data["appeal_window_days"] = draw(st.integers(1, 30))
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schemes())
def test_round_trip_property(data: dict[str, Any]) -> None:
    spec = parse_scheme(data)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("s.yaml", "s.xlsx"):
            path = Path(tmp) / name
            write_scheme(spec, path)
            assert read_scheme(path) == spec, name
    assert loads_yaml(dumps_yaml(spec)) == spec
    assert yaml.safe_load(dumps_yaml(spec))["code"] == spec.code
