"""Use cases of the act half: rectification measures, deadlines, appeals, publication.

The functions take the :class:`~pdca.services.unit_of_work.UnitOfWork` they run in;
:class:`ActCases`, a base class of the unit of work, exposes them as its methods
(``uow.add_rectification(...)``). Each use case checks everything it can before it writes,
so a refusal writes nothing, and appends its events to the trail.

Rectification (整改)
    A finding gets rectification measures, each with an owner and a due date. The first one
    moves the finding open → rectifying (through :meth:`UnitOfWork.rectify`). A measure is
    completed with its evidence. The assessor verifies the finding (验收) only when it has at
    least one measure and every measure is done: :func:`verify_context` gives the finding
    lifecycle's ``rectification_done`` guard what it needs.

Deadlines
    :func:`due` lists the measures of the plans and the rectification measures that fall due
    within some days of a date, or are overdue, per organization, for reminders.

Appeals (申辩, seed 002)
    After feedback (the cycle moved to ``acting``; ``Cycle.feedback_at``) the organization
    concerned may appeal a score or a finding within the scheme's ``appeal_window_days``.
    **The window rule**: take the calendar day of the feedback in the store's time zone
    (``Asia/Shanghai`` by default), add ``appeal_window_days``; appeals are accepted until
    the end of that day (inclusive), i.e. feedback on 1 March with a 7-day window accepts
    appeals until 8 March 23:59:59. A scheme without ``appeal_window_days`` accepts none.
    The assessor (the permission policy's ``appeal.decide``; by default an actor with role
    ``assessor`` or ``system``, never one of the appealing organization) upholds or rejects.
    An upheld score appeal revises the score as a new ``revise`` event (the appeal keeps the
    original and the revised raw value and points; finalized checkpoints do not stop it:
    that is what appeals are for). An upheld finding appeal waives the finding ("申辩成立:
    …"), re-opening its cycle first when it is closed.

Publication (公示)
    Publishing a scheme's results for a period stores them as version 1 and freezes them:
    scores of that scheme and period are no longer entered (:func:`ensure_not_published`).
    Every later upheld appeal on the period stores the recomputed results as a new version;
    earlier versions stay readable.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from typing import cast as _cast

from attrs import frozen
from sqlalchemy import BigInteger, cast, literal_column, null, select, union_all

from pdca.domain.lifecycle import Change, Lifecycle, _Spec
from pdca.domain.model import (
    Appeal,
    AppealState,
    Cycle,
    CycleState,
    Finding,
    FindingState,
    Item,
    MeasureStatus,
    Publication,
    Rectification,
    Scheme,
    Score,
)
from pdca.domain.period import Period
from pdca.domain.policy import Resource
from pdca.domain.scoring import convert
from pdca.errors import NotFound, ValidationError
from pdca.persistence import tables as t
from pdca.persistence.results import refresh_totals

from . import validate as v

if TYPE_CHECKING:
    from .unit_of_work import UnitOfWork

__all__ = [
    "APPEAL",
    "RECTIFICATION_STATUSES",
    "ActCases",
    "DueItem",
    "appeal_data",
    "ensure_not_published",
    "publication_data",
    "rectification_data",
    "verify_context",
]

#: A rectification measure is ``planned`` until it is completed (``done``) with evidence.
PLANNED = "planned"
DONE = "done"
RECTIFICATION_STATUSES = (PLANNED, DONE)

#: Findings an appeal may contest (a resolved or waived one needs no appeal).
APPEALABLE_FINDING_STATES = (
    FindingState.OPEN.value,
    FindingState.RECTIFYING.value,
    FindingState.CARRIED.value,
)


# ------------------------------------------------------------------ appeal lifecycle


def _decision_given(appeal: Any, ctx: Mapping[str, Any]) -> list[str]:
    return [] if (ctx.get("decision") or "").strip() else ["a decision (the assessor's reasons)"]


_A = AppealState
#: filed → upheld | rejected; both need the assessor's decision in words.
APPEAL = Lifecycle(
    "appeal",
    [s.value for s in _A],
    _A.FILED,
    [
        _Spec("uphold", (_A.FILED,), _A.UPHELD, (("decision_given", _decision_given),)),
        _Spec("reject", (_A.FILED,), _A.REJECTED, (("decision_given", _decision_given),)),
    ],
)


# ------------------------------------------------------------------------- helpers

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C")


def _conflicts(fn: Callable[P, R]) -> Callable[P, R]:
    """The unit of work's conversion of database conflicts into ConcurrencyConflict, applied
    at call time (the unit of work's module imports this one)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from .unit_of_work import _database_errors_as_conflicts

        return _database_errors_as_conflicts(fn)(*args, **kwargs)

    return wrapper


def _guard_public_methods(cls: type[C]) -> type[C]:
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _conflicts(member))
    return cls


def _uow(obj: object) -> UnitOfWork:
    """The unit of work a mixin method runs in (ActCases is only ever a base of it)."""
    return _cast("UnitOfWork", obj)


def _today(uow: UnitOfWork) -> dt.date:
    return uow.clock.now().in_timezone(uow.store.timezone).date()


def _org_code(uow: UnitOfWork, org_id: int | None) -> str:
    return str(
        uow.session.scalar(select(t.organization.c.code).where(t.organization.c.id == org_id))
    )


def _cycle_of(uow: UnitOfWork, cycle_id: int | None) -> tuple[Cycle, str]:
    cyc = uow.session.get(Cycle, cycle_id)
    assert cyc is not None
    return cyc, _org_code(uow, cyc.org_id)


def _scheme_of(uow: UnitOfWork, cyc: Cycle, label: str) -> Scheme:
    if cyc.scheme_id is None:
        raise ValidationError("cycle", label, "has no scheme (the scheme sets the appeal window)")
    scheme = uow.session.get(Scheme, cyc.scheme_id)
    assert scheme is not None
    return scheme


def _label(org: str, period: str) -> str:
    return f"cycle {org}/{period}"


# ----------------------------------------------------------------- rectification


def rectification(uow: UnitOfWork, rectification_id: int) -> Rectification:
    r = uow.session.get(Rectification, rectification_id)
    if r is None:
        raise NotFound("rectification", rectification_id)
    return r


def rectifications(uow: UnitOfWork, finding_id: int) -> list[Rectification]:
    uow.finding(finding_id)
    q = (
        select(Rectification)
        .where(t.rectification.c.finding_id == finding_id)
        .order_by(t.rectification.c.id)
    )
    return list(uow.session.scalars(q))


def add_rectification(
    uow: UnitOfWork,
    finding_id: int,
    title: str,
    *,
    owner: str,
    due_on: dt.date | str,
) -> Rectification:
    fnd = uow.finding(finding_id)
    cyc, org = _cycle_of(uow, fnd.cycle_id)
    label = f"finding #{fnd.id} of {_label(org, cyc.period)}"
    uow._authorize("finding.rectify", Resource("finding", label, org=org))
    what = v.text("title", title, 200)
    who = v.text("owner", owner, 100)
    due = v.date("due_on", due_on, required=True)
    assert due is not None
    if fnd.found_on is not None and due < fnd.found_on:
        raise ValidationError(
            "due_on", str(due), f"must not be before the finding ({fnd.found_on})"
        )
    if cyc.state == CycleState.CLOSED:
        raise ValidationError(
            "finding_id",
            finding_id,
            f"{label}: its cycle is closed (rectify the finding carried into the next period)",
        )
    if fnd.state not in (FindingState.OPEN, FindingState.RECTIFYING):
        raise ValidationError(
            "finding_id",
            finding_id,
            f"{label} is {fnd.state}: rectification measures are added while it is open or "
            "rectifying",
        )
    if fnd.state == FindingState.OPEN:
        # The first measure is the rectification plan: open → rectifying, one path.
        with uow._carrying_out():
            uow.rectify(finding_id, plan=what, owner=who, deadline=due)
    r = Rectification(
        finding_id=finding_id,
        title=what,
        owner=who,
        due_on=due,
        status=PLANNED,
        created_at=uow.clock.now(),
    )
    uow.session.add(r)
    uow.flush()
    uow._log(
        "rectification",
        r.id,
        "create",
        data={"finding": finding_id, "title": what, "owner": who, "due_on": due},
    )
    return r


def complete_rectification(
    uow: UnitOfWork,
    rectification_id: int,
    *,
    evidence: str,
    done_on: dt.date | str | None = None,
) -> Rectification:
    r = rectification(uow, rectification_id)
    fnd = uow.finding(r.finding_id)
    cyc, org = _cycle_of(uow, fnd.cycle_id)
    uow._authorize(
        "finding.rectify",
        Resource(
            "rectification",
            f"rectification #{r.id} of finding #{fnd.id} of {_label(org, cyc.period)}",
            org=org,
        ),
    )
    proof = v.text("evidence", evidence, 4000)
    today = _today(uow)
    day = v.date("done_on", done_on) or today
    if day > today:
        raise ValidationError("done_on", str(day), f"must not be in the future (today is {today})")
    if fnd.found_on is not None and day < fnd.found_on:
        raise ValidationError(
            "done_on", str(day), f"must not be before the finding ({fnd.found_on})"
        )
    if r.status == DONE:
        raise ValidationError(
            "rectification_id", rectification_id, f"was already done on {r.done_on}"
        )
    if cyc.state == CycleState.CLOSED or fnd.state != FindingState.RECTIFYING:
        raise ValidationError(
            "rectification_id",
            rectification_id,
            f"finding #{fnd.id} of {_label(org, cyc.period)} is {fnd.state}"
            + (" and its cycle is closed" if cyc.state == CycleState.CLOSED else "")
            + ": measures are completed while the finding is rectifying",
        )
    r.status, r.done_on, r.evidence = DONE, day, proof
    uow._log(
        "rectification",
        r.id,
        "complete",
        data={"finding": fnd.id, "done_on": day, "evidence": proof, "due_on": r.due_on},
    )
    uow.flush()
    return r


def verify_context(uow: UnitOfWork, finding_id: int) -> dict[str, Any]:
    """What the finding lifecycle's ``rectification_done`` guard needs to know before the
    assessor verifies a finding: how many rectification measures it has (``measures``) and
    which are not done yet (``open_measures``)."""
    r = t.rectification
    rows = uow.session.execute(
        select(r.c.id, r.c.title, r.c.status, r.c.due_on)
        .where(r.c.finding_id == finding_id)
        .order_by(r.c.id)
    ).all()
    return {
        "measures": len(rows),
        "open_measures": [
            f"#{rid} {title!r} (due {due})" for rid, title, status, due in rows if status != DONE
        ],
    }


# ---------------------------------------------------------------------- deadlines


@frozen
class DueItem:
    """A measure or rectification measure due soon or overdue (for reminders)."""

    org: str
    org_name: str
    kind: str  # measure | rectification
    id: int
    title: str
    owner: str | None
    due_on: dt.date
    days_left: int  # negative: overdue by that many days
    status: str
    period: str
    target_id: int | None
    finding_id: int | None

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "org_name": self.org_name,
            "kind": self.kind,
            "id": self.id,
            "title": self.title,
            "owner": self.owner,
            "due_on": str(self.due_on),
            "days_left": self.days_left,
            "overdue": self.overdue,
            "status": self.status,
            "period": self.period,
            "target_id": self.target_id,
            "finding_id": self.finding_id,
        }


def due(
    uow: UnitOfWork, as_of: dt.date | str, within_days: int, org: str | None = None
) -> list[DueItem]:
    day = v.date("as_of", as_of, required=True)
    assert day is not None
    if isinstance(within_days, bool) or not isinstance(within_days, int) or within_days < 0:
        raise ValidationError("within_days", within_days, "must be a whole number of days ≥ 0")
    if within_days > 3660:
        raise ValidationError("within_days", within_days, "must be at most 3660 days")
    last = day + dt.timedelta(days=within_days)
    org_id = uow.organization(org).id if org is not None else None
    o, c, m, tg, r, f = (
        t.organization,
        t.cycle,
        t.measure,
        t.target,
        t.rectification,
        t.finding,
    )
    no_id = cast(null(), BigInteger)
    measures = (
        select(
            o.c.code.label("org"),
            o.c.name.label("org_name"),
            literal_column("'measure'").label("kind"),
            m.c.id.label("id"),
            m.c.title.label("title"),
            m.c.owner.label("owner"),
            m.c.due_on.label("due_on"),
            m.c.status.label("status"),
            c.c.period.label("period"),
            cast(tg.c.id, BigInteger).label("target_id"),
            no_id.label("finding_id"),
        )
        .select_from(m)
        .join(tg, tg.c.id == m.c.target_id)
        .join(c, c.c.id == tg.c.cycle_id)
        .join(o, o.c.id == c.c.org_id)
        .where(
            c.c.state != CycleState.CLOSED.value,
            m.c.status.not_in([MeasureStatus.DONE.value, MeasureStatus.DROPPED.value]),
            m.c.due_on.is_not(None),
            m.c.due_on <= last,
        )
    )
    rects = (
        select(
            o.c.code,
            o.c.name,
            literal_column("'rectification'"),
            r.c.id,
            r.c.title,
            r.c.owner,
            r.c.due_on,
            r.c.status,
            c.c.period,
            no_id,
            cast(f.c.id, BigInteger),
        )
        .select_from(r)
        .join(f, f.c.id == r.c.finding_id)
        .join(c, c.c.id == f.c.cycle_id)
        .join(o, o.c.id == c.c.org_id)
        .where(
            r.c.status == PLANNED,
            f.c.state.in_([FindingState.OPEN.value, FindingState.RECTIFYING.value]),
            r.c.due_on <= last,
        )
    )
    if org_id is not None:
        measures = measures.where(c.c.org_id == org_id)
        rects = rects.where(c.c.org_id == org_id)
    u = union_all(measures, rects).subquery("due")
    q = select(u).order_by(u.c.org, u.c.due_on, u.c.kind, u.c.id)
    out: list[DueItem] = []
    for row in uow.session.execute(q).mappings():
        due_on = row["due_on"]
        if isinstance(due_on, str):  # pragma: no cover - SQLite returns text from a UNION
            due_on = dt.date.fromisoformat(due_on)
        out.append(
            DueItem(
                org=row["org"],
                org_name=row["org_name"],
                kind=row["kind"],
                id=int(row["id"]),
                title=row["title"],
                owner=row["owner"],
                due_on=due_on,
                days_left=(due_on - day).days,
                status=row["status"],
                period=row["period"],
                target_id=None if row["target_id"] is None else int(row["target_id"]),
                finding_id=None if row["finding_id"] is None else int(row["finding_id"]),
            )
        )
    return out


# -------------------------------------------------------------------------- appeals


def appeal(uow: UnitOfWork, appeal_id: int) -> Appeal:
    a = uow.session.get(Appeal, appeal_id)
    if a is None:
        raise NotFound("appeal", appeal_id)
    return a


def appeal_window(uow: UnitOfWork, cyc: Cycle, scheme: Scheme) -> tuple[dt.date, dt.date] | None:
    """(the day feedback was given, the last day an appeal is accepted) in the store's zone;
    None before feedback. Raises when the scheme sets no window."""
    days = scheme.spec().appeal_window_days
    if days is None:
        raise ValidationError(
            "appeal_window_days",
            None,
            f"scheme {scheme.code} sets no appeal window: it accepts no appeals",
        )
    if cyc.feedback_at is None:
        return None
    given = cyc.feedback_at.in_timezone(uow.store.timezone).date()
    return given, given + dt.timedelta(days=days)


def file_appeal(
    uow: UnitOfWork,
    *,
    score_id: int | None = None,
    finding_id: int | None = None,
    reason: str,
    requested_value: Any = None,
) -> Appeal:
    if (score_id is None) == (finding_id is None):
        raise ValidationError(
            "score_id/finding_id",
            {"score_id": score_id, "finding_id": finding_id},
            "an appeal contests exactly one score or one finding",
        )
    why = v.text("reason", reason, 4000)
    s = uow.session
    score: Score | None = None
    fnd: Finding | None = None
    if score_id is not None:
        score = s.get(Score, score_id)
        if score is None:
            raise NotFound("score", score_id)
        cycle_id: int | None = score.cycle_id
        what = f"score #{score_id}"
    else:
        assert finding_id is not None
        fnd = uow.finding(finding_id)
        cycle_id = fnd.cycle_id
        what = f"finding #{finding_id}"
    cyc, org = _cycle_of(uow, cycle_id)
    label = _label(org, cyc.period)
    uow._authorize("appeal.file", Resource(what.split()[0], f"{what} of {label}", org=org))
    scheme = _scheme_of(uow, cyc, label)
    window = appeal_window(uow, cyc, scheme)
    if window is None:
        raise ValidationError(
            "cycle",
            f"{label} ({cyc.state})",
            "no feedback has been given yet: the appeal window opens when the cycle moves to "
            "acting",
        )
    given, last = window
    now = uow.clock.now().in_timezone(uow.store.timezone)
    if now.date() > last:
        raise ValidationError(
            "filed_at",
            now.to_iso8601_string(),
            f"the appeal window of {label} closed at the end of {last} "
            f"({(last - given).days} days after feedback on {given}, {uow.store.timezone})",
        )
    requested: str | None = None
    if score is not None:
        if score.method == "commentary":
            raise ValidationError(
                "score_id", score_id, "a commentary (点评) has no value to revise: appeal a finding"
            )
        if requested_value is not None:
            spec = scheme.spec()
            item_spec = spec.item(_item_code(uow, score))
            assert item_spec is not None
            requested, _, _ = convert(item_spec, requested_value, spec.grade_scales)
    else:
        assert fnd is not None
        if fnd.state not in APPEALABLE_FINDING_STATES:
            raise ValidationError(
                "finding_id",
                finding_id,
                f"is {fnd.state}: only an open, rectifying or carried finding is appealed",
            )
        if requested_value is not None:
            raise ValidationError(
                "requested_value", requested_value, "a finding appeal requests no value"
            )
    a = t.appeal
    pending = s.scalar(
        select(a.c.id).where(
            a.c.state == AppealState.FILED.value,
            (a.c.score_id == score_id) if score_id is not None else (a.c.finding_id == finding_id),
        )
    )
    if pending is not None:
        raise ValidationError(
            "score_id" if score_id is not None else "finding_id",
            score_id if score_id is not None else finding_id,
            f"appeal #{pending} on this {what.split()[0]} awaits its decision",
        )
    ap = Appeal(
        cycle_id=cyc.id,  # type: ignore[arg-type]
        score_id=score_id,
        finding_id=finding_id,
        reason=why,
        requested_value=requested,
        filed_by=uow.actor.name,
        filed_org=org,
        filed_at=uow.clock.now(),
        state=AppealState.FILED.value,
    )
    s.add(ap)
    uow.flush()
    uow._log(
        "appeal",
        ap.id,
        "file",
        change=Change("file", "", ap.state),
        reason=why,
        data={
            "org": org,
            "period": cyc.period,
            "score": score_id,
            "finding": finding_id,
            "requested_value": requested,
            "window_closes": last,
        },
    )
    return ap


def _item_code(uow: UnitOfWork, score: Score) -> str:
    it = uow.session.get(Item, score.item_id)
    assert it is not None
    return it.code


def decide_appeal(
    uow: UnitOfWork,
    appeal_id: int,
    *,
    uphold: bool,
    decision: str,
    revised_value: Any = None,
) -> Appeal:
    ap = appeal(uow, appeal_id)
    cyc, org = _cycle_of(uow, ap.cycle_id)
    label = _label(org, cyc.period)
    uow._authorize("appeal.decide", Resource("appeal", f"appeal #{appeal_id} of {label}", org=org))
    scheme = _scheme_of(uow, cyc, label)
    text = v.optional_text("decision", decision, 4000)
    event = "uphold" if uphold else "reject"
    entity = f"appeal #{appeal_id} of {label}"
    # Check everything before anything changes.
    if ap.state != AppealState.FILED or not text:
        APPEAL.fire(_Probe(ap.state), event, entity, {"decision": text})
    score: Score | None = None
    revised: tuple[str, Decimal, int] | None = None
    fnd: Finding | None = None
    if (not uphold or ap.finding_id is not None) and revised_value is not None:
        raise ValidationError(
            "revised_value", revised_value, "only an upheld score appeal takes a revised value"
        )
    if uphold and ap.score_id is not None:
        score = uow.session.get(Score, ap.score_id)
        assert score is not None
        value = revised_value if revised_value is not None else ap.requested_value
        if value is None:
            raise ValidationError(
                "revised_value", None, "an upheld score appeal needs the revised value"
            )
        spec = scheme.spec()
        item_spec = spec.item(_item_code(uow, score))
        assert item_spec is not None
        revised = convert(item_spec, value, spec.grade_scales)
        if revised[0] == score.raw and revised[1] == score.points:
            raise ValidationError(
                "revised_value",
                value,
                f"equals the score's value ({score.raw}): nothing to revise; reject instead",
            )
    if uphold and ap.finding_id is not None:
        fnd = uow.finding(ap.finding_id)
        if fnd.state not in APPEALABLE_FINDING_STATES:
            raise ValidationError(
                "appeal_id",
                appeal_id,
                f"finding #{fnd.id} is {fnd.state} by now: nothing to waive; reject instead",
            )
    # Now write: the finding's path first (its guards may still refuse, writing nothing).
    why = f"申辩成立: {text} (appeal #{appeal_id})"
    if fnd is not None:
        with uow._carrying_out():  # the decision carries its consequences
            if cyc.state == CycleState.CLOSED:
                uow.reopen(org, cyc.period, reason=why)
            uow.waive(fnd.id, reason=why)  # type: ignore[arg-type]
    change = APPEAL.fire(ap, event, entity, {"decision": text})
    ap.decided_by = uow.actor.name
    ap.decided_at = uow.clock.now()
    ap.decision = text
    if score is not None and revised is not None:
        raw, points, hits = revised
        ap.original_raw, ap.original_points = score.raw, score.points
        ap.revised_raw, ap.revised_points = raw, points
        before = {"raw": score.raw, "points": score.points, "hits": score.hits}
        score.raw, score.points, score.hits = raw, points, hits
        uow.flush()
        refresh_totals(uow.session, [score.cycle_id])
        uow._log(
            "score",
            score.id,
            "revise",
            reason=why,
            data={
                "appeal": appeal_id,
                "org": org,
                "period": cyc.period,
                "item": _item_code(uow, score),
                "method": score.method,
                "assessor": score.assessor,
                "from": before,
                "to": {"raw": raw, "points": points, "hits": hits},
            },
        )
    uow.flush()
    uow._log(
        "appeal",
        ap.id,
        event,
        change=change,
        reason=text,
        data={
            "score": ap.score_id,
            "finding": ap.finding_id,
            "original": None
            if ap.original_raw is None
            else {"raw": ap.original_raw, "points": ap.original_points},
            "revised": None
            if ap.revised_raw is None
            else {"raw": ap.revised_raw, "points": ap.revised_points},
        },
    )
    if uphold:
        _republish(uow, scheme, cyc.period, ap, text or "")
    uow.flush()
    return ap


class _Probe:
    """A stand-in fired through the appeal lifecycle to get its refusal without changing
    the appeal."""

    def __init__(self, state: str) -> None:
        self.state = state


def appeals(
    uow: UnitOfWork,
    *,
    org: str | None = None,
    period: str | None = None,
    state: str | None = None,
) -> list[Appeal]:
    q = select(Appeal).join(t.cycle, t.cycle.c.id == t.appeal.c.cycle_id)
    if org is not None:
        q = q.where(t.cycle.c.org_id == uow.organization(org).id)
    if period is not None:
        q = q.where(t.cycle.c.period == str(Period.parse(period)))
    if state is not None:
        if state not in {s.value for s in AppealState}:
            raise ValidationError(
                "state", state, "must be one of " + ", ".join(s.value for s in AppealState)
            )
        q = q.where(t.appeal.c.state == state)
    return list(uow.session.scalars(q.order_by(t.appeal.c.id)))


def cycle_keys(uow: UnitOfWork, cycle_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(organization code, period) of each cycle id, in one query."""
    if not cycle_ids:
        return {}
    rows = uow.session.execute(
        select(t.cycle.c.id, t.organization.c.code, t.cycle.c.period)
        .join(t.organization, t.organization.c.id == t.cycle.c.org_id)
        .where(t.cycle.c.id.in_(sorted(set(cycle_ids))))
    ).all()
    return {int(cid): (str(code), str(per)) for cid, code, per in rows}


# ---------------------------------------------------------------------- publication


def _latest(uow: UnitOfWork, scheme_id: int | None, period: str) -> Publication | None:
    p = t.publication
    return uow.session.scalars(
        select(Publication)
        .where(p.c.scheme_id == scheme_id, p.c.period == period)
        .order_by(p.c.version.desc())
        .limit(1)
    ).first()


def is_published(uow: UnitOfWork, scheme_id: int | None, period: str) -> bool:
    """The results of a scheme for a period are published (公示)."""
    return scheme_id is not None and _latest(uow, scheme_id, period) is not None


def ensure_not_published(uow: UnitOfWork, scheme_id: int | None, period: str) -> None:
    """Refuse a change to the scores of a published (公示) scheme and period."""
    if scheme_id is None:
        return
    pub = _latest(uow, scheme_id, period)
    if pub is not None:
        code = uow.session.scalar(select(t.scheme.c.code).where(t.scheme.c.id == scheme_id))
        raise ValidationError(
            "period",
            period,
            f"the results of scheme {code} for {period} are published (公示, version "
            f"{pub.version}): changes only through an upheld appeal",
        )


def publish(
    uow: UnitOfWork, scheme_code: str, period: str, *, reason: str | None = None
) -> Publication:
    scheme = uow.scheme(scheme_code)
    p = str(Period.parse(period))
    why = v.optional_text("reason", reason, 4000)
    uow._authorize(
        "results.publish", Resource("results", f"the results of scheme {scheme.code} for {p}")
    )
    existing = _latest(uow, scheme.id, p)
    if existing is not None:
        raise ValidationError(
            "period",
            p,
            f"the results of scheme {scheme.code} for {p} were published already (version "
            f"{existing.version}): a new version comes only from an upheld appeal",
        )
    results = uow.results(scheme.code, p).as_dict()
    if not results["results"]:
        raise ValidationError(
            "period", p, f"scheme {scheme.code} has no cycles in {p}: nothing to publish"
        )
    return _store_publication(uow, scheme, p, 1, results, why, None)


def _store_publication(
    uow: UnitOfWork,
    scheme: Scheme,
    period: str,
    version: int,
    results: dict[str, Any],
    reason: str | None,
    appeal_id: int | None,
) -> Publication:
    pub = Publication(
        scheme_id=scheme.id,  # type: ignore[arg-type]
        period=period,
        version=version,
        published_at=uow.clock.now(),
        published_by=uow.actor.name,
        results=results,
        reason=reason,
        appeal_id=appeal_id,
    )
    uow.session.add(pub)
    uow.flush()
    uow._log(
        "publication",
        pub.id,
        "publish",
        reason=reason,
        data={
            "scheme": scheme.code,
            "period": period,
            "version": version,
            "appeal": appeal_id,
            "organizations": len(results["results"]),
        },
    )
    return pub


def _republish(uow: UnitOfWork, scheme: Scheme, period: str, ap: Appeal, decision: str) -> None:
    """After an upheld appeal: a new version of a published period's results."""
    latest = _latest(uow, scheme.id, period)
    if latest is None:
        return
    uow.flush()
    results = uow.results(scheme.code, period).as_dict()
    _store_publication(
        uow,
        scheme,
        period,
        latest.version + 1,
        results,
        f"申辩成立 (appeal #{ap.id}): {decision}",
        ap.id,
    )


def publications(uow: UnitOfWork, scheme_code: str, period: str) -> list[Publication]:
    scheme = uow.scheme(scheme_code)
    p = t.publication
    return list(
        uow.session.scalars(
            select(Publication)
            .where(p.c.scheme_id == scheme.id, p.c.period == str(Period.parse(period)))
            .order_by(p.c.version)
        )
    )


def published_results(
    uow: UnitOfWork, scheme_code: str, period: str, version: int | None = None
) -> dict[str, Any]:
    pubs = publications(uow, scheme_code, period)
    per = str(Period.parse(period))
    if not pubs:
        raise NotFound("publication", f"{scheme_code}/{per}")
    if version is None:
        pub = pubs[-1]
    else:
        found = [x for x in pubs if x.version == version]
        if not found:
            raise NotFound("publication", f"{scheme_code}/{per} version {version}")
        pub = found[0]
    return {**publication_data(pub, uow.store.timezone), **dict(pub.results)}


def appeal_publication(uow: UnitOfWork, appeal_id: int) -> Publication | None:
    """The version of the results an upheld appeal published, if its period was published."""
    return uow.session.scalars(
        select(Publication).where(t.publication.c.appeal_id == appeal_id)
    ).first()


# ------------------------------------------------------------------- plain data


def _local(at: Any, tz: str) -> str | None:
    return None if at is None else str(at.in_timezone(tz).to_iso8601_string())


def rectification_data(r: Rectification, as_of: dt.date | None = None) -> dict[str, Any]:
    data = {
        "id": r.id,
        "finding": r.finding_id,
        "title": r.title,
        "owner": r.owner,
        "due_on": str(r.due_on),
        "status": r.status,
        "done_on": None if r.done_on is None else str(r.done_on),
        "evidence": r.evidence,
    }
    if as_of is not None:
        data["overdue"] = r.status != DONE and r.due_on < as_of
    return data


def appeal_data(
    a: Appeal, tz: str = "Asia/Shanghai", cycle: tuple[str, str] | None = None
) -> dict[str, Any]:
    def num(x: Decimal | None) -> str | None:
        return None if x is None else str(x)

    out: dict[str, Any] = {"id": a.id}
    if cycle is not None:
        out["org"], out["period"] = cycle
    out.update(
        {
            "score": a.score_id,
            "finding": a.finding_id,
            "state": a.state,
            "reason": a.reason,
            "requested_value": a.requested_value,
            "filed_by": a.filed_by,
            "filed_org": a.filed_org,
            "filed_at": _local(a.filed_at, tz),
            "decided_by": a.decided_by,
            "decided_at": _local(a.decided_at, tz),
            "decision": a.decision,
            "original_raw": a.original_raw,
            "original_points": num(a.original_points),
            "revised_raw": a.revised_raw,
            "revised_points": num(a.revised_points),
        }
    )
    return out


def publication_data(p: Publication, tz: str = "Asia/Shanghai") -> dict[str, Any]:
    return {
        "version": p.version,
        "published_at": _local(p.published_at, tz),
        "published_by": p.published_by,
        "reason": p.reason,
        "appeal": p.appeal_id,
    }


# --------------------------------------------------------------------------- mixin


@_guard_public_methods
class ActCases:
    """Mixin of :class:`~pdca.services.unit_of_work.UnitOfWork`: the act half's use cases."""

    # ------------------------------------------------------------- rectification

    def add_rectification(
        self,
        finding_id: int,
        title: str,
        *,
        owner: str,
        due_on: dt.date | str,
    ) -> Rectification:
        """Add a rectification measure (整改措施) with its owner and due date to a finding
        that is open or rectifying, in a cycle that is not closed. The first measure moves
        the finding open → rectifying (it is the rectification plan)."""
        return add_rectification(_uow(self), finding_id, title, owner=owner, due_on=due_on)

    def complete_rectification(
        self,
        rectification_id: int,
        *,
        evidence: str,
        done_on: dt.date | str | None = None,
    ) -> Rectification:
        """Mark a rectification measure done (default: today in the store's zone), with the
        evidence that it was carried out."""
        return complete_rectification(
            _uow(self), rectification_id, evidence=evidence, done_on=done_on
        )

    def rectification(self, rectification_id: int) -> Rectification:
        """One rectification measure."""
        return rectification(_uow(self), rectification_id)

    def rectifications(self, finding_id: int) -> list[Rectification]:
        """A finding's rectification measures, in the order added."""
        return rectifications(_uow(self), finding_id)

    # ------------------------------------------------------------------ deadlines

    def due(self, as_of: dt.date | str, within_days: int, org: str | None = None) -> list[DueItem]:
        """Measures and rectification measures due within ``within_days`` of ``as_of`` or
        overdue, by organization and due date: plan measures not done or dropped, of cycles
        not closed; rectification measures not done, of findings open or rectifying."""
        return due(_uow(self), as_of, within_days, org)

    # -------------------------------------------------------------------- appeals

    def file_appeal(
        self,
        *,
        score_id: int | None = None,
        finding_id: int | None = None,
        reason: str,
        requested_value: Any = None,
    ) -> Appeal:
        """The organization concerned appeals (申辩) one score or one finding, with its
        reason (and, for a score, optionally the value it asks for), inside the scheme's
        appeal window after feedback. Refused, writing nothing: by any other actor
        (PermissionDenied); before feedback or after the window; a scheme with no window;
        while an appeal on the same object awaits its decision."""
        return file_appeal(
            _uow(self),
            score_id=score_id,
            finding_id=finding_id,
            reason=reason,
            requested_value=requested_value,
        )

    def decide_appeal(
        self,
        appeal_id: int,
        *,
        uphold: bool,
        decision: str,
        revised_value: Any = None,
    ) -> Appeal:
        """The assessor upholds or rejects an appeal, giving the decision in words.

        Upheld on a score: the score is revised to ``revised_value`` (default: the value the
        appeal asked for) as a ``revise`` event; the appeal keeps the original and the
        revised value; results recompute; a published period gets a new version. Upheld on
        a finding: the finding is waived (its cycle re-opened first when closed).
        """
        return decide_appeal(
            _uow(self), appeal_id, uphold=uphold, decision=decision, revised_value=revised_value
        )

    def appeal(self, appeal_id: int) -> Appeal:
        """One appeal."""
        return appeal(_uow(self), appeal_id)

    def appeals(
        self,
        org: str | None = None,
        period: str | None = None,
        state: str | None = None,
    ) -> list[Appeal]:
        """Appeals filtered by organization, period and state, in the order filed."""
        return appeals(_uow(self), org=org, period=period, state=state)

    # ---------------------------------------------------------------- publication

    def publish(self, scheme: str, period: str, *, reason: str | None = None) -> Publication:
        """Publish (公示) a scheme's results for a period as version 1: from now on its
        scores change only through upheld appeals, each storing a new version."""
        return publish(_uow(self), scheme, period, reason=reason)

    def publications(self, scheme: str, period: str) -> list[Publication]:
        """Every published version of a scheme's results for a period, oldest first."""
        return publications(_uow(self), scheme, period)

    def published_results(
        self, scheme: str, period: str, version: int | None = None
    ) -> dict[str, Any]:
        """A published version of the results (default: the latest), with its version,
        time, publisher, reason and appeal."""
        return published_results(_uow(self), scheme, period, version)
