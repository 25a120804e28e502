"""Carry-forward: an unresolved problem becomes a target of the next period's plan.

This is the heart of the engine. At a cycle's close every finding that is not resolved or
waived is marked ``carried``. When the same organization's next cycle opens, each carried
finding continues there twice over: as a **target** of the plan (origin ``carried``, linked
to the finding and the period it was first found in, with its carry count) and as an open
**finding** of the new cycle in the same thread (same ``root_id``), so that if it is still
unresolved a year later it is carried again with its count raised by one.
"""

from __future__ import annotations

from attrs import frozen

from .model import Finding, FindingState, Target, TargetOrigin

__all__ = ["CARRIED_CHECKPOINT", "RECURRING_AFTER", "Carried", "carry_forward", "is_recurring"]

#: The checkpoint name of a finding that was carried in from an earlier period.
CARRIED_CHECKPOINT = "carried"
#: A problem carried this many periods or more is flagged as recurring (连续未整改).
RECURRING_AFTER = 2
TITLE_MAX = 200


@frozen
class Carried:
    """One carried problem as it enters the next cycle."""

    target: Target
    finding: Finding


def carry_forward(
    previous: Finding,
    *,
    root_id: int,
    origin_period: str,
    item_id: int | None,
) -> Carried:
    """Build the target and the continuing finding for ``previous`` (a ``carried`` finding).

    ``root_id`` and ``origin_period`` identify the thread's first finding and the period it
    was found in; ``item_id`` is the matching item of the new scheme (same item code), if any.
    """
    if previous.state != FindingState.CARRIED:
        raise ValueError(f"finding {previous.id} is {previous.state}, not carried")
    count = previous.carry_count + 1
    title = f"整改：{previous.description}"
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"
    target = Target(
        title=title,
        origin=TargetOrigin.CARRIED.value,
        item_code=previous.item_code,
        item_id=item_id,
        carried_from_id=previous.id,
        origin_period=origin_period,
        carry_count=count,
        direct_responsible=previous.rectification_owner,
    )
    finding = Finding(
        item_code=previous.item_code,
        description=previous.description,
        checkpoint=CARRIED_CHECKPOINT,
        severity=previous.severity,
        source=previous.source,
        state=FindingState.OPEN.value,
        root_id=root_id,
        previous_id=previous.id,
        carry_count=count,
        rectification_owner=previous.rectification_owner,
    )
    return Carried(target, finding)


def is_recurring(carry_count: int) -> bool:
    """连续未整改: carried for two periods or more."""
    return carry_count >= RECURRING_AFTER
