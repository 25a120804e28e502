"""Finding import: the problems found at a check (问题清单), from CSV or XLSX.

CSV may be UTF-8, UTF-8 with BOM or GBK (detected); XLSX is read from its first sheet.
One row per problem; columns (English or Chinese headers):

=================================  ==========================================================
``org`` 组织 / 党组织              the organization (its code)
``period`` 期间                    the period of its cycle, e.g. ``2025`` (the cycle must be
                                   ``doing`` or ``checking``)
``item`` 项目 / 指标               the scheme item the problem is about
``checkpoint`` 检查节点            ``daily``, ``monthly``, ``quarterly``, ``mid-year``,
                                   ``year-end``, ``spot-check``, ``special``, or
                                   日常考核, 年终考核, …
``description`` 问题 / 问题描述    what was found
``severity`` 严重程度              ``minor``, ``general`` (default), ``serious`` or 轻微, 一般, 严重
``source`` 来源                    the method of the check (default ``panel``): a scheme method
                                   (self, mutual, panel, …, or 自评, 互评, 考评, …) or
                                   ``inspection`` (检查, 督查)
``deadline`` 整改期限              the rectification deadline, YYYY-MM-DD; optional
``found_on`` 发现日期              when it was found, YYYY-MM-DD (default: today)
=================================  ==========================================================

All or nothing: every row is checked (each as :meth:`UnitOfWork.add_finding` checks it),
every problem is reported with its row, and nothing is written unless all rows are good.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attrs import frozen

from pdca.errors import ConcurrencyConflict, PdcaError, PermissionDenied

from .score_files import ImportRefused
from .tables import read_rows

__all__ = ["FINDING_COLUMNS", "FindingImport", "import_findings"]

FINDING_COLUMNS = {
    "org": "org",
    "organization": "org",
    "组织": "org",
    "组织代码": "org",
    "党组织": "org",
    "period": "period",
    "cycle": "period",
    "期间": "period",
    "考核期间": "period",
    "item": "item",
    "item_code": "item",
    "项目": "item",
    "项目代码": "item",
    "指标": "item",
    "checkpoint": "checkpoint",
    "检查节点": "checkpoint",
    "节点": "checkpoint",
    "description": "description",
    "problem": "description",
    "问题": "description",
    "问题描述": "description",
    "存在问题": "description",
    "severity": "severity",
    "严重程度": "severity",
    "等级": "severity",
    "source": "source",
    "来源": "source",
    "检查方式": "source",
    "deadline": "deadline",
    "整改期限": "deadline",
    "期限": "deadline",
    "found_on": "found_on",
    "发现日期": "found_on",
}
REQUIRED = ("org", "period", "item", "checkpoint", "description")
MAX_REPORTED = 50

SEVERITY_ALIASES = {"轻微": "minor", "一般": "general", "严重": "serious", "较重": "serious"}
SOURCE_ALIASES = {"检查": "inspection", "督查": "inspection", "巡查": "inspection"}


@frozen
class FindingImport:
    rows: int
    added: int
    ids: tuple[int, ...]


def _checkpoint(value: str) -> str:
    from pdca.services.unit_of_work import CHECKPOINT_LABELS

    by_label = {label: code for code, label in CHECKPOINT_LABELS.items()}
    return by_label.get(value, value)


def _source(value: str) -> str:
    from pdca.domain.scheme import METHOD_ALIASES

    return SOURCE_ALIASES.get(value, METHOD_ALIASES.get(value, value))


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _day(value: Any) -> dt.date | str | None:
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date()  # Excel keeps a date as midnight
        return str(value)
    if isinstance(value, dt.date):
        return value
    return _cell(value)


def import_findings(
    uow: object,
    path: str | Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> FindingImport:
    """Check and record every finding of ``path`` inside ``uow`` (a UnitOfWork).

    Raises :class:`~pdca.io.score_files.ImportRefused` listing the problems (with row
    numbers) if any row is refused; the caller's unit of work then rolls everything back.
    Each row is tried in a savepoint, so a refused row leaves the others checkable.
    """
    from pdca.services.unit_of_work import UnitOfWork

    assert isinstance(uow, UnitOfWork)
    source_name = Path(path).name
    problems: list[tuple[int, str]] = []
    more = 0
    rows = 0
    ids: list[int] = []
    for row in read_rows(path, FINDING_COLUMNS, REQUIRED):
        rows += 1
        if progress is not None:
            progress(rows)
        v = {k: _cell(x) for k, x in row.values.items() if k not in ("deadline", "found_on")}
        missing = [k for k in REQUIRED if v.get(k) is None]
        msg = ""
        if missing:
            msg = "empty " + ", ".join(missing)
        else:
            try:
                with uow.session.begin_nested():
                    fnd = uow.add_finding(
                        str(v["org"]),
                        str(v["period"]),
                        str(v["item"]),
                        str(v["description"]),
                        checkpoint=_checkpoint(str(v["checkpoint"])),
                        severity=SEVERITY_ALIASES.get(v.get("severity") or "")
                        or v.get("severity")
                        or "general",
                        source=_source(v.get("source") or "panel"),
                        deadline=_day(row.values.get("deadline")),
                        found_on=_day(row.values.get("found_on")),
                    )
                ids.append(int(fnd.id))  # type: ignore[arg-type]
            except (ConcurrencyConflict, PermissionDenied):
                raise
            except PdcaError as err:
                msg = str(err)
        if msg:
            if len(problems) < MAX_REPORTED:
                problems.append((row.number, msg))
            else:
                more += 1
    if problems:
        raise ImportRefused(source_name, problems, more)
    return FindingImport(rows=rows, added=len(ids), ids=tuple(ids))
