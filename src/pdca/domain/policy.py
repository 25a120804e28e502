"""Who may do what: the permission policy every change is checked against.

Every use case of a :class:`~pdca.services.unit_of_work.UnitOfWork` that changes something
asks the store's policy, before it writes anything, whether its actor may perform its
*action* (a stable string such as ``"plan.edit"`` or ``"cycle.check"``, see
:data:`ACTIONS`) on its *object* (a :class:`Resource`: what is acted on, whose it is). A
refusal raises :class:`~pdca.errors.PermissionDenied`, writes nothing and is recorded in
``pdca_denial``.

The policy is replaceable: any object with a ``check(actor, action, obj)`` method returning
``None`` (allowed) or the reason of a refusal will do (:class:`Policy`). pdca ships
:class:`DefaultPolicy` (the rules below) and :class:`AllowAll` (for a host that does its own
checks before calling pdca).

The default rules
    * An actor without a role is refused every change (give it ``system``, ``assessor`` or an
      organization role such as ``secretary``, with its organization).
    * ``system`` (pdca's own jobs, the office's scripts) may do everything.
    * ``assessor`` (考核办, 组织部) may register organizations, issue schemes, open cycles,
      move them into checking, acting and closed and re-open them, finalize checkpoints,
      record, verify and waive findings, decide appeals, publish results, mark key content
      and score other organizations by any method but self-assessment.
    * An organization's own people (any other role, with ``org`` set; and an assessor for
      the organization it belongs to) edit its plan, add and update its measures, keep its
      records, enter its self-assessment, rectify its findings and file its appeals. They and
      the assessor approve and start its plan. In the mutual, panel and democratic methods
      they may score other organizations, as their own organization.
    * Administration (``rollover.run``) is for ``system`` only.
    * Nobody, whatever the role, scores their own organization in the mutual, panel or
      democratic methods, or decides an appeal of their own organization.
    * Nobody changes published results (公示): scores, records (count items are scored from
      them) and waived findings of a published scheme and period change only through an
      upheld appeal (the appeal's decision carries its own consequences).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from attrs import frozen

from .actor import Actor

__all__ = [
    "ACTIONS",
    "ADMIN_ACTIONS",
    "ASSESSOR_ACTIONS",
    "CYCLE_EVENT_ACTIONS",
    "FINDING_EVENT_ACTIONS",
    "FROZEN_WHEN_PUBLISHED",
    "OWN_ACTIONS",
    "OWN_OR_ASSESSOR_ACTIONS",
    "SCORE_ACTIONS",
    "AllowAll",
    "DefaultPolicy",
    "Denial",
    "Policy",
    "Resource",
]

#: Administration: the annual rollover, run as pdca's own job (``system`` only).
ADMIN_ACTIONS: dict[str, str] = {
    "rollover.run": "run the annual rollover",
}
#: What the assessor does (and ``system``), for any organization.
ASSESSOR_ACTIONS: dict[str, str] = {
    "organization.add": "register an organization",
    "scheme.add": "issue a scheme",
    "checkpoint.finalize": "finalize a checkpoint of a scheme",
    "cycle.open": "open an organization's cycle",
    "cycle.check": "move a cycle doing → checking",
    "cycle.act": "move a cycle checking → acting (feedback)",
    "cycle.close": "move a cycle acting → closed",
    "cycle.reopen": "re-open a closed cycle",
    "finding.add": "record a finding (问题)",
    "finding.verify": "verify a finding's rectification (验收)",
    "finding.waive": "waive a finding",
    "appeal.decide": "uphold or reject an appeal",
    "results.publish": "publish a scheme's results (公示)",
    "key_content.mark": "mark an item as key content of the next scheme",
}
#: What an organization's own people do for their organization (and ``system``).
OWN_ACTIONS: dict[str, str] = {
    "plan.edit": "add or change a target of the plan",
    "measure.add": "add a measure toward a target",
    "measure.update": "report progress on a measure",
    "record.add": "keep a record (台账)",
    "finding.rectify": "rectify a finding (整改: the plan, measures, their completion)",
    "appeal.file": "file an appeal (申辩)",
}
#: What an organization's own people and the assessor both do (and ``system``).
OWN_OR_ASSESSOR_ACTIONS: dict[str, str] = {
    "plan.approve": "approve the plan (draft → planned)",
    "cycle.start": "start the plan (planned → doing)",
}
#: Entering a score: who may depends on the method (see :class:`DefaultPolicy`).
SCORE_ACTIONS: dict[str, str] = {"score.enter": "enter a score"}
#: Every action pdca asks its policy about, with what it means.
ACTIONS: dict[str, str] = {
    **ADMIN_ACTIONS,
    **ASSESSOR_ACTIONS,
    **OWN_ACTIONS,
    **OWN_OR_ASSESSOR_ACTIONS,
    **SCORE_ACTIONS,
}
#: The action of each cycle event (``UnitOfWork.advance``, ``advance_many``).
CYCLE_EVENT_ACTIONS: dict[str, str] = {
    "approve": "plan.approve",
    "start": "cycle.start",
    "check": "cycle.check",
    "act": "cycle.act",
    "close": "cycle.close",
    "reopen": "cycle.reopen",
}
#: The action of each finding event fired by a use case.
FINDING_EVENT_ACTIONS: dict[str, str] = {
    "rectify": "finding.rectify",
    "verify": "finding.verify",
    "waive": "finding.waive",
}
#: Actions that change a scheme's results: refused once they are published (公示).
FROZEN_WHEN_PUBLISHED = frozenset({"score.enter", "record.add", "finding.waive"})

#: Methods in which nobody scores their own organization.
PEER_METHODS = frozenset({"mutual", "panel", "democratic"})


@frozen
class Resource:
    """The object of an action: what is acted on and whose it is.

    ``label`` names it in messages and in the denial record (``"cycle B11/2025"``,
    ``"finding #7 of cycle B11/2025"``). ``org`` is the code of the organization it belongs
    to (whose plan, whose cycle, who is scored); None for things of no one organization
    (a scheme, a rollover). For ``score.enter``: ``method`` (canonical, e.g. ``mutual``) and
    ``assessor_org`` (the organization named as giving the score, None when not named).
    ``published``: the results it feeds are published (公示).
    """

    kind: str
    label: str
    org: str | None = None
    method: str | None = None
    assessor_org: str | None = None
    published: bool = False

    def __str__(self) -> str:
        return self.label


@runtime_checkable
class Policy(Protocol):
    """Decides whether ``actor`` may perform ``action`` on ``obj``."""

    def check(self, actor: Actor, action: str, obj: Resource) -> str | None:
        """None when allowed; otherwise why not (it goes into the error and the record)."""
        ...  # pragma: no cover


class AllowAll:
    """Allows every change: for a host that checks permissions itself before calling pdca.

    pdca's own rules of the domain (lifecycle guards, validation, the freeze of published
    scores) still apply."""

    def check(self, actor: Actor, action: str, obj: Resource) -> str | None:
        return None


class DefaultPolicy:
    """pdca's default rules (see the module's documentation and docs/permissions.md).

    ``system_roles`` and ``assessor_roles`` name the roles that count as ``system`` and as
    ``assessor`` (a host with its own role names passes its own); every other non-empty role
    is an organization role.
    """

    def __init__(
        self,
        *,
        system_roles: Iterable[str] = ("system",),
        assessor_roles: Iterable[str] = ("assessor",),
    ) -> None:
        self.system_roles = frozenset(system_roles)
        self.assessor_roles = frozenset(assessor_roles)

    def check(self, actor: Actor, action: str, obj: Resource) -> str | None:
        role = (actor.role or "").strip()
        if not role:
            return (
                f"actor {actor.name!r} has no role: give it one (system, assessor, or an "
                "organization role such as secretary with its organization), e.g. "
                "Actor(name, org=..., role=...) or Actor.parse('name@ORG:role')"
            )
        # Rules nobody is above.
        if obj.published and action in FROZEN_WHEN_PUBLISHED:
            return (
                "the results this feeds are published (公示): they change only through an "
                "upheld appeal"
            )
        own = actor.org is not None and obj.org is not None and actor.org == obj.org
        if action == "score.enter" and obj.method in PEER_METHODS and own:
            return f"nobody scores their own organization in the {obj.method} method"
        if action == "appeal.decide" and own:
            return f"nobody decides an appeal of their own organization ({obj.org})"
        if role in self.system_roles:
            return None
        assessor = role in self.assessor_roles
        if action in ADMIN_ACTIONS:
            return "administration is for the system role"
        if action in ASSESSOR_ACTIONS:
            return None if assessor else "only the assessor does this"
        if action in OWN_ACTIONS:
            return None if own else self._not_own(actor, obj)
        if action in OWN_OR_ASSESSOR_ACTIONS:
            return None if own or assessor else self._not_own(actor, obj, "or the assessor")
        if action == "score.enter":
            return self._score(actor, obj, assessor=assessor, own=own)
        return f"unknown action {action!r}: only the system role performs it"

    @staticmethod
    def _not_own(actor: Actor, obj: Resource, also: str = "") -> str:
        whose = f"{obj.org}'s own people" if obj.org else "an organization's own people"
        whose += f" {also}" if also else ""
        if actor.org is None:
            return f"only {whose} do this, and {actor.name!r} acts for no organization"
        return f"only {whose} do this ({actor.name!r} acts for {actor.org})"

    def _score(self, actor: Actor, obj: Resource, *, assessor: bool, own: bool) -> str | None:
        method = obj.method or ""
        if method == "self":
            return None if own else self._not_own(actor, obj)
        if assessor:
            return None
        if method not in PEER_METHODS:
            return f"only the assessor enters {method} scores"
        if actor.org is None:
            return "an organization's people score others as their organization, and " + (
                f"{actor.name!r} acts for no organization"
            )
        if obj.assessor_org is not None and obj.assessor_org != actor.org:
            return (
                f"{actor.name!r} scores as their own organization {actor.org}, "
                f"not as {obj.assessor_org}"
            )
        return None


@frozen
class Denial:
    """A recorded refusal (a row of ``pdca_denial``)."""

    id: int
    at: dt.datetime
    actor: str
    actor_org: str | None
    actor_role: str | None
    action: str
    object: str
    object_org: str | None
    reason: str
