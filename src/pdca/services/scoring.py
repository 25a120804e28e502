"""Use cases of the check half: schemes, score entry, checkpoint finalization, results.

The functions take the :class:`~pdca.services.unit_of_work.UnitOfWork` they run in; the
unit of work exposes them as methods.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attrs import field, frozen
from sqlalchemy import Connection, Table, bindparam, func, select, text, update

from pdca.domain.model import (
    Checkpoint,
    CycleState,
    Item,
    Scheme,
    SchemeCategory,
    Score,
)
from pdca.domain.period import Period
from pdca.domain.policy import Resource
from pdca.domain.scheme import (
    PEER_METHODS,
    ItemSpec,
    SchemeSpec,
    parse_scheme,
    scheme_to_data,
)
from pdca.domain.scoring import TIE_RULE, Ranked, assign_grades, convert, evaluate_outcomes
from pdca.errors import ConcurrencyConflict, NotFound, ValidationError
from pdca.persistence import results as sql
from pdca.persistence import tables as t

from . import validate as v
from .act import ensure_not_published, is_published

if TYPE_CHECKING:
    from .unit_of_work import UnitOfWork

__all__ = ["OrgResult", "Results"]

S4 = 10_000


# ------------------------------------------------------------------------- schemes


def scheme_data(
    spec: SchemeSpec | Mapping[str, Any] | str,
    title: str | None,
    period: str | None,
    issuer: str | None,
    scope: Sequence[str] | None,
    categories: Sequence[Mapping[str, Any]] | None,
    settings: Mapping[str, Any],
) -> SchemeSpec:
    """Build a validated spec from any of the accepted forms of ``add_scheme``."""
    if isinstance(spec, SchemeSpec):
        data: dict[str, Any] = scheme_to_data(spec)
    elif isinstance(spec, Mapping):
        data = dict(spec)
    else:
        data = {"code": spec, "title": title, "period": period}
        if issuer is not None:
            data["issuer"] = issuer
        if scope is not None:
            data["scope"] = list(scope)
        data["categories"] = list(categories or [])
        data.update(settings)
        return parse_scheme(data)
    if title is not None or period is not None or categories or settings:
        raise ValidationError(
            "add_scheme", "…", "give either a scheme (spec or mapping) or code, title, period…"
        )
    return parse_scheme(data)


def add_scheme(uow: UnitOfWork, spec: SchemeSpec) -> Scheme:
    uow._authorize("scheme.add", Resource("scheme", f"scheme {spec.code}", org=spec.issuer))
    s = uow.session
    if s.scalars(select(Scheme).where(t.scheme.c.code == spec.code)).first():
        raise ValidationError("code", spec.code, "a scheme with this code already exists")
    issuer = uow.organization(spec.issuer) if spec.issuer is not None else None
    if spec.scope is None:
        if issuer is None:
            raise ValidationError("scope", None, "give a scope or an issuer")
        scope_orgs = uow.descendants(issuer.code)
    else:
        scope_orgs = [uow.organization(code) for code in spec.scope]
    scheme = Scheme(
        code=spec.code,
        title=spec.title,
        period=spec.period,
        issuer_id=issuer.id if issuer else None,
        created_at=uow.clock.now(),
        definition=scheme_to_data(spec),
    )
    s.add(scheme)
    uow.flush()
    for ci, cat in enumerate(spec.categories):
        category = SchemeCategory(code=cat.code, name=cat.name, position=ci)
        for ii, it in enumerate(cat.items):
            category.items.append(
                Item(
                    code=it.code,
                    title=it.title,
                    max_score=it.max_score,
                    rule=it.rule,
                    evidence=it.evidence,
                    per=it.per,
                    scale=it.scale,
                    record_kind=it.record_kind,
                    target=it.target,
                    position=ii,
                    scheme_id=scheme.id,
                )
            )
        scheme.categories.append(category)
    for pi, cp in enumerate(spec.checkpoints):
        scheme.checkpoints.append(
            Checkpoint(
                code=cp.code,
                kind=cp.kind,
                name=cp.name,
                weight=cp.weight,
                on_date=cp.on,
                position=pi,
            )
        )
    uow.flush()
    methods = [
        {"item_id": item.id, "method": m, "weight": int(w * S4)}
        for cat_obj, cat_spec in zip(scheme.categories, spec.categories, strict=True)
        for item, item_spec in zip(cat_obj.items, cat_spec.items, strict=True)
        for m, w in item_spec.methods.items()
    ]
    if methods:
        s.execute(t.item_method.insert(), methods)
    if scope_orgs:
        s.execute(
            t.scheme_scope.insert(),
            [{"scheme_id": scheme.id, "org_id": o.id} for o in scope_orgs],
        )
    uow._log(
        "scheme",
        scheme.id,
        "create",
        data={
            "code": spec.code,
            "period": spec.period,
            "issuer": spec.issuer,
            "items": [i.code for i in spec.items()],
            "scope": len(scope_orgs),
        },
    )
    uow.flush()
    return scheme


# ---------------------------------------------------------------------- checkpoints


def finalize_checkpoint(uow: UnitOfWork, scheme_code: str, checkpoint_code: str) -> Checkpoint:
    uow._authorize(
        "checkpoint.finalize",
        Resource("checkpoint", f"checkpoint {checkpoint_code} of scheme {scheme_code}"),
    )
    scheme = uow.scheme(scheme_code)
    cp = scheme.checkpoint(checkpoint_code)
    if cp is None:
        raise NotFound("checkpoint", f"{scheme_code}/{checkpoint_code}")
    if cp.finalized_at is not None:
        raise ValidationError(
            "checkpoint", checkpoint_code, f"was finalized at {cp.finalized_at.isoformat()}"
        )
    cp.finalized_at = uow.clock.now()
    uow._log("checkpoint", cp.id, "finalize", data={"scheme": scheme_code, "code": cp.code})
    uow.flush()
    return cp


# --------------------------------------------------------------------------- scores


@frozen
class ScoreEntry:
    """A checked score entry, ready to be written."""

    cycle_id: int
    item_id: int
    checkpoint_id: int
    method: str
    assessor: str
    assessor_org: str
    raw: str
    points: Decimal
    hits: int
    comment: str | None
    event: Mapping[str, Any]

    @property
    def key(self) -> tuple[int, int, int, str, str, str]:
        return (
            self.cycle_id,
            self.item_id,
            self.checkpoint_id,
            self.method,
            self.assessor,
            self.assessor_org,
        )


@frozen
class _SchemeFacts:
    code: str
    spec: SchemeSpec
    checkpoints: Mapping[str, tuple[int, bool]]  # code -> (id, finalized)
    items: Mapping[str, int]  # code -> id


class ScoreChecker:
    """Checks score entries against the rules, with what it looked up kept for the next
    entry (one import checks thousands of rows against the same few schemes)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._orgs: dict[str, int] = {}
        self._cycles: dict[tuple[int, str], tuple[int, str, int | None]] = {}
        self._schemes: dict[int, _SchemeFacts] = {}
        self._published: dict[tuple[int, str], bool] = {}
        self._periods: dict[str, str] = {}
        self._allowed: set[tuple[str, str, str, str | None]] = set()
        self._frozen: dict[tuple[int, str], bool] = {}
        # Passed checks, by their inputs (see check)
        self._cycle_checks: dict[tuple[str, str, str, str | None], tuple[str, int, int]] = {}
        self._item_checks: dict[tuple[int, str, str, str], tuple[ItemSpec, int, int, str]] = {}
        self._whos: dict[str, str] = {}
        self._who_orgs: dict[tuple[str, str, str | None], str] = {}
        self._converted: dict[tuple[int, str, str], tuple[str, Decimal, int, str]] = {}

    def prefetch(self, orgs: Sequence[str], periods: Sequence[str]) -> None:
        """Look up many organizations and their cycles of some periods in two queries."""
        o, c = t.organization, t.cycle
        wanted = [x for x in set(orgs) if x not in self._orgs]
        if wanted:
            for code, oid in self.uow.session.execute(
                select(o.c.code, o.c.id).where(o.c.code.in_(wanted))
            ).all():
                self._orgs[str(code)] = int(oid)
        ids = [self._orgs[x] for x in set(orgs) if x in self._orgs]
        pers = []
        for raw in set(periods):
            try:
                pers.append(self._period(raw))
            except ValidationError:
                continue
        if ids and pers:
            for cid, org_id, per, state, scheme_id in self.uow.session.execute(
                select(c.c.id, c.c.org_id, c.c.period, c.c.state, c.c.scheme_id).where(
                    c.c.org_id.in_(ids), c.c.period.in_(pers)
                )
            ).all():
                self._cycles[(int(org_id), str(per))] = (int(cid), str(state), scheme_id)

    def _period(self, raw: str) -> str:
        if raw not in self._periods:
            self._periods[raw] = str(Period.parse(raw))
        return self._periods[raw]

    def _org(self, code: str) -> int:
        if code not in self._orgs:
            org = self.uow.organization(code)
            assert org.id is not None
            self._orgs[code] = org.id
        return self._orgs[code]

    def _cycle(self, org_id: int, org: str, period: str) -> tuple[int, str, int | None]:
        key = (org_id, period)
        if key not in self._cycles:
            row = self.uow.session.execute(
                select(t.cycle.c.id, t.cycle.c.state, t.cycle.c.scheme_id).where(
                    t.cycle.c.org_id == org_id, t.cycle.c.period == period
                )
            ).first()
            if row is None:
                raise NotFound("cycle", f"{org}/{period}")
            self._cycles[key] = (int(row[0]), str(row[1]), row[2])
        return self._cycles[key]

    def _scheme(self, scheme_id: int) -> _SchemeFacts:
        if scheme_id not in self._schemes:
            scheme = self.uow.session.get(Scheme, scheme_id)
            assert scheme is not None
            items = dict(
                self.uow.session.execute(
                    select(t.item.c.code, t.item.c.id).where(t.item.c.scheme_id == scheme_id)
                ).all()
            )
            self._schemes[scheme_id] = _SchemeFacts(
                code=scheme.code,
                spec=scheme.spec(),
                checkpoints={
                    c.code: (int(c.id), c.finalized_at is not None)  # type: ignore[arg-type]
                    for c in scheme.checkpoints
                },
                items={str(k): int(i) for k, i in items.items()},
            )
        return self._schemes[scheme_id]

    def _authorize(
        self, org: str, period: str, method: str, assessor_org: str | None, scheme_id: int | None
    ) -> None:
        """Ask the policy about ``score.enter`` once per organization, period, method and
        assessing organization (an import asks a few times, not once a row)."""
        from pdca.domain.scheme import METHOD_ALIASES

        m = METHOD_ALIASES.get(str(method).strip(), str(method).strip())
        key = (org, period, m, assessor_org)
        if key in self._allowed:
            return
        published = False
        if scheme_id is not None:
            if (scheme_id, period) not in self._frozen:
                self._frozen[(scheme_id, period)] = is_published(self.uow, scheme_id, period)
            published = self._frozen[(scheme_id, period)]
        obj = Resource(
            "score",
            f"a {m} score of cycle {org}/{period}",
            org=org,
            method=m,
            assessor_org=assessor_org,
            published=published,
        )
        self.uow._authorize("score.enter", obj)
        self._allowed.add(key)

    def check(
        self,
        org: str,
        period: str,
        item_code: str,
        checkpoint_code: str,
        method: str,
        value: Any,
        *,
        assessor: str | None,
        assessor_org: str | None,
        comment: str | None,
    ) -> ScoreEntry:
        """Check one entry; raise a pdca error naming the field, value and rule.

        The checks run in a fixed order (cycle, item, assessor, assessing organization,
        value) and the first that fails is reported. What passed for one entry is kept for
        the next with the same inputs (the cycle's checks for its organization, period,
        method and assessing organization; the item's for its scheme, item, checkpoint and
        method; a value's conversion for its item): a refusal is never kept, so a refused
        entry is always checked afresh and reported the same way.
        """
        keep = assessor_org is None or type(assessor_org) is str  # hashable as it should be
        cyc = self._cycle_checks.get((org, period, method, assessor_org)) if keep else None
        if cyc is None:
            cyc = self._check_cycle(org, period, method, assessor_org, keep)
        p, cycle_id, scheme_id = cyc
        it = self._item_checks.get((scheme_id, item_code, checkpoint_code, method))
        if it is None:
            it = self._check_item(scheme_id, item_code, checkpoint_code, method)
        item_spec, item_id, checkpoint_id, m = it
        who = self._whos.get(assessor) if type(assessor) is str else None
        if who is None:
            who = v.text("assessor", assessor if assessor is not None else self.uow.actor.name, 100)
            if type(assessor) is str:
                _keep(self._whos, assessor, who)
        who_org = self._who_orgs.get((org, m, assessor_org)) if keep else None
        if who_org is None:
            who_org = self._check_assessor_org(org, m, assessor_org, keep)
        if m == "commentary":
            raw, points, hits = "", Decimal(0), 0
            shown = str(points)
            comment = v.text("value", value if value is not None else comment, 4000)
        else:
            key = (scheme_id, item_code, value) if type(value) is str else None
            conv = self._converted.get(key) if key is not None else None
            if conv is None:
                raw, points, hits = convert(
                    item_spec, value, self._schemes[scheme_id].spec.grade_scales
                )
                conv = (raw, points, hits, str(points))
                if key is not None:
                    _keep(self._converted, key, conv)
            raw, points, hits, shown = conv
            if comment is not None:
                comment = v.optional_text("comment", comment, 4000)
        return ScoreEntry(
            cycle_id=cycle_id,
            item_id=item_id,
            checkpoint_id=checkpoint_id,
            method=m,
            assessor=who,
            assessor_org=who_org,
            raw=raw,
            points=points,
            hits=hits,
            comment=comment,
            event={
                "org": org,
                "period": p,
                "item": item_code,
                "checkpoint": checkpoint_code,
                "method": m,
                "assessor": who,
                "assessor_org": who_org,
                "raw": raw,
                "points": shown,
            },
        )

    def _check_cycle(
        self, org: str, period: str, method: str, assessor_org: str | None, keep: bool
    ) -> tuple[str, int, int]:
        """The cycle's checks: it exists, the actor may score it, it takes scores now."""
        uow = self.uow
        org_id = self._org(org)
        p = self._period(period)
        cycle_id, state, scheme_id = self._cycle(org_id, org, p)
        self._authorize(org, p, method, assessor_org or None, scheme_id)
        if state not in (CycleState.DOING, CycleState.CHECKING):
            raise ValidationError(
                "cycle",
                f"{org}/{p} ({state})",
                "scores are entered only while the cycle is doing or checking",
            )
        if scheme_id is None:
            raise ValidationError("cycle", f"{org}/{p}", "the cycle has no scheme to score by")
        if (scheme_id, p) not in self._published:
            ensure_not_published(uow, scheme_id, p)
            self._published[(scheme_id, p)] = False
        self._scheme(scheme_id)
        out = (p, cycle_id, int(scheme_id))
        if keep:
            _keep(self._cycle_checks, (org, period, method, assessor_org), out)
        return out

    def _check_item(
        self, scheme_id: int, item_code: str, checkpoint_code: str, method: str
    ) -> tuple[ItemSpec, int, int, str]:
        """The item's checks: an item of the scheme, entered (not counted), at an open
        checkpoint, by one of its methods."""
        from pdca.domain.scheme import METHOD_ALIASES

        facts = self._schemes[scheme_id]
        item_spec = facts.spec.item(item_code)
        if item_spec is None:
            raise ValidationError("item", item_code, f"is not an item of scheme {facts.code}")
        if item_spec.rule == "count":
            raise ValidationError(
                "item", item_code, "a count item is computed from the cycle's records, not entered"
            )
        cp = facts.checkpoints.get(checkpoint_code)
        if cp is None:
            raise ValidationError(
                "checkpoint",
                checkpoint_code,
                f"is not a checkpoint of scheme {facts.code} ("
                + ", ".join(facts.checkpoints)
                + ")",
            )
        if cp[1]:
            raise ValidationError(
                "checkpoint",
                checkpoint_code,
                "is finalized: its scores change only through an appeal",
            )
        m = METHOD_ALIASES.get(str(method).strip(), str(method).strip())
        if m not in item_spec.methods:
            raise ValidationError(
                "method",
                method,
                f"item {item_code} is assessed by " + ", ".join(item_spec.methods) + " only",
            )
        out = (item_spec, facts.items[item_code], cp[0], m)
        _keep(self._item_checks, (scheme_id, item_code, checkpoint_code, method), out)
        return out

    def _check_assessor_org(self, org: str, m: str, assessor_org: str | None, keep: bool) -> str:
        """The assessing organization: itself for a self-assessment, another for a peer's."""
        who_org_raw = assessor_org if assessor_org is not None else self.uow.actor.org
        who_org = v.code("assessor_org", who_org_raw) if who_org_raw else ""
        if m == "self" and who_org != org:
            raise ValidationError(
                "assessor_org",
                who_org or None,
                f"a self-assessment (自评) of {org} is entered only by {org} itself",
            )
        if m in PEER_METHODS and who_org == org:
            raise ValidationError(
                "assessor_org",
                who_org,
                f"an organization does not score itself in the {m} method",
            )
        if m in PEER_METHODS and m != "panel" and not who_org:
            raise ValidationError(
                "assessor_org", None, f"a {m} score names the organization that gives it"
            )
        if keep:
            _keep(self._who_orgs, (org, m, assessor_org), who_org)
        return who_org


#: How many passed checks a :class:`ScoreChecker` keeps of each kind (a bound on memory
#: for a file of millions of distinct rows; a full cache starts over).
_KEEP = 50_000


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _KEEP:
        cache.clear()
    cache[key] = value


def enter_score(
    uow: UnitOfWork,
    org: str,
    period: str,
    item_code: str,
    checkpoint_code: str,
    method: str,
    value: Any,
    *,
    assessor: str | None,
    assessor_org: str | None,
    comment: str | None,
) -> Score:
    keys = {"org": org, "period": period, "item": item_code, "checkpoint": checkpoint_code}
    for name, key in {**keys, "method": method}.items():
        if not isinstance(key, str):  # e.g. Decimal("sNaN") cannot even be looked up
            raise ValidationError(name, key, "must be text")
    e = ScoreChecker(uow).check(
        org,
        period,
        item_code,
        checkpoint_code,
        method,
        value,
        assessor=assessor,
        assessor_org=assessor_org,
        comment=comment,
    )
    s = uow.session
    existing = s.scalars(
        select(Score).where(
            t.score.c.cycle_id == e.cycle_id,
            t.score.c.item_id == e.item_id,
            t.score.c.checkpoint_id == e.checkpoint_id,
            t.score.c.method == e.method,
            t.score.c.assessor == e.assessor,
            t.score.c.assessor_org == e.assessor_org,
        )
    ).one_or_none()
    if existing is not None:
        before = {"raw": existing.raw, "points": str(existing.points), "comment": existing.comment}
        existing.raw, existing.points, existing.hits = e.raw, e.points, e.hits
        existing.comment = e.comment
        existing.entered_at = uow.clock.now()
        if not uow.session.is_modified(existing):
            # The same value again: nothing for the ORM to write, so nothing would check
            # that the row is still the one read. Move its version anyway: if another
            # writer changed it since, this entry conflicts instead of being recorded over
            # a value it never saw (a lost update).
            sc = t.score
            res = uow.session.execute(
                update(sc)
                .where(sc.c.id == existing.id, sc.c.version == existing.version)
                .values(version=sc.c.version + 1)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                uow._fail("another writer changed this score since it was loaded")
                raise ConcurrencyConflict(
                    "another writer changed this score since it was loaded (reload it and "
                    "try again); nothing in this unit of work was written"
                )
            uow.session.expire(existing, ["version"])
        uow.flush()
        sql.refresh_totals(s, [e.cycle_id])
        uow._log("score", existing.id, "change", data={**e.event, "from": before})
        return existing
    score = Score(
        cycle_id=e.cycle_id,
        item_id=e.item_id,
        checkpoint_id=e.checkpoint_id,
        method=e.method,
        assessor=e.assessor,
        assessor_org=e.assessor_org,
        raw=e.raw,
        points=e.points,
        hits=e.hits,
        comment=e.comment,
        entered_at=uow.clock.now(),
    )
    s.add(score)
    uow.flush()
    sql.refresh_totals(s, [e.cycle_id])
    uow._log("score", score.id, "enter", data=e.event)
    return score


def enter_scores(uow: UnitOfWork, entries: Sequence[ScoreEntry]) -> tuple[int, int]:
    """Write checked entries in bulk: new ones inserted, existing ones (same cycle, item,
    checkpoint, method and assessor) replaced; one event per entry. Later entries of the
    same key replace earlier ones. Returns (entered, replaced)."""
    if not entries:
        return 0, 0
    uow.flush()
    s = uow.session.connection()  # Core bulk statements on the unit of work's transaction
    last: dict[tuple[int, int, int, str, str, str], ScoreEntry] = {}
    for e in entries:  # e.key, without a call per entry
        last[e.cycle_id, e.item_id, e.checkpoint_id, e.method, e.assessor, e.assessor_org] = e
    sc = t.score
    existing: dict[tuple[int, int, int, str, str, str], tuple[int, str, Decimal, int]] = {}
    cycle_ids = sorted({k[0] for k in last})
    for i in range(0, len(cycle_ids), 500):
        chunk = cycle_ids[i : i + 500]
        for row in s.execute(
            select(
                sc.c.id,
                sc.c.cycle_id,
                sc.c.item_id,
                sc.c.checkpoint_id,
                sc.c.method,
                sc.c.assessor,
                sc.c.assessor_org,
                sc.c.raw,
                sc.c.points,
                sc.c.version,
            ).where(sc.c.cycle_id.in_(chunk))
        ).all():
            key = (int(row[1]), int(row[2]), int(row[3]), row[4], row[5], row[6])
            if key in last:
                existing[key] = (int(row[0]), row[7], row[8], int(row[9]))
    now = uow.clock.now()
    fresh = [k for k in last if k not in existing]
    ids: dict[tuple[int, int, int, str, str, str], int] = {k: v[0] for k, v in existing.items()}
    if fresh:
        # The new rows' ids are taken before the insert, so nothing needs reading back.
        new_ids = _reserve_ids(s, len(fresh))
        score_rows = _DriverInsert(
            s,
            sc,
            (
                "id",
                "cycle_id",
                "item_id",
                "checkpoint_id",
                "method",
                "assessor",
                "assessor_org",
                "raw",
                "points",
                "hits",
                "comment",
            ),
            {"entered_at": now, "version": 1},
            memo=("points",),  # the few distinct values of an import, each scaled once
        )
        rows = [
            [
                sid,
                e.cycle_id,
                e.item_id,
                e.checkpoint_id,
                e.method,
                e.assessor,
                e.assessor_org,
                e.raw,
                e.points,
                e.hits,
                e.comment,
            ]
            for sid, e in zip(new_ids, (last[k] for k in fresh), strict=True)
        ]
        score_rows.execute(rows, 10_000)
        ids.update(zip(fresh, new_ids, strict=True))
    updates = [
        {
            "b_id": existing[k][0],
            "b_version": existing[k][3],
            "raw": e.raw,
            "points": e.points,
            "hits": e.hits,
            "comment": e.comment,
            "entered_at": now,
        }
        for k, e in last.items()
        if k in existing
    ]
    if updates:
        res = s.execute(
            update(sc)
            .where(sc.c.id == bindparam("b_id"), sc.c.version == bindparam("b_version"))
            .values(
                raw=bindparam("raw"),
                points=bindparam("points"),
                hits=bindparam("hits"),
                comment=bindparam("comment"),
                entered_at=bindparam("entered_at"),
                version=sc.c.version + 1,
            ),
            updates,
        )
        if res.rowcount not in (-1, len(updates)):
            raise ConcurrencyConflict("another writer changed scores being replaced")
    # The trail: one event per entry, pointing at its score row.
    actor = uow.actor
    trail = _DriverInsert(
        s,
        t.event,
        ("entity_id", "action", "data"),
        {
            "at": now,
            "actor": actor.name,
            "actor_org": actor.org,
            "actor_role": actor.role,
            "entity": "score",
            "from_state": None,
            "to_state": None,
            "reason": None,
        },
    )
    events = []
    for k, e in last.items():
        if k in existing:
            data = dict(e.event)
            data["from"] = {"raw": existing[k][1], "points": str(existing[k][2])}
            events.append([ids[k], "change", data])
        else:
            events.append([ids[k], "enter", e.event])
    trail.execute(events, 10_000)
    if uow.store.hooks.wants("score.entered"):  # heard after the commit, one per entry
        for k, e in last.items():
            uow._notify("score.entered", {"cycle_id": k[0], **e.event, "score_id": ids[k]})
    sql.refresh_totals(s, {k[0] for k in last})  # the results' sums of these cycles
    return len(fresh), len(updates)


def _reserve_ids(conn: Connection, n: int) -> list[int]:
    """``n`` ids for new scores: drawn from the id sequence (PostgreSQL), or the ones after
    the highest (SQLite, which would choose the same: its writers are serialized, so no
    other can take them before this transaction inserts; the key would refuse it if one
    did)."""
    sc = t.score
    if conn.dialect.name == "postgresql":
        table = conn.dialect.identifier_preparer.format_table(sc)
        ids = conn.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:t, 'id'))"
                " FROM generate_series(1, CAST(:n AS integer))"
            ),
            {"t": table, "n": n},
        ).scalars()
        out = [int(i) for i in ids if i is not None]
        if len(out) != n:
            raise RuntimeError(f"{table}.id has no sequence to draw new ids from")
        return out
    top = conn.execute(select(func.max(sc.c.id))).scalar()
    first = int(top or 0) + 1
    return list(range(first, first + n))


class _DriverInsert:
    """An INSERT of many rows handed to the driver's executemany as they are, without
    SQLAlchemy's per-row work: each value is bound as SQLAlchemy binds it for its column;
    the ``constant`` columns are bound once."""

    def __init__(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        constant: Mapping[str, Any],
        *,
        memo: Sequence[str] = (),
    ) -> None:
        dialect = conn.dialect
        names = [*columns, *constant]
        style = dialect.paramstyle
        if style == "qmark":
            marks = ["?"] * len(names)
        elif style in ("format", "pyformat"):
            marks = ["%s"] * len(names)
        elif style == "numeric":
            marks = [f":{i}" for i in range(1, len(names) + 1)]
        elif style == "numeric_dollar":
            marks = [f"${i}" for i in range(1, len(names) + 1)]
        else:  # named
            marks = [f":p{i}" for i in range(len(names))]
        self._keys = [m[1:] for m in marks] if style == "named" else None
        prep = dialect.identifier_preparer
        self._sql = (
            f"INSERT INTO {prep.format_table(table)} "
            f"({', '.join(prep.format_column(table.c[n]) for n in names)}) "
            f"VALUES ({', '.join(marks)})"
        )
        self._conn = conn
        self._procs: list[tuple[int, Callable[[Any], Any], dict[Any, Any] | None]] = [
            (i, proc, {} if n in memo else None)
            for i, n in enumerate(columns)
            if (proc := self._processor(table, n, conn))
        ]
        tail = []
        for n, value in constant.items():
            proc = self._processor(table, n, conn)
            tail.append(proc(value) if proc is not None else value)
        self._tail = tuple(tail)

    @staticmethod
    def _processor(table: Table, name: str, conn: Connection) -> Callable[[Any], Any] | None:
        dialect = conn.dialect
        return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

    def execute(self, rows: list[list[Any]], chunk: int) -> None:
        """Insert ``rows`` (values of ``columns``, in order; processed in place)."""
        procs, tail = self._procs, self._tail
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            for j, proc, seen in procs:
                if seen is None:
                    for r in part:
                        r[j] = proc(r[j])
                else:  # equal values bind alike: process each distinct one once
                    for r in part:
                        x = r[j]
                        y = seen.get(x)
                        if y is None:
                            y = seen[x] = proc(x)
                        r[j] = y
            params: list[Any] = [(*r, *tail) for r in part]
            if self._keys is not None:
                params = [dict(zip(self._keys, r, strict=True)) for r in params]
            self._conn.exec_driver_sql(self._sql, params)


# -------------------------------------------------------------------------- results


@frozen
class OrgResult:
    """One organization's result for a scheme and period."""

    org: str
    name: str
    peer_group: str
    total: Decimal
    base: Decimal
    bonus: Decimal
    penalty: Decimal
    subtotals: Mapping[str, Decimal]
    grade: str | None
    rank: int
    group_size: int
    veto_hits: int
    outcomes: tuple[Mapping[str, Any], ...] = field(factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "name": self.name,
            "peer_group": self.peer_group,
            "total": str(self.total),
            "base": str(self.base),
            "bonus": str(self.bonus),
            "penalty": str(self.penalty),
            "subtotals": {k: str(x) for k, x in self.subtotals.items()},
            "grade": self.grade,
            "rank": self.rank,
            "group_size": self.group_size,
            "veto_hits": self.veto_hits,
            "vetoed": self.veto_hits > 0,
            "outcomes": [dict(o) for o in self.outcomes],
        }


@frozen
class Results:
    """A scheme's results for a period: one row per organization, best first per group."""

    scheme: str
    period: str
    tie_rule: str
    rows: tuple[OrgResult, ...]

    def row(self, org: str) -> OrgResult:
        for r in self.rows:
            if r.org == org:
                return r
        raise NotFound("result", org)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "period": self.period,
            "tie_rule": self.tie_rule,
            "rounding": "half-up, 2 decimal places",
            "results": [r.as_dict() for r in self.rows],
        }


def _ranked(
    uow: UnitOfWork, scheme: Scheme, spec: SchemeSpec, period: str
) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    rows = sql.totals(uow.session, spec, scheme.id, period)  # type: ignore[arg-type]
    ranked = [
        Ranked(
            key=r["org"],
            group=r["peer_group"],
            total=r["total"],
            rank=r["rank"],
            vetoed=r["veto_hits"] > 0,
        )
        for r in rows
    ]
    return rows, assign_grades(spec, ranked)


def results(uow: UnitOfWork, scheme_code: str, period: str) -> Results:
    scheme = uow.scheme(scheme_code)
    spec = scheme.spec()
    p = str(Period.parse(period))
    sp = Period.parse(scheme.period)
    if sp != Period.parse(p) and not sp.contains(Period.parse(p)):
        raise ValidationError("period", p, f"scheme {scheme_code} is for {scheme.period}")
    with sql.no_cyclic_gc():
        return _results(uow, scheme, spec, p)


def _results(uow: UnitOfWork, scheme: Scheme, spec: SchemeSpec, p: str) -> Results:
    # Straight from the database's rows (a province has 100,000 of them): no dicts between.
    rows, dec = sql.totals_rows(uow.session, spec, scheme.id, p)  # type: ignore[arg-type]
    ranked = [
        Ranked(key=r[2], group=r[4], total=dec[r[9]], rank=r[11], vetoed=r[8] > 0, outcomes=())
        for r in rows
    ]
    grades = assign_grades(spec, ranked)
    history = _history(uow, spec, [r[1] for r in rows], Period.parse(p))
    outcomes = evaluate_outcomes(spec, ranked, grades, history)
    codes = [c.code for c in spec.categories]
    out = tuple(
        OrgResult(
            org=org,
            name=name,
            peer_group=group,
            total=rk.total,
            base=dec[base],
            bonus=dec[bonus],
            penalty=dec[penalty],
            subtotals=dec.subtotals(subs, codes),
            grade=grades[org],
            rank=rk.rank,
            group_size=size,
            veto_hits=int(veto_hits),
            outcomes=tuple(outcomes[org]),
        )
        for rk, (
            _cycle_id,
            _org_id,
            org,
            name,
            group,
            base,
            bonus,
            penalty,
            veto_hits,
            _total,
            subs,
            _rank,
            size,
        ) in zip(ranked, rows, strict=True)
    )
    return Results(scheme=scheme.code, period=p, tie_rule=TIE_RULE, rows=out)


def _history(
    uow: UnitOfWork, spec: SchemeSpec, org_ids: Sequence[int], period: Period
) -> dict[str, list[dict[str, Any]]]:
    """Grades and ranks of the same organizations in the previous periods (for streaks)."""
    depth = max((int(o.params["periods"]) for o in spec.outcomes if o.kind == "streak"), default=1)
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if depth <= 1 or not org_ids:
        return history
    s = uow.session
    wanted = set(org_ids)
    prev = period
    for _ in range(depth - 1):
        prev = prev.previous()
        scheme_ids = s.scalars(
            select(t.cycle.c.scheme_id)
            .where(
                t.cycle.c.period == str(prev),
                t.cycle.c.org_id.in_(org_ids),
                t.cycle.c.scheme_id.is_not(None),
            )
            .group_by(t.cycle.c.scheme_id)
        ).all()
        for sid in scheme_ids:
            past = s.get(Scheme, sid)
            assert past is not None
            past_spec = past.spec()
            rows, grades = _ranked(uow, past, past_spec, str(prev))
            last: dict[str, int] = defaultdict(int)
            for r in rows:
                last[r["peer_group"]] = max(last[r["peer_group"]], r["rank"])
            for r in rows:
                if r["org_id"] in wanted:
                    history[r["org"]].append(
                        {
                            "period": str(prev),
                            "grade": grades[r["org"]],
                            "rank": r["rank"],
                            "group_size": r["group_size"],
                            "last": r["rank"] == last[r["peer_group"]],
                        }
                    )
    return history


def scores(uow: UnitOfWork, org: str, period: str) -> list[Score]:
    o = uow.organization(org)
    cyc = uow.cycle(o.code, period)
    return list(
        uow.session.scalars(
            select(Score).where(t.score.c.cycle_id == cyc.id).order_by(t.score.c.id)
        )
    )
