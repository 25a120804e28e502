"""CLI commands for scripted years (registered by :mod:`pdca.cli`): organizations, cycles,
finding import and the audit of the event trail.

=====================================  ====================================================
``pdca org import FILE``               the organization tree from CSV/XLSX/YAML
``pdca org list``                      organizations (all, a subtree, a peer group)
``pdca cycle open --period P``         open the cycles of a scheme's scope, a subtree or
                                       some organizations
``pdca cycle advance --to STATE``      walk cycles through the lifecycle up to STATE
``pdca cycle list --period P``         cycles and their states
``pdca finding import FILE``           findings from CSV/XLSX
``pdca audit verify``                  check the event trail against the current state
=====================================  ====================================================

Exit codes as everywhere: 0 done; 1 refused by a rule (for ``cycle open`` and ``cycle
advance``: at least one organization was refused, and the others went ahead; for ``audit
verify``: the trail has problems); 2 bad usage.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from pdca.cli_act import _echo_json, _subgroup
from pdca.cli_i18n import t
from pdca.domain.lifecycle import CYCLE, CYCLE_ROUND
from pdca.domain.model import CycleState
from pdca.errors import ConcurrencyConflict, PdcaError

if TYPE_CHECKING:
    from pdca.cli import Context
    from pdca.services.unit_of_work import UnitOfWork

__all__ = ["register"]

#: The states a cycle goes round, in order.
STATES = tuple(s.value for s in CycleState)
#: Where each event of the round starts and ends.
_EDGES = {event: (src, dst) for src, event, dst in CYCLE.edges() if event in CYCLE_ROUND}


def _errors() -> Any:
    from pdca.cli import _errors as errors

    return errors()


def _progress(what: str, every: int = 100) -> Any:
    from pdca.cli import _progress as progress

    return progress(what, every)


def _bar(what: str) -> Any:
    from pdca.cli import _bar as bar

    return bar(what)


def _console() -> Any:
    from pdca.cli import _console as console

    return console()


# ---------------------------------------------------------------------------- org


@click.group("org")
def org() -> None:
    """Organizations (党组织): import the tree, list it."""


@org.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def org_import(obj: Context, file: Path, as_json: bool) -> None:
    """Import organizations from CSV (UTF-8, UTF-8 with BOM or GBK), XLSX or YAML; all or
    nothing. Parents may come after their children; rows already stored unchanged are
    left as they are."""
    from pdca.io.org_files import import_organizations

    with (
        _errors(),
        obj.store() as store,
        _progress("importing organizations") as tick,
        store.unit_of_work(obj.actor) as uow,
    ):
        result = import_organizations(uow, file, progress=tick)
    data = {
        "file": str(file),
        "rows": result.rows,
        "added": result.added,
        "unchanged": result.unchanged,
        "codes": list(result.codes),
    }
    if as_json:
        _echo_json(data)
        return
    click.echo(
        t(
            "orgs_imported",
            file=file,
            rows=result.rows,
            added=result.added,
            unchanged=result.unchanged,
        )
    )


@org.command("list")
@click.option("--under", default=None, help="Only this organization and those below it.")
@click.option("--peer-group", default=None, help="Only this peer group.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_obj
def org_list(obj: Context, under: str | None, peer_group: str | None, as_json: bool) -> None:
    """List organizations by code, with their parents and peer groups."""
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        every = uow.organizations()
        codes = {o.id: o.code for o in every}
        chosen = every
        if under is not None:
            root = uow.organization(under)
            keep = {root.code} | {o.code for o in uow.descendants(under)}
            chosen = [o for o in chosen if o.code in keep]
        if peer_group is not None:
            chosen = [o for o in chosen if o.peer_group == peer_group]
        rows = [
            {
                "code": o.code,
                "name": o.name,
                "kind": o.kind,
                "parent": codes.get(o.parent_id) if o.parent_id is not None else None,
                "peer_group": o.peer_group,
            }
            for o in chosen
        ]
    if as_json:
        _echo_json({"organizations": rows})
        return
    con = _console()
    if not rows:
        con.print(t("orgs_none"))
        return
    table = Table(title=t("orgs_title"))
    for key in ("col_code", "col_name", "col_kind", "col_parent", "col_peer_group"):
        table.add_column(t(key), overflow="fold")
    for r in rows:
        table.add_row(r["code"], r["name"], r["kind"], r["parent"] or "", r["peer_group"] or "")
    con.print(table)
    con.print(t("orgs_count", n=len(rows)))


# -------------------------------------------------------------------------- cycle


@click.group("cycle")
def cycle() -> None:
    """Cycles: open a period's cycles and move them through the lifecycle."""


def _chosen_orgs(uow: UnitOfWork, orgs: tuple[str, ...], scope: str | None) -> list[str] | None:
    """The codes named by --org or --scope (None: not narrowed)."""
    if orgs and scope is not None:
        raise click.UsageError("give --org or --scope, not both")
    if orgs:
        return [uow.organization(c).code for c in orgs]
    if scope is not None:
        root = uow.organization(scope)
        return [root.code, *(o.code for o in uow.descendants(scope))]
    return None


def _org_codes(uow: UnitOfWork) -> dict[int, str]:
    return {int(o.id): o.code for o in uow.organizations()}  # type: ignore[arg-type]


@cycle.command("open")
@click.option("--period", required=True, help="The period to open, e.g. 2025 or 2025-Q2.")
@click.option("--scheme", "scheme_code", default=None, help="The scheme the cycles follow.")
@click.option("--org", "orgs", multiple=True, help="Only this organization (repeat for several).")
@click.option("--scope", default=None, help="This organization and every one below it.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def cycle_open(
    obj: Context,
    period: str,
    scheme_code: str | None,
    orgs: tuple[str, ...],
    scope: str | None,
    as_json: bool,
) -> None:
    """Open the cycles of PERIOD: for every organization in the scope of --scheme, or the
    organizations named by --org or --scope (with --scheme, those of its scope). An
    organization already holding a cycle for the period is left as it is; a refused one
    is reported with the reason (exit 1) and the others are opened."""
    if not orgs and scope is None and scheme_code is None:
        raise click.UsageError("give --scheme CODE, --scope ORG or --org ORG")
    results: list[dict[str, Any]] = []
    with (
        _errors(),
        obj.store() as store,
        _bar("opening cycles") as bar,
        store.unit_of_work(obj.actor) as uow,
    ):
        named = _chosen_orgs(uow, orgs, scope)
        in_scope: set[str] | None = None
        if scheme_code is not None:
            in_scope = {o.code for o in uow.scope(scheme_code)}
        if named is None:
            assert in_scope is not None
            targets = sorted(in_scope)
        else:
            targets = named
        codes = _org_codes(uow)
        have = {codes.get(int(c.org_id)): c.state for c in uow.cycles(period=period)}
        for n, code in enumerate(targets, start=1):
            bar(n - 1, len(targets))
            row: dict[str, Any] = {"org": code, "state": have.get(code)}
            if in_scope is not None and code not in in_scope and not orgs:
                row.update(outcome="skipped", reason=f"not in the scope of {scheme_code}")
            elif code in have:
                row.update(outcome="exists", reason=None)
            else:
                try:
                    with uow.session.begin_nested():
                        cyc = uow.open_cycle(code, period, scheme=scheme_code)
                    row.update(outcome="opened", state=cyc.state, reason=None)
                except ConcurrencyConflict:
                    raise
                except PdcaError as err:
                    row.update(outcome="refused", reason=str(err))
            results.append(row)
        bar(len(targets), len(targets))
    counts = {k: sum(1 for r in results if r["outcome"] == k) for k in _OPEN_OUTCOMES}
    data = {"period": period, "scheme": scheme_code, **counts, "organizations": results}
    if as_json:
        _echo_json(data)
    else:
        _outcome_table(t("cycles_open_title", period=period), results, show_all=False)
        click.echo(
            t(
                "cycles_open_summary",
                opened=counts["opened"],
                existing=counts["exists"],
                refused=counts["refused"],
            )
        )
    if counts["refused"]:
        sys.exit(1)


_OPEN_OUTCOMES = ("opened", "exists", "skipped", "refused")
_ADVANCE_OUTCOMES = ("moved", "already", "beyond", "refused")
_OUTCOME_KEYS = {
    "opened": "cycle_opened",
    "exists": "cycle_exists",
    "skipped": "cycle_skipped",
    "refused": "cycle_refused",
    "moved": "cycle_moved",
    "already": "cycle_already",
    "beyond": "cycle_beyond",
}


def _outcome_table(title: str, rows: list[dict[str, Any]], *, show_all: bool) -> None:
    shown = [r for r in rows if show_all or r["outcome"] in ("refused", "skipped")]
    if not shown:
        return
    table = Table(title=title)
    table.add_column(t("col_org"), no_wrap=True)
    if "from" in shown[0]:
        table.add_column(t("col_from"), no_wrap=True)
    table.add_column(t("col_state"), no_wrap=True)
    table.add_column(t("col_outcome"), no_wrap=True)
    table.add_column(t("col_reason"), overflow="fold")
    for r in shown:
        cells = [r["org"]]
        if "from" in r:
            cells.append(r["from"] or "")
        cells += [r["state"] or "", t(_OUTCOME_KEYS[r["outcome"]]), r["reason"] or ""]
        table.add_row(*cells)
    _console().print(table)


@cycle.command("advance")
@click.option(
    "--to",
    "to_state",
    required=True,
    type=click.Choice(STATES[1:]),
    help="The state to bring the cycles to.",
)
@click.option("--period", required=True, help="The period of the cycles, e.g. 2025.")
@click.option("--org", "orgs", multiple=True, help="Only this organization (repeat for several).")
@click.option("--scope", default=None, help="This organization and every one below it.")
@click.option("--reason", default=None, help="A note written into each event.")
@click.option(
    "--all", "show_all", is_flag=True, help="List every organization, not only those refused."
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def cycle_advance(
    obj: Context,
    to_state: str,
    period: str,
    orgs: tuple[str, ...],
    scope: str | None,
    reason: str | None,
    show_all: bool,
    as_json: bool,
) -> None:
    """Walk the cycles of PERIOD (all, --scope ORG's subtree, or --org ORG) through the
    lifecycle (approve, start, check, act, close) until they reach --to STATE.

    Each step moves every cycle it can and reports, per organization, what was refused
    and why (a guard, a permission); a refused cycle stops where it is, the others go on.
    Exit 1 if any was refused. A cycle already at or beyond STATE is left as it is."""
    goal = STATES.index(to_state)
    with (
        _errors(),
        obj.store() as store,
        _bar("advancing cycles") as bar,
        store.unit_of_work(obj.actor) as uow,
    ):
        named = _chosen_orgs(uow, orgs, scope)
        codes = _org_codes(uow)
        start = {codes[int(c.org_id)]: c.state for c in uow.cycles(period=period)}
        wanted = sorted(start) if named is None else named
        state = {c: start[c] for c in wanted if c in start}
        refused: dict[str, dict[str, Any]] = {
            c: {"event": None, "reason": f"no cycle for {period}"}
            for c in wanted
            if c not in start and orgs
        }
        fired: dict[str, list[str]] = {c: [] for c in state}
        for step, event in enumerate(CYCLE_ROUND):
            bar(step, len(CYCLE_ROUND))
            src, dst = _EDGES[event]
            if STATES.index(src) >= goal:
                break
            batch = [c for c, s in state.items() if s == src and c not in refused]
            if not batch:
                continue
            for code, message in uow.advance_many(period, event, orgs=batch, reason=reason):
                if message is None:
                    state[code] = dst
                    fired[code].append(event)
                else:
                    refused[code] = {"event": event, "reason": message}
        bar(len(CYCLE_ROUND), len(CYCLE_ROUND))
    results: list[dict[str, Any]] = []
    for code in wanted:
        if code not in state:
            if code in refused:
                results.append(
                    {
                        "org": code,
                        "from": None,
                        "state": None,
                        "events": [],
                        "outcome": "refused",
                        "reason": refused[code]["reason"],
                        "refused_event": None,
                    }
                )
            continue
        now = state[code]
        if code in refused:
            outcome = "refused"
        elif fired[code]:
            outcome = "moved"
        elif STATES.index(now) == goal:
            outcome = "already"
        else:
            outcome = "beyond"
        results.append(
            {
                "org": code,
                "from": start[code],
                "state": now,
                "events": fired[code],
                "outcome": outcome,
                "reason": refused[code]["reason"] if code in refused else None,
                "refused_event": refused[code]["event"] if code in refused else None,
            }
        )
    counts = {k: sum(1 for r in results if r["outcome"] == k) for k in _ADVANCE_OUTCOMES}
    data = {"period": period, "to": to_state, **counts, "organizations": results}
    if as_json:
        _echo_json(data)
    elif not results:
        click.echo(t("cycles_none", period=period))
    else:
        _outcome_table(
            t("cycles_advance_title", period=period, to=to_state), results, show_all=show_all
        )
        click.echo(
            t(
                "cycles_advance_summary",
                moved=counts["moved"],
                already=counts["already"] + counts["beyond"],
                refused=counts["refused"],
            )
        )
    if counts["refused"]:
        sys.exit(1)


@cycle.command("list")
@click.option("--period", required=True, help="The period, e.g. 2025.")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only this state.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_obj
def cycle_list(obj: Context, period: str, state: str | None, as_json: bool) -> None:
    """The cycles of a period, by organization, with their states."""
    with _errors(), obj.store() as store, store.unit_of_work(obj.actor) as uow:
        codes = _org_codes(uow)
        rows = sorted(
            (
                {"org": codes[int(c.org_id)], "period": c.period, "state": c.state}
                for c in uow.cycles(period=period, state=state)
            ),
            key=lambda r: r["org"],
        )
    if as_json:
        _echo_json({"period": period, "cycles": rows})
        return
    if not rows:
        click.echo(t("cycles_none", period=period))
        return
    table = Table()
    table.add_column(t("col_org"), no_wrap=True)
    table.add_column(t("col_state"), no_wrap=True)
    for r in rows:
        table.add_row(r["org"], r["state"])
    _console().print(table)


# ------------------------------------------------------------------------ finding


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def finding_import(obj: Context, file: Path, as_json: bool) -> None:
    """Record findings (问题) from CSV (UTF-8, UTF-8 with BOM or GBK) or XLSX; all or
    nothing, every refused row reported with its number."""
    from pdca.io.finding_files import import_findings

    with (
        _errors(),
        obj.store() as store,
        _progress("importing findings") as tick,
        store.unit_of_work(obj.actor) as uow,
    ):
        result = import_findings(uow, file, progress=tick)
    data = {"file": str(file), "rows": result.rows, "added": result.added, "ids": list(result.ids)}
    if as_json:
        _echo_json(data)
        return
    click.echo(t("findings_imported", file=file, rows=result.rows, added=result.added))


# -------------------------------------------------------------------------- audit


@click.group("audit")
def audit() -> None:
    """The event trail: check that it is intact."""


def _anchor(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    seq, sep, digest = value.partition(":")
    if not (sep and seq.isdigit() and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise click.BadParameter(
            f"{value!r}: expected SEQ:HASH, the head printed by an earlier audit verify "
            "(a number, a colon, 64 hex digits)"
        )
    return (int(seq), digest)


@audit.command("verify")
@click.option(
    "--anchor",
    metavar="SEQ:HASH",
    callback=_anchor,
    help="A chain head recorded earlier (printed by audit verify): the trail must still "
    "hold it, which also catches a deletion of the newest events.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def audit_verify(obj: Context, anchor: tuple[int, str] | None, as_json: bool) -> None:
    """Check the event trail: the hash chain is unbroken (no event edited, deleted,
    reordered or forged); every cycle's, finding's and appeal's events form a path on its
    lifecycle ending in its current state and agree with its version; one object's events
    never go back in time; no event names a missing object. Prints the chain's head (record
    it elsewhere, pass it back with --anchor). Exit 1 listing the problems if any."""
    from pdca.services.audit import verify_trail

    with _errors(), obj.store() as store:
        report = verify_trail(store, anchor=anchor)
    if as_json:
        _echo_json(report.as_dict())
    elif report.intact:
        click.echo(t("audit_intact", events=report.events, entities=report.entities))
        if report.head is not None:
            click.echo(t("audit_head", seq=report.head[0], hash=report.head[1]))
    else:
        click.echo(t("audit_broken", n=len(report.problems) + report.more))
        for p in report.problems:
            click.echo(f"  - [{p.check}] {p}")
        if report.more:
            click.echo("  " + t("audit_more", n=report.more))
    if not report.intact:
        sys.exit(1)


# ----------------------------------------------------------------------- register


def register(group: click.Group) -> None:
    """Add the organization, cycle, finding-import and audit commands to ``group``."""
    group.add_command(org)
    group.add_command(cycle)
    group.add_command(audit)
    finding = _subgroup(group, "finding", "Findings: import, rectification and verification.")
    finding.add_command(finding_import)
