"""Score import: a CSV (UTF-8, UTF-8 with BOM, or GBK) or XLSX sheet of entered scores.

One row per entry, columns (English or Chinese headers):

========================  =========================================
``org`` 组织              the organization scored (its code)
``period`` 期间           the period, e.g. ``2025`` or ``2025-Q2``
``item`` 项目             the item code
``checkpoint`` 检查节点   the checkpoint code
``method`` 方法           self/mutual/panel/… or 自评/互评/考评/…
``assessor`` 评分人       who gave the score
``assessor_org`` 评分单位 the organization the assessor acts for
``value`` 分值            the value (points, a grade such as 较好, a count)
``comment`` 备注          optional
========================  =========================================

The import is all-or-nothing: every row is checked, every problem is reported with its
row, and nothing is written unless all rows are good. Good rows are then written in bulk
(one statement per few thousand rows, an event per score); a row for an entry that
exists (same cycle, item, checkpoint, method and assessor) replaces it, as does a later
row of the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from attrs import frozen

from pdca.errors import ConcurrencyConflict, PdcaError, ValidationError

from .tables import read_records

__all__ = ["SCORE_COLUMNS", "ImportRefused", "ScoreImport", "import_scores"]

SCORE_COLUMNS = {
    "org": "org",
    "organization": "org",
    "组织": "org",
    "组织代码": "org",
    "党组织": "org",
    "period": "period",
    "期间": "period",
    "考核期间": "period",
    "item": "item",
    "项目": "item",
    "项目代码": "item",
    "checkpoint": "checkpoint",
    "检查节点": "checkpoint",
    "节点": "checkpoint",
    "method": "method",
    "方法": "method",
    "考核方法": "method",
    "assessor": "assessor",
    "评分人": "assessor",
    "assessor_org": "assessor_org",
    "评分单位": "assessor_org",
    "value": "value",
    "分值": "value",
    "得分": "value",
    "评价": "value",
    "comment": "comment",
    "备注": "comment",
    "意见": "comment",
}
REQUIRED = ("org", "period", "item", "checkpoint", "method", "assessor", "value")
FIELDS = (*REQUIRED, "assessor_org", "comment")  # as a row's values come (read_records)
MAX_REPORTED = 50
CHUNK = 10_000  # rows checked and written together


class ImportRefused(ValidationError):
    """An import with problems; ``problems`` lists ``(row, message)``; nothing was written."""

    def __init__(self, source: str, problems: list[tuple[int, str]], more: int = 0) -> None:
        self.problems = problems
        first_row, first = problems[0]
        super().__init__(f"{source} row {first_row}", None, first)
        lines = "\n".join(f"  - row {r}: {m}" for r, m in problems)
        extra = f"\n  … and {more} more" if more else ""
        self.args = (
            f"{source}: {len(problems) + more} problem(s), nothing imported:\n{lines}{extra}",
        )

    def __str__(self) -> str:
        return str(self.args[0])


@frozen
class ScoreImport:
    rows: int
    entered: int
    replaced: int


def import_scores(
    uow: object,
    path: str | Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> ScoreImport:
    """Check and enter every row of ``path`` inside ``uow`` (a UnitOfWork).

    Raises :class:`ImportRefused` listing the problems (with row numbers) if any row is
    refused; the caller's unit of work then rolls everything back.
    """
    from pdca.services.scoring import ScoreChecker, ScoreEntry, enter_scores
    from pdca.services.unit_of_work import UnitOfWork

    assert isinstance(uow, UnitOfWork)
    source = Path(path).name
    problems: list[tuple[int, str]] = []
    more = 0
    rows = 0
    checker = ScoreChecker(uow)
    entered = replaced = 0
    chunk: list[tuple[int, tuple[Any, ...]]] = []

    def check_chunk(rows_: list[tuple[int, tuple[Any, ...]]]) -> None:
        nonlocal more, entered, replaced
        checker.prefetch(
            list({str(v[0]) for _, v in rows_ if v[0] is not None}),
            list({str(v[1]) for _, v in rows_ if v[1] is not None}),
        )
        entries: list[ScoreEntry] = []
        append, check = entries.append, checker.check
        for number, v in rows_:
            org, period, item, checkpoint, method, assessor, value, assessor_org, comment = v
            msg = ""
            if (
                org is None
                or period is None
                or item is None
                or checkpoint is None
                or method is None
                or assessor is None
                or value is None
            ):
                empty = [k for k, x in zip(REQUIRED, v[: len(REQUIRED)], strict=True) if x is None]
                msg = "empty " + ", ".join(empty)
            else:
                try:
                    append(
                        check(
                            str(org),
                            str(period),
                            str(item),
                            str(checkpoint),
                            str(method),
                            value,
                            assessor=str(assessor),
                            assessor_org=str(assessor_org) if assessor_org else "",
                            comment=str(comment) if comment is not None else None,
                        )
                    )
                except ConcurrencyConflict:
                    raise
                except PdcaError as err:
                    msg = str(err)
            if msg:
                if len(problems) < MAX_REPORTED:
                    problems.append((number, msg))
                else:
                    more += 1
        # Write as we go while every row so far is good (the unit of work rolls all of it
        # back if a later row is refused); after a refusal, only check, to report them all.
        if not problems:
            n_new, n_replaced = enter_scores(uow, entries)
            entered += n_new
            replaced += n_replaced

    for record in read_records(path, SCORE_COLUMNS, REQUIRED, FIELDS):
        rows += 1
        chunk.append(record)
        if len(chunk) >= CHUNK:
            check_chunk(chunk)
            chunk = []
        if progress is not None:
            progress(rows)
    if chunk:
        check_chunk(chunk)
    if problems:
        raise ImportRefused(source, problems, more)
    return ScoreImport(rows=rows, entered=entered, replaced=replaced)
