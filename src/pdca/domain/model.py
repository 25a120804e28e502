"""The domain's entities: plain attrs classes with no database import.

The persistence layer maps these classes imperatively onto ``pdca_*`` tables
(:mod:`pdca.persistence.mapping`); here they are ordinary Python objects, so every rule
can be tested without a database.

Identifiers: every entity has an integer ``id`` assigned by the store (``None`` until the
object is saved) and, where people refer to it, a human code (an organization's ``code``,
a scheme's ``code``, a cycle's organization and period).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pendulum
from attrs import define, field

if TYPE_CHECKING:
    from .scheme import SchemeSpec

__all__ = [
    "Appeal",
    "AppealState",
    "Checkpoint",
    "Cycle",
    "CycleState",
    "Event",
    "Finding",
    "FindingState",
    "Item",
    "Measure",
    "MeasureStatus",
    "Organization",
    "Publication",
    "Record",
    "Rectification",
    "Scheme",
    "SchemeCategory",
    "Score",
    "Target",
    "TargetOrigin",
]


class CycleState(StrEnum):
    DRAFT = "draft"
    PLANNED = "planned"
    DOING = "doing"
    CHECKING = "checking"
    ACTING = "acting"
    CLOSED = "closed"


class FindingState(StrEnum):
    OPEN = "open"
    RECTIFYING = "rectifying"
    RESOLVED = "resolved"
    CARRIED = "carried"
    WAIVED = "waived"


#: Finding states that still need work: at a cycle's close these are carried forward.
UNRESOLVED_FINDING_STATES = frozenset({FindingState.OPEN, FindingState.RECTIFYING})


class TargetOrigin(StrEnum):
    SCHEME = "scheme"  # 共性目标: from the scheme's items
    OWN = "own"  # 特色/分项目标: the organization's own
    CARRIED = "carried"  # 整改目标: an unresolved finding of an earlier period


class MeasureStatus(StrEnum):
    PLANNED = "planned"
    DOING = "doing"
    DONE = "done"
    DROPPED = "dropped"


# Organization kinds the articles name. Any non-empty kind is accepted; these are the usual ones.
ORGANIZATION_KINDS = ("党委", "党组", "机关党委", "党总支", "党支部", "党小组", "机关工委")


@define(slots=False, eq=False, kw_only=True)
class Organization:
    """A party organization: a node in a tree, in a peer group for ranking."""

    code: str
    name: str
    kind: str
    parent_id: int | None = None
    peer_group: str | None = None
    id: int | None = None

    def __repr__(self) -> str:
        return f"Organization({self.code!r}, {self.name!r})"


@define(slots=False, eq=False, kw_only=True)
class Item:
    """An assessment item (考核项目/指标): what is scored."""

    code: str
    title: str
    max_score: Decimal
    rule: str = "points"
    evidence: str | None = None
    per: Decimal | None = None
    scale: str | None = None
    record_kind: str | None = None
    target: int | None = None
    position: int = 0
    category_id: int | None = None
    scheme_id: int | None = None
    id: int | None = None


@define(slots=False, eq=False, kw_only=True)
class SchemeCategory:
    """A category (大类) grouping items, e.g. 思想建设."""

    code: str
    name: str
    position: int = 0
    items: list[Item] = field(factory=list)
    scheme_id: int | None = None
    id: int | None = None


@define(slots=False, eq=False, kw_only=True)
class Checkpoint:
    """A dated check within a scheme's period (日常/月度/季度/年中/年终/抽查/专项督查), with its
    weight in the result. Once finalized its scores change only through appeals."""

    code: str
    kind: str
    name: str
    weight: Decimal
    on_date: dt.date | None = None
    position: int = 0
    finalized_at: pendulum.DateTime | None = None
    scheme_id: int | None = None
    id: int | None = None


@define(slots=False, eq=False, kw_only=True)
class Score:
    """One assessor's value for one item at one checkpoint by one method (得分)."""

    cycle_id: int
    item_id: int
    checkpoint_id: int
    method: str
    assessor: str
    assessor_org: str = ""
    raw: str = ""
    points: Decimal = Decimal(0)
    hits: int = 0
    comment: str | None = None
    entered_at: pendulum.DateTime | None = None
    id: int | None = None
    version: int = 0


@define(slots=False, eq=False, kw_only=True)
class Scheme:
    """One period's assessment rules, issued by an assessor to a scope of organizations."""

    code: str
    title: str
    period: str
    issuer_id: int | None = None
    categories: list[SchemeCategory] = field(factory=list)
    checkpoints: list[Checkpoint] = field(factory=list)
    definition: dict[str, Any] | None = None
    created_at: pendulum.DateTime | None = None
    id: int | None = None

    def spec(self) -> SchemeSpec:
        """The scheme's full, validated definition."""
        from .scheme import parse_scheme

        if self.definition is None:
            raise ValueError(f"scheme {self.code} has no definition")
        return parse_scheme(self.definition, source=f"scheme {self.code}")

    def checkpoint(self, code: str) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.code == code), None)

    def items(self) -> list[Item]:
        return [item for cat in self.categories for item in cat.items]

    def item(self, code: str) -> Item | None:
        for it in self.items():
            if it.code == code:
                return it
        return None


@define(slots=False, eq=False, kw_only=True)
class Measure:
    """An action toward a target (措施 / 月度工作安排)."""

    title: str
    owner: str | None = None
    due_on: dt.date | None = None
    status: str = MeasureStatus.PLANNED.value
    progress: str | None = None
    evidence: list[str] = field(factory=list)
    target_id: int | None = None
    id: int | None = None


@define(slots=False, eq=False, kw_only=True)
class Target:
    """What an organization commits to in its plan (目标)."""

    title: str
    origin: str = TargetOrigin.OWN.value
    item_code: str | None = None
    item_id: int | None = None
    target_value: Decimal | None = None
    unit: str | None = None
    due_on: dt.date | None = None
    # Responsibilities (责任): people ...
    first_responsible: str | None = None  # 第一责任人
    direct_responsible: str | None = None  # 直接责任人
    specific_responsible: str | None = None  # 具体责任人
    # ... and units (包抓)
    lead_unit: str | None = None  # 牵头单位
    responsible_unit: str | None = None  # 责任单位
    responsible_leader: str | None = None  # 责任领导
    # Lineage of a carried target (整改目标)
    carried_from_id: int | None = None  # the finding of the earlier period
    origin_period: str | None = None  # the period the problem was first found in
    carry_count: int = 0  # how many periods the problem has been carried
    measures: list[Measure] = field(factory=list)
    cycle_id: int | None = None
    id: int | None = None


@define(slots=False, eq=False, kw_only=True)
class Record:
    """Dated evidence kept during the year (日常考核记录 / 台账): a meeting, a visit."""

    kind: str
    occurred_on: dt.date
    title: str
    item_code: str | None = None
    quantity: int = 1
    evidence: str | None = None
    cycle_id: int | None = None
    id: int | None = None


@define(slots=False, eq=False, kw_only=True)
class Finding:
    """A problem found at a check (问题 / 短板), tied to a cycle, an item and a checkpoint.

    A finding carried into the next period continues there as a new finding of that cycle
    with the same ``root_id``: the thread of one problem across years.
    """

    item_code: str
    description: str
    checkpoint: str
    severity: str = "general"
    source: str = "panel"
    found_on: dt.date | None = None
    deadline: dt.date | None = None
    state: str = FindingState.OPEN.value
    rectification: str | None = None
    rectification_owner: str | None = None
    resolution: str | None = None
    root_id: int | None = None  # the first finding of this problem's thread
    previous_id: int | None = None  # the finding of the previous period it continues
    carry_count: int = 0  # how many periods this problem had been carried when found here
    cycle_id: int | None = None
    id: int | None = None
    version: int = 0


@define(slots=False, eq=False, kw_only=True)
class Cycle:
    """One organization × one period moving plan → do → check → act."""

    org_id: int
    period: str
    scheme_id: int | None = None
    parent_id: int | None = None
    state: str = CycleState.DRAFT.value
    opened_at: pendulum.DateTime | None = None
    closed_at: pendulum.DateTime | None = None
    feedback_at: pendulum.DateTime | None = None
    targets: list[Target] = field(factory=list)
    findings: list[Finding] = field(factory=list)
    id: int | None = None
    version: int = 0

    def unresolved_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.state in UNRESOLVED_FINDING_STATES]


class AppealState(StrEnum):
    FILED = "filed"
    UPHELD = "upheld"
    REJECTED = "rejected"


@define(slots=False, eq=False, kw_only=True)
class Rectification:
    """A rectification measure of a finding (整改措施): an owner, a deadline, done or not."""

    finding_id: int
    title: str
    owner: str
    due_on: dt.date
    status: str = "planned"
    done_on: dt.date | None = None
    evidence: str | None = None
    created_at: pendulum.DateTime | None = None
    id: int | None = None


@define(slots=False, eq=False, kw_only=True)
class Appeal:
    """An organization contests a score or a finding (申辩); the assessor decides."""

    cycle_id: int
    reason: str
    filed_by: str
    filed_org: str
    filed_at: pendulum.DateTime
    score_id: int | None = None
    finding_id: int | None = None
    state: str = AppealState.FILED.value
    requested_value: str | None = None
    decided_by: str | None = None
    decided_at: pendulum.DateTime | None = None
    decision: str | None = None
    original_raw: str | None = None
    original_points: Decimal | None = None
    revised_raw: str | None = None
    revised_points: Decimal | None = None
    id: int | None = None
    version: int = 0


@define(slots=False, eq=False, kw_only=True)
class Publication:
    """A published (公示) version of a scheme's results for a period: frozen."""

    scheme_id: int
    period: str
    version: int
    published_at: pendulum.DateTime
    published_by: str
    results: dict[str, Any]
    reason: str | None = None
    appeal_id: int | None = None
    id: int | None = None


@define(slots=False, eq=False, kw_only=True)
class Event:
    """One appended line of the trail: who did what to which object, when and why."""

    at: pendulum.DateTime
    actor: str
    entity: str
    entity_id: int
    action: str
    from_state: str | None = None
    to_state: str | None = None
    reason: str | None = None
    data: dict[str, Any] | None = None
    actor_org: str | None = None
    actor_role: str | None = None
    id: int | None = None
