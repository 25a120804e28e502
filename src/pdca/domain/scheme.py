"""Scheme definitions: what is scored, by whom, how it adds up, and what each rank earns.

A :class:`SchemeSpec` is the validated, immutable description of one period's scheme, the
same whether it came from the API, a YAML file or an Excel sheet. :func:`parse_scheme`
builds one from plain data (dicts, lists, strings, numbers) and reports **every** problem
at once, each with its location (a YAML path such as ``categories[1].items[0].max_score``
or, through ``locate``, a sheet and row); :func:`scheme_to_data` turns it back into the
same plain data, so a scheme exported and imported again is identical.

Rule kinds of an item (seed articles in brackets):

``points``     a value from 0 to the item's maximum.
``grade``      a named grade of a scale (好/较好/一般 → factor × maximum) [001].
``count``      counted automatically from the cycle's records of a kind against a target:
               min(actual / target, 1) × maximum.
``deduction``  the maximum minus a fixed amount per violation, never below 0.
``bonus``      加分: a value from 0 to the item's cap; all bonuses together are capped by
               the scheme's ``bonus_cap``.
``penalty``    扣分 outside any item: a fixed amount per violation, subtracted from the
               total; all penalties together are capped by ``penalty_cap``.
``veto``       一票否决: one hit → lowest grade and excluded from every award [004].
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import field, frozen

from pdca.errors import ValidationError

from .period import Period

__all__ = [
    "CHECKPOINT_KINDS",
    "DROPPABLE_METHODS",
    "METHODS",
    "METHOD_ALIASES",
    "OUTCOME_KINDS",
    "RULES",
    "RULE_ALIASES",
    "CategorySpec",
    "CheckpointSpec",
    "GradeBand",
    "ItemSpec",
    "OutcomeRule",
    "SchemeInvalid",
    "SchemeProblem",
    "SchemeSpec",
    "parse_scheme",
    "scheme_to_data",
]

#: Assessment methods (考核方式). ``commentary`` (点评) is qualitative: it carries no score.
METHODS = (
    "self",
    "mutual",
    "panel",
    "democratic",
    "questionnaire",
    "interview",
    "practical",
    "report-review",
    "commentary",
)
METHOD_ALIASES = {
    "自评": "self",
    "互评": "mutual",
    "考评": "panel",
    "民主测评": "democratic",
    "问卷": "questionnaire",
    "问卷调查": "questionnaire",
    "访谈": "interview",
    "实操": "practical",
    "实际操作": "practical",
    "述职评议": "report-review",
    "点评": "commentary",
}
#: Methods where an organization must not score itself (nobody scores their own organization).
PEER_METHODS = ("mutual", "panel", "democratic")
#: Methods whose highest and lowest score may be dropped (去掉最高分和最低分).
DROPPABLE_METHODS = ("mutual", "democratic", "questionnaire")

RULES = ("points", "grade", "count", "deduction", "bonus", "penalty", "veto")
RULE_ALIASES = {
    "计分": "points",
    "分值": "points",
    "等次": "grade",
    "档次": "grade",
    "计数": "count",
    "扣分": "deduction",
    "加分": "bonus",
    "减分": "penalty",
    "一票否决": "veto",
}
#: The methods of an item that names none.
DEFAULT_METHODS = {"panel": 1}
#: Rules whose points make up the base total (and the category sub-totals).
BASE_RULES = ("points", "grade", "count", "deduction")

CHECKPOINT_KINDS = (
    "daily",
    "monthly",
    "quarterly",
    "mid-year",
    "year-end",
    "spot-check",
    "special",
)

CHECKPOINT_ALIASES = {
    "日常": "daily",
    "日常考核": "daily",
    "月度": "monthly",
    "月度考核": "monthly",
    "季度": "quarterly",
    "季度考核": "quarterly",
    "年中": "mid-year",
    "年中考核": "mid-year",
    "年终": "year-end",
    "年终考核": "year-end",
    "抽查": "spot-check",
    "专项督查": "special",
}

OUTCOME_KINDS = ("top_n", "forced_distribution", "streak", "grade_link")

CODE_MAX = 64
#: The largest maximum an item may have, and the largest bound of a total: keeps the
#: exact integer arithmetic of results (points × 10^4 × two weights × 10^4) within 64 bits.
MAX_ITEM_SCORE = Decimal(10_000)
MAX_TOTAL = Decimal(1_000_000)
TEXT_MAX = 200


# --------------------------------------------------------------------------- values


@frozen
class ItemSpec:
    code: str
    title: str
    max_score: Decimal
    rule: str = "points"
    methods: Mapping[str, Decimal] = field(factory=dict)  # method -> weight (sum 1)
    evidence: str | None = None
    scale: str | None = None  # grade
    per: Decimal | None = None  # deduction / penalty: amount per violation
    record_kind: str | None = None  # count
    target: int | None = None  # count

    @property
    def scored_methods(self) -> dict[str, Decimal]:
        return {m: w for m, w in self.methods.items() if m != "commentary"}


@frozen
class CategorySpec:
    code: str
    name: str
    items: tuple[ItemSpec, ...] = ()


@frozen
class CheckpointSpec:
    code: str
    kind: str
    name: str
    weight: Decimal
    on: dt.date | None = None


@frozen
class GradeBand:
    name: str
    min: Decimal
    quota: Decimal | None = None  # at most this share of a peer group


@frozen
class OutcomeRule:
    kind: str
    label: str
    params: Mapping[str, Any] = field(factory=dict)


@frozen
class SchemeSpec:
    code: str
    title: str
    period: str
    issuer: str | None = None
    scope: tuple[str, ...] | None = None
    categories: tuple[CategorySpec, ...] = ()
    checkpoints: tuple[CheckpointSpec, ...] = ()
    grade_scales: Mapping[str, Mapping[str, Decimal]] = field(factory=dict)
    grade_bands: tuple[GradeBand, ...] = ()
    drop_extremes: tuple[str, ...] = ()
    bonus_cap: Decimal | None = None
    penalty_cap: Decimal | None = None
    bounds_min: Decimal = Decimal(0)
    bounds_max: Decimal | None = None
    outcomes: tuple[OutcomeRule, ...] = ()
    appeal_window_days: int | None = None

    def items(self) -> list[ItemSpec]:
        return [i for c in self.categories for i in c.items]

    def item(self, code: str) -> ItemSpec | None:
        return next((i for i in self.items() if i.code == code), None)

    def base_max(self) -> Decimal:
        """The most the base items can give together."""
        return sum((i.max_score for i in self.items() if i.rule in BASE_RULES), Decimal(0))

    def upper_bound(self) -> Decimal:
        if self.bounds_max is not None:
            return self.bounds_max
        return self.base_max() + (self.bonus_cap or Decimal(0))


# ------------------------------------------------------------------------- problems


@frozen
class SchemeProblem:
    """One thing wrong with a scheme: where, which field, what value, which rule."""

    location: str
    field: str
    value: Any
    rule: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.field}={self.value!r}: {self.rule}"


class SchemeInvalid(ValidationError):
    """A scheme with one or more problems; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[SchemeProblem], source: str = "scheme") -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        super().__init__(first.field, first.value, first.rule)
        if len(self.problems) == 1:
            self.args = (str(first),)
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            self.args = (f"{source}: {len(self.problems)} problems:\n{lines}",)

    def __str__(self) -> str:
        return str(self.args[0])


Locate = Callable[[str], str]


class _Collector:
    def __init__(self, locate: Locate | None) -> None:
        self.problems: list[SchemeProblem] = []
        self._locate = locate

    def add(self, path: str, value: Any, rule: str) -> None:
        self.problems.append(SchemeProblem(self.where(path), path, _safe(value), rule))

    def where(self, path: str) -> str:
        return self._locate(path) if self._locate else ""


def _safe(value: Any) -> Any:
    """Values too large to print (huge integers) are described instead."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, str) and len(value) > 500:
        return value[:500] + "…"
    return value


# --------------------------------------------------------------------------- parsing


def _dec(
    c: _Collector,
    path: str,
    value: Any,
    *,
    places: int = 2,
    positive: bool = False,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
    percent: bool = False,
) -> Decimal | None:
    raw = value
    if isinstance(value, bool) or value is None:
        c.add(path, raw, "must be a number")
        return None
    if isinstance(value, str):
        text = value.strip()
        if percent and text.endswith("%"):
            try:
                value = Decimal(text[:-1].strip()) / 100
            except InvalidOperation:
                c.add(path, raw, "must be a number or a percentage")
                return None
        else:
            value = text
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        c.add(path, raw, "must be a number")
        return None
    if not d.is_finite():
        c.add(path, raw, "must be a finite number")
        return None
    if abs(d) >= Decimal(10) ** 9:
        c.add(path, raw, "is too large")
        return None
    if d != d.quantize(Decimal(10) ** -places):
        c.add(path, raw, f"must have at most {places} decimal places")
        return None
    if positive and d <= 0:
        c.add(path, raw, "must be greater than 0")
        return None
    if minimum is not None and d < minimum:
        c.add(path, raw, f"must be at least {minimum}")
        return None
    if maximum is not None and d > maximum:
        c.add(path, raw, f"must be at most {maximum}")
        return None
    return d


def _text(c: _Collector, path: str, value: Any, *, max_len: int = TEXT_MAX) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        c.add(path, value, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        c.add(path, value, "must be text")
        return None
    if isinstance(value, int) and value.bit_length() > 256:
        c.add(path, value, "must be text")
        return None
    v = str(value).strip()
    if len(v) > max_len:
        c.add(path, value, f"must be at most {max_len} characters")
        return None
    if "\x00" in v:
        c.add(path, value, "must not contain NUL characters")
        return None
    return v


def _opt_text(c: _Collector, path: str, value: Any, *, max_len: int = 2000) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _text(c, path, value, max_len=max_len)


def _code(c: _Collector, path: str, value: Any) -> str | None:
    v = _text(c, path, value, max_len=CODE_MAX)
    if v is not None and any(ch.isspace() for ch in v):
        c.add(path, value, "must not contain spaces")
        return None
    return v


def _int(c: _Collector, path: str, value: Any, *, minimum: int = 0) -> int | None:
    if isinstance(value, bool) or value is None:
        c.add(path, value, "must be a whole number")
        return None
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        c.add(path, value, "must be a whole number")
        return None
    if not d.is_finite() or d != d.to_integral_value():
        c.add(path, value, "must be a whole number")
        return None
    if d < minimum or d > 10**9:
        c.add(path, value, f"must be a whole number from {minimum} to 1000000000")
        return None
    return int(d)


def _mapping(c: _Collector, path: str, value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        c.add(path, value, "must be a mapping (key: value)")
        return None
    return value


def _list(c: _Collector, path: str, value: Any) -> list[Any] | None:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        c.add(path, value, "must be a list")
        return None
    return list(value)


def _unknown_keys(c: _Collector, path: str, data: Mapping[str, Any], known: set[str]) -> None:
    for key in data:
        if key not in known:
            name = str(_safe(key))
            c.add(f"{path}.{name}" if path else name, data[key], "unknown field")


def _method(c: _Collector, path: str, value: Any) -> str | None:
    if not isinstance(value, str):
        c.add(path, value, "must be a method name")
        return None
    m = METHOD_ALIASES.get(value.strip(), value.strip())
    if m not in METHODS:
        c.add(path, value, "unknown method; methods are " + ", ".join(METHODS))
        return None
    return m


_SCHEME_KEYS = {
    "code",
    "title",
    "period",
    "issuer",
    "scope",
    "categories",
    "checkpoints",
    "grade_scales",
    "grade_bands",
    "drop_extremes",
    "bonus_cap",
    "penalty_cap",
    "bounds",
    "outcomes",
    "appeal_window_days",
}
_ITEM_KEYS = {
    "code",
    "title",
    "max_score",
    "rule",
    "methods",
    "evidence",
    "scale",
    "per",
    "record_kind",
    "target",
}


def parse_scheme(
    data: Mapping[str, Any], *, source: str = "scheme", locate: Locate | None = None
) -> SchemeSpec:
    """Validate plain data into a :class:`SchemeSpec`, or raise :class:`SchemeInvalid`
    listing every problem found.

    ``locate`` maps a YAML-style path (``categories[0].items[2].max_score``) to a location
    a person can find (e.g. ``sheet 考评项目一览表, row 4``).
    """
    c = _Collector(locate)
    if not isinstance(data, Mapping):
        c.add("", data, "a scheme must be a mapping of fields")
        raise SchemeInvalid(c.problems, source)
    _unknown_keys(c, "", data, _SCHEME_KEYS)
    code = _code(c, "code", data.get("code"))
    title = _text(c, "title", data.get("title"))
    period_raw = data.get("period")
    period: str | None = None
    try:
        period = str(Period.parse(str(period_raw) if period_raw is not None else ""))
    except ValidationError as err:
        c.add("period", period_raw, err.rule)
    issuer = None if data.get("issuer") is None else _code(c, "issuer", data.get("issuer"))
    scope: tuple[str, ...] | None = None
    if data.get("scope") is not None:
        raw_scope = _list(c, "scope", data.get("scope"))
        if raw_scope is not None and not raw_scope:
            c.add(
                "scope",
                data.get("scope"),
                "an empty scope assesses nobody; leave it out "
                "to assess every organization below the issuer",
            )
        if raw_scope is not None:
            codes = [_code(c, f"scope[{i}]", s) for i, s in enumerate(raw_scope)]
            seen: set[str] = set()
            for i, s in enumerate(codes):
                if s is not None and s in seen:
                    c.add(f"scope[{i}]", s, "duplicate organization in the scope")
                if s is not None:
                    seen.add(s)
            scope = tuple(s for s in codes if s is not None)

    # Grade scales first: items refer to them.
    scales: dict[str, dict[str, Decimal]] = {}
    raw_scales = _mapping(c, "grade_scales", data.get("grade_scales"))
    for name, grades in (raw_scales or {}).items():
        spath = f"grade_scales.{name}"
        gmap = _mapping(c, spath, grades)
        if gmap is None:
            continue
        if not gmap:
            c.add(spath, grades, "a scale needs at least one grade")
            continue
        parsed: dict[str, Decimal] = {}
        for label, factor in gmap.items():
            f = _dec(
                c,
                f"{spath}.{label}",
                factor,
                places=2,
                minimum=Decimal(0),
                maximum=Decimal(1),
                percent=True,
            )
            if f is not None:
                parsed[str(label)] = f
        scales[str(name)] = parsed

    drop: list[str] = []
    for i, m in enumerate(_list(c, "drop_extremes", data.get("drop_extremes")) or []):
        mm = _method(c, f"drop_extremes[{i}]", m)
        if mm is not None and mm not in DROPPABLE_METHODS:
            c.add(
                f"drop_extremes[{i}]",
                m,
                "highest and lowest scores can be dropped only for " + ", ".join(DROPPABLE_METHODS),
            )
        elif mm is not None:
            drop.append(mm)

    categories: list[CategorySpec] = []
    seen_cat: set[str] = set()
    seen_item: dict[str, str] = {}
    raw_cats = _list(c, "categories", data.get("categories"))
    for ci, cat in enumerate(raw_cats or []):
        cpath = f"categories[{ci}]"
        cm = _mapping(c, cpath, cat)
        if cm is None:
            continue
        _unknown_keys(c, cpath, cm, {"code", "name", "items"})
        ccode = _code(c, f"{cpath}.code", cm.get("code"))
        if ccode is not None:
            if ccode in seen_cat:
                c.add(f"{cpath}.code", ccode, "duplicate category code")
            seen_cat.add(ccode)
        cname = _text(c, f"{cpath}.name", cm.get("name"))
        items: list[ItemSpec] = []
        raw_items = _list(c, f"{cpath}.items", cm.get("items"))
        if raw_items is not None and not raw_items:
            c.add(f"{cpath}.items", cm.get("items"), "a category needs at least one item")
        for ii, it in enumerate(raw_items or []):
            item = _parse_item(c, f"{cpath}.items[{ii}]", it, scales, seen_item)
            if item is not None:
                items.append(item)
        if ccode is not None and cname is not None:
            categories.append(CategorySpec(ccode, cname, tuple(items)))

    checkpoints: list[CheckpointSpec] = []
    raw_cps = _list(c, "checkpoints", data.get("checkpoints"))
    if raw_cps is not None and not raw_cps:
        raw_cps = [{"code": "year-end", "kind": "year-end", "name": "年终考核", "weight": 1}]
    seen_cp: set[str] = set()
    for pi, cp in enumerate(raw_cps or []):
        ppath = f"checkpoints[{pi}]"
        pm = _mapping(c, ppath, cp)
        if pm is None:
            continue
        _unknown_keys(c, ppath, pm, {"code", "kind", "name", "weight", "on"})
        pcode = _code(c, f"{ppath}.code", pm.get("code"))
        if pcode is not None:
            if pcode in seen_cp:
                c.add(f"{ppath}.code", pcode, "duplicate checkpoint code")
            seen_cp.add(pcode)
        kind: str | None = pm.get("kind", pcode)
        if isinstance(kind, str):
            kind = CHECKPOINT_ALIASES.get(kind.strip(), kind.strip())
        if kind not in CHECKPOINT_KINDS:
            c.add(f"{ppath}.kind", kind, "must be one of " + ", ".join(CHECKPOINT_KINDS))
            kind = None
        cp_name = _opt_text(c, f"{ppath}.name", pm.get("name"), max_len=TEXT_MAX) or pcode
        weight = _dec(
            c,
            f"{ppath}.weight",
            pm.get("weight"),
            places=4,
            minimum=Decimal(0),
            maximum=Decimal(1),
            percent=True,
        )
        on = pm.get("on")
        on_date: dt.date | None = None
        if on is not None:
            if isinstance(on, dt.datetime):
                on_date = on.date()
            elif isinstance(on, dt.date):
                on_date = on
            else:
                try:
                    on_date = dt.date.fromisoformat(str(on).strip())
                except ValueError:
                    c.add(f"{ppath}.on", on, "must be a date written YYYY-MM-DD")
            if on_date is not None and period is not None:
                per = Period.parse(period)
                if not per.contains_date(on_date):
                    c.add(f"{ppath}.on", str(on_date), f"must lie within {per}")
        if pcode and kind and cp_name and weight is not None:
            checkpoints.append(CheckpointSpec(pcode, kind, cp_name, weight, on_date))
    if checkpoints and len(checkpoints) == len(raw_cps or []):
        total = sum((cp.weight for cp in checkpoints), Decimal(0))
        if total != 1:
            c.add("checkpoints", f"{total}", "checkpoint weights must add up to 1 (100%)")

    bonus_cap = None
    if data.get("bonus_cap") is not None:
        bonus_cap = _dec(
            c, "bonus_cap", data.get("bonus_cap"), minimum=Decimal(0), maximum=MAX_TOTAL
        )
    penalty_cap = None
    if data.get("penalty_cap") is not None:
        penalty_cap = _dec(
            c, "penalty_cap", data.get("penalty_cap"), minimum=Decimal(0), maximum=MAX_TOTAL
        )
    bounds = _mapping(c, "bounds", data.get("bounds")) or {}
    _unknown_keys(c, "bounds", bounds, {"min", "max"})
    bmin = Decimal(0)
    if bounds.get("min") is not None:
        bmin = _dec(
            c, "bounds.min", bounds.get("min"), minimum=Decimal(0), maximum=MAX_TOTAL
        ) or Decimal(0)
    bmax = None
    if bounds.get("max") is not None:
        bmax = _dec(c, "bounds.max", bounds.get("max"), positive=True, maximum=MAX_TOTAL)
        if bmax is not None and bmax < bmin:
            c.add("bounds.max", bounds.get("max"), "must not be below bounds.min")

    items_all = [i for cat in categories for i in cat.items]
    if bmax is None and bmin > 0:
        default_max = sum((i.max_score for i in items_all if i.rule in BASE_RULES), Decimal(0)) + (
            bonus_cap or Decimal(0)
        )
        if bmin > default_max:
            c.add(
                "bounds.min",
                bounds.get("min"),
                f"must not be above the most a total can reach ({default_max}); "
                "give bounds.max too if that is meant",
            )
    if any(i.rule == "bonus" for i in items_all) and bonus_cap is None:
        c.add("bonus_cap", None, "a scheme with bonus items needs a bonus_cap (total cap)")
    if any(i.rule == "penalty" for i in items_all) and penalty_cap is None:
        c.add("penalty_cap", None, "a scheme with penalty items needs a penalty_cap (total cap)")

    bands: list[GradeBand] = []
    raw_bands = _list(c, "grade_bands", data.get("grade_bands"))
    seen_band: set[str] = set()
    for bi, band in enumerate(raw_bands or []):
        bpath = f"grade_bands[{bi}]"
        bm = _mapping(c, bpath, band)
        if bm is None:
            continue
        _unknown_keys(c, bpath, bm, {"name", "min", "quota"})
        bname = _text(c, f"{bpath}.name", bm.get("name"), max_len=CODE_MAX)
        if bname is not None:
            if bname in seen_band:
                c.add(f"{bpath}.name", bname, "duplicate grade band")
            seen_band.add(bname)
        bmin_v = _dec(c, f"{bpath}.min", bm.get("min"), minimum=Decimal(0))
        quota = None
        if bm.get("quota") is not None:
            quota = _dec(
                c,
                f"{bpath}.quota",
                bm.get("quota"),
                places=4,
                positive=True,
                maximum=Decimal(1),
                percent=True,
            )
        if bname is not None and bmin_v is not None:
            bands.append(GradeBand(bname, bmin_v, quota))
    for bi in range(1, len(bands)):
        if bands[bi].min >= bands[bi - 1].min:
            c.add(
                f"grade_bands[{bi}].min",
                str(bands[bi].min),
                "grade bands go from the highest threshold down, each strictly lower",
            )
    if bands and bands[-1].min > bmin:
        c.add(
            f"grade_bands[{len(bands) - 1}].min",
            str(bands[-1].min),
            f"the lowest band must start at the lower bound ({bmin}) so every total has a grade",
        )
    if bands and bands[-1].quota is not None:
        c.add(
            f"grade_bands[{len(bands) - 1}].quota",
            str(bands[-1].quota),
            "the lowest band cannot have a quota (organizations over a quota move down to it)",
        )

    outcomes: list[OutcomeRule] = []
    for oi, oc in enumerate(_list(c, "outcomes", data.get("outcomes")) or []):
        rule = _parse_outcome(c, f"outcomes[{oi}]", oc, {b.name for b in bands})
        if rule is not None:
            outcomes.append(rule)

    window = None
    if data.get("appeal_window_days") is not None:
        window = _int(c, "appeal_window_days", data.get("appeal_window_days"), minimum=1)

    if c.problems:
        raise SchemeInvalid(c.problems, source)
    assert code is not None
    assert title is not None
    assert period is not None
    return SchemeSpec(
        code=code,
        title=title,
        period=period,
        issuer=issuer,
        scope=scope,
        categories=tuple(categories),
        checkpoints=tuple(checkpoints),
        grade_scales={k: dict(v) for k, v in scales.items()},
        grade_bands=tuple(bands),
        drop_extremes=tuple(drop),
        bonus_cap=bonus_cap,
        penalty_cap=penalty_cap,
        bounds_min=bmin,
        bounds_max=bmax,
        outcomes=tuple(outcomes),
        appeal_window_days=window,
    )


def _parse_item(
    c: _Collector,
    path: str,
    it: Any,
    scales: Mapping[str, Mapping[str, Decimal]],
    seen: dict[str, str],
) -> ItemSpec | None:
    im = _mapping(c, path, it)
    if im is None:
        return None
    _unknown_keys(c, path, im, _ITEM_KEYS)
    code = _code(c, f"{path}.code", im.get("code"))
    if code is not None:
        if code in seen:
            other = c.where(f"{seen[code]}.code") or seen[code]
            c.add(f"{path}.code", code, f"duplicate item code (also at {other})")
        else:
            seen[code] = path
    title = _text(c, f"{path}.title", im.get("title"))
    raw_rule = im.get("rule") if im.get("rule") is not None else "points"
    rule = RULE_ALIASES.get(str(raw_rule).strip(), str(raw_rule).strip())
    if rule not in RULES:
        c.add(f"{path}.rule", raw_rule, "unknown rule; rules are " + ", ".join(RULES))
        return None
    max_score: Decimal | None
    if rule == "veto":
        max_score = Decimal(0)
        if im.get("max_score") not in (None, 0, "0", ""):
            c.add(f"{path}.max_score", im.get("max_score"), "a veto item carries no points")
    else:
        max_score = _dec(
            c, f"{path}.max_score", im.get("max_score"), positive=True, maximum=MAX_ITEM_SCORE
        )
    evidence = _opt_text(c, f"{path}.evidence", im.get("evidence"))
    scale = per = None
    record_kind = None
    target = None
    if rule == "grade":
        scale = _text(c, f"{path}.scale", im.get("scale"), max_len=CODE_MAX)
        if scale is not None and scale not in scales:
            c.add(f"{path}.scale", scale, "is not one of the scheme's grade_scales")
    elif im.get("scale") is not None:
        c.add(f"{path}.scale", im.get("scale"), f"only grade items have a scale, not {rule}")
    if rule in ("deduction", "penalty"):
        per = _dec(c, f"{path}.per", im.get("per"), positive=True)
    elif im.get("per") is not None:
        c.add(f"{path}.per", im.get("per"), "only deduction and penalty items have 'per'")
    if rule == "count":
        record_kind = _code(c, f"{path}.record_kind", im.get("record_kind"))
        target = _int(c, f"{path}.target", im.get("target"), minimum=1)
    else:
        for key in ("record_kind", "target"):
            if im.get(key) is not None:
                c.add(f"{path}.{key}", im.get(key), "only count items have this field")

    methods: dict[str, Decimal] = {}
    raw_methods = im.get("methods")
    if rule == "count":
        if raw_methods:
            c.add(
                f"{path}.methods",
                raw_methods,
                "a count item is computed from records; it takes no methods",
            )
    else:
        # Without a methods field an item is scored by the assessor's panel (考评) alone.
        mm = _mapping(
            c, f"{path}.methods", raw_methods if raw_methods is not None else DEFAULT_METHODS
        )
        if mm is not None and not mm:
            c.add(f"{path}.methods", raw_methods, "an item needs at least one method")
        for key, weight in (mm or {}).items():
            m = _method(c, f"{path}.methods.{key}", key)
            if m is None:
                continue
            if m in methods:
                c.add(f"{path}.methods.{key}", key, "method given twice")
                continue
            if m == "commentary":
                if weight not in (None, 0, "0", ""):
                    c.add(
                        f"{path}.methods.{key}",
                        weight,
                        "commentary (点评) is qualitative and carries no weight",
                    )
                methods[m] = Decimal(0)
                continue
            w = _dec(
                c,
                f"{path}.methods.{key}",
                weight,
                places=4,
                positive=True,
                maximum=Decimal(1),
                percent=True,
            )
            if w is not None:
                methods[m] = w
        scored = [w for m, w in methods.items() if m != "commentary"]
        if mm and len(methods) == len(mm):
            if not scored:
                c.add(f"{path}.methods", raw_methods, "an item needs a scored method")
            elif sum(scored, Decimal(0)) != 1:
                c.add(
                    f"{path}.methods",
                    {k: str(v) for k, v in methods.items()},
                    f"method weights must add up to 1 (100%), not {sum(scored, Decimal(0))}",
                )
    if code is None or title is None or max_score is None:
        return None
    return ItemSpec(
        code=code,
        title=title,
        max_score=max_score,
        rule=rule,
        methods=methods,
        evidence=evidence,
        scale=scale,
        per=per,
        record_kind=record_kind,
        target=target,
    )


def _parse_outcome(c: _Collector, path: str, oc: Any, band_names: set[str]) -> OutcomeRule | None:
    om = _mapping(c, path, oc)
    if om is None:
        return None
    kind = om.get("kind")
    if kind not in OUTCOME_KINDS:
        c.add(f"{path}.kind", kind, "must be one of " + ", ".join(OUTCOME_KINDS))
        return None
    label = _text(c, f"{path}.label", om.get("label"))
    params: dict[str, Any] = {}
    group = om.get("group", "peer_group")
    if group not in ("peer_group", "scope"):
        c.add(f"{path}.group", group, "must be peer_group or scope")
    params["group"] = group
    known = {"kind", "label", "group", "peer_groups"}
    if om.get("peer_groups") is not None:
        pgs = _list(c, f"{path}.peer_groups", om.get("peer_groups")) or []
        names = [
            _text(c, f"{path}.peer_groups[{i}]", g, max_len=CODE_MAX) for i, g in enumerate(pgs)
        ]
        if not pgs:
            c.add(f"{path}.peer_groups", om.get("peer_groups"), "name at least one peer group")
        params["peer_groups"] = [n for n in names if n is not None]
    if kind == "top_n":
        known |= {"n"}
        params["n"] = _int(c, f"{path}.n", om.get("n"), minimum=1)
    elif kind == "forced_distribution":
        known |= {"ratios", "labels", "factors"}
        ratios = _list(c, f"{path}.ratios", om.get("ratios")) or []
        labels = _list(c, f"{path}.labels", om.get("labels")) or []
        factors = _list(c, f"{path}.factors", om.get("factors")) or []
        rs = [_int(c, f"{path}.ratios[{i}]", r, minimum=0) for i, r in enumerate(ratios)]
        fs = [
            _dec(c, f"{path}.factors[{i}]", f, places=4, minimum=Decimal(0))
            for i, f in enumerate(factors)
        ]
        ls = [_text(c, f"{path}.labels[{i}]", x, max_len=CODE_MAX) for i, x in enumerate(labels)]
        if len(rs) < 2:
            c.add(f"{path}.ratios", ratios, "give at least two ratios, e.g. [2, 7, 1]")
        if not (len(rs) == len(ls) == len(fs)):
            c.add(path, None, "ratios, labels and factors must have the same length")
        if rs and all(r is not None for r in rs) and sum(r for r in rs if r) == 0:
            c.add(f"{path}.ratios", ratios, "ratios must not all be 0")
        params.update({"ratios": rs, "labels": ls, "factors": [_num(f) for f in fs]})
    elif kind == "streak":
        known |= {"periods", "when"}
        params["periods"] = _int(c, f"{path}.periods", om.get("periods"), minimum=2)
        when = _mapping(c, f"{path}.when", om.get("when")) or {}
        if len(when) != 1 or next(iter(when)) not in ("grade_in", "last", "bottom"):
            c.add(
                f"{path}.when",
                om.get("when"),
                "give one condition: grade_in: [band…], last: true, or bottom: N",
            )
        else:
            key, val = next(iter(when.items()))
            if key == "grade_in":
                grades = _list(c, f"{path}.when.grade_in", val) or []
                for gi, g in enumerate(grades):
                    if not isinstance(g, str) or g not in band_names:
                        c.add(f"{path}.when.grade_in[{gi}]", g, "is not a grade band")
                params["when"] = {"grade_in": [str(g) for g in grades]}
            elif key == "last":
                if val is not True:
                    c.add(f"{path}.when.last", val, "must be true")
                params["when"] = {"last": True}
            else:
                params["when"] = {"bottom": _int(c, f"{path}.when.bottom", val, minimum=1)}
    elif kind == "grade_link":
        known |= {"grades", "value"}
        grades = _list(c, f"{path}.grades", om.get("grades")) or []
        if not grades:
            c.add(f"{path}.grades", om.get("grades"), "name at least one grade band")
        for gi, g in enumerate(grades):
            if not isinstance(g, str) or g not in band_names:
                c.add(f"{path}.grades[{gi}]", g, "is not a grade band")
        params["grades"] = [str(g) for g in grades]
        if om.get("value") is not None:
            params["value"] = _opt_text(c, f"{path}.value", om.get("value"), max_len=TEXT_MAX)
    _unknown_keys(c, path, om, known)
    if label is None:
        return None
    return OutcomeRule(str(kind), label, params)


# ------------------------------------------------------------------------- exporting


def _num(d: Decimal | None) -> int | str | None:
    """Numbers as YAML shows them: whole numbers as ints, others as exact strings."""
    if d is None:
        return None
    if d == d.to_integral_value():
        return int(d)
    return format(d.normalize(), "f")


def scheme_to_data(spec: SchemeSpec) -> dict[str, Any]:
    """Plain data (for YAML/JSON) that :func:`parse_scheme` reads back to an equal spec."""
    data: dict[str, Any] = {"code": spec.code, "title": spec.title, "period": spec.period}
    if spec.issuer is not None:
        data["issuer"] = spec.issuer
    if spec.scope is not None:
        data["scope"] = list(spec.scope)
    if spec.bounds_min != 0 or spec.bounds_max is not None:
        bounds: dict[str, Any] = {"min": _num(spec.bounds_min)}
        if spec.bounds_max is not None:
            bounds["max"] = _num(spec.bounds_max)
        data["bounds"] = bounds
    if spec.bonus_cap is not None:
        data["bonus_cap"] = _num(spec.bonus_cap)
    if spec.penalty_cap is not None:
        data["penalty_cap"] = _num(spec.penalty_cap)
    if spec.drop_extremes:
        data["drop_extremes"] = list(spec.drop_extremes)
    if spec.appeal_window_days is not None:
        data["appeal_window_days"] = spec.appeal_window_days
    if spec.grade_scales:
        data["grade_scales"] = {
            name: {label: _num(f) for label, f in grades.items()}
            for name, grades in spec.grade_scales.items()
        }
    data["checkpoints"] = [
        {
            "code": cp.code,
            "kind": cp.kind,
            "name": cp.name,
            "weight": _num(cp.weight),
            **({"on": cp.on.isoformat()} if cp.on else {}),
        }
        for cp in spec.checkpoints
    ]
    if spec.grade_bands:
        data["grade_bands"] = [
            {"name": b.name, "min": _num(b.min), **({"quota": _num(b.quota)} if b.quota else {})}
            for b in spec.grade_bands
        ]
    if spec.outcomes:
        data["outcomes"] = [
            {"kind": o.kind, "label": o.label, **_outcome_params(o)} for o in spec.outcomes
        ]
    data["categories"] = [
        {"code": cat.code, "name": cat.name, "items": [_item_data(i) for i in cat.items]}
        for cat in spec.categories
    ]
    return data


def _outcome_params(o: OutcomeRule) -> dict[str, Any]:
    out = dict(o.params)
    if out.get("group") == "peer_group":
        out.pop("group")
    if "factors" in out:
        out["factors"] = [_num(Decimal(f)) for f in out["factors"]]
    return out


def _item_data(i: ItemSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"code": i.code, "title": i.title}
    if i.rule != "veto":
        d["max_score"] = _num(i.max_score)
    d["rule"] = i.rule
    if i.scale is not None:
        d["scale"] = i.scale
    if i.per is not None:
        d["per"] = _num(i.per)
    if i.record_kind is not None:
        d["record_kind"] = i.record_kind
    if i.target is not None:
        d["target"] = i.target
    if i.methods:
        d["methods"] = {m: _num(w) for m, w in i.methods.items()}
    if i.evidence is not None:
        d["evidence"] = i.evidence
    return d
