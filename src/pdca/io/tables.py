"""Reading rows from the files offices keep: CSV (UTF-8, UTF-8 with BOM, or GBK) and XLSX.

Each row comes back as a mapping from canonical field names to cell values, with its row
number in the file, so any problem found later can name the file, the row and the column.
Headers may be written in English or Chinese; :func:`read_rows` maps them through the
aliases it is given.
"""

from __future__ import annotations

import csv
import io
import operator
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from attrs import frozen

from pdca.errors import ValidationError

__all__ = ["Row", "decode_text", "read_records", "read_rows"]

#: Rows beyond this are refused (a file of a province's scores is ~3 million rows).
MAX_ROWS = 10_000_000

_T = TypeVar("_T")


@frozen
class Row:
    number: int  # 1-based line (CSV) or row (XLSX) in the file, counting the header
    values: Mapping[str, Any]


def decode_text(raw: bytes, source: str) -> tuple[str, str]:
    """Decode a text file written in UTF-8 (with or without BOM) or GBK/GB18030.

    Returns ``(text, encoding)``. Anything else is refused with the offset of the first
    byte that fits neither.
    """
    if b"\x00" in raw:  # no text table holds NUL (and PostgreSQL cannot store it)
        raise ValidationError(
            "file", source, f"must be UTF-8 or GBK text (NUL byte at offset {raw.index(0)})"
        )
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return raw.decode("gb18030"), "gbk"
        except UnicodeDecodeError:
            raise ValidationError(
                "file",
                source,
                f"must be UTF-8 or GBK text (undecodable byte at offset {utf8_error.start})",
            ) from None


def _header_map(header: list[Any], aliases: Mapping[str, str], source: str) -> list[str | None]:
    out: list[str | None] = []
    seen: set[str] = set()
    for h in header:
        key = str(h).strip().lower() if h is not None else ""
        canon = aliases.get(key)
        if canon is not None:
            if canon in seen:
                raise ValidationError("header", h, f"{source}: column {canon} appears twice")
            seen.add(canon)
        out.append(canon)
    return out


def read_rows(
    path: str | Path,
    aliases: Mapping[str, str],
    required: tuple[str, ...],
) -> Iterator[Row]:
    """Yield the data rows of a CSV or XLSX file as canonical field → value.

    ``aliases`` maps lower-cased header texts (English or Chinese) to canonical names;
    unknown columns are ignored. A missing required column, an undecodable file or a file
    that is not what its extension says is refused with a :class:`ValidationError`.
    """
    return _read(path, aliases, required, _as_row)


def read_records(
    path: str | Path,
    aliases: Mapping[str, str],
    required: tuple[str, ...],
    fields: tuple[str, ...],
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Yield the data rows of a CSV or XLSX file as ``(row number, values)``: the values
    :func:`read_rows` would give for ``fields``, in that order (None for a field without a
    column), with no mapping built per row (an import of millions of rows).
    """
    return _read(path, aliases, required, lambda names, text: _as_record(names, text, fields))


#: Given a file's column names (canonical, None for columns not read) and whether its
#: cells are all text (CSV), a function building the row to yield from a row's cells.
_Shape = Callable[[list[str | None], bool], Callable[[int, list[Any]], _T]]


def _read(
    path: str | Path, aliases: Mapping[str, str], required: tuple[str, ...], shape: _Shape[_T]
) -> Iterator[_T]:
    p = Path(path)
    suffix = p.suffix.lower()
    source = p.name
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise ValidationError("file", str(path), f"cannot be read: {err.strerror}") from None
    if suffix == ".csv":
        text, _ = decode_text(raw, source)
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
        except StopIteration:
            raise ValidationError("file", source, "is empty (no header row)") from None
        except csv.Error as err:
            raise ValidationError("file", source, f"is not valid CSV: {err}") from None
        names = _header_map(header, aliases, source)
        _require(names, required, source)
        make = shape(names, True)
        try:
            for n, cells in enumerate(reader, start=2):
                if n > MAX_ROWS:
                    raise ValidationError("file", source, f"has more than {MAX_ROWS} rows")
                if not "".join(cells).strip():  # blank: no cell with anything but spaces
                    continue
                yield make(n, cells)
        except csv.Error as err:
            raise ValidationError("file", source, f"is not valid CSV: {err}") from None
    elif suffix == ".xlsx":
        yield from _xlsx_rows(raw, source, aliases, required, shape)
    else:
        raise ValidationError("file", str(path), "must end in .csv or .xlsx")


def _as_row(names: list[str | None], text: bool) -> Callable[[int, list[Any]], Row]:
    if not text:
        return lambda n, cells: Row(n, _values(names, cells))
    # A full row of text cells: its values in one comprehension (a short row goes through
    # _values, which stops at its end).
    named = [(i, name) for i, name in enumerate(names) if name is not None]
    width = len(names)

    def make(n: int, cells: list[Any]) -> Row:
        if len(cells) >= width:
            return Row(n, {name: cells[i].strip() or None for i, name in named})
        return Row(n, _values(names, cells))

    return make


def _as_record(
    names: list[str | None], text: bool, fields: tuple[str, ...]
) -> Callable[[int, list[Any]], tuple[int, tuple[Any, ...]]]:
    def values_of(n: int, cells: list[Any]) -> tuple[int, tuple[Any, ...]]:
        v = _values(names, cells)
        return n, tuple([v.get(f) for f in fields])

    if not text or len(fields) < 2:
        return values_of
    # A row of exactly the header's width, text cells: the fields' cells picked in one
    # call, a field without a column pointing at a blank cell added at the end.
    width = len(names)
    pick = operator.itemgetter(*[names.index(f) if f in names else width for f in fields])

    def make(n: int, cells: list[Any]) -> tuple[int, tuple[Any, ...]]:
        if len(cells) != width:
            return values_of(n, cells)
        cells.append("")
        return n, tuple([c.strip() or None for c in pick(cells)])

    return make


def _require(names: list[str | None], required: tuple[str, ...], source: str) -> None:
    missing = [r for r in required if r not in names]
    if missing:
        raise ValidationError("header", ", ".join(missing), f"{source}: required column(s) missing")


def _values(names: list[str | None], cells: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cell in zip(names, cells, strict=False):
        if name is None:
            continue
        if isinstance(cell, str):
            cell = cell.strip()
            if cell == "":
                cell = None
        out[name] = cell
    return out


def _xlsx_rows(
    raw: bytes,
    source: str,
    aliases: Mapping[str, str],
    required: tuple[str, ...],
    shape: _Shape[_T],
) -> Iterator[_T]:
    import openpyxl  # type: ignore[import-untyped]

    try:
        wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise ValidationError("file", source, f"is not a readable .xlsx workbook ({err})") from None
    except Exception as err:  # defusedxml refusals and other parser errors
        raise ValidationError("file", source, f"is not a readable .xlsx workbook ({err})") from None
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise ValidationError("file", source, "is empty (no header row)")
        names = _header_map(list(header), aliases, source)
        _require(names, required, source)
        make = shape(names, False)
        for n, cells in enumerate(rows, start=2):
            if n > MAX_ROWS:
                raise ValidationError("file", source, f"has more than {MAX_ROWS} rows")
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            for c in cells:
                if isinstance(c, str) and c.startswith("="):
                    raise ValidationError(
                        "cell", c, f"{source} row {n}: formulas are not read; enter the value"
                    )
            yield make(n, list(cells))
    finally:
        wb.close()
