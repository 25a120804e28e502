"""Files of the reports: the bulletin (``.xlsx``, ``.md``, ``.html``), one organization's
feedback (``.md``, ``.html``, ``.json``) and a problem's lineage (``.md``, ``.json``).

The bulletin workbook follows seed 001: a summary sheet (考评汇总表: rank, sub-totals per
category, total, grade, outcomes, one block per peer group) and one sheet per item
(单项工作考评表 ``单项-<code>``: each organization's score on the item), then 单项统计
(every item's scope average and rate), 共性问题, 短板指标 and 改进反馈.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from pdca.errors import ValidationError

__all__ = [
    "SHEET_COMMON",
    "SHEET_ITEMS",
    "SHEET_KEY",
    "SHEET_SUMMARY",
    "SHEET_WEAK",
    "commentary_lines",
    "item_sheet_name",
    "jsonable",
    "write_bulletin",
    "write_feedback",
    "write_lineage",
]

SHEET_SUMMARY = "考评汇总表"
SHEET_ITEMS = "单项统计"
SHEET_COMMON = "共性问题"
SHEET_WEAK = "短板指标"
SHEET_KEY = "改进反馈"
ITEM_SHEET_PREFIX = "单项-"
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
SHEET_NAME_MAX = 31


# --------------------------------------------------------------------------- values


def jsonable(value: Any) -> Any:
    """``value`` with Decimals as strings, dates as ISO strings, tuples as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(x) for k, x in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(x) for x in value]
    return value


def _num(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, Decimal):
        return f"{x:f}"
    if isinstance(x, dt.date | dt.datetime):
        return x.isoformat()
    return str(x)


def _pct(x: Any) -> str:
    if x is None:
        return "—"
    d = Decimal(str(x)) * 100
    return f"{d.quantize(Decimal('0.01')):f}%"


def _outcomes(outcomes: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for o in outcomes:
        text = str(o.get("label", o.get("kind", "")))
        if "band" in o:
            text += f" {o['band']}×{o.get('factor', '')}"
        if o.get("value"):
            text += f"（{o['value']}）"
        parts.append(text)
    return "；".join(parts)


def _group_label(group: str) -> str:
    return group or "—"


def _suffix(path: Path, allowed: Sequence[str]) -> str:
    ext = path.suffix.lower()
    if ext not in allowed:
        raise ValidationError(
            "path", str(path), "write " + ", ".join(allowed) + " (by the file's extension)"
        )
    return ext


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def item_sheet_name(code: str, taken: set[str] | None = None) -> str:
    """``单项-<code>`` made a legal, unique Excel sheet name (≤ 31 characters, none of
    ``[]:*?/\\``)."""
    base = (ITEM_SHEET_PREFIX + _BAD_SHEET_CHARS.sub("_", code))[:SHEET_NAME_MAX].strip("'")
    name = base
    n = 2
    while taken is not None and name.lower() in {t.lower() for t in taken}:
        tail = f"~{n}"
        name = base[: SHEET_NAME_MAX - len(tail)] + tail
        n += 1
    if taken is not None:
        taken.add(name)
    return name


def _competition_rank(values: Sequence[Decimal | None]) -> list[int | None]:
    """1, 2, 2, 4 over the values present, highest first; None for a missing value."""
    present = sorted((v for v in values if v is not None), reverse=True)
    first: dict[Decimal, int] = {}
    for i, v in enumerate(present):
        first.setdefault(v, i + 1)
    return [first[v] if v is not None else None for v in values]


def _bulletin_title(data: Mapping[str, Any]) -> str:
    return f"{data['scheme']['title']} 考核情况通报（{data['period']}）"


def _all_rows(data: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(g["peer_group"], r) for g in data["groups"] for r in g["rows"]]


# -------------------------------------------------------------------------- bulletin


def write_bulletin(
    data: Mapping[str, Any], path: str | Path, *, images: Sequence[str | Path] = ()
) -> Path:
    """Write a bulletin (:meth:`~pdca.reports.ReportCases.bulletin`) by the extension:
    ``.xlsx``, ``.md`` or ``.html`` (``images``: chart files to show in .md and .html,
    referred to relative to the report)."""
    p = Path(path)
    ext = _suffix(p, (".xlsx", ".md", ".html", ".json"))
    if ext == ".xlsx":
        return _bulletin_xlsx(data, p)
    if ext == ".json":
        return _write_text(p, json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")
    doc = _bulletin_doc(data, _relative_images(p, images))
    return _write_text(p, _markdown(doc) if ext == ".md" else _html(doc))


def _relative_images(target: Path, images: Sequence[str | Path]) -> list[str]:
    out = []
    for img in images:
        i = Path(img)
        try:
            out.append(i.resolve().relative_to(target.resolve().parent).as_posix())
        except ValueError:
            out.append(i.resolve().as_uri())
    return out


def _bulletin_xlsx(data: Mapping[str, Any], path: Path) -> Path:
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import (  # type: ignore[import-untyped]
        Alignment,
        Border,
        Font,
        PatternFill,
        Side,
    )
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    wb = Workbook()
    wb.properties.title = _bulletin_title(data)
    wb.properties.creator = "pdca"
    bold = Font(bold=True)
    title_font = Font(bold=True, size=14)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    score_fmt = "0.00"
    rate_fmt = "0.00%"

    def sheet_head(ws: Any, title: str, note: str, headers: Sequence[str]) -> int:
        ws.cell(row=1, column=1, value=title).font = title_font
        ws.cell(row=2, column=1, value=note)
        for c, h in enumerate(headers, start=1):
            cell = ws.cell(row=4, column=c, value=h)
            cell.font = bold
            cell.fill = head_fill
            cell.alignment = center
            cell.border = border
        ws.freeze_panes = ws.cell(row=5, column=1)
        return 5

    def widths(ws: Any, values: Sequence[int]) -> None:
        for i, w in enumerate(values, start=1):
            ws.column_dimensions[get_column_letter(i)].width = w

    def put(ws: Any, row: int, col: int, value: Any, fmt: str | None = None) -> None:
        cell = ws.cell(row=row, column=col, value=value)
        cell.border = border
        if fmt is not None and value is not None:
            cell.number_format = fmt

    cats = list(data["categories"])
    items = list(data["items"])
    scope = data["scope_size"]

    # 考评汇总表
    ws = wb.active
    ws.title = SHEET_SUMMARY
    headers = [
        "同类组",
        "名次",
        "党组织代码",
        "党组织",
        *[f"{c['name']}（{_num(c['max'])}）" for c in cats],
        "基础分",
        "加分",
        "扣分",
        "总分",
        "等次",
        "一票否决",
        "结果运用",
    ]
    row = sheet_head(
        ws,
        f"{data['scheme']['title']} 考评汇总表",
        f"考核方案 {data['scheme']['code']} · 期间 {data['period']} · 参评党组织 {scope} 个 · "
        f"满分 {_num(data['scheme']['max_total'])} · 排名：{data['tie_rule']}",
        headers,
    )
    for group, r in _all_rows(data):
        values: list[tuple[Any, str | None]] = [
            (_group_label(group), None),
            (r["rank"], None),
            (r["org"], None),
            (r["name"], None),
            *[(r["subtotals"].get(c["code"]), score_fmt) for c in cats],
            (r["base"], score_fmt),
            (r["bonus"], score_fmt),
            (r["penalty"], score_fmt),
            (r["total"], score_fmt),
            (r["grade"], None),
            ("是" if r["vetoed"] else "", None),
            (_outcomes(r["outcomes"]), None),
        ]
        for c, (value, fmt) in enumerate(values, start=1):
            put(ws, row, c, value, fmt)
        ws.cell(row=row, column=4 + len(cats) + 4).font = bold
        row += 1
    widths(ws, [10, 6, 14, 28, *[12] * len(cats), 9, 8, 8, 9, 8, 8, 40])

    # 单项-<code>: one sheet per item
    taken = {SHEET_SUMMARY, SHEET_ITEMS, SHEET_COMMON, SHEET_WEAK, SHEET_KEY}
    rows = _all_rows(data)
    for it in items:
        ws = wb.create_sheet(item_sheet_name(it["item"], taken))
        scores = [r["items"].get(it["item"]) for _, r in rows]
        ranks = _competition_rank(scores)
        order = sorted(
            range(len(rows)),
            key=lambda i: (ranks[i] is None, ranks[i] or 0, rows[i][1]["org"]),
        )
        row = sheet_head(
            ws,
            f"单项工作考评表：{it['item']} {it['title']}",
            f"类别 {it['category_name']} · 满分 {_num(it['max'])} · 计分 {it['rule']} · "
            f"参评 {scope} · 平均分 {_num(it['average'])} · 平均得分率 {_pct(it['rate'])}",
            ["单项名次", "同类组", "党组织代码", "党组织", "得分", "满分", "得分率", "问题数"],
        )
        for i in order:
            group, r = rows[i]
            score = scores[i]
            rate = None
            if score is not None and it["max"] and it["rule"] != "penalty":
                rate = (score / it["max"]).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
            for c, (value, fmt) in enumerate(
                [
                    (ranks[i], None),
                    (_group_label(group), None),
                    (r["org"], None),
                    (r["name"], None),
                    (score, score_fmt),
                    (it["max"], score_fmt),
                    (rate, rate_fmt),
                    (r["findings"].get(it["item"], 0), None),
                ],
                start=1,
            ):
                put(ws, row, c, value, fmt)
            row += 1
        ws.cell(row=row + 1, column=4, value="平均").font = bold
        put(ws, row + 1, 5, it["average"], score_fmt)
        put(ws, row + 1, 7, it["rate"], rate_fmt)
        widths(ws, [9, 10, 14, 28, 9, 8, 9, 8])

    # 单项统计
    ws = wb.create_sheet(SHEET_ITEMS)
    row = sheet_head(
        ws,
        "单项工作得分统计",
        f"参评党组织 {scope} 个；未评分按 0 分计入平均",
        [
            "指标代码",
            "指标",
            "类别",
            "计分",
            "满分",
            "已评分",
            "平均分",
            "平均得分率",
            "最低分",
            "最高分",
            "存在问题的党组织",
        ],
    )
    for it in items:
        for c, (value, fmt) in enumerate(
            [
                (it["item"], None),
                (it["title"], None),
                (it["category_name"], None),
                (it["rule"], None),
                (it["max"], score_fmt),
                (it["scored"], None),
                (it["average"], score_fmt),
                (it["rate"], rate_fmt),
                (it["min"], score_fmt),
                (it["max_seen"], score_fmt),
                (it["finding_orgs"], None),
            ],
            start=1,
        ):
            put(ws, row, c, value, fmt)
        row += 1
    widths(ws, [10, 26, 12, 10, 8, 8, 9, 11, 9, 9, 14])

    # 共性问题
    ws = wb.create_sheet(SHEET_COMMON)
    row = sheet_head(
        ws,
        "共性问题",
        f"同一指标在不少于 {_pct(data['common_share'])} 的参评党组织（{scope} 个）中发现问题"
        "（不含免于整改的问题）",
        [
            "指标代码",
            "指标",
            "存在问题的党组织数",
            "占比",
            "问题数",
            "其中上期结转",
            "党组织",
            "列入下年度考核重点",
        ],
    )
    for cp in data["common_problems"]:
        for c, (value, fmt) in enumerate(
            [
                (cp["item"], None),
                (cp["title"], None),
                (cp["orgs"], None),
                (cp["share"], rate_fmt),
                (cp["findings"], None),
                (cp["carried_in"], None),
                ("、".join(cp["org_names"]), None),
                ("是" if cp["marked"] else "", None),
            ],
            start=1,
        ):
            put(ws, row, c, value, fmt)
        row += 1
    widths(ws, [10, 26, 10, 9, 8, 10, 50, 12])

    # 短板指标
    ws = wb.create_sheet(SHEET_WEAK)
    row = sheet_head(
        ws,
        "短板指标",
        f"平均得分率最低的 {data['weak_count']} 项基础指标（平均得分率 = 平均分 ÷ 满分）",
        [
            "序号",
            "指标代码",
            "指标",
            "类别",
            "满分",
            "平均分",
            "平均得分率",
            "已评分",
            "列入下年度考核重点",
        ],
    )
    for n, w in enumerate(data["weak_items"], start=1):
        for c, (value, fmt) in enumerate(
            [
                (n, None),
                (w["item"], None),
                (w["title"], None),
                (w["category_name"], None),
                (w["max"], score_fmt),
                (w["average"], score_fmt),
                (w["rate"], rate_fmt),
                (w["scored"], None),
                ("是" if w["marked"] else "", None),
            ],
            start=1,
        ):
            put(ws, row, c, value, fmt)
        row += 1
    widths(ws, [6, 10, 26, 12, 8, 9, 11, 8, 12])

    # 改进反馈
    ws = wb.create_sheet(SHEET_KEY)
    row = sheet_head(
        ws,
        "改进反馈：列入下年度考核的重点内容",
        "共性问题、短板指标在制定下年度考核方案时加大权重或单列指标",
        ["指标代码", "指标", "类型", "说明", "标记人", "标记时间"],
    )
    for m in data["key_content"]:
        for c, value in enumerate(
            [m["item"], m["title"], m["kind_name"], m["note"], m["marked_by"], m["marked_at"]],
            start=1,
        ):
            put(ws, row, c, value)
        row += 1
    widths(ws, [10, 26, 10, 40, 14, 26])

    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# A document model shared by the Markdown and HTML writers: a list of blocks.
Block = tuple[str, Any]


def _bulletin_doc(data: Mapping[str, Any], images: Sequence[str]) -> list[Block]:
    cats = list(data["categories"])
    items = list(data["items"])
    scope = data["scope_size"]
    doc: list[Block] = [
        ("h1", _bulletin_title(data)),
        (
            "p",
            f"考核方案 {data['scheme']['code']}（{data['scheme']['title']}）；"
            f"参评党组织 {scope} 个；满分 {_num(data['scheme']['max_total'])}；"
            f"排名规则：{data['tie_rule']}。",
        ),
        ("h2", "一、考评汇总（按同类组排名）"),
    ]
    for g in data["groups"]:
        doc.append(("h3", f"同类组：{_group_label(g['peer_group'])}（{g['size']} 个）"))
        doc.append(
            (
                "table",
                (
                    ["名次", "党组织", *[c["name"] for c in cats], "总分", "等次", "结果运用"],
                    [
                        [
                            str(r["rank"]),
                            r["name"],
                            *[_num(r["subtotals"].get(c["code"])) for c in cats],
                            _num(r["total"]),
                            (r["grade"] or "") + ("（一票否决）" if r["vetoed"] else ""),
                            _outcomes(r["outcomes"]),
                        ]
                        for r in g["rows"]
                    ],
                ),
            )
        )
    doc.append(("h2", "二、单项工作得分"))
    doc.append(
        (
            "table",
            (
                ["党组织", *[f"{it['item']} {it['title']}（{_num(it['max'])}）" for it in items]],
                [
                    [r["name"], *[_num(r["items"].get(it["item"])) for it in items]]
                    for _, r in _all_rows(data)
                ]
                + [
                    ["平均分", *[_num(it["average"]) for it in items]],
                    ["平均得分率", *[_pct(it["rate"]) for it in items]],
                ],
            ),
        )
    )
    doc.append(("h2", f"三、共性问题（不少于 {_pct(data['common_share'])} 的党组织存在）"))
    if data["common_problems"]:
        doc.append(
            (
                "table",
                (
                    [
                        "指标",
                        "存在问题的党组织",
                        "占比",
                        "问题数",
                        "其中上期结转",
                        "列入下年度重点",
                    ],
                    [
                        [
                            f"{c['item']} {c['title'] or ''}".strip(),
                            str(c["orgs"]),
                            _pct(c["share"]),
                            str(c["findings"]),
                            str(c["carried_in"]),
                            "是" if c["marked"] else "",
                        ]
                        for c in data["common_problems"]
                    ],
                ),
            )
        )
    else:
        doc.append(("p", "未发现共性问题。"))
    doc.append(("h2", f"四、短板指标（平均得分率最低的 {data['weak_count']} 项）"))
    if data["weak_items"]:
        doc.append(
            (
                "table",
                (
                    ["序号", "指标", "类别", "满分", "平均分", "平均得分率", "列入下年度重点"],
                    [
                        [
                            str(n),
                            f"{w['item']} {w['title']}",
                            w["category_name"],
                            _num(w["max"]),
                            _num(w["average"]),
                            _pct(w["rate"]),
                            "是" if w["marked"] else "",
                        ]
                        for n, w in enumerate(data["weak_items"], start=1)
                    ],
                ),
            )
        )
    else:
        doc.append(("p", "无。"))
    doc.append(("h2", "五、改进反馈：列入下年度考核的重点内容"))
    if data["key_content"]:
        doc.append(
            (
                "ul",
                [
                    f"{m['item']} {m['title'] or ''}（{m['kind_name']}）"
                    + (f"：{m['note']}" if m["note"] else "")
                    for m in data["key_content"]
                ],
            )
        )
    else:
        doc.append(("p", "尚未标记。"))
    for img in images:
        doc.append(("img", img))
    return doc


def _md_cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(doc: Sequence[Block]) -> str:
    out: list[str] = []
    for kind, value in doc:
        if kind == "h1":
            out.append(f"# {value}\n")
        elif kind == "h2":
            out.append(f"## {value}\n")
        elif kind == "h3":
            out.append(f"### {value}\n")
        elif kind == "p":
            out.append(f"{value}\n")
        elif kind == "ul":
            out.append("\n".join(f"- {_md_cell(x)}" for x in value) + "\n")
        elif kind == "img":
            out.append(f"![图表]({value})\n")
        elif kind == "table":
            headers, rows = value
            lines = [
                "| " + " | ".join(_md_cell(h) for h in headers) + " |",
                "|" + "|".join("---" for _ in headers) + "|",
            ]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines) + "\n")
    return "\n".join(out)


_CSS = """
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei",
       "PingFang SC", sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #999; padding: 0.25em 0.6em; }
th { background: #ddebf7; }
td { text-align: right; }
td:first-child, td:nth-child(2) { text-align: left; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


def _html(doc: Sequence[Block]) -> str:
    esc = html.escape
    title = next((v for k, v in doc if k == "h1"), "pdca")
    body: list[str] = []
    for kind, value in doc:
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{esc(str(value))}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{esc(str(value))}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{esc(str(x))}</li>" for x in value) + "</ul>")
        elif kind == "img":
            body.append(f'<img src="{esc(str(value), quote=True)}" alt="图表">')
        elif kind == "table":
            headers, rows = value
            head = "".join(f"<th>{esc(str(h))}</th>" for h in headers)
            trs = "".join(
                "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(str(title))}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# -------------------------------------------------------------------------- feedback


def _feedback_doc(data: Mapping[str, Any], images: Sequence[str]) -> list[Block]:
    doc: list[Block] = [
        ("h1", f"{data['name']}（{data['org']}）{data['period']} 考核情况反馈"),
        (
            "p",
            f"考核方案 {data['scheme']['code']}（{data['scheme']['title']}）；"
            f"同类组 {_group_label(data['peer_group'])}。",
        ),
        (
            "ul",
            [
                f"总分：{_num(data['total'])}（满分 {_num(data['scheme']['max_total'])}；"
                f"基础分 {_num(data['base'])}，加分 {_num(data['bonus'])}，"
                f"扣分 {_num(data['penalty'])}）",
                f"等次：{data['grade'] or '—'}" + ("（一票否决）" if data["vetoed"] else ""),
                f"名次：同类组 {data['group_size']} 个中第 {data['rank']} 名",
                "结果运用：" + (_outcomes(data["outcomes"]) or "无"),
            ],
        ),
        ("h2", "一、分类得分"),
        (
            "table",
            (
                ["类别", "得分", "满分", "得分率", "同类组平均分", "同类组平均得分率"],
                [
                    [
                        c["name"],
                        _num(c["score"]),
                        _num(c["max"]),
                        _pct(c["rate"]),
                        _num(c["peer_average"]),
                        _pct(c["peer_average_rate"]),
                    ]
                    for c in data["categories"]
                ],
            ),
        ),
        ("h2", "二、单项得分"),
        (
            "table",
            (
                ["类别", "指标", "得分", "满分", "得分率"],
                [
                    [
                        it["category_name"],
                        f"{it['code']} {it['title']}",
                        _num(it["score"]),
                        _num(it["max"]),
                        _pct(it["rate"]),
                    ]
                    for it in data["items"]
                ],
            ),
        ),
        ("h2", "三、存在问题及整改情况"),
    ]
    if data["findings"]:
        doc.append(
            (
                "table",
                (
                    ["编号", "指标", "问题", "发现于", "程度", "状态", "整改期限", "结转次数"],
                    [
                        [
                            f"#{f['id']}",
                            f["item"],
                            f["description"],
                            (f"{f['origin_period']} " if f["carry_count"] else "")
                            + f["checkpoint_name"],
                            f["severity_name"],
                            f["state_name"],
                            _num(f["deadline"]),
                            str(f["carry_count"]) + ("（连续未整改）" if f["recurring"] else ""),
                        ]
                        for f in data["findings"]
                    ],
                ),
            )
        )
    else:
        doc.append(("p", "未发现问题。"))
    doc.append(("h2", "四、考核点评"))
    notes = commentary_lines([*data["commentary"], *data["remarks"]])
    doc.append(("ul", notes) if notes else ("p", "无。"))
    if data.get("appeal_until"):
        doc.append(
            (
                "p",
                f"如对考核结果有异议，可于 {_num(data['appeal_until'])} 前提出申辩。",
            )
        )
    for img in images:
        doc.append(("img", img))
    return doc


def commentary_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per checkpoint, assessor and comment, naming the items it was given on
    (the same comment on several items is said once)."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for c in entries:
        key = (
            str(c["checkpoint_name"] or c["checkpoint"] or ""),
            str(c["assessor"]),
            str(c["comment"]),
        )
        grouped.setdefault(key, []).append(str(c["title"] or c["item"]))
    return [
        f"{cp}，{who}（{'、'.join(items)}）：{comment}"
        for (cp, who, comment), items in grouped.items()
    ]


def write_feedback(
    data: Mapping[str, Any], path: str | Path, *, images: Sequence[str | Path] = ()
) -> Path:
    """Write one organization's feedback (:meth:`~pdca.reports.ReportCases.feedback`) by
    the extension: ``.md``, ``.html`` or ``.json``."""
    p = Path(path)
    ext = _suffix(p, (".md", ".html", ".json"))
    if ext == ".json":
        return _write_text(p, json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")
    doc = _feedback_doc(data, _relative_images(p, images))
    return _write_text(p, _markdown(doc) if ext == ".md" else _html(doc))


# --------------------------------------------------------------------------- lineage


def write_lineage(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write a problem's lineage (:meth:`~pdca.reports.ReportCases.lineage`): ``.md``,
    ``.html`` or ``.json``."""
    p = Path(path)
    ext = _suffix(p, (".md", ".html", ".json"))
    if ext == ".json":
        return _write_text(p, json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")
    doc = lineage_doc(data)
    return _write_text(p, _markdown(doc) if ext == ".md" else _html(doc))


def lineage_doc(data: Mapping[str, Any]) -> list[Block]:
    o = data["origin"]
    flag = "（连续未整改）" if data["recurring"] else ""
    return [
        ("h1", f"问题 #{data['root']} 的整改轨迹{flag}"),
        (
            "ul",
            [
                f"党组织：{data['name']}（{data['org']}）",
                f"指标：{data['item']}",
                f"问题：{data['description']}",
                f"首次发现：{o['period']} {o['checkpoint_name']}"
                + (f"（{_num(o['found_on'])}）" if o["found_on"] else ""),
                f"当前状态：{data['current']['period']} {data['current']['state_name']}",
                f"结转次数：{data['carry_count']}",
            ],
        ),
        (
            "table",
            (
                ["期间", "编号", "状态", "来源", "整改措施", "责任人", "整改结果"],
                [
                    [
                        p["period"],
                        f"#{p['finding']}",
                        p["state_name"],
                        p["checkpoint_name"],
                        p["rectification"] or "",
                        p["rectification_owner"] or "",
                        p["resolution"] or "",
                    ]
                    for p in data["periods"]
                ],
            ),
        ),
    ]
