"""Feedback, bulletins, lineage and charts: the three kinds of feedback of seed 000.

- 当面反馈 (per organization): :meth:`ReportCases.feedback`, written by
  :func:`write_feedback`, charted by :func:`radar_chart`;
- 通报反馈 (across the scope): :meth:`ReportCases.bulletin`, written by
  :func:`write_bulletin` (``.xlsx`` like seed 001's 考评汇总表 and 单项工作考评表, ``.md``,
  ``.html``), charted by :func:`ranking_chart`;
- 改进反馈 (into next period's scheme): :meth:`ReportCases.mark_key_content`;
- multi-year lineage: :meth:`ReportCases.lineage`, :meth:`ReportCases.recurring`,
  :meth:`ReportCases.compare_years` (charted by :func:`trend_chart`) and
  :meth:`ReportCases.item_across_scope`.

Importing this package is light: openpyxl and matplotlib are imported only when a file
or a chart is written.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from .charts import radar_chart, ranking_chart, trend_chart
from .fonts import FontNotFound, cjk_font, missing_glyphs
from .writers import jsonable, write_bulletin, write_feedback, write_lineage

if TYPE_CHECKING:
    from pdca.services.unit_of_work import UnitOfWork

__all__ = [
    "FontNotFound",
    "ReportCases",
    "cjk_font",
    "jsonable",
    "missing_glyphs",
    "radar_chart",
    "ranking_chart",
    "trend_chart",
    "write_bulletin",
    "write_feedback",
    "write_lineage",
]


def _uow(mixin: ReportCases) -> UnitOfWork:
    """The unit of work this mixin is part of."""
    return cast("UnitOfWork", mixin)


class ReportCases:
    """Mixin of :class:`~pdca.services.unit_of_work.UnitOfWork`: reports.

    Every method returns plain data (dicts, lists, str, int, :class:`~decimal.Decimal`,
    dates); :func:`jsonable` makes it JSON-ready.
    """

    def feedback(self, org: str, scheme: str, period: str) -> dict[str, Any]:
        """当面反馈: one organization's result for a scheme and period.

        Total, base, bonus, penalty, grade, rank and group size; per category the
        sub-total, its maximum and score rate and the peer group's average (``categories``;
        ``peer_average`` maps category → the group's average rate, for the radar chart);
        per item the score, maximum and rate (``items``); the cycle's findings with their
        state, origin period and carry count; the assessor's commentary (点评) and other
        score comments (``remarks``); the outcomes; the appeal deadline, if the scheme sets
        a window and the results were fed back.
        """
        from . import cases

        return cases.feedback(_uow(self), org, scheme, period)

    def bulletin(
        self,
        scheme: str,
        period: str,
        *,
        common_share: Decimal | str | float = Decimal("0.3"),
        weak_count: int = 3,
    ) -> dict[str, Any]:
        """通报反馈: the scheme's results for a period across the scope.

        ``groups``: the ranking per peer group with sub-totals and every item score;
        ``items``: per item the scope's average, average score rate (average ÷ maximum, a
        missing score counting 0 as in the totals), min, max, and how many organizations
        were flagged on it; ``common_problems`` (共性问题): items with (not waived)
        findings in at least ``common_share`` of the organizations assessed;
        ``weak_items`` (短板): the ``weak_count`` base items with the lowest average score
        rate, computed in SQL; ``key_content``: items already marked for next period.
        """
        from . import cases

        return cases.bulletin(
            _uow(self), scheme, period, common_share=common_share, weak_count=weak_count
        )

    def mark_key_content(
        self,
        scheme: str,
        period: str,
        item_code: str,
        kind: str,
        note: str | None = None,
    ) -> dict[str, Any]:
        """改进反馈: mark an item of ``scheme`` as key content of the next period's scheme,
        as a common problem (``common``, 共性问题) or a weak item (``weak``, 短板指标), so
        next year's scheme can weigh it more or give it its own item. Refused: an item not in
        the scheme, an unknown kind, the same mark twice. Written to the trail."""
        from . import cases

        return cases.mark_key_content(_uow(self), scheme, period, item_code, kind, note)

    def key_content(self, scheme: str, period: str) -> list[dict[str, Any]]:
        """The items marked as key content of the next period's scheme, in scheme order."""
        from . import cases

        return cases.key_content(_uow(self), scheme, period)

    def lineage(self, finding_id: int) -> dict[str, Any]:
        """One problem's thread across periods, from any of its findings.

        ``origin`` (period, checkpoint, date found), ``periods`` (every period it was in,
        with the finding's state there), ``current`` (the latest), ``carry_count`` (how
        many periods it was carried into), ``times_carried`` (how many closes it outlived
        unresolved; one more than ``carry_count`` while the next cycle is not yet open:
        ``awaiting_next_period``) and ``recurring`` (连续未整改: carried into 2 or more).
        """
        from . import cases

        return cases.lineage(_uow(self), finding_id)

    def recurring(self, period: str | None = None, org: str | None = None) -> list[dict[str, Any]]:
        """连续未整改: unresolved problems (open, rectifying, or carried at a close) carried
        into two or more periods, most carried first. With ``period``, the findings of that
        period; without, each thread's latest finding. Optionally of one organization."""
        from . import cases

        return cases.recurring(_uow(self), period, org)

    def compare_years(self, org: str, periods: list[str]) -> list[dict[str, Any]]:
        """An organization's result period by period (year over year): total, maximum,
        rate, grade, rank, group size and sub-totals, each under the scheme of its cycle
        for that period. A period without a cycle comes back with ``None`` values."""
        from . import cases

        return cases.compare_years(_uow(self), org, periods)

    def item_across_scope(self, scheme: str, period: str, item_code: str) -> dict[str, Any]:
        """One item across the scope: every organization's score, rate, rank and
        problems on it, with the scope's average and average rate."""
        from . import cases

        return cases.item_across_scope(_uow(self), scheme, period, item_code)
