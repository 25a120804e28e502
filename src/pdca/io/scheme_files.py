"""Scheme files: a :class:`~pdca.domain.scheme.SchemeSpec` as YAML or as an Excel workbook.

:func:`read_scheme` chooses the format by the file's extension (``.yaml``/``.yml`` or
``.xlsx``), turns the file into plain data and validates it with
:func:`~pdca.domain.scheme.parse_scheme`, so **every** problem is reported at once in one
:class:`~pdca.domain.scheme.SchemeInvalid`, each located where a person can find it:

* YAML: ``scheme.yaml, line 12`` (the field is the YAML path,
  ``categories[0].items[1].max_score``);
* Excel: ``scheme.xlsx, sheet 考评项目一览表, row 5, column 分值``.

Problems are listed in the order of the file.

A file that cannot be read at all (missing, not UTF-8, broken YAML syntax, not an .xlsx
workbook, a required sheet or column missing) raises a plain
:class:`~pdca.errors.ValidationError` whose field is ``file`` and whose value is the path.
:func:`write_scheme` writes the same two formats, so that ``read_scheme(p)`` after
``write_scheme(spec, p)`` gives back an equal spec.

YAML must be UTF-8 (a BOM is accepted). It is read with PyYAML's safe loader only (no
Python objects are ever constructed; a ``!!python/...`` tag is refused), with YAML 1.2
booleans: only ``true``/``false`` are booleans, so a checkpoint's ``on:`` key or a code
``no`` stays text; dates stay text too, so an impossible date is reported at its line.
Duplicate keys are reported; alias bombs and huge files are refused unread.

The workbook (sheet names and headers in Chinese, as the office writes them; the English
field names are accepted as headers too):

``方案`` (required)
    two columns, 项目 and 内容: 方案代码, 方案名称, 考核期间, 考核主体, 考核范围 (codes
    separated by ``;``/``，``), 总分下限, 总分上限, 加分上限, 减分上限, 去掉最高最低分
    (methods), 申辩期限（天）. A third column 说明 is ignored.
``考评项目一览表`` (required; a sheet whose name ends in 一览表 is accepted too)
    a header row, then one row per item: 大类代码, 大类名称, 项目代码, 考核项目, 分值,
    计分规则, 等次量表, 每次扣分, 记录类型, 目标次数, 考核方法及权重, 考核依据. Categories
    are grouped by 大类代码 in order of first appearance; blank category cells (or merged
    ones) continue the category above. 计分规则 takes the rule names or their Chinese
    aliases (计分, 等次, 计数, 扣分, 加分, 减分, 一票否决); 考核方法及权重 is text such as
    ``自评 20%; 互评 20%; 考评 60%; 点评`` or ``self=0.2, mutual=0.2, panel=0.6`` (blank:
    the default, 考评 alone; a single method without a weight counts 100%). A title row
    above the header, a 序号/备注 column and a 合计 row are tolerated.
``检查节点``
    节点代码, 节点类型, 节点名称, 权重, 日期.
``等次量表``
    量表, 等次, 系数 (one row per grade of a scale).
``等次``
    等次, 最低分, 比例上限 (from the highest band down).
``结果运用``
    类型, 名称, 参数 (the rule's parameters as a JSON object, e.g. ``{"n": 20}``).

Missing optional sheets mean "not given". Numbers are read the way Excel shows them (15
significant digits), so a cell holding ``0.30000000000000004`` reads as 0.3. Formula
cells and error cells (``#VALUE!``) are refused with their location: type the value.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import yaml
from openpyxl.cell.cell import MergedCell  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.utils.exceptions import IllegalCharacterError  # type: ignore[import-untyped]

from pdca.domain.scheme import (
    METHOD_ALIASES,
    RULE_ALIASES,
    SchemeInvalid,
    SchemeProblem,
    SchemeSpec,
    parse_scheme,
    scheme_to_data,
)
from pdca.errors import ValidationError

__all__ = [
    "CHECKPOINT_SHEET",
    "GRADE_BAND_SHEET",
    "GRADE_SCALE_SHEET",
    "ITEM_SHEET",
    "OUTCOME_SHEET",
    "SCHEME_SHEET",
    "dumps_yaml",
    "loads_yaml",
    "read_scheme",
    "write_scheme",
]

SCHEME_SHEET = "方案"
ITEM_SHEET = "考评项目一览表"
CHECKPOINT_SHEET = "检查节点"
GRADE_SCALE_SHEET = "等次量表"
GRADE_BAND_SHEET = "等次"
OUTCOME_SHEET = "结果运用"

#: Scheme files are small (a few hundred items); anything bigger is refused unread.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Total uncompressed size of an .xlsx (a zip bomb is refused before openpyxl sees it).
MAX_XLSX_UNCOMPRESSED = 64 * 1024 * 1024
#: YAML values after expanding aliases (a "billion laughs" file is refused).
MAX_YAML_NODES = 200_000
#: Nesting of a YAML scheme (a scheme itself goes five levels deep).
MAX_YAML_DEPTH = 32
#: Rows per sheet.
MAX_ROWS = 10_000

_YAML_SUFFIXES = (".yaml", ".yml")
_XLSX_SUFFIXES = (".xlsx",)
_BAD_SUFFIX = "must end in .yaml, .yml or .xlsx"


# ------------------------------------------------------------------------ public API


def read_scheme(path: str | Path) -> SchemeSpec:
    """Read and validate a scheme file (``.yaml``, ``.yml`` or ``.xlsx``).

    Raises :class:`~pdca.domain.scheme.SchemeInvalid` listing every problem of the content,
    or :class:`~pdca.errors.ValidationError` (field ``file``) when the file cannot be read
    as a scheme at all. Nothing is written anywhere.
    """
    p = Path(path)
    kind = _kind(p)
    raw = _read_bytes(p)
    if kind == "yaml":
        return _load_yaml(raw, source=str(p), name=p.name)
    return _load_xlsx(raw, source=str(p), name=p.name)


def write_scheme(spec: SchemeSpec, path: str | Path) -> None:
    """Write ``spec`` as YAML or as an Excel workbook, chosen by the extension.

    The file is replaced atomically (written next to it, then renamed).
    """
    p = Path(path)
    kind = _kind(p)
    payload = dumps_yaml(spec).encode("utf-8") if kind == "yaml" else _xlsx_bytes(spec)
    _write_bytes(p, payload)


def dumps_yaml(spec: SchemeSpec) -> str:
    """The scheme as YAML text (UTF-8 readable: Chinese is written as is)."""
    data = _plain_numbers(scheme_to_data(spec))
    return yaml.dump(
        data,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )


def loads_yaml(text: str | bytes, source: str = "scheme.yaml") -> SchemeSpec:
    """Validate YAML text (or UTF-8 bytes) into a spec; ``source`` names it in messages."""
    name = os.path.basename(source) or source
    if isinstance(text, bytes | bytearray):
        return _load_yaml(bytes(text), source=source, name=name)
    return _yaml_spec(text.removeprefix("\ufeff"), source=source, name=name)


# ---------------------------------------------------------------------- file access


def _kind(p: Path) -> str:
    suffix = p.suffix.lower()
    if suffix in _YAML_SUFFIXES:
        return "yaml"
    if suffix in _XLSX_SUFFIXES:
        return "xlsx"
    raise ValidationError("file", str(p), _BAD_SUFFIX)


def _read_bytes(p: Path) -> bytes:
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ValidationError("file", str(p), "does not exist") from None
    except IsADirectoryError:
        raise ValidationError("file", str(p), "is a directory, not a file") from None
    except PermissionError:
        raise ValidationError("file", str(p), "cannot be read: permission denied") from None
    except OSError as err:
        raise ValidationError("file", str(p), f"cannot be read: {err.strerror or err}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ValidationError(
            "file", str(p), f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"
        )
    return raw


def _write_bytes(p: Path, payload: bytes) -> None:
    # Written next to the target, then renamed over it: a reader never sees half a file.
    # os.open with 0o666 lets the umask decide the permissions, as for any new file.
    tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------- locating and merging


@dataclass(frozen=True)
class _Spot:
    text: str
    order: tuple[int, ...] = ()


_LAST_SEGMENT = re.compile(r"(?:\.[^.\[\]]*|\[\d+\])$")


def _parent(path: str) -> str:
    up = _LAST_SEGMENT.sub("", path, count=1)
    return "" if up == path else up


class _Locator:
    """Maps the YAML-style paths of :func:`parse_scheme` to places in the file.

    Exact paths are registered while reading; an unregistered path (a field that is
    missing) is located at its nearest registered ancestor.
    """

    def __init__(self, base: str) -> None:
        self.base = _Spot(base)
        self.spots: dict[str, _Spot] = {}

    def add(self, path: str, spot: _Spot) -> None:
        self.spots.setdefault(path, spot)

    def spot(self, path: str) -> _Spot:
        p = path
        while p:
            found = self.spots.get(p)
            if found is not None:
                return found
            p = _parent(p)
        return self.spots.get("", self.base)

    def __call__(self, path: str) -> str:
        return self.spot(path).text


_ALSO_AT = re.compile(r"\(also at ([^()]+)\)")


@dataclass
class _Reading:
    """Problems found while turning a file into plain data, before :func:`parse_scheme`."""

    source: str
    where: _Locator
    problems: list[tuple[tuple[int, ...], SchemeProblem]] = field(default_factory=list)
    #: Paths whose parse_scheme problems only repeat a problem already found here (a formula
    #: cell is reported once, not again as "is required").
    hidden: set[str] = field(default_factory=set)

    def add(
        self, path: str, value: Any, rule: str, spot: _Spot, *, hide: str | None = None
    ) -> None:
        self.problems.append((spot.order, SchemeProblem(spot.text, path, value, rule)))
        if hide is not None:
            self.hidden.add(hide)

    def is_hidden(self, path: str) -> bool:
        p = path
        while p:
            if p in self.hidden:
                return True
            p = _parent(p)
        return False

    def finish(self, data: Any) -> SchemeSpec:
        """Validate ``data``; raise one :class:`SchemeInvalid` with every problem, sorted by
        where it is in the file."""
        failure: SchemeInvalid | None = None
        try:
            spec = parse_scheme(data, source=self.source, locate=self.where)
        except SchemeInvalid as err:
            failure = err
        found = list(self.problems)
        for p in failure.problems if failure else ():
            if not self.is_hidden(p.field):
                found.append((self.where.spot(p.field).order, self._relocate(p)))
        if failure is not None and not found:
            raise failure
        if found:
            found.sort(key=lambda pair: pair[0])
            raise SchemeInvalid([p for _, p in found], self.source)
        return spec

    def _relocate(self, p: SchemeProblem) -> SchemeProblem:
        # "duplicate item code (also at categories[0].items[1])": name the other place the
        # way this file names places.
        def repl(m: re.Match[str]) -> str:
            path = m.group(1).strip()
            if path in self.where.spots:
                return f"(also at {self.where(path)})"
            return m.group(0)

        rule = _ALSO_AT.sub(repl, p.rule)
        if rule == p.rule:
            return p
        return SchemeProblem(p.location, p.field, p.value, rule)


# ---------------------------------------------------------------------------- YAML

_BOOL_TAG = "tag:yaml.org,2002:bool"


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans (only true/false, not yes/no/on/off),
    and dates left as text: :func:`parse_scheme` reads ``YYYY-MM-DD`` itself and reports an
    impossible date such as 2016-02-30 at its line instead of failing the whole file."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper; text with NEL or a Unicode line/paragraph separator is written
    double-quoted (escaped), as the plain and single-quoted styles would fold it to a space."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(ch in value for ch in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _load_yaml(raw: bytes, *, source: str, name: str) -> SchemeSpec:
    return _yaml_spec(_utf8(raw, source), source=source, name=name)


def _utf8(raw: bytes, source: str) -> str:
    offset = 0
    if raw.startswith(b"\xef\xbb\xbf"):
        raw, offset = raw[3:], 3
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        at = err.start + offset
        line = raw[: err.start].count(b"\n") + 1
        raise ValidationError(
            "file",
            source,
            f"must be UTF-8: byte 0x{raw[err.start]:02x} at byte offset {at} (line {line}) "
            "is not UTF-8; save the file as UTF-8 (GBK and other encodings are not read)",
        ) from None


def _mark(err: yaml.MarkedYAMLError) -> str:
    m = err.problem_mark or err.context_mark
    return f"line {m.line + 1}, column {m.column + 1}: " if m is not None else ""


def _yaml_spec(text: str, *, source: str, name: str) -> SchemeSpec:
    try:
        loader = _Loader(text)
    except yaml.YAMLError as err:  # the reader refuses control characters up front
        raise ValidationError("file", source, f"is not valid YAML: {err}") from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as err:
            context = f" ({err.context})" if err.context else ""
            raise ValidationError(
                "file", source, f"{_mark(err)}YAML syntax error: {err.problem}{context}"
            ) from None
        except yaml.YAMLError as err:
            raise ValidationError("file", source, f"is not valid YAML: {err}") from None
        except RecursionError:
            raise ValidationError("file", source, "is nested too deeply to be a scheme") from None
        if node is None:
            raise ValidationError(
                "file",
                source,
                "is empty; a scheme file is a YAML mapping with code, title, period and categories",
            )
        if not isinstance(node, yaml.MappingNode):
            raise ValidationError(
                "file",
                source,
                "the top level must be a mapping of scheme fields (code: …, title: …, "
                "period: …, categories: …), not a list or a single value",
            )
        reading = _Reading(source, _Locator(name))
        _index_yaml(node, reading, name)
        try:
            data = loader.construct_document(node)
        except yaml.MarkedYAMLError as err:
            raise ValidationError(
                "file",
                source,
                f"{_mark(err)}{err.problem}; a scheme file holds plain data only "
                "(no tags such as !!python/object)",
            ) from None
        except (yaml.YAMLError, ValueError, RecursionError) as err:
            raise ValidationError(
                "file", source, f"holds a value that cannot be read: {err}"
            ) from None
    finally:
        loader.dispose()
    return reading.finish(data)


def _index_yaml(root: yaml.Node, reading: _Reading, name: str) -> None:
    """Register the line of every path; report duplicate keys (YAML would keep the last)."""
    stack: list[tuple[str, yaml.Node, int]] = [("", root, 0)]
    count = 0
    while stack:
        path, node, depth = stack.pop()
        count += 1
        if count > MAX_YAML_NODES:
            raise ValidationError(
                "file",
                reading.source,
                f"is too large: more than {MAX_YAML_NODES} values (after expanding aliases)",
            )
        if depth > MAX_YAML_DEPTH:
            raise ValidationError(
                "file",
                reading.source,
                f"nests more than {MAX_YAML_DEPTH} levels deep (a recursive alias?) at {path[:80]}",
            )
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # a list or mapping as a key: the constructor refuses it
                key = str(key_node.value)
                child = f"{path}.{key}" if path else key
                line = key_node.start_mark.line + 1
                spot = _Spot(f"{name}, line {line}", (line, key_node.start_mark.column + 1))
                if key in first and key != "<<":
                    reading.add(
                        child,
                        key,
                        f"key given twice (first at line {first[key]}); YAML would keep only "
                        "the last",
                        spot,
                    )
                else:
                    first[key] = line
                reading.where.add(child, spot)
                stack.append((child, value_node, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = f"{path}[{i}]"
                line = item.start_mark.line + 1
                reading.where.add(
                    child, _Spot(f"{name}, line {line}", (line, item.start_mark.column + 1))
                )
                stack.append((child, item, depth + 1))


def _exact_float(value: Any) -> Any:
    """A decimal string as a float when the float prints back as the same number (0.2 →
    0.2), so the YAML shows ``weight: 0.2`` rather than ``weight: '0.2'``."""
    if not isinstance(value, str):
        return value
    try:
        d = Decimal(value)
    except InvalidOperation:
        return value
    if not d.is_finite():
        return value
    f = float(d)
    return f if Decimal(repr(f)) == d else value


def _plain_numbers(data: dict[str, Any]) -> dict[str, Any]:
    """Numbers of :func:`scheme_to_data` (ints or exact decimal strings) as YAML numbers."""
    for key in ("bonus_cap", "penalty_cap"):
        if key in data:
            data[key] = _exact_float(data[key])
    bounds = data.get("bounds")
    if isinstance(bounds, dict):
        for key in ("min", "max"):
            if key in bounds:
                bounds[key] = _exact_float(bounds[key])
    for grades in (data.get("grade_scales") or {}).values():
        for label in grades:
            grades[label] = _exact_float(grades[label])
    for cp in data.get("checkpoints") or ():
        cp["weight"] = _exact_float(cp["weight"])
    for band in data.get("grade_bands") or ():
        for key in ("min", "quota"):
            if key in band:
                band[key] = _exact_float(band[key])
    for oc in data.get("outcomes") or ():
        if isinstance(oc.get("factors"), list):
            oc["factors"] = [_exact_float(f) for f in oc["factors"]]
    for cat in data.get("categories") or ():
        for item in cat["items"]:
            for key in ("max_score", "per"):
                if key in item:
                    item[key] = _exact_float(item[key])
            methods = item.get("methods")
            if isinstance(methods, dict):
                for m in methods:
                    methods[m] = _exact_float(methods[m])
    return data


# ---------------------------------------------------------------------------- Excel


@dataclass(frozen=True)
class _Col:
    key: str
    header: str
    kind: str = "text"  # text | number | date | methods | json | list
    aliases: tuple[str, ...] = ()
    required: bool = False
    width: int = 12
    hint: str = ""


ITEM_COLUMNS = (
    _Col("category_code", "大类代码", aliases=("大类编码", "category"), required=True, width=10),
    _Col("category_name", "大类名称", aliases=("大类", "类别"), required=True, width=14),
    _Col("code", "项目代码", aliases=("项目编码", "item_code"), required=True, width=12),
    _Col("title", "考核项目", aliases=("项目名称", "考核内容"), required=True, width=36),
    _Col("max_score", "分值", "number", aliases=("满分",), required=True, width=8),
    _Col("rule", "计分规则", aliases=("计分方式",), width=10),
    _Col("scale", "等次量表", width=10),
    _Col("per", "每次扣分", "number", width=10),
    _Col("record_kind", "记录类型", width=12),
    _Col("target", "目标次数", "number", width=10),
    _Col("methods", "考核方法及权重", "methods", aliases=("考核方法", "考核方式"), width=30),
    _Col("evidence", "考核依据", aliases=("评分依据",), width=40),
)
CHECKPOINT_COLUMNS = (
    _Col("code", "节点代码", aliases=("代码",), required=True, width=12),
    _Col("kind", "节点类型", aliases=("类型",), width=12),
    _Col("name", "节点名称", aliases=("名称",), width=16),
    _Col("weight", "权重", "number", required=True, width=8),
    _Col("on", "日期", "date", aliases=("date", "检查日期"), width=12),
)
SCALE_COLUMNS = (
    _Col("scale", "量表", aliases=("量表名称",), required=True, width=12),
    _Col("label", "等次", aliases=("档次", "grade"), required=True, width=10),
    _Col("factor", "系数", "number", required=True, width=8),
)
BAND_COLUMNS = (
    _Col("name", "等次", aliases=("等次名称",), required=True, width=10),
    _Col("min", "最低分", "number", aliases=("分数下限",), required=True, width=10),
    _Col("quota", "比例上限", "number", aliases=("名额比例",), width=10),
)
OUTCOME_COLUMNS = (
    _Col("kind", "类型", aliases=("结果类型",), required=True, width=20),
    _Col("label", "名称", aliases=("结果名称",), required=True, width=16),
    _Col("params", "参数", "json", aliases=("参数(json)",), width=60),
)
SCHEME_FIELDS = (
    _Col("code", "方案代码", aliases=("方案编码",), hint="唯一代码，不含空格"),
    _Col("title", "方案名称"),
    _Col("period", "考核期间", aliases=("考核年度",), hint="2016 / 2016-H1 / 2016-Q3 / 2016-03"),
    _Col("issuer", "考核主体", hint="发文组织的代码（可空）"),
    _Col("scope", "考核范围", "list", hint="被考核组织的代码，用 ; 分隔（空：不限）"),
    _Col("bounds.min", "总分下限", "number", hint="空：0"),
    _Col("bounds.max", "总分上限", "number", hint="空：基本分满分 + 加分上限"),
    _Col("bonus_cap", "加分上限", "number", hint="加分项合计最多加的分数"),
    _Col("penalty_cap", "减分上限", "number", hint="减分项合计最多减的分数"),
    _Col("drop_extremes", "去掉最高最低分", "list", hint="互评; 民主测评; 问卷（可空）"),
    _Col("appeal_window_days", "申辩期限（天）", "number", aliases=("申辩期限",)),
)
_SCHEME_HEADER = ("项目", "内容", "说明")

_IGNORED_HEADERS = frozenset({"序号", "备注", "说明", "no", "note", "notes"})
_TOTAL_WORDS = frozenset({"合计", "总计", "小计", "总分"})
_LIST_SPLIT = re.compile(r"[;；,，、\s]+")
_METHOD_SPLIT = re.compile(r"[;；,，、\n]+")
_METHOD_PART = re.compile(
    r"^(?P<name>.*?)\s*(?:[=:：]\s*)?(?P<weight>[-+]?(?:\d+(?:\.\d*)?|\.\d+)\s*[%％]?)?$"
)
_HEADER_TRANS = str.maketrans({"（": "(", "）": ")", "：": ":"})


def _norm(text: Any) -> str:
    return re.sub(r"\s+", "", str(text)).translate(_HEADER_TRANS).lower()


def _lookup(columns: tuple[_Col, ...]) -> dict[str, _Col]:
    names: dict[str, _Col] = {}
    for col in columns:
        for name in (col.key, col.header, *col.aliases):
            names[_norm(name)] = col
    return names


def _first_alias(aliases: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for alias, name in aliases.items():
        out.setdefault(name, alias)
    return out


_METHOD_CN = _first_alias(METHOD_ALIASES)
_RULE_CN = _first_alias(RULE_ALIASES)


_XLSX_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_XLSX_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


def _xlsx_escape(text: str) -> str:
    """Text as an .xlsx stores it (ECMA-376 ST_Xstring): control characters and carriage
    returns as ``_xHHHH_``, and a literal ``_xHHHH_`` with its underscore escaped."""
    text = _XLSX_ESCAPED.sub(lambda m: "_x005F" + m.group(0), text)
    return _XLSX_CONTROL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)


def _xlsx_unescape(text: str) -> str:
    """The text Excel shows for a stored string (openpyxl leaves ``_xHHHH_`` as is)."""
    if "_x" not in text:
        return text
    return _XLSX_ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def _number(value: float) -> Decimal:
    """A float as Excel shows it: 15 significant digits (0.1+0.2 → 0.3)."""
    return Decimal(format(value, ".15g"))


class _Invalid(Exception):
    """A cell that holds no usable value; the message says why."""


class _Sheet:
    """One worksheet read cell by cell (merged cells give their top-left value)."""

    def __init__(self, ws: Any, order: int, reading: _Reading) -> None:
        self.ws = ws
        self.title: str = ws.title
        self.order = order
        self.reading = reading
        self.cells = _existing_cells(ws)
        self.merged = list(ws.merged_cells.ranges)
        self.headers: dict[int, str] = {}

    def spot(self, row: int, col: int | None = None) -> _Spot:
        where = f"{self.reading.where.base.text}, sheet {self.title}, row {row}"
        if col is None:
            return _Spot(where, (self.order, row, 0))
        header = self.headers.get(col) or get_column_letter(col)
        return _Spot(f"{where}, column {header}", (self.order, row, col))

    def sheet_spot(self) -> _Spot:
        return _Spot(f"{self.reading.where.base.text}, sheet {self.title}", (self.order,))

    def cell(self, row: int, col: int) -> Any:
        c = self.cells.get((row, col))
        if c is None or isinstance(c, MergedCell):
            for rng in self.merged:
                if rng.min_row <= row <= rng.max_row and rng.min_col <= col <= rng.max_col:
                    return self.cells.get((rng.min_row, rng.min_col))
        return c

    def rows(self) -> Iterator[int]:
        """Numbers of rows with at least one non-blank cell, in order."""
        seen: set[int] = set()
        for (r, _), c in self.cells.items():
            if not isinstance(c, MergedCell) and not _blank(c.value):
                seen.add(r)
        if seen and max(seen) > MAX_ROWS:
            raise ValidationError(
                "file",
                self.reading.source,
                f"sheet {self.title} has a value in row {max(seen)}; a scheme sheet has at "
                f"most {MAX_ROWS} rows",
            )
        yield from sorted(seen)

    def raw(self, row: int, col: int) -> Any:
        """The cell's value as stored; raises :class:`_Invalid` for formulas and errors."""
        c = self.cell(row, col)
        if c is None:
            return None
        if c.data_type == "f":
            raise _Invalid(
                f"cell {c.coordinate} holds a formula ({_short(c.value)}); type the value "
                "itself: formulas are not evaluated"
            )
        if c.data_type == "e":
            raise _Invalid(f"cell {c.coordinate} holds the error value {c.value}")
        value = c.value
        if isinstance(value, str):
            value = _xlsx_unescape(value)
            if not value.strip():
                return None
        return value

    def value(self, row: int, col: int, kind: str) -> Any:
        """The cell's value converted for :func:`parse_scheme` by column kind."""
        v = self.raw(row, col)
        if v is None or isinstance(v, bool):
            return v
        if kind == "number":
            return _number(v) if isinstance(v, float) else v
        if kind == "date":
            return v.date() if isinstance(v, dt.datetime) else v
        if isinstance(v, float):  # text and list columns: a code typed as a number
            return format(_number(v), "f")
        if isinstance(v, int):
            return str(v)
        return v


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _existing_cells(ws: Any) -> dict[tuple[int, int], Any]:
    cells = getattr(ws, "_cells", None)  # openpyxl's own store: no empty cells are created
    if isinstance(cells, dict):
        return dict(cells)
    return {(c.row, c.column): c for row in ws.iter_rows() for c in row}


@dataclass
class _Row:
    number: int
    values: dict[str, Any]
    bad: dict[str, tuple[Any, str]]
    spots: dict[str, _Spot]
    spot: _Spot


@dataclass
class _Table:
    sheet: _Sheet
    rows: list[_Row]


def _find_sheet(wb: Any, name: str, *, suffix: str | None = None) -> Any:
    want = _norm(name)
    for ws in wb.worksheets:
        if _norm(ws.title) == want:
            return ws
    if suffix is not None:
        for ws in wb.worksheets:
            if _norm(ws.title).endswith(_norm(suffix)):
                return ws
    return None


def _table(sheet: _Sheet, columns: tuple[_Col, ...], structural: list[str]) -> _Table:
    """Read a header row and the rows under it."""
    names = _lookup(columns)
    rows = list(sheet.rows())
    header_row = None
    for r in rows[:20]:
        hits = 0
        for (row, _col), c in sheet.cells.items():
            if row == r and isinstance(c.value, str) and _norm(c.value) in names:
                hits += 1
        if hits >= min(2, len(columns)):
            header_row = r
            break
    if header_row is None:
        if rows:
            structural.append(
                f"sheet {sheet.title} has no header row (expected columns: "
                + ", ".join(c.header for c in columns)
                + ")"
            )
        return _Table(sheet, [])
    mapping: dict[int, _Col] = {}
    for (row, col), c in sorted(sheet.cells.items()):
        if row != header_row or _blank(c.value) or isinstance(c, MergedCell):
            continue
        text = str(c.value).strip()
        sheet.headers[col] = text
        found = names.get(_norm(text))
        if found is None:
            if _norm(text) not in _IGNORED_HEADERS:
                sheet.reading.add(
                    f"{sheet.title}!{c.coordinate}",
                    text,
                    "unknown column; the columns are " + ", ".join(x.header for x in columns),
                    sheet.spot(header_row, col),
                )
            continue
        if found in mapping.values():
            structural.append(f"sheet {sheet.title} has the column {found.header} twice")
            continue
        mapping[col] = found
    missing = [c.header for c in columns if c.required and c not in mapping.values()]
    if missing:
        structural.append(f"sheet {sheet.title} lacks the column(s) " + ", ".join(missing))
    out: list[_Row] = []
    for r in rows:
        if r <= header_row:
            continue
        values: dict[str, Any] = {}
        bad: dict[str, tuple[Any, str]] = {}
        spots: dict[str, _Spot] = {}
        for col, spec in mapping.items():
            spots[spec.key] = sheet.spot(r, col)
            try:
                v = sheet.value(r, col, spec.kind)
            except _Invalid as err:
                c = sheet.cell(r, col)
                bad[spec.key] = (c.value if c is not None else None, str(err))
                continue
            if v is not None:
                values[spec.key] = v
        if values or bad:
            out.append(_Row(r, values, bad, spots, sheet.spot(r)))
    return _Table(sheet, out)


def _load_xlsx(raw: bytes, *, source: str, name: str) -> SchemeSpec:
    not_xlsx = "is not an Excel workbook (.xlsx)"
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ValidationError(
            "file", source, f"{not_xlsx}: it is not a zip archive (a CSV or .xls renamed?)"
        ) from None
    if sum(m.file_size for m in members) > MAX_XLSX_UNCOMPRESSED:
        raise ValidationError("file", source, f"{not_xlsx} of a plausible size")
    if "[Content_Types].xml" not in {m.filename for m in members}:
        raise ValidationError("file", source, f"{not_xlsx}: it is a zip archive of other files")
    try:
        with warnings.catch_warnings():  # e.g. "Data Validation extension is not supported"
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(raw), data_only=False, keep_links=False)
    except Exception as err:  # openpyxl raises many kinds (KeyError, XML errors, ...)
        raise ValidationError(
            "file", source, f"{not_xlsx}: {type(err).__name__}: {_short(err)}"
        ) from None
    try:
        return _workbook_spec(wb, source=source, name=name)
    finally:
        wb.close()


def _workbook_spec(wb: Any, *, source: str, name: str) -> SchemeSpec:
    reading = _Reading(source, _Locator(name))
    structural: list[str] = []
    ws_scheme = _find_sheet(wb, SCHEME_SHEET)
    ws_items = _find_sheet(wb, ITEM_SHEET, suffix="一览表")
    missing = [n for n, ws in ((SCHEME_SHEET, ws_scheme), (ITEM_SHEET, ws_items)) if ws is None]
    if missing:
        raise ValidationError(
            "file",
            source,
            "has no sheet "
            + " and no sheet ".join(missing)
            + " (its sheets: "
            + ", ".join(ws.title for ws in wb.worksheets)
            + ")",
        )
    order = {ws.title: i for i, ws in enumerate(wb.worksheets, start=1)}

    def sheet(ws: Any) -> _Sheet:
        return _Sheet(ws, order[ws.title], reading)

    s_scheme = sheet(ws_scheme)
    reading.where.add("", s_scheme.sheet_spot())
    data = _scheme_fields(s_scheme, reading)

    s_items = sheet(ws_items)
    items = _table(s_items, ITEM_COLUMNS, structural)
    optional: dict[str, _Table | None] = {}
    for key, title, columns in (
        ("checkpoints", CHECKPOINT_SHEET, CHECKPOINT_COLUMNS),
        ("grade_scales", GRADE_SCALE_SHEET, SCALE_COLUMNS),
        ("grade_bands", GRADE_BAND_SHEET, BAND_COLUMNS),
        ("outcomes", OUTCOME_SHEET, OUTCOME_COLUMNS),
    ):
        ws = _find_sheet(wb, title)
        optional[key] = None if ws is None else _table(sheet(ws), columns, structural)
    if structural:
        raise ValidationError("file", source, "; ".join(structural))

    data["categories"] = _categories(items, reading)
    if (t := optional["checkpoints"]) is not None:
        data["checkpoints"] = _records(t, reading, "checkpoints")
    if (t := optional["grade_scales"]) is not None:
        data["grade_scales"] = _scales(t, reading)
    if (t := optional["grade_bands"]) is not None:
        data["grade_bands"] = _records(t, reading, "grade_bands")
    if (t := optional["outcomes"]) is not None:
        data["outcomes"] = _outcomes(t, reading)
    return reading.finish(data)


def _cell_problems(row: _Row, reading: _Reading, paths: Mapping[str, str]) -> None:
    """Report the formula and error cells of a row under the data paths they would fill."""
    for key, (raw, rule) in row.bad.items():
        path = paths[key]
        reading.add(path, raw, rule, row.spots[key], hide=path)


def _scheme_fields(sheet: _Sheet, reading: _Reading) -> dict[str, Any]:
    names = _lookup(SCHEME_FIELDS)
    data: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for r in sheet.rows():
        try:
            key_raw = sheet.raw(r, 1)
        except _Invalid as err:
            reading.add(f"{sheet.title}!A{r}", None, str(err), sheet.spot(r, 1))
            continue
        if not seen and key_raw is not None and _norm(key_raw) in {"项目", "字段", "key", "field"}:
            for hc in (1, 2):
                h = sheet.cell(r, hc)
                if h is not None and isinstance(h.value, str) and h.value.strip():
                    sheet.headers[hc] = h.value.strip()
            continue
        if key_raw is None:
            try:
                orphan = sheet.raw(r, 2)
            except _Invalid:
                orphan = "?"
            if orphan is not None:
                reading.add(
                    f"{sheet.title}!A{r}",
                    None,
                    "a value without a field name in the first column",
                    sheet.spot(r, 1),
                )
            continue
        col = names.get(_norm(key_raw))
        if col is None:
            try:
                given = sheet.raw(r, 2)
            except _Invalid:
                given = "?"
            if given is None:
                continue  # a title or a note, not a field
            reading.add(
                f"{sheet.title}!A{r}",
                key_raw,
                "unknown field; the fields are " + ", ".join(c.header for c in SCHEME_FIELDS),
                sheet.spot(r, 1),
            )
            continue
        spot = sheet.spot(r, 2)
        if col.key in seen:
            reading.add(
                col.key, key_raw, f"given twice (first in row {seen[col.key]})", sheet.spot(r, 1)
            )
            continue
        seen[col.key] = r
        reading.where.add(col.key, spot)
        try:
            value = sheet.value(r, 2, col.kind)
        except _Invalid as err:
            c = sheet.cell(r, 2)
            reading.add(col.key, c.value if c else None, str(err), spot, hide=col.key)
            continue
        if value is None:
            continue
        if col.kind == "list" and isinstance(value, str):
            parts = [p for p in _LIST_SPLIT.split(value.strip()) if p]
            for i in range(len(parts)):
                reading.where.add(f"{col.key}[{i}]", spot)
            value = parts
        if col.key.startswith("bounds."):
            data.setdefault("bounds", {})[col.key.split(".", 1)[1]] = value
        else:
            data[col.key] = value
    return data


def _categories(table: _Table, reading: _Reading) -> list[dict[str, Any]]:
    sheet = table.sheet
    reading.where.add("categories", sheet.sheet_spot())
    cats: list[dict[str, Any]] = []
    index: dict[Any, int] = {}
    names: dict[int, tuple[str, int]] = {}
    current: Any = None
    for row in table.rows:
        v = row.values
        if (
            "code" not in v
            and "category_code" not in v
            and not row.bad
            and any(isinstance(x, str) and _norm(x) in _TOTAL_WORDS for x in v.values())
        ):
            continue  # a 合计 row
        code = v.get("category_code")
        name = v.get("category_name")
        if code is None and name is None and "category_code" not in row.bad:
            key = current if current is not None else ("row", row.number)
        elif code is None:
            key = ("row", row.number)
        else:
            key = str(code).strip()
        current = key
        if key not in index:
            k = index[key] = len(cats)
            cat: dict[str, Any] = {"items": []}
            if code is not None:
                cat["code"] = code
            if name is not None:
                cat["name"] = name
                names[k] = (str(name).strip(), row.number)
            cats.append(cat)
            cpath = f"categories[{k}]"
            reading.where.add(cpath, row.spot)
            reading.where.add(f"{cpath}.code", row.spots["category_code"])
            reading.where.add(f"{cpath}.name", row.spots["category_name"])
            reading.where.add(f"{cpath}.items", row.spot)
        else:
            k = index[key]
            if name is not None:
                if k not in names:
                    cats[k]["name"] = name
                    names[k] = (str(name).strip(), row.number)
                    reading.where.spots[f"categories[{k}].name"] = row.spots["category_name"]
                elif str(name).strip() != names[k][0]:
                    reading.add(
                        f"categories[{k}].name",
                        name,
                        f"category {key} is named {names[k][0]!r} in row {names[k][1]}; "
                        "one category code has one name",
                        row.spots["category_name"],
                    )
        items: list[dict[str, Any]] = cats[k]["items"]
        ipath = f"categories[{k}].items[{len(items)}]"
        reading.where.add(ipath, row.spot)
        paths = {"category_code": f"categories[{k}].code", "category_name": f"categories[{k}].name"}
        item: dict[str, Any] = {}
        for col in ITEM_COLUMNS[2:]:
            paths[col.key] = f"{ipath}.{col.key}"
            if col.key in row.spots:
                reading.where.add(paths[col.key], row.spots[col.key])
            if col.key not in v:
                continue
            if col.key == "methods":
                methods = _methods_cell(v["methods"], paths["methods"], row, reading)
                if methods is not None:
                    item["methods"] = methods
            else:
                item[col.key] = v[col.key]
        _cell_problems(row, reading, paths)
        items.append(item)
    return cats


def _methods_cell(value: Any, path: str, row: _Row, reading: _Reading) -> dict[str, Any] | None:
    spot = row.spots["methods"]
    if not isinstance(value, str):
        reading.add(
            path,
            value,
            "write the methods and weights as text, e.g. 自评 20%; 互评 20%; 考评 60%",
            spot,
            hide=path,
        )
        return None
    out: dict[str, Any] = {}
    for part in (p.strip() for p in _METHOD_SPLIT.split(value)):
        if not part:
            continue
        m = _METHOD_PART.match(part)
        name = m.group("name").strip() if m else part
        weight = m.group("weight") if m else None
        if not name:
            reading.add(path, part, "a weight without a method, e.g. 考评 60%", spot)
            continue
        if name in out:
            reading.add(f"{path}.{name}", part, "method given twice", spot)
            continue
        out[name] = re.sub(r"\s+", "", weight).replace("％", "%") if weight else None
        reading.where.add(f"{path}.{name}", spot)
    scored = [k for k in out if METHOD_ALIASES.get(k, k) != "commentary"]
    if len(scored) == 1 and out[scored[0]] is None:
        out[scored[0]] = 1  # a single method is the whole score
    return out


def _records(table: _Table, reading: _Reading, key: str) -> list[dict[str, Any]]:
    """Rows as a list of mappings (checkpoints, grade bands)."""
    reading.where.add(key, table.sheet.sheet_spot())
    out: list[dict[str, Any]] = []
    for i, row in enumerate(table.rows):
        path = f"{key}[{i}]"
        reading.where.add(path, row.spot)
        paths = {}
        for k, spot in row.spots.items():
            paths[k] = f"{path}.{k}"
            reading.where.add(paths[k], spot)
        _cell_problems(row, reading, paths)
        out.append(dict(row.values))
    return out


def _scales(table: _Table, reading: _Reading) -> dict[str, dict[str, Any]]:
    reading.where.add("grade_scales", table.sheet.sheet_spot())
    scales: dict[str, dict[str, Any]] = {}
    rows_of: dict[tuple[str, str], int] = {}
    current: str | None = None
    for row in table.rows:
        v = row.values
        if "scale" in v:
            current = str(v["scale"]).strip()
        elif "scale" in row.bad:
            _cell_problems(row, reading, {"scale": f"{GRADE_SCALE_SHEET}!row {row.number}"})
            continue
        if current is None:
            reading.add(
                f"{GRADE_SCALE_SHEET}!row {row.number}",
                None,
                "name the scale (量表) of this grade",
                row.spots["scale"],
            )
            continue
        spath = f"grade_scales.{current}"
        reading.where.add(spath, row.spot)
        grades = scales.setdefault(current, {})
        label = v.get("label")
        if label is None:
            if "label" in row.bad:
                _cell_problems(row, reading, {"label": spath, "factor": spath})
            else:
                reading.add(spath, None, "a grade (等次) is required", row.spots["label"])
            continue
        label = str(label).strip()
        gpath = f"{spath}.{label}"
        if (current, label) in rows_of:
            reading.add(
                gpath,
                label,
                f"grade given twice in scale {current} (first in row {rows_of[current, label]})",
                row.spots["label"],
            )
            continue
        rows_of[current, label] = row.number
        reading.where.add(gpath, row.spots["factor"])
        _cell_problems(row, reading, {"scale": spath, "label": gpath, "factor": gpath})
        grades[label] = v.get("factor")
    return scales


def _outcomes(table: _Table, reading: _Reading) -> list[dict[str, Any]]:
    reading.where.add("outcomes", table.sheet.sheet_spot())
    out: list[dict[str, Any]] = []
    for i, row in enumerate(table.rows):
        path = f"outcomes[{i}]"
        params_spot = row.spots.get("params", row.spot)
        reading.where.add(path, params_spot)
        for k in ("kind", "label"):
            reading.where.add(f"{path}.{k}", row.spots[k])
        _cell_problems(
            row, reading, {"kind": f"{path}.kind", "label": f"{path}.label", "params": path}
        )
        oc: dict[str, Any] = {k: row.values[k] for k in ("kind", "label") if k in row.values}
        text = row.values.get("params")
        if text is not None:
            params = _json_params(text, path, params_spot, reading)
            for k in params:
                reading.where.add(f"{path}.{k}", params_spot)
            oc.update(params)
        out.append(oc)
    return out


def _json_params(text: Any, path: str, spot: _Spot, reading: _Reading) -> dict[str, Any]:
    if not isinstance(text, str):
        text = str(text)
    try:
        params = json.loads(text, parse_float=Decimal)
    except ValueError as err:
        reading.add(f"{path}.params", text, f"is not valid JSON: {err}", spot, hide=path)
        return {}
    if not isinstance(params, dict):
        reading.add(
            f"{path}.params", text, 'must be a JSON object, e.g. {"n": 20}', spot, hide=path
        )
        return {}
    clash = [k for k in ("kind", "label") if k in params]
    if clash:
        reading.add(
            f"{path}.params",
            text,
            "kind and label have their own columns (类型, 名称), not in the parameters",
            spot,
        )
        for k in clash:
            params.pop(k)
    return params


# ------------------------------------------------------------------- writing Excel

_HEADER_FONT = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")


def _put(ws: Any, row: int, col: int, value: Any, where: str) -> Any:
    cell = ws.cell(row=row, column=col)
    if value is None:
        return cell
    if isinstance(value, str):
        try:
            cell.value = _xlsx_escape(value)
        except IllegalCharacterError:
            raise ValidationError(
                where, value, "contains control characters that an Excel workbook cannot hold"
            ) from None
        cell.data_type = "s"  # text, even if it starts with "=" or reads like "#N/A"
        return cell
    if isinstance(value, Decimal):
        value = _cell_number(value)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def _cell_number(d: Decimal) -> int | float | str:
    """A decimal as a number cell when Excel shows it exactly, else as text."""
    if d == d.to_integral_value() and abs(d) < 10**15:
        return int(d)
    f = float(d)
    if _number(f) == d:
        return f
    return format(d, "f")


def _as_decimal(value: Any) -> Any:
    """``scheme_to_data`` numbers (int or exact decimal string) as a Decimal."""
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def _header(ws: Any, columns: tuple[_Col, ...]) -> None:
    for i, col in enumerate(columns, start=1):
        _put(ws, 1, i, col.header, "header").font = _HEADER_FONT
        ws.column_dimensions[get_column_letter(i)].width = col.width
    ws.freeze_panes = "A2"


def _methods_text(methods: Mapping[str, Any]) -> str:
    parts = []
    for m, w in methods.items():
        name = _METHOD_CN.get(m, m)
        if m == "commentary":
            parts.append(name)
        else:
            pct = (Decimal(str(w)) * 100).normalize()
            parts.append(f"{name} {format(pct, 'f')}%")
    return "; ".join(parts)


def _xlsx_bytes(spec: SchemeSpec) -> bytes:
    data = scheme_to_data(spec)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = SCHEME_SHEET
    for i, text in enumerate(_SCHEME_HEADER, start=1):
        _put(ws, 1, i, text, "header").font = _HEADER_FONT
    for letter, width in zip("ABC", (16, 40, 40), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    bounds = data.get("bounds") or {}
    for r, col in enumerate(SCHEME_FIELDS, start=2):
        if col.key.startswith("bounds."):
            value = bounds.get(col.key.split(".", 1)[1])
        else:
            value = data.get(col.key)
        if col.key == "drop_extremes" and value is not None:
            value = "; ".join(_METHOD_CN.get(m, m) for m in value)
        elif col.key == "scope" and value is not None:
            value = "; ".join(value)
        elif col.kind == "number":
            value = _as_decimal(value)
        _put(ws, r, 1, col.header, col.key)
        _put(ws, r, 2, value, col.key)
        _put(ws, r, 3, col.hint or None, col.key)

    ws = wb.create_sheet(ITEM_SHEET)
    _header(ws, ITEM_COLUMNS)
    r = 1
    for cat in data["categories"]:
        for item in cat["items"]:
            r += 1
            values: dict[str, Any] = {
                "category_code": cat["code"],
                "category_name": cat["name"],
                **item,
            }
            values["rule"] = _RULE_CN.get(item["rule"], item["rule"])
            if "methods" in item:
                values["methods"] = _methods_text(item["methods"])
            for c, col in enumerate(ITEM_COLUMNS, start=1):
                v = values.get(col.key)
                if col.kind == "number":
                    v = _as_decimal(v)
                cell = _put(ws, r, c, v, f"{item['code']}.{col.key}")
                if col.key in ("title", "evidence"):
                    cell.alignment = _WRAP

    if data.get("checkpoints"):
        ws = wb.create_sheet(CHECKPOINT_SHEET)
        _header(ws, CHECKPOINT_COLUMNS)
        for r, cp in enumerate(data["checkpoints"], start=2):
            _put(ws, r, 1, cp["code"], "checkpoint")
            _put(ws, r, 2, cp["kind"], "checkpoint")
            _put(ws, r, 3, cp["name"], "checkpoint")
            _put(ws, r, 4, _as_decimal(cp["weight"]), "checkpoint")
            if cp.get("on"):
                _put(
                    ws, r, 5, dt.date.fromisoformat(cp["on"]), "checkpoint"
                ).number_format = "yyyy-mm-dd"

    if data.get("grade_scales"):
        ws = wb.create_sheet(GRADE_SCALE_SHEET)
        _header(ws, SCALE_COLUMNS)
        r = 1
        for name, grades in data["grade_scales"].items():
            for label, factor in grades.items():
                r += 1
                _put(ws, r, 1, name, "grade_scales")
                _put(ws, r, 2, label, "grade_scales")
                _put(ws, r, 3, _as_decimal(factor), "grade_scales")

    if data.get("grade_bands"):
        ws = wb.create_sheet(GRADE_BAND_SHEET)
        _header(ws, BAND_COLUMNS)
        for r, band in enumerate(data["grade_bands"], start=2):
            _put(ws, r, 1, band["name"], "grade_bands")
            _put(ws, r, 2, _as_decimal(band["min"]), "grade_bands")
            _put(ws, r, 3, _as_decimal(band.get("quota")), "grade_bands")

    if data.get("outcomes"):
        ws = wb.create_sheet(OUTCOME_SHEET)
        _header(ws, OUTCOME_COLUMNS)
        for r, oc in enumerate(data["outcomes"], start=2):
            rest = {k: v for k, v in oc.items() if k not in ("kind", "label")}
            if isinstance(rest.get("factors"), list):
                rest["factors"] = [_exact_float(f) for f in rest["factors"]]
            _put(ws, r, 1, oc["kind"], "outcomes")
            _put(ws, r, 2, oc["label"], "outcomes")
            _put(ws, r, 3, json.dumps(rest, ensure_ascii=False) if rest else None, "outcomes")

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
