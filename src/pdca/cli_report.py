"""CLI commands for reports (registered by :mod:`pdca.cli`): ``pdca report ...``.

Exit codes as everywhere: 0 done; 1 refused (unknown organization, scheme or item, no
font for Chinese in a chart, ...); 2 bad usage (a missing option, a file type that cannot
be written).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

__all__ = ["register"]

BULLETIN_TYPES = (".xlsx", ".md", ".html", ".json")
FEEDBACK_TYPES = (".md", ".html", ".json")


def _suffix(*allowed: str) -> Any:
    def check(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in allowed:
            raise click.BadParameter(
                f"{value}: write one of " + ", ".join(allowed) + " (by the file's extension)"
            )
        return value

    return check


def _dump(data: Any) -> None:
    from pdca.reports import jsonable

    click.echo(json.dumps(jsonable(data), ensure_ascii=False, indent=2))


def _file_part(text: str) -> str:
    """A peer group's name as a file name part."""
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", text).strip("_") or "all"


def register(group: click.Group) -> None:
    """Add the report commands to ``group``."""
    group.add_command(report)


@click.group()
def report() -> None:
    """Feedback (当面反馈), bulletins (通报反馈), improvement marks (改进反馈), problem
    lineage across years and year-over-year comparison; files and PNG charts."""


# ------------------------------------------------------------------------ feedback


@report.command("feedback")
@click.option("--org", required=True, help="The organization's code.")
@click.option("--scheme", "scheme_code", required=True, help="The scheme's code.")
@click.option("--period", required=True, help="The period, e.g. 2025.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_suffix(*FEEDBACK_TYPES),
    help="Write the feedback to a .md, .html or .json file.",
)
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_suffix(".png"),
    help="Draw a radar of the category score rates against the peer group's (.png).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the feedback as JSON.")
@click.pass_obj
def feedback_cmd(
    obj: Any,
    org: str,
    scheme_code: str,
    period: str,
    out: Path | None,
    chart: Path | None,
    as_json: bool,
) -> None:
    """当面反馈: one organization's total, sub-totals, item scores, grade, rank, problems
    and the assessor's commentary."""
    from pdca.cli import _errors
    from pdca.reports import radar_chart, write_feedback

    with _errors():
        with obj.store() as store, store.unit_of_work(obj.actor) as uow:
            data = uow.feedback(org, scheme_code, period)
        files: list[str] = []
        if chart is not None:
            radar_chart(data, data["peer_average"], chart)
            files.append(str(chart))
        if out is not None:
            write_feedback(data, out, images=[chart] if chart is not None else [])
            files.insert(0, str(out))
    if as_json:
        _dump({**data, "files": files})
        return
    _print_feedback(data)
    for f in files:
        click.echo(f"wrote {f}")


def _print_feedback(d: dict[str, Any]) -> None:
    from rich.table import Table

    from pdca.cli import _console

    con = _console()
    con.print(f"[bold]{d['name']}（{d['org']}）{d['period']} 考核情况反馈[/bold]")
    con.print(
        f"总分 {d['total']}（满分 {d['scheme']['max_total']}）· 等次 {d['grade'] or '—'}"
        + ("（一票否决）" if d["vetoed"] else "")
        + f" · 同类组 {d['peer_group'] or '—'} {d['group_size']} 个中第 {d['rank']} 名"
    )
    table = Table(title="分类得分")
    for h in ("类别", "得分", "满分", "得分率", "同类组平均得分率"):
        table.add_column(h, justify="left" if h == "类别" else "right")
    for c in d["categories"]:
        table.add_row(
            c["name"], str(c["score"]), str(c["max"]), _pct(c["rate"]), _pct(c["peer_average_rate"])
        )
    con.print(table)
    if d["findings"]:
        ft = Table(title="存在问题")
        for h in ("编号", "指标", "问题", "状态", "结转次数"):
            ft.add_column(h)
        for f in d["findings"]:
            ft.add_row(
                f"#{f['id']}",
                f["item"],
                f["description"],
                f["state_name"],
                str(f["carry_count"]) + ("（连续未整改）" if f["recurring"] else ""),
            )
        con.print(ft)
    from pdca.reports.writers import commentary_lines

    for line in commentary_lines(d["commentary"]):
        con.print(f"点评 {line}")


def _pct(x: Any) -> str:
    if x is None:
        return "—"
    return f"{float(x) * 100:.2f}%"


# ------------------------------------------------------------------------ bulletin


@report.command("bulletin")
@click.option("--scheme", "scheme_code", required=True, help="The scheme's code.")
@click.option("--period", required=True, help="The period, e.g. 2025.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_suffix(*BULLETIN_TYPES),
    help="Where to write: .xlsx (summary + one sheet per item), .md, .html or .json.",
)
@click.option(
    "--charts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also draw a ranking chart per peer group into this folder (PNG).",
)
@click.option(
    "--common-share",
    default="0.3",
    show_default=True,
    help="An item flagged in at least this share of the organizations is a common problem "
    "(0.3 or 30%).",
)
@click.option(
    "--weak-count",
    type=click.IntRange(0, 1000),
    default=3,
    show_default=True,
    help="How many weak items (lowest average score rate) to name.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the bulletin as JSON.")
@click.pass_obj
def bulletin_cmd(
    obj: Any,
    scheme_code: str,
    period: str,
    out: Path,
    charts: Path | None,
    common_share: str,
    weak_count: int,
    as_json: bool,
) -> None:
    """通报反馈: ranking per peer group, item scores, common problems and weak items."""
    from pdca.cli import _errors
    from pdca.reports import ranking_chart, write_bulletin

    with _errors():
        with obj.store() as store, store.unit_of_work(obj.actor) as uow:
            data = uow.bulletin(
                scheme_code, period, common_share=common_share, weak_count=weak_count
            )
        images: list[Path] = []
        if charts is not None:
            for g in data["groups"]:
                name = f"ranking-{_file_part(g['peer_group'])}.png"
                images.append(ranking_chart(data, g["peer_group"], charts / name))
        write_bulletin(data, out, images=images)
    files = [str(out), *map(str, images)]
    if as_json:
        _dump({**data, "files": files})
        return
    click.echo(
        f"bulletin {data['scheme']['code']}/{data['period']}: {data['scope_size']} organizations "
        f"in {len(data['groups'])} peer group(s); {len(data['common_problems'])} common "
        f"problem(s), weak items: "
        + (", ".join(f"{w['item']} {w['title']}" for w in data["weak_items"]) or "none")
    )
    for f in files:
        click.echo(f"wrote {f}")


# ------------------------------------------------------------------------- mark-key


@report.command("mark-key")
@click.option("--scheme", "scheme_code", required=True, help="The scheme's code.")
@click.option("--period", required=True, help="The period, e.g. 2025.")
@click.option("--item", "item_code", required=True, help="The item's code.")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["common", "weak"]),
    help="common (共性问题) or weak (短板指标).",
)
@click.option("--note", default=None, help="Why, or what next year's scheme should do.")
@click.option("--json", "as_json", is_flag=True, help="Print the mark as JSON.")
@click.pass_obj
def mark_key_cmd(
    obj: Any,
    scheme_code: str,
    period: str,
    item_code: str,
    kind: str,
    note: str | None,
    as_json: bool,
) -> None:
    """改进反馈: mark an item as key content of next period's scheme."""
    from pdca.cli import _errors, _report

    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        mark = uow.mark_key_content(scheme_code, period, item_code, kind, note)
    _report(
        mark,
        as_json,
        f"marked {mark['item']} {mark['title']} of {mark['scheme']}/{mark['period']} as "
        f"{mark['kind']} ({mark['kind_name']}) key content of the next period's scheme",
    )


# -------------------------------------------------------------------------- lineage


@report.command("lineage")
@click.argument("finding_id", type=int)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_suffix(".md", ".html", ".json"),
    help="Also write the lineage to a .md, .html or .json file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the lineage as JSON.")
@click.pass_obj
def lineage_cmd(obj: Any, finding_id: int, out: Path | None, as_json: bool) -> None:
    """One problem's thread across periods: origin, every period carried, current state."""
    from pdca.cli import _errors
    from pdca.reports import write_lineage

    with _errors():
        with obj.store() as store, store.unit_of_work(obj.actor) as uow:
            data = uow.lineage(finding_id)
        if out is not None:
            write_lineage(data, out)
    if as_json:
        _dump(data)
        return
    from rich.table import Table

    from pdca.cli import _console

    con = _console()
    o = data["origin"]
    con.print(
        f"[bold]问题 #{data['root']}[/bold] {data['name']}（{data['org']}）{data['item']}："
        f"{data['description']}"
    )
    con.print(
        f"首次发现 {o['period']} {o['checkpoint_name']}；当前 {data['current']['period']} "
        f"{data['current']['state_name']}；结转 {data['carry_count']} 期"
        + ("，连续未整改" if data["recurring"] else "")
    )
    table = Table()
    for h in ("期间", "编号", "状态", "来源", "整改措施", "整改结果"):
        table.add_column(h)
    for p in data["periods"]:
        table.add_row(
            p["period"],
            f"#{p['finding']}",
            p["state_name"],
            p["checkpoint_name"],
            p["rectification"] or "",
            p["resolution"] or "",
        )
    con.print(table)
    if out is not None:
        click.echo(f"wrote {out}")


# ------------------------------------------------------------------------ recurring


@report.command("recurring")
@click.option("--period", default=None, help="Only the findings of this period.")
@click.option("--org", default=None, help="Only this organization's problems.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_obj
def recurring_cmd(obj: Any, period: str | None, org: str | None, as_json: bool) -> None:
    """连续未整改: unresolved problems carried into two or more periods."""
    from pdca.cli import _errors

    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        rows = uow.recurring(period=period, org=org)
    if as_json:
        _dump(rows)
        return
    from rich.table import Table

    from pdca.cli import _console

    con = _console()
    if not rows:
        con.print("没有连续未整改的问题 (no recurring problems)")
        return
    table = Table(title=f"连续未整改的问题（{len(rows)} 个）")
    for h in ("编号", "党组织", "指标", "问题", "首次发现", "当前期间", "状态", "结转次数"):
        table.add_column(h)
    for r in rows:
        table.add_row(
            f"#{r['id']}",
            r["name"],
            r["item_code"],
            r["description"],
            r["origin_period"],
            r["period"],
            r["state_name"],
            str(r["carry_count"]),
        )
    con.print(table)


# -------------------------------------------------------------------------- compare


def _periods(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    items = [p.strip() for p in value.split(",") if p.strip()]
    if not items:
        raise click.BadParameter("give periods separated by commas, e.g. 2024,2025,2026")
    return items


@report.command("compare")
@click.option("--org", required=True, help="The organization's code.")
@click.option(
    "--periods",
    required=True,
    callback=_periods,
    help="Periods separated by commas, e.g. 2024,2025,2026.",
)
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_suffix(".png"),
    help="Draw the totals and ranks as a line chart (.png).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_obj
def compare_cmd(
    obj: Any, org: str, periods: Sequence[str], chart: Path | None, as_json: bool
) -> None:
    """An organization's result year over year: total, grade, rank per period."""
    from pdca.cli import _errors
    from pdca.reports import trend_chart

    with _errors():
        with obj.store() as store, store.unit_of_work(obj.actor) as uow:
            rows = uow.compare_years(org, list(periods))
        if chart is not None:
            trend_chart(rows, chart)
    if as_json:
        _dump({"org": org, "periods": rows, "files": [str(chart)] if chart else []})
        return
    from rich.table import Table

    from pdca.cli import _console

    con = _console()
    table = Table(title=f"{rows[0]['name']}（{rows[0]['org']}）历年考核结果")
    for h in ("期间", "考核方案", "总分", "满分", "得分率", "等次", "名次"):
        table.add_column(h, justify="right" if h in ("总分", "满分", "得分率", "名次") else "left")
    for r in rows:
        table.add_row(
            r["period"],
            r["scheme"] or "—",
            str(r["total"]) if r["total"] is not None else "—",
            str(r["max_total"]) if r["max_total"] is not None else "—",
            _pct(r["rate"]),
            r["grade"] or "—",
            f"{r['rank']}/{r['group_size']}" if r["rank"] is not None else "—",
        )
    con.print(table)
    if chart is not None:
        click.echo(f"wrote {chart}")


# ----------------------------------------------------------------------------- item


@report.command("item")
@click.option("--scheme", "scheme_code", required=True, help="The scheme's code.")
@click.option("--period", required=True, help="The period, e.g. 2025.")
@click.option("--item", "item_code", required=True, help="The item's code.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def item_cmd(obj: Any, scheme_code: str, period: str, item_code: str, as_json: bool) -> None:
    """One item across the scope (单项工作考评表): every organization's score on it."""
    from pdca.cli import _errors

    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        data = uow.item_across_scope(scheme_code, period, item_code)
    if as_json:
        _dump(data)
        return
    from rich.table import Table

    from pdca.cli import _console

    con = _console()
    table = Table(
        title=f"单项工作考评表 {data['item']} {data['title']}（满分 {data['max']}）"
        f" 平均 {data['average']}，平均得分率 {_pct(data['rate'])}"
    )
    for h in ("名次", "党组织", "同类组", "得分", "得分率", "问题数"):
        table.add_column(h, justify="left" if h in ("党组织", "同类组") else "right")
    for r in data["rows"]:
        table.add_row(
            str(r["rank"]),
            r["name"],
            r["peer_group"] or "—",
            str(r["score"]) if r["score"] is not None else "—",
            _pct(r["rate"]),
            str(r["findings"]),
        )
    con.print(table)
