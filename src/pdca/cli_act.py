"""CLI commands of the act half (registered by :mod:`pdca.cli`): deadlines, rectification,
appeals and publication.

The actor comes from the global ``--actor NAME@ORG``: an organization appeals as itself
(``--actor 李书记@B11``); the assessor decides and publishes acting for the scheme's issuer
(``--actor 王组长@JG``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

import click
import pendulum
from rich.console import Console
from rich.table import Table

from pdca.cli_i18n import t
from pdca.clock import DEFAULT_TIMEZONE
from pdca.services import act

if TYPE_CHECKING:
    from pdca.cli import Context

__all__ = ["parse_days", "register"]

_DAYS = re.compile(r"^\s*(\d+)\s*([dw]?)\s*$", re.IGNORECASE)


def parse_days(text: str) -> int:
    """``7d`` → 7, ``2w`` → 14, ``30`` → 30."""
    m = _DAYS.match(text)
    if not m:
        raise ValueError(f"{text!r}: write a number of days (7, 7d) or weeks (2w)")
    n = int(m.group(1))
    return n * 7 if m.group(2).lower() == "w" else n


class _Days(click.ParamType[int]):
    name = "DAYS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_days(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)


class _Date(click.ParamType[dt.date]):
    name = "YYYY-MM-DD"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a date written YYYY-MM-DD", param, ctx)


DAYS = _Days()
DATE = _Date()


# pdca.cli imports this module at its end: its helpers are looked up when a command runs.


def _errors() -> Any:
    from pdca.cli import _errors as errors

    return errors()


def _report(data: dict[str, Any], as_json: bool, text: str) -> None:
    from pdca.cli import _report as report

    report(data, as_json, text)


def _console() -> Console:
    from pdca.cli import _console as console

    return console()


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _subgroup(group: click.Group, name: str, help_text: str) -> click.Group:
    """The sub-group ``name`` of ``group``: the existing one, or a new one."""
    existing = group.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    sub = click.Group(name, help=help_text)
    group.add_command(sub)
    return sub


# ------------------------------------------------------------------------- due


@click.command("due")
@click.option(
    "--as-of",
    "as_of",
    type=DATE,
    default=None,
    help="The day to count from (default: today in Asia/Shanghai).",
)
@click.option(
    "--within",
    type=DAYS,
    default="7d",
    show_default=True,
    help="How far ahead: days (7, 7d) or weeks (2w).",
)
@click.option("--org", default=None, help="Only this organization (its code).")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_obj
def due_cmd(
    obj: Context, as_of: dt.date | None, within: int, org: str | None, as_json: bool
) -> None:
    """Measures and rectification measures due soon or overdue, per organization."""
    day = as_of or pendulum.now(DEFAULT_TIMEZONE).date()
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        items = uow.due(day, within, org)
    data = {
        "as_of": str(day),
        "within_days": within,
        "org": org,
        "overdue": sum(1 for i in items if i.overdue),
        "items": [i.as_dict() for i in items],
    }
    if as_json:
        _echo_json(data)
        return
    con = _console()
    if not items:
        con.print(f"{day} 起 {within} 天内没有到期的措施或整改 (nothing due)")
        return
    table = Table(title=f"到期提醒 due by {day + dt.timedelta(days=within)}（截至 {day}）")
    table.add_column("党组织", overflow="fold")
    table.add_column("代码", no_wrap=True)
    table.add_column("类别", no_wrap=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("事项", overflow="fold")
    table.add_column("责任人", overflow="fold")
    table.add_column("期限", no_wrap=True)
    table.add_column("剩余天数", justify="right", no_wrap=True)
    for i in items:
        table.add_row(
            i.org_name,
            i.org,
            "整改" if i.kind == "rectification" else "措施",
            str(i.id),
            i.title,
            i.owner or "",
            str(i.due_on),
            f"逾期 {-i.days_left}" if i.overdue else str(i.days_left),
        )
    con.print(table)
    con.print(f"共 {len(items)} 项，逾期 {data['overdue']} 项")


# --------------------------------------------------------------------- finding


@click.command("rectify")
@click.argument("finding_id", type=int)
@click.option("--title", required=True, help="The rectification measure (整改措施).")
@click.option("--owner", required=True, help="Who carries it out.")
@click.option("--due", "due_on", required=True, type=DATE, help="Its deadline.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def finding_rectify(
    obj: Context, finding_id: int, title: str, owner: str, due_on: dt.date, as_json: bool
) -> None:
    """Add a rectification measure to finding FINDING_ID (the first one starts rectifying)."""
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        r = uow.add_rectification(finding_id, title, owner=owner, due_on=due_on)
        state = uow.finding(finding_id).state
    data = {
        "finding": finding_id,
        "finding_state": state,
        "rectification": act.rectification_data(r),
    }
    _report(
        data,
        as_json,
        t(
            "rectification_added",
            finding=finding_id,
            state=state,
            id=r.id,
            title=r.title,
            owner=r.owner,
            due=r.due_on,
        ),
    )


@click.command("complete")
@click.argument("rectification_id", type=int)
@click.option("--evidence", required=True, help="What shows the measure was carried out.")
@click.option("--done-on", "done_on", type=DATE, default=None, help="Default: today.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def finding_complete(
    obj: Context, rectification_id: int, evidence: str, done_on: dt.date | None, as_json: bool
) -> None:
    """Mark rectification measure RECTIFICATION_ID done, with its evidence."""
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        r = uow.complete_rectification(rectification_id, evidence=evidence, done_on=done_on)
        left = [x for x in uow.rectifications(r.finding_id) if x.status != act.DONE]
    data = {"rectification": act.rectification_data(r), "open_measures": len(left)}
    _report(
        data,
        as_json,
        t("rectification_done", id=r.id, done=r.done_on, finding=r.finding_id, left=len(left)),
    )


@click.command("resolve")
@click.argument("finding_id", type=int)
@click.option("--verified-by", "verified_by", required=True, help="The verifying assessor.")
@click.option("--note", default=None, help="What the verification found.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def finding_resolve(
    obj: Context, finding_id: int, verified_by: str, note: str | None, as_json: bool
) -> None:
    """Verify finding FINDING_ID resolved (验收): every rectification measure must be done."""
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        f = uow.verify(finding_id, verified_by=verified_by, note=note)
    _report(
        {"finding": finding_id, "state": f.state, "resolution": f.resolution},
        as_json,
        t("finding_resolved", id=finding_id, state=f.state, resolution=f.resolution),
    )


# ---------------------------------------------------------------------- appeal


@click.command("file")
@click.option("--score", "score_id", type=int, default=None, help="The score appealed.")
@click.option("--finding", "finding_id", type=int, default=None, help="The finding appealed.")
@click.option("--reason", required=True, help="Why the organization appeals (申辩理由).")
@click.option("--value", default=None, help="The value asked for (score appeals).")
@click.option("--json", "as_json", is_flag=True, help="Print the appeal as JSON.")
@click.pass_obj
def appeal_file(
    obj: Context,
    score_id: int | None,
    finding_id: int | None,
    reason: str,
    value: str | None,
    as_json: bool,
) -> None:
    """File an appeal (申辩) against a score or a finding, as the organization concerned."""
    if (score_id is None) == (finding_id is None):
        raise click.UsageError("give exactly one of --score ID or --finding ID")
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        a = uow.file_appeal(
            score_id=score_id, finding_id=finding_id, reason=reason, requested_value=value
        )
        data = _appeal(uow, a)
    what = (
        t("appeal_score", id=score_id)
        if score_id is not None
        else t("appeal_finding", id=finding_id)
    )
    _report(data, as_json, t("appeal_filed", id=a.id, org=a.filed_org, what=what))


@click.command("decide")
@click.argument("appeal_id", type=int)
@click.option("--uphold/--reject", "uphold", default=None, help="Uphold or reject the appeal.")
@click.option("--decision", required=True, help="The assessor's reasons.")
@click.option("--value", default=None, help="The revised value (upheld score appeals).")
@click.option("--json", "as_json", is_flag=True, help="Print the appeal as JSON.")
@click.pass_obj
def appeal_decide(
    obj: Context,
    appeal_id: int,
    uphold: bool | None,
    decision: str,
    value: str | None,
    as_json: bool,
) -> None:
    """Uphold or reject appeal APPEAL_ID, as the assessor."""
    if uphold is None:
        raise click.UsageError("give --uphold or --reject")
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        a = uow.decide_appeal(appeal_id, uphold=uphold, decision=decision, revised_value=value)
        data = _appeal(uow, a)
        pub = act.appeal_publication(uow, appeal_id)
        data["publication"] = None if pub is None else pub.version
    text = t("appeal_decided", id=a.id, state=a.state)
    if a.revised_raw is not None:
        text += t("appeal_revised", old=a.original_raw, new=a.revised_raw)
    if pub is not None:
        text += t("appeal_republished", version=pub.version)
    _report(data, as_json, text)


@click.command("list")
@click.option("--org", default=None, help="Only this organization (its code).")
@click.option("--period", default=None, help="Only this period.")
@click.option("--state", default=None, help="filed, upheld or rejected.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_obj
def appeal_list(
    obj: Context, org: str | None, period: str | None, state: str | None, as_json: bool
) -> None:
    """List appeals, in the order filed."""
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        found = uow.appeals(org=org, period=period, state=state)
        keys = act.cycle_keys(uow, [a.cycle_id for a in found])
        rows = [act.appeal_data(a, store.timezone, keys[a.cycle_id]) for a in found]
    if as_json:
        _echo_json({"appeals": rows})
        return
    con = _console()
    if not rows:
        con.print("没有申辩 (no appeals)")
        return
    table = Table(title="申辩 appeals")
    for col in ("#", "党组织", "期间", "对象", "状态", "理由", "决定", "原值→改值"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["org"],
            r["period"],
            f"score #{r['score']}" if r["score"] is not None else f"finding #{r['finding']}",
            r["state"],
            r["reason"],
            r["decision"] or "",
            f"{r['original_raw']} → {r['revised_raw']}" if r["revised_raw"] is not None else "",
        )
    con.print(table)


def _appeal(uow: Any, a: Any) -> dict[str, Any]:
    keys = act.cycle_keys(uow, [a.cycle_id])
    return act.appeal_data(a, uow.store.timezone, keys[a.cycle_id])


# --------------------------------------------------------------------- publish


@click.command("publish")
@click.option("--scheme", "scheme_code", required=True, help="The scheme's code.")
@click.option("--period", required=True, help="The period, e.g. 2025.")
@click.option("--reason", default=None, help="A note on the publication.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def publish_cmd(
    obj: Context, scheme_code: str, period: str, reason: str | None, as_json: bool
) -> None:
    """Publish (公示) a scheme's results for a period: they are frozen from now on."""
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        pub = uow.publish(scheme_code, period, reason=reason)
        data = {
            "scheme": scheme_code,
            "period": pub.period,
            **act.publication_data(pub, store.timezone),
            "organizations": len(pub.results["results"]),
        }
    _report(
        data,
        as_json,
        t(
            "published",
            scheme=scheme_code,
            period=pub.period,
            version=pub.version,
            n=data["organizations"],
        ),
    )


@click.command("publications")
@click.option("--scheme", "scheme_code", required=True, help="The scheme's code.")
@click.option("--period", required=True, help="The period, e.g. 2025.")
@click.option("--version", type=int, default=None, help="Print this version's results.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def publications_cmd(
    obj: Context, scheme_code: str, period: str, version: int | None, as_json: bool
) -> None:
    """The published versions of a scheme's results for a period (or one version's results)."""
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        if version is not None:
            data = uow.published_results(scheme_code, period, version)
        else:
            pubs = uow.publications(scheme_code, period)
            data = {
                "scheme": scheme_code,
                "period": period,
                "versions": [act.publication_data(p, store.timezone) for p in pubs],
            }
    if as_json:
        _echo_json(data)
        return
    if version is not None:
        from pdca.cli import _print_results

        click.echo(f"version {data['version']} published {data['published_at']}")
        _print_results(data)
        return
    for p in data["versions"]:
        click.echo(
            f"version {p['version']}: {p['published_at']} by {p['published_by']}"
            + (f" — {p['reason']}" if p["reason"] else "")
        )


# -------------------------------------------------------------------- register


def register(group: click.Group) -> None:
    """Add the act half's commands to ``group``."""
    group.add_command(due_cmd)
    group.add_command(publish_cmd)
    group.add_command(publications_cmd)
    finding = _subgroup(group, "finding", "Findings: rectification measures and verification.")
    for cmd in (finding_rectify, finding_complete, finding_resolve):
        finding.add_command(cmd)
    appeal = _subgroup(group, "appeal", "Appeals (申辩): file, decide, list.")
    for cmd in (appeal_file, appeal_decide, appeal_list):
        appeal.add_command(cmd)
