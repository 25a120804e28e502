"""Organization import: the tree of party organizations from CSV, XLSX or YAML.

CSV may be UTF-8, UTF-8 with BOM or GBK (detected); XLSX is read from its first sheet.
Columns (English or Chinese headers):

=========================================  =============================================
``code`` 代码 / 编码 / 组织代码            the organization's code (unique)
``name`` 名称 / 组织名称 / 党组织名称      its name, e.g. 第一党支部
``kind`` 类型 / 组织类型                   e.g. 党委, 党总支, 党支部
``parent`` 上级 / 上级代码 / 上级组织      the parent's code; empty for a root
``peer_group`` 分组 / 同类组               the group it is ranked in; optional
=========================================  =============================================

A YAML file is a list of such mappings (or a mapping with an ``organizations`` list);
an entry may list its ``children`` (下级), whose parent is then the entry.

Parents may come after their children in the file: the rows are written in tree order.
A parent is either in the file or already in the database. An organization already in
the database with the same name, kind, parent and peer group is left as it is (so an
import can be run again); one that differs is refused. The import is all or nothing:
every row is checked, every problem reported with its row, and nothing is written
unless all rows are good.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from attrs import frozen

from pdca.errors import ConcurrencyConflict, PdcaError, PermissionDenied, ValidationError
from pdca.services import validate as v

from .score_files import ImportRefused
from .tables import Row, decode_text, read_rows

__all__ = ["ORG_COLUMNS", "OrgImport", "OrgRow", "import_organizations", "read_organizations"]

ORG_COLUMNS = {
    "code": "code",
    "代码": "code",
    "编码": "code",
    "组织代码": "code",
    "党组织代码": "code",
    "name": "name",
    "名称": "name",
    "组织名称": "name",
    "党组织名称": "name",
    "党组织": "name",
    "kind": "kind",
    "type": "kind",
    "类型": "kind",
    "组织类型": "kind",
    "parent": "parent",
    "上级": "parent",
    "上级代码": "parent",
    "上级组织": "parent",
    "上级党组织": "parent",
    "peer_group": "peer_group",
    "peer group": "peer_group",
    "group": "peer_group",
    "分组": "peer_group",
    "同类组": "peer_group",
    "children": "children",
    "下级": "children",
}
REQUIRED = ("code", "name", "kind")
MAX_REPORTED = 50


@frozen
class OrgRow:
    """One organization read from a file; ``row`` is its line, row or entry number."""

    row: int
    code: str
    name: str
    kind: str
    parent: str | None
    peer_group: str | None


@frozen
class OrgImport:
    rows: int
    added: int
    unchanged: int
    codes: tuple[str, ...]  # the organizations added, in the order written


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code typed into Excel as a number
    text = str(value).strip()
    return text or None


def _yaml_rows(path: Path) -> Iterator[Row]:
    import yaml

    source = path.name
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValidationError("file", str(path), f"cannot be read: {err.strerror}") from None
    text, _ = decode_text(raw, source)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValidationError("file", source, f"is not valid YAML: {err}") from None
    if isinstance(doc, Mapping):
        for key in ("organizations", "orgs", "党组织", "组织"):
            if key in doc:
                doc = doc[key]
                break
    if not isinstance(doc, list):
        raise ValidationError(
            "file", source, "must be a list of organizations (or have an 'organizations' list)"
        )
    counter = [0]

    def walk(entries: list[Any], parent: str | None) -> Iterator[Row]:
        for entry in entries:
            counter[0] += 1
            n = counter[0]
            if not isinstance(entry, Mapping):
                raise ValidationError(
                    f"entry {n}", entry, f"{source}: an organization must be a mapping"
                )
            values: dict[str, Any] = {}
            for key, value in entry.items():
                canon = ORG_COLUMNS.get(str(key).strip().lower())
                if canon is not None:
                    values[canon] = value
            children = values.pop("children", None) or []
            if parent is not None and values.get("parent") is None:
                values["parent"] = parent
            yield Row(n, values)
            if not isinstance(children, list):
                raise ValidationError(f"entry {n}", children, f"{source}: children must be a list")
            yield from walk(children, _text(values.get("code")))

    yield from walk(doc, None)


def read_organizations(path: str | Path) -> list[OrgRow]:
    """Read and check the organizations of a file (no database needed).

    Raises :class:`~pdca.io.score_files.ImportRefused` listing every problem with its row:
    an empty required field, a code twice, a row that is its own ancestor.
    """
    rows, problems = _read(path)
    if problems:
        more = max(0, len(problems) - MAX_REPORTED)
        raise ImportRefused(Path(path).name, problems[:MAX_REPORTED], more)
    return rows


def _read(path: str | Path) -> tuple[list[OrgRow], list[tuple[int, str]]]:
    """The good rows of a file, and the problems of the others (sorted by row)."""
    p = Path(path)
    if p.suffix.lower() in (".yaml", ".yml"):
        rows: Iterator[Row] = _yaml_rows(p)
        where = "entry"
    else:
        rows = read_rows(p, ORG_COLUMNS, REQUIRED)
        where = "row"
    out: list[OrgRow] = []
    problems: list[tuple[int, str]] = []
    first_row: dict[str, int] = {}
    for row in rows:
        values = {
            k: _text(row.values.get(k)) for k in ("code", "name", "kind", "parent", "peer_group")
        }
        missing = [k for k in REQUIRED if values[k] is None]
        if missing:
            problems.append((row.number, "empty " + ", ".join(missing)))
            continue
        code = values["code"]
        assert code is not None
        if code in first_row:
            problems.append(
                (row.number, f"code={code!r}: appears twice (first at {where} {first_row[code]})")
            )
            continue
        if values["parent"] == code:
            problems.append((row.number, f"parent={code!r}: an organization is not its own parent"))
            continue
        try:
            checked = OrgRow(
                row.number,
                v.code("code", code),
                v.text("name", values["name"], 200),
                v.text("kind", values["kind"], 32),
                v.code("parent", values["parent"]) if values["parent"] is not None else None,
                v.optional_text("peer_group", values["peer_group"], 64),
            )
        except ValidationError as err:
            problems.append((row.number, str(err)))
            continue
        first_row[code] = row.number
        out.append(checked)
    # A loop of parents (A under B under A) never reaches a root.
    by_code = {o.code: o for o in out}
    for o in out:
        seen = {o.code}
        parent = o.parent
        while parent is not None and parent in by_code:
            if parent in seen:
                problems.append((o.row, f"parent={o.parent!r}: the parents form a loop"))
                break
            seen.add(parent)
            parent = by_code[parent].parent
    problems.sort()
    return out, problems


def tree_order(rows: list[OrgRow]) -> list[OrgRow]:
    """``rows`` with every parent in the file before its children (file order otherwise)."""
    by_code = {o.code: o for o in rows}
    done: set[str] = set()
    out: list[OrgRow] = []
    for o in rows:
        chain = []
        cur: OrgRow | None = o
        while cur is not None and cur.code not in done:
            chain.append(cur)
            done.add(cur.code)
            cur = by_code.get(cur.parent) if cur.parent is not None else None
        out.extend(reversed(chain))
    return out


def import_organizations(
    uow: object,
    path: str | Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> OrgImport:
    """Check and add every organization of ``path`` inside ``uow`` (a UnitOfWork).

    Raises :class:`~pdca.io.score_files.ImportRefused` listing the problems (with row
    numbers) if any row is refused; the caller's unit of work then rolls everything back.
    """
    from pdca.services.unit_of_work import UnitOfWork

    assert isinstance(uow, UnitOfWork)
    source = Path(path).name
    rows, problems = _read(path)
    existing = {o.code: o for o in uow.organizations()}
    codes_by_id = {o.id: o.code for o in existing.values()}
    in_file = {o.code for o in rows}
    refused: set[str] = set()
    added: list[str] = []
    unchanged = 0
    for n, o in enumerate(tree_order(rows), start=1):
        if progress is not None:
            progress(n)
        if o.parent is not None and o.parent in refused:
            refused.add(o.code)
            problems.append((o.row, f"parent={o.parent!r}: the parent's row is refused"))
            continue
        if o.parent is not None and o.parent not in in_file and o.parent not in existing:
            refused.add(o.code)
            problems.append(
                (o.row, f"parent={o.parent!r}: no such organization (in the file or stored)")
            )
            continue
        old = existing.get(o.code)
        if old is not None:
            old_parent = codes_by_id.get(old.parent_id) if old.parent_id is not None else None
            differ = [
                f"{name} {was!r} → {now!r}"
                for name, was, now in (
                    ("name", old.name, o.name),
                    ("kind", old.kind, o.kind),
                    ("parent", old_parent, o.parent),
                    ("peer_group", old.peer_group, o.peer_group),
                )
                if was != now
            ]
            if differ:
                refused.add(o.code)
                problems.append(
                    (
                        o.row,
                        f"code={o.code!r}: already stored with other values ("
                        + "; ".join(differ)
                        + ")",
                    )
                )
            else:
                unchanged += 1
            continue
        if problems:
            continue  # the import is refused anyway: only check from here on
        try:
            uow.add_organization(o.code, o.name, o.kind, parent=o.parent, peer_group=o.peer_group)
        except (ConcurrencyConflict, PermissionDenied):
            raise
        except PdcaError as err:
            refused.add(o.code)
            problems.append((o.row, str(err)))
        else:
            added.append(o.code)
    if problems:
        problems.sort()
        more = max(0, len(problems) - MAX_REPORTED)
        raise ImportRefused(source, problems[:MAX_REPORTED], more)
    return OrgImport(rows=len(rows), added=len(added), unchanged=unchanged, codes=tuple(added))
