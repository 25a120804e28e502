"""``pdca score import`` and ``pdca results``: files in the encodings offices use, all or
nothing, every refused row reported with its number."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pendulum
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import pdca
from pdca.cli import cli
from pdca.persistence import tables as t

SCHEME = {
    "code": "S-2025",
    "title": "2025年度考核",
    "period": "2025",
    "issuer": "JG",
    "grade_scales": {"三档": {"好": 1, "较好": "0.8", "一般": "0.6"}},
    "categories": [
        {
            "code": "C",
            "name": "组织建设",
            "items": [
                {
                    "code": "P",
                    "title": "理论学习",
                    "max_score": 10,
                    "methods": {"self": "20%", "mutual": "20%", "panel": "60%"},
                },
                {
                    "code": "G",
                    "title": "民主评议",
                    "max_score": 10,
                    "rule": "grade",
                    "scale": "三档",
                },
            ],
        }
    ],
}

HEADER_EN = "org,period,item,checkpoint,method,assessor,assessor_org,value,comment"
HEADER_ZH = "组织,期间,项目,检查节点,方法,评分人,评分单位,分值,备注"
GOOD_ROWS = [
    "A,2025,P,year-end,self,A书记,A,9,",
    "A,2025,P,year-end,互评,B代表,B,8,",
    "A,2025,P,year-end,mutual,C代表,C,7,",
    "A,2025,P,year-end,考评,组长,JG,9,",
    "A,2025,G,year-end,panel,组长,JG,好,评议认真",
    "B,2025,P,year-end,panel,组长,JG,6.5,",
    "B,2025,G,year-end,考评,组长,JG,一般,",
]


@pytest.fixture
def running(db_url: str) -> str:
    clock = pdca.FixedClock(pendulum.datetime(2025, 12, 20, tz="Asia/Shanghai"))
    with (
        pdca.open_store(db_url, clock=clock) as store,
        store.unit_of_work(pdca.Actor("办公室", org="JG", role="system")) as uow,
    ):
        uow.add_organization("JG", "机关党委", "机关党委")
        for code in "ABC":
            uow.add_organization(code, f"第{code}党支部", "党支部", parent="JG", peer_group="支部")
        uow.add_scheme(SCHEME)
        for code in "ABC":
            cyc = uow.open_cycle(code, "2025", scheme="S-2025")
            for tgt in cyc.targets:
                uow.update_target(tgt.id, first_responsible="书记")  # type: ignore[arg-type]
            uow.approve_plan(code, "2025")
            uow.start(code, "2025")
    return db_url


def count(url: str, table: sa.Table) -> int:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        n = conn.scalar(sa.select(sa.func.count()).select_from(table))
    engine.dispose()
    return int(n or 0)


def write_csv(path: Path, header: str, rows: list[str], encoding: str) -> Path:
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


def results(url: str) -> dict[str, dict[str, object]]:
    r = CliRunner().invoke(
        cli, ["--db", url, "results", "--scheme", "S-2025", "--period", "2025", "--json"]
    )
    assert r.exit_code == 0, r.output
    return {row["org"]: row for row in json.loads(r.output)["results"]}


@pytest.mark.parametrize(
    ("header", "encoding"),
    [(HEADER_EN, "utf-8"), (HEADER_ZH, "utf-8-sig"), (HEADER_ZH, "gbk"), (HEADER_EN, "gb18030")],
)
def test_csv_import_in_every_encoding(
    running: str, tmp_path: Path, header: str, encoding: str
) -> None:
    f = write_csv(tmp_path / "scores.csv", header, GOOD_ROWS, encoding)
    r = CliRunner().invoke(cli, ["--db", running, "score", "import", str(f), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"file": str(f), "rows": 7, "entered": 7, "replaced": 0}
    res = results(running)
    # A: P = 0.2×9 + 0.2×(8+7)/2 + 0.6×9 = 1.8 + 1.5 + 5.4 = 8.70; G = 好 → 10
    assert res["A"]["total"] == "18.70"
    # B: P = 0.6×6.5 = 3.90; G = 一般 → 0.6 × 10 = 6
    assert res["B"]["total"] == "9.90"
    assert (res["A"]["rank"], res["B"]["rank"], res["C"]["rank"]) == (1, 2, 3)
    assert res["C"]["total"] == "0.00"
    with pdca.open_store(running) as store, store.unit_of_work() as uow:
        comments = [s.comment for s in uow.scores("A", "2025") if s.comment]
    assert comments == ["评议认真"]


def test_xlsx_import(running: str, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER_ZH.split(","))
    for row in GOOD_ROWS:
        cells: list[object] = row.split(",")
        # Numbers as Excel stores them: 9 → int, 6.5 → float.
        cells[7] = (
            (
                float(cells[7]) if "." in str(cells[7]) else int(cells[7])  # type: ignore[arg-type]
            )
            if str(cells[7]).replace(".", "").isdigit()
            else cells[7]
        )
        ws.append([c if c != "" else None for c in cells])
    path = tmp_path / "scores.xlsx"
    wb.save(path)
    r = CliRunner().invoke(cli, ["--db", running, "score", "import", str(path)])
    assert r.exit_code == 0, r.output
    assert results(running)["A"]["total"] == "18.70"


def test_a_bad_row_refuses_the_whole_file_and_names_every_row(running: str, tmp_path: Path) -> None:
    rows = [
        *GOOD_ROWS,
        "A,2025,P,year-end,mutual,A代表,A,9,",  # row 9: scores itself
        "B,2025,P,year-end,panel,组长,JG,11,",  # row 10: above max
        "C,2025,G,year-end,panel,组长,JG,优,",  # row 11: not a grade of the scale
        "C,2025,X,year-end,panel,组长,JG,5,",  # row 12: unknown item
        "B,2025,P,year-end,self,组长,JG,5,",  # row 13: self by another organization
        "C,2025,P,year-end,,组长,JG,5,",  # row 14: empty method
    ]
    f = write_csv(tmp_path / "scores.csv", HEADER_EN, rows, "utf-8")
    scores, events = count(running, t.score), count(running, t.event)
    r = CliRunner().invoke(cli, ["--db", running, "score", "import", str(f)])
    assert r.exit_code == 1
    out = r.output
    assert "6 problem(s), nothing imported" in out
    for row, text in [
        (9, "does not score itself in the mutual method"),
        (10, "takes 0 to 10"),
        (11, "takes a grade of 好/较好/一般"),
        (12, "'X': is not an item of scheme S-2025"),
        (13, "entered only by B itself"),
        (14, "empty method"),
    ]:
        assert f"row {row}: " in out
        assert text in out
    assert (count(running, t.score), count(running, t.event)) == (scores, events)


def test_reimport_replaces_and_keeps_the_trail(running: str, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "a.csv", HEADER_EN, GOOD_ROWS, "utf-8")
    assert CliRunner().invoke(cli, ["--db", running, "score", "import", str(f)]).exit_code == 0
    g = write_csv(tmp_path / "b.csv", HEADER_EN, ["B,2025,P,year-end,panel,组长,JG,8.5,"], "utf-8")
    r = CliRunner().invoke(cli, ["--db", running, "score", "import", str(g), "--json"])
    assert json.loads(r.output)["replaced"] == 1
    # B: P = 0.6 × 8.5 = 5.10; G = 一般 → 6
    assert results(running)["B"]["total"] == "11.10"
    with pdca.open_store(running) as store, store.unit_of_work() as uow:
        trail = [e.action for e in uow.events(entity="score")]
    assert trail.count("enter") == 7
    assert trail.count("change") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"org,period\nA,2025\n", "required column(s) missing"),
        (b"\xff\xfe\x00\x00garbage\x81\x81", "must be UTF-8 or GBK"),
        (b"", "is empty"),
    ],
)
def test_unreadable_files_are_refused(
    running: str, tmp_path: Path, content: bytes, message: str
) -> None:
    f = tmp_path / "x.csv"
    f.write_bytes(content)
    r = CliRunner().invoke(cli, ["--db", running, "score", "import", str(f)])
    assert r.exit_code == 1
    assert message in r.output


def test_not_an_xlsx(running: str, tmp_path: Path) -> None:
    f = tmp_path / "x.xlsx"
    f.write_bytes(HEADER_EN.encode())
    r = CliRunner().invoke(cli, ["--db", running, "score", "import", str(f)])
    assert r.exit_code == 1
    assert "is not a readable .xlsx workbook" in r.output


def test_results_of_an_unknown_scheme(running: str) -> None:
    r = CliRunner().invoke(
        cli, ["--db", running, "results", "--scheme", "NOPE", "--period", "2025"]
    )
    assert r.exit_code == 1
    assert "scheme 'NOPE' not found" in r.output


def test_results_text_output_in_chinese(running: str, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "scores.csv", HEADER_EN, GOOD_ROWS, "utf-8")
    CliRunner().invoke(cli, ["--db", running, "score", "import", str(f)])
    r = CliRunner().invoke(
        cli, ["--db", running, "results", "--scheme", "S-2025", "--period", "2025"]
    )
    assert r.exit_code == 0, r.output
    assert "第A党支部" in r.output
    assert "18.70" in r.output
    assert "名次" in r.output
