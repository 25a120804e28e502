"""The ``pdca`` command.

Exit codes: 0 done; 1 refused by a rule (a pdca error: bad data, a refused transition, a
permission denied, a database not at the expected revision; or a command's report that
names refusals: ``cycle advance``, ``rollover``, ``scheme validate``, ``audit verify``);
2 bad usage (unknown command or option, missing or malformed argument).

Output: every command takes ``--json`` and then prints exactly one JSON document on
stdout when it has a result (also when that result reports refusals and the exit code is
1). An error without a result prints nothing on stdout; on stderr it prints one line
(``pdca: error: …``), or with ``--json`` one JSON object ``{"error": {"code", "type",
"message", …}}``. Usage errors (exit 2) follow the same rule. Messages are in Chinese when
the locale (LC_ALL, LC_MESSAGES, LANG) starts with ``zh`` (:mod:`pdca.cli_i18n`). Progress
bars go to stderr, only when both stdout and stderr are terminals and ``$CI`` is unset.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import pendulum
from rich.console import Console
from rich.progress import TextColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from pdca._version import __version__
from pdca.cli_i18n import t
from pdca.clock import FixedClock
from pdca.domain.actor import ROLLOVER, Actor
from pdca.domain.scheme import SchemeInvalid
from pdca.errors import (
    NotFound,
    PdcaError,
    PermissionDenied,
    TransitionRefused,
    ValidationError,
)
from pdca.persistence.database import DEFAULT_URL
from pdca.samples import SAMPLES, run_sample
from pdca.services.store import Store, open_store
from pdca.services.unit_of_work import CHECKPOINT_LABELS

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
ENV_URL = "PDCA_DATABASE_URL"


def parse_actor(text: str) -> Actor:
    """``NAME[@ORG][:ROLE]`` as an :class:`~pdca.domain.actor.Actor` (:meth:`Actor.parse`)."""
    return Actor.parse(text)


class Context:
    def __init__(self, db: str | None, actor: str | None = None) -> None:
        self.db_given = db
        self.url = db or os.environ.get(ENV_URL) or DEFAULT_URL
        text = actor or os.environ.get("PDCA_ACTOR")
        try:  # NAME[@ORG][:ROLE]; naming no one, the office's own scripts act as the system
            self.actor = parse_actor(text) if text else Actor("pdca-cli", role="system")
        except ValidationError as err:
            raise click.UsageError(f"--actor: {err}") from err

    def store(self, **kwargs: Any) -> Store:
        return open_store(self.url, **kwargs)


def _json_mode() -> bool:
    """Whether the running command was given ``--json``."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json"):
            return True
        ctx = ctx.parent
    return False


def error_document(message: str, code: int = 1, exc: BaseException | None = None) -> dict[str, Any]:
    """The JSON object an error prints on stderr under ``--json``."""
    err: dict[str, Any] = {
        "code": code,
        "type": type(exc).__name__ if exc is not None else "Error",
        "message": message,
    }
    if isinstance(exc, ValidationError):
        value = exc.value
        if not isinstance(value, str | int | float | bool | type(None)):
            value = str(value)
        err.update(field=exc.field, value=value, rule=exc.rule)
        problems = getattr(exc, "problems", None)
        if problems and all(isinstance(p, tuple) and len(p) == 2 for p in problems):
            err["problems"] = [{"row": r, "message": m} for r, m in problems]
    elif isinstance(exc, NotFound):
        err.update(kind=exc.kind, key=str(exc.key))
    elif isinstance(exc, TransitionRefused):
        err.update(entity=exc.entity, state=exc.state, event=exc.event)
    elif isinstance(exc, PermissionDenied):
        err.update(
            actor=str(exc.actor),
            action=exc.action,
            object=str(exc.obj),
            reason=getattr(exc, "reason", None),
        )
    return {"error": err}


def _fail(message: str, code: int = 1, exc: BaseException | None = None) -> NoReturn:
    if _json_mode():
        click.echo(json.dumps(error_document(message, code, exc), ensure_ascii=False), err=True)
    else:
        click.echo(t("error", message=message), err=True)
    sys.exit(code)


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


class PdcaGroup(click.Group):
    """The top group: usage errors (exit 2) as JSON on stderr under ``--json``, and with
    the locale's prefix otherwise."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in argv
        try:
            rv = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as err:
            message = err.format_message()
            if as_json:
                doc = error_document(message, err.exit_code)
                doc["error"]["type"] = type(err).__name__
                click.echo(json.dumps(doc, ensure_ascii=False), err=True)
            elif isinstance(err, click.UsageError):
                if err.ctx is not None:
                    click.echo(err.ctx.get_usage(), err=True)
                click.echo(t("usage_error", message=message), err=True)
            else:
                click.echo(t("error", message=message), err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo(t("aborted"), err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=PdcaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="pdca")
@click.option(
    "--db",
    metavar="URL",
    default=None,
    help=f"Database URL (else ${ENV_URL}, else {DEFAULT_URL}).",
)
@click.option(
    "--actor",
    metavar="NAME[@ORG][:ROLE]",
    default=None,
    help="Who is acting (e.g. 李书记@B11:secretary), checked against the permission policy "
    "and written into the trail (else $PDCA_ACTOR, else pdca-cli with the system role).",
)
@click.pass_context
def cli(ctx: click.Context, db: str | None, actor: str | None) -> None:
    """pdca: plan → do → check → act for party-building assessment (党建考核)."""
    ctx.obj = Context(db, actor)


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
        t("db_moved", url=obj.url, before=before or t("db_empty"), after=after),
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
        t("db_moved", url=obj.url, before=before or t("db_empty"), after=after or t("db_empty")),
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
        t(
            "db_at",
            url=obj.url,
            revision=current or t("db_empty"),
            head=t("db_head") if head else t("db_not_head"),
        ),
    )


# ------------------------------------------------------------------------- scheme


@cli.group()
def scheme() -> None:
    """Assessment schemes: validate, import and export (YAML or Excel)."""


@scheme.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def scheme_validate(file: Path, as_json: bool) -> None:
    """Check a scheme file and report every problem (exit 1 if there is any)."""
    from pdca.io.scheme_files import read_scheme

    try:
        spec = read_scheme(file)
    except SchemeInvalid as err:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "file": str(file),
                        "valid": False,
                        "problems": [_problem(p) for p in err.problems],
                    },
                    ensure_ascii=False,
                )
            )
            sys.exit(1)
        _fail(str(err), exc=err)
    except PdcaError as err:
        if as_json:
            click.echo(
                json.dumps(
                    {"file": str(file), "valid": False, "problems": [{"message": str(err)}]},
                    ensure_ascii=False,
                )
            )
            sys.exit(1)
        _fail(str(err), exc=err)
    _report(
        {"file": str(file), "valid": True, "code": spec.code, "items": len(spec.items())},
        as_json,
        t("scheme_valid", file=file, code=spec.code, title=spec.title, items=len(spec.items())),
    )


def _problem(p: Any) -> dict[str, Any]:
    value = p.value if isinstance(p.value, str | int | float | bool | type(None)) else str(p.value)
    return {"location": p.location, "field": p.field, "value": value, "rule": p.rule}


@scheme.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def scheme_import(obj: Context, file: Path, as_json: bool) -> None:
    """Import a scheme from YAML or Excel; all or nothing."""
    from pdca.io.scheme_files import read_scheme

    with _errors():
        spec = read_scheme(file)
        with obj.store() as store, store.unit_of_work(obj.actor) as uow:
            uow.add_scheme(spec)
    _report(
        {"file": str(file), "scheme": spec.code, "period": spec.period, "items": len(spec.items())},
        as_json,
        t(
            "scheme_imported",
            code=spec.code,
            title=spec.title,
            period=spec.period,
            items=len(spec.items()),
        ),
    )


@scheme.command("export")
@click.argument("code")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write: .yaml, .yml or .xlsx.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def scheme_export(obj: Context, code: str, out: Path, as_json: bool) -> None:
    """Write scheme CODE to a YAML or Excel file."""
    from pdca.io.scheme_files import write_scheme

    with _errors():
        with obj.store() as store, store.unit_of_work(obj.actor) as uow:
            spec = uow.scheme_spec(code)
        write_scheme(spec, out)
    _report({"scheme": code, "file": str(out)}, as_json, t("scheme_exported", code=code, out=out))


# -------------------------------------------------------------------------- score


@cli.group()
def score() -> None:
    """Scores: import entered scores from CSV or Excel."""


@score.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def score_import(obj: Context, file: Path, as_json: bool) -> None:
    """Import scores (CSV in UTF-8, UTF-8 with BOM or GBK; or XLSX); all or nothing."""
    from pdca.io.score_files import import_scores

    with (
        _errors(),
        obj.store() as store,
        _progress("importing scores") as tick,
        store.unit_of_work(obj.actor) as uow,
    ):
        result = import_scores(uow, file, progress=tick)
    _report(
        {
            "file": str(file),
            "rows": result.rows,
            "entered": result.entered,
            "replaced": result.replaced,
        },
        as_json,
        t(
            "scores_imported",
            file=file,
            rows=result.rows,
            entered=result.entered,
            replaced=result.replaced,
        ),
    )


# ------------------------------------------------------------------------ results


@cli.command()
@click.option("--scheme", "scheme_code", required=True, help="The scheme's code.")
@click.option("--period", required=True, help="The period, e.g. 2025 or 2025-Q2.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_obj
def results(obj: Context, scheme_code: str, period: str, as_json: bool) -> None:
    """Totals, sub-totals, grades, ranks and outcomes of a scheme's period."""
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        res = uow.results(scheme_code, period)
    if as_json:
        click.echo(json.dumps(res.as_dict(), ensure_ascii=False, indent=2))
        return
    _print_results(res.as_dict())


def _print_results(data: dict[str, Any], top: int | None = None) -> None:
    con = _console()
    con.print(f"[bold]{data['scheme']} · {data['period']} 考核结果[/bold]")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in data["results"]:
        groups.setdefault(r["peer_group"], []).append(r)
    for group, rows in groups.items():
        shown = f"前 {top} 名 / " if top and top < len(rows) else ""
        table = Table(title=f"同类组 {group or '—'}（{shown}{len(rows)} 个）")
        table.add_column("名次", justify="right", no_wrap=True)
        table.add_column("党组织")
        table.add_column("总分", justify="right", no_wrap=True)
        table.add_column("等次", no_wrap=True)
        table.add_column("否决", no_wrap=True)
        table.add_column("结果运用")
        for r in rows[:top] if top else rows:
            outcomes = "；".join(
                o["label"] + (f" {o['band']}×{o['factor']}" if "band" in o else "")
                for o in r["outcomes"]
            )
            table.add_row(
                str(r["rank"]),
                r["name"],
                r["total"],
                r["grade"] or "",
                "一票否决" if r["vetoed"] else "",
                outcomes,
            )
        con.print(table)
    con.print(f"排名规则 ties: {data['tie_rule']}；计分 rounding: {data['rounding']}")


# ----------------------------------------------------------------------- rollover


@cli.command()
@click.option("--from", "period_from", required=True, help="The period to close, e.g. 2025.")
@click.option("--to", "period_to", required=True, help="The period to open, e.g. 2026.")
@click.option("--scheme", "scheme_code", required=True, help="The new period's scheme.")
@click.option("--dry-run", is_flag=True, help="Show exactly what would happen; write nothing.")
@click.option(
    "--skip-blocked",
    is_flag=True,
    help="Roll the organizations that are ready; leave the blocked ones for a later run.",
)
@click.option(
    "--carry-unverified",
    is_flag=True,
    help="Carry findings awaiting verification (measures done, not verified) as unresolved.",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def rollover(
    obj: Context,
    period_from: str,
    period_to: str,
    scheme_code: str,
    dry_run: bool,
    skip_blocked: bool,
    carry_unverified: bool,
    batch_size: int,
    as_json: bool,
) -> None:
    """Close a period for the whole scope and open the next, carrying every unresolved
    problem forward. Idempotent and resumable; stops on blockers (exit 1) unless told how
    to treat them."""
    actor = obj.actor if obj.actor.name != "pdca-cli" else ROLLOVER
    with _errors(), obj.store() as store, _bar("rollover") as bar:
        report = store.rollover(
            period_from,
            period_to,
            scheme_code,
            actor=actor,
            dry_run=dry_run,
            skip_blocked=skip_blocked,
            carry_unverified=carry_unverified,
            batch_size=batch_size,
            progress=bar,
        )
    data = report.as_dict()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        con = _console()
        title = "预演 dry run" if dry_run else "年度滚动 rollover"
        con.print(f"[bold]{title} {period_from} → {period_to}（{scheme_code}）[/bold]")
        for b in report.blockers:
            con.print(f"  阻断 blocker {b.org}: {b.reason}")
        if report.skipped:
            con.print(f"  跳过 skipped: {', '.join(report.skipped)}")
        if dry_run:
            for entry in report.plan:
                parts = []
                if entry["close"]:
                    parts.append("close")
                if entry["carry"]:
                    parts.append("carry " + ", ".join(f"#{x}" for x in entry["carry"]))
                if entry["open"]:
                    parts.append("open")
                con.print(f"  {entry['org']}: " + "; ".join(parts))
        con.print(report.summary())
    if report.stopped:
        sys.exit(1)


# --------------------------------------------------------------------------- demo


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--sample",
    type=click.Choice(sorted(SAMPLES)),
    default="xiangtan",
    show_default=True,
    help="Which source article's scheme and year to run.",
)
@click.option(
    "--year",
    type=click.IntRange(1990, 2100),
    default=None,
    help="The year to assess (default: last year); the demo then opens the next.",
)
@click.option(
    "--no-rollover",
    is_flag=True,
    help="Stop when the year is in acting and next year's scheme is issued, so that "
    "`pdca rollover` can close it and open the next.",
)
@click.pass_obj
def demo(obj: Context, as_json: bool, sample: str, year: int | None, no_rollover: bool) -> None:
    """Run a whole assessment year of a sample and roll over into the next.

    Without --db (or $PDCA_DATABASE_URL) the demo uses a new temporary SQLite file, kept
    afterwards so it can be inspected; its URL is printed.
    """
    url = obj.db_given or os.environ.get(ENV_URL)
    if url is None:
        fd, path = tempfile.mkstemp(prefix="pdca-demo-", suffix=".sqlite3")
        os.close(fd)
        url = f"sqlite:///{Path(path).as_posix()}"
    year = year or pendulum.now("Asia/Shanghai").year - 1
    clock = FixedClock(pendulum.datetime(year, 1, 1, tz="Asia/Shanghai"))
    with _errors(), open_store(url, clock=clock, upgrade=True) as store:
        result = run_sample(sample, store, clock, year, rollover=not no_rollover)
    data = {"database": url, **result.as_dict()}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    _print_demo(data)


def _print_demo(data: dict[str, Any]) -> None:
    con = _console()
    con.print(
        f"[bold]pdca 演示 {data['sample']}：{data['period_from']} 年度党建考核 PDCA 循环[/bold]"
    )
    con.print(f"依据 source: {data['article']}")
    con.print(f"数据库 database: {data['database']}")
    con.print(
        f"考核方案 scheme {data['scheme']}：{data['organizations']} 个党组织，"
        f"{data['measures']} 项措施，{data['records']} 条日常记录，{data['scores']} 条评分"
    )
    if data.get("results"):
        _print_results(data["results"], top=5)
    for line in data.get("highlights", []):
        con.print(f"· {line}")
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
            _fail(str(exc), exc=exc)
        if isinstance(exc, SQLAlchemyError):
            orig = getattr(exc, "orig", None) or exc
            _fail(f"database: {type(orig).__name__}: {str(orig).splitlines()[0]}", exc=exc)


def interactive() -> bool:
    """Whether progress may be shown: stdout and stderr are terminals and not in CI."""
    if os.environ.get("CI"):
        return False
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def _progress(what: str, every: int = 500) -> Iterator[Callable[[int], None]]:
    """A progress line on a terminal (stderr); nothing in a pipe or CI."""
    if not interactive():
        yield lambda n: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} rows"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)

        def tick(n: int) -> None:
            if n % every == 0:
                bar.update(task, completed=n)

        yield tick


@contextmanager
def _bar(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on a terminal (stderr), for work that knows its size; none in a pipe
    or CI."""
    if not interactive():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _report(data: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(text)


def main() -> None:
    """Console entry point."""
    cli(prog_name="pdca")


def _register_extensions() -> None:
    from pdca import cli_act, cli_org, cli_report

    cli_act.register(cli)
    cli_report.register(cli)
    cli_org.register(cli)


_register_extensions()
