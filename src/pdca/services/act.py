"""Use cases of the act half: rectification measures, deadlines, appeals, publication."""

from __future__ import annotations

__all__ = ["ActCases"]


class ActCases:
    """Mixin of :class:`~pdca.services.unit_of_work.UnitOfWork`: the act half's use cases."""
