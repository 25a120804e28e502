"""Feedback, bulletins, lineage and charts."""

from __future__ import annotations

__all__ = ["ReportCases"]


class ReportCases:
    """Mixin of :class:`~pdca.services.unit_of_work.UnitOfWork`: reports."""
