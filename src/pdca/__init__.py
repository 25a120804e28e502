"""pdca: the plan → do → check → act cycle of party-building assessment (党建考核).

Open a store, migrate it, and run use cases inside a unit of work::

    import pdca

    store = pdca.open_store("sqlite:///pdca.sqlite3", upgrade=True)
    with store.unit_of_work(pdca.Actor("考核办", org="JG", role="assessor")) as uow:
        uow.add_organization("JG", "市直机关工委", "机关工委")
        uow.add_organization("CZ", "市财政局机关党委", "机关党委", parent="JG")

See docs/tutorial.md for a whole year round the loop.

Nothing here creates an engine or touches a database at import time.
"""

from pdca._version import __version__
from pdca.clock import DEFAULT_TIMEZONE, Clock, FixedClock, SystemClock
from pdca.domain.actor import ROLLOVER, SYSTEM, Actor
from pdca.domain.carry import RECURRING_AFTER, is_recurring
from pdca.domain.lifecycle import CYCLE, CYCLE_ROUND, FINDING, Change, Lifecycle
from pdca.domain.model import (
    Appeal,
    AppealState,
    Checkpoint,
    Cycle,
    CycleState,
    Event,
    Finding,
    FindingState,
    Item,
    Measure,
    MeasureStatus,
    Organization,
    Publication,
    Record,
    Rectification,
    Scheme,
    SchemeCategory,
    Score,
    Target,
    TargetOrigin,
)
from pdca.domain.period import Period, PeriodKind
from pdca.domain.policy import ACTIONS, AllowAll, DefaultPolicy, Denial, Policy, Resource
from pdca.domain.scheme import (
    METHODS,
    RULES,
    CategorySpec,
    CheckpointSpec,
    GradeBand,
    ItemSpec,
    OutcomeRule,
    SchemeInvalid,
    SchemeProblem,
    SchemeSpec,
    parse_scheme,
    scheme_to_data,
)
from pdca.errors import (
    ConcurrencyConflict,
    GuardFailed,
    InvalidTransition,
    NotFound,
    PdcaError,
    PermissionDenied,
    TransitionRefused,
    ValidationError,
)
from pdca.persistence.migrate import (
    check_at_head,
    current_revision,
    downgrade,
    ignore_pdca_tables,
    ignoring_pdca_tables,
    upgrade,
)
from pdca.persistence.tables import VERSION_TABLE
from pdca.persistence.tables import metadata as METADATA
from pdca.services.act import DueItem
from pdca.services.hooks import HOOK_EVENTS, Hooks, Notification, Subscription
from pdca.services.rollover import Blocker, RolloverReport
from pdca.services.scoring import OrgResult, Results
from pdca.services.store import Store, open_store
from pdca.services.unit_of_work import CHECKPOINTS, SEVERITIES, UnitOfWork

__all__ = [
    "ACTIONS",
    "CHECKPOINTS",
    "CYCLE",
    "CYCLE_ROUND",
    "DEFAULT_TIMEZONE",
    "FINDING",
    "HOOK_EVENTS",
    "METADATA",
    "METHODS",
    "RECURRING_AFTER",
    "ROLLOVER",
    "RULES",
    "SEVERITIES",
    "SYSTEM",
    "VERSION_TABLE",
    "Actor",
    "AllowAll",
    "Appeal",
    "AppealState",
    "Blocker",
    "CategorySpec",
    "Change",
    "Checkpoint",
    "CheckpointSpec",
    "Clock",
    "ConcurrencyConflict",
    "Cycle",
    "CycleState",
    "DefaultPolicy",
    "Denial",
    "DueItem",
    "Event",
    "Finding",
    "FindingState",
    "FixedClock",
    "GradeBand",
    "GuardFailed",
    "Hooks",
    "InvalidTransition",
    "Item",
    "ItemSpec",
    "Lifecycle",
    "Measure",
    "MeasureStatus",
    "NotFound",
    "Notification",
    "OrgResult",
    "Organization",
    "OutcomeRule",
    "PdcaError",
    "Period",
    "PeriodKind",
    "PermissionDenied",
    "Policy",
    "Publication",
    "Record",
    "Rectification",
    "Resource",
    "Results",
    "RolloverReport",
    "Scheme",
    "SchemeCategory",
    "SchemeInvalid",
    "SchemeProblem",
    "SchemeSpec",
    "Score",
    "Store",
    "Subscription",
    "SystemClock",
    "Target",
    "TargetOrigin",
    "TransitionRefused",
    "UnitOfWork",
    "ValidationError",
    "__version__",
    "check_at_head",
    "current_revision",
    "downgrade",
    "ignore_pdca_tables",
    "ignoring_pdca_tables",
    "is_recurring",
    "open_store",
    "parse_scheme",
    "scheme_to_data",
    "upgrade",
]
