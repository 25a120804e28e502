"""The ``pdca`` command.

Exit codes: 0 done; 1 refused by a rule (a pdca error: bad data, a refused transition, a
database not at the expected revision); 2 bad usage (unknown option, missing argument).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import pendulum
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from pdca._version import __version__
from pdca.clock import FixedClock
from pdca.errors import PdcaError
from pdca.persistence.database import DEFAULT_URL
from pdca.services.store import Store, open_store
from pdca.services.unit_of_work import CHECKPOINT_LABELS

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
ENV_URL = "PDCA_DATABASE_URL"


class Context:
    def __init__(self, db: str | None) -> None:
        self.db_given = db
        self.url = db or os.environ.get(ENV_URL) or DEFAULT_URL

    def store(self, **kwargs: Any) -> Store:
        return open_store(self.url, **kwargs)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"pdca: error: {message}", err=True)
    sys.exit(code)


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="pdca")
@click.option(
    "--db",
    metavar="URL",
    default=None,
    help=f"Database URL (else ${ENV_URL}, else {DEFAULT_URL}).",
)
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """pdca: plan → do → check → act for party-building assessment (党建考核)."""
    ctx.obj = Context(db)


# ----------------------------------------------------------------------------- db


@cli.group()
def db() -> None:
    """Create and migrate pdca's tables."""


@db.command("upgrade")
@click.argument("revision", default="head")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def db_upgrade(obj: Context, revision: str, as_json: bool) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    with _errors(), obj.store() as store:
        before = store.current_revision()
        store.upgrade(revision)
        after = store.current_revision()
    _report(
        {"database": obj.url, "from": before, "to": after},
        as_json,
        f"{obj.url}: {before or '(empty)'} → {after}",
    )


@db.command("downgrade")
@click.argument("revision")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def db_downgrade(obj: Context, revision: str, as_json: bool) -> None:
    """Migrate the database down to REVISION (``base`` removes pdca's tables)."""
    with _errors(), obj.store() as store:
        before = store.current_revision()
        store.downgrade(revision)
        after = store.current_revision()
    _report(
        {"database": obj.url, "from": before, "to": after},
        as_json,
        f"{obj.url}: {before or '(empty)'} → {after or '(empty)'}",
    )


@db.command("current")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def db_current(obj: Context, as_json: bool) -> None:
    """Show the revision the database is at, and whether it is the newest."""
    with _errors(), obj.store() as store:
        current = store.current_revision()
        head = store.check_at_head()
    _report(
        {"database": obj.url, "revision": current, "at_head": head},
        as_json,
        f"{obj.url}: {current or '(empty)'}" + (" (head)" if head else " (not at head)"),
    )


# --------------------------------------------------------------------------- demo


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--year",
    type=click.IntRange(1990, 2100),
    default=None,
    help="The year to assess (default: last year); the demo then opens the next.",
)
@click.pass_obj
def demo(obj: Context, as_json: bool, year: int | None) -> None:
    """Run a whole assessment year and roll over into the next.

    Without --db (or $PDCA_DATABASE_URL) the demo uses a new temporary SQLite file, kept
    afterwards so it can be inspected; its URL is printed.
    """
    from pdca.demo import run_demo

    url = obj.db_given or os.environ.get(ENV_URL)
    if url is None:
        fd, path = tempfile.mkstemp(prefix="pdca-demo-", suffix=".sqlite3")
        os.close(fd)
        url = f"sqlite:///{Path(path).as_posix()}"
    year = year or pendulum.now("Asia/Shanghai").year - 1
    clock = FixedClock(pendulum.datetime(year, 1, 1, tz="Asia/Shanghai"))
    with _errors(), open_store(url, clock=clock, upgrade=True) as store:
        result = run_demo(store, clock, year)
    data = {"database": url, **result.as_dict()}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    _print_demo(data)


def _print_demo(data: dict[str, Any]) -> None:
    con = _console()
    con.print(f"[bold]pdca 演示：{data['period_from']} 年度党建考核 PDCA 循环[/bold]")
    con.print(f"数据库 database: {data['database']}")
    con.print(
        f"考核方案 scheme {data['scheme']}：{data['organizations']} 个党组织，"
        f"{data['measures']} 项措施，{data['records']} 条日常记录"
    )
    con.print(
        f"检查发现问题 {data['findings_total']} 个：已整改验收 {data['findings_resolved']}，"
        f"免于整改 {data['findings_waived']}，结转下年 {data['findings_carried_forward']}"
    )
    con.print(
        f"关闭 {data['cycles_closed']} 个 {data['period_from']} 年度循环，"
        f"按方案 {data['scheme_next']} 开启 {data['cycles_opened']} 个 {data['period_to']} "
        f"年度循环，计划中含结转整改目标 {data['carried_targets']} 个"
    )
    plan = data["next_plan"]
    carried = [t for t in plan["targets"] if t["origin"] == "carried"]
    con.print(
        f"\n[bold]{plan['name']}（{plan['org']}）{plan['period']} 年度计划[/bold]"
        f"（{plan['state']}）：{len(plan['targets']) - len(carried)} 项考核方案目标，"
        f"{len(carried)} 项上年结转的整改目标："
    )
    table = Table(title=None, show_lines=False)
    table.add_column("结转整改目标 carried target")
    table.add_column("指标", no_wrap=True)
    table.add_column("问题发现于", no_wrap=True)
    table.add_column("原问题", no_wrap=True)
    table.add_column("结转次数", justify="right", no_wrap=True)
    for tgt in carried:
        table.add_row(
            tgt["title"],
            tgt["item"] or "",
            f"{tgt['origin_period']} {CHECKPOINT_LABELS.get(tgt['found_at'], tgt['found_at'])}",
            f"#{tgt['carried_from_finding']}",
            str(tgt["carry_count"]),
        )
    con.print(table)


# ------------------------------------------------------------------------ helpers


class _errors:
    """Turn pdca's errors into a one-line message and exit code 1."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, PdcaError):
            _fail(str(exc))
        if isinstance(exc, SQLAlchemyError):
            orig = getattr(exc, "orig", None) or exc
            _fail(f"database: {type(orig).__name__}: {str(orig).splitlines()[0]}")


def _report(data: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(text)


def main() -> None:
    """Console entry point."""
    cli(prog_name="pdca")
