"""Charts as PNG, where a person would rather look than read.

- :func:`radar_chart`: an organization's category score rates against its peer group's
  average (当面反馈);
- :func:`ranking_chart`: a peer group's totals, best first, coloured by grade (通报反馈);
- :func:`trend_chart`: an organization's totals and ranks year over year.

matplotlib is imported when a chart is drawn (not with pdca), with the Agg renderer and
no pyplot state; labels are set in the CJK font of :mod:`pdca.reports.fonts`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdca.errors import ValidationError

from .fonts import font_chain

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["radar_chart", "ranking_chart", "trend_chart"]

DPI = 120
#: Colours by grade name (others get the default blue).
GRADE_COLOURS = {
    "优秀": "#2e7d32",
    "好": "#2e7d32",
    "良好": "#1565c0",
    "较好": "#1565c0",
    "一般": "#f9a825",
    "较差": "#c62828",
}
DEFAULT_COLOUR = "#1565c0"
PEER_COLOUR = "#ef6c00"
#: A ranking chart shows at most this many bars unless ``top`` says otherwise.
MAX_BARS = 60


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(
        {
            "font.family": font_chain(),
            "axes.unicode_minus": False,
            # Names are text, never TeX: a "$" in an organization's name stays a "$".
            "text.parse_math": False,
            "font.size": 10,
            "savefig.dpi": DPI,
        }
    ):
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        yield fig


def _save(fig: Figure, path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ValidationError("path", str(p), "charts are written as .png")
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, format="png", facecolor="white")
    return p


def _f(x: Any) -> float | None:
    return None if x is None else float(Decimal(str(x)))


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


# ---------------------------------------------------------------------------- radar


def radar_chart(
    feedback_data: Mapping[str, Any],
    peer_average: Mapping[str, Any] | None,
    path: str | Path,
) -> Path:
    """An organization's score rate per category (sub-total ÷ category maximum) against
    ``peer_average`` (category code → the peer group's average rate; by default the one in
    ``feedback_data``). Fewer than three categories make no polygon: bars are drawn."""
    peer = peer_average if peer_average is not None else feedback_data.get("peer_average", {})
    cats = [c for c in feedback_data["categories"] if c.get("max")]
    if not cats:
        raise ValidationError("categories", [], "the scheme has no scored category to chart")
    labels = [str(c["name"]) for c in cats]
    mine = [_f(c["rate"]) or 0.0 for c in cats]
    theirs = [_f(peer.get(c["code"])) for c in cats]
    name = str(feedback_data["name"])
    group = feedback_data.get("peer_group") or "全部"
    title = f"{name} {feedback_data['period']} 分类得分率与同类组平均对比"
    peer_label = f"同类组平均（{group}）"
    with _figure(7.2, 6.2 if len(cats) >= 3 else 4.2) as fig:
        if len(cats) >= 3:
            from matplotlib.projections.polar import PolarAxes

            ax = fig.add_subplot(projection="polar")
            assert isinstance(ax, PolarAxes)
            angles = [2 * math.pi * i / len(cats) for i in range(len(cats))]
            closed = [*angles, angles[0]]
            ax.set_theta_offset(math.pi / 2)
            ax.set_theta_direction(-1)
            ax.set_ylim(0, 1)
            ax.set_yticks([0.2, 0.4, 0.6, 0.8, 1.0])
            ax.set_yticklabels(["20%", "40%", "60%", "80%", "100%"], fontsize=8, color="#666")
            ax.set_xticks(angles)
            ax.set_xticklabels([f"{lab}\n{_pct(v)}" for lab, v in zip(labels, mine, strict=True)])
            ax.plot(closed, [*mine, mine[0]], color=DEFAULT_COLOUR, linewidth=2, label=name)
            ax.fill(closed, [*mine, mine[0]], color=DEFAULT_COLOUR, alpha=0.2)
            if any(v is not None for v in theirs):
                vals = [v or 0.0 for v in theirs]
                ax.plot(
                    closed,
                    [*vals, vals[0]],
                    color=PEER_COLOUR,
                    linewidth=1.5,
                    linestyle="--",
                    label=peer_label,
                )
            ax.tick_params(axis="x", pad=8)
            fig.legend(loc="outside lower center", ncols=2, fontsize=9)
        else:
            ax = fig.add_subplot()
            xs = list(range(len(cats)))
            ax.bar([x - 0.2 for x in xs], mine, width=0.4, color=DEFAULT_COLOUR, label=name)
            ax.bar(
                [x + 0.2 for x in xs],
                [v or 0.0 for v in theirs],
                width=0.4,
                color=PEER_COLOUR,
                label=peer_label,
            )
            ax.set_xticks(xs, labels)
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("得分率")
            ax.legend(fontsize=9)
        fig.suptitle(title, fontsize=12)
        return _save(fig, path)


# -------------------------------------------------------------------------- ranking


def ranking_chart(
    bulletin_data: Mapping[str, Any],
    group: str | None,
    path: str | Path,
    *,
    top: int | None = None,
) -> Path:
    """A peer group's totals as horizontal bars, best at the top, coloured by grade, each
    labelled with its total, grade and rank. ``top``: only the first N (by default the
    first :data:`MAX_BARS`; the title then says how many there are). ``group`` may be
    ``None`` when the bulletin has a single peer group."""
    groups = {g["peer_group"]: g for g in bulletin_data["groups"]}
    if group is None:
        if len(groups) != 1:
            raise ValidationError(
                "group", None, "name the peer group: " + ", ".join(map(repr, groups))
            )
        group = next(iter(groups))
    if group not in groups:
        raise ValidationError(
            "group", group, "is not a peer group of the bulletin: " + ", ".join(map(repr, groups))
        )
    everyone = list(groups[group]["rows"])
    limit = top if top is not None else MAX_BARS
    rows = everyone[:limit]
    if not rows:
        raise ValidationError("group", group, "has no organization to chart")
    names = [str(r["name"]) for r in rows][::-1]
    totals = [_f(r["total"]) or 0.0 for r in rows][::-1]
    colours = [GRADE_COLOURS.get(r["grade"] or "", DEFAULT_COLOUR) for r in rows][::-1]
    notes = [
        f"{r['total']}  {r['grade'] or ''}  第{r['rank']}名" + ("  一票否决" if r["vetoed"] else "")
        for r in rows
    ][::-1]
    max_total = _f(bulletin_data["scheme"].get("max_total")) or max(totals) or 1.0
    scheme = bulletin_data["scheme"]
    title = f"{scheme['title']} {bulletin_data['period']} 同类组「{group or '全部'}」总分排名"
    if len(rows) < len(everyone):
        title += f"（前 {len(rows)} 名，共 {len(everyone)} 个）"
    with _figure(8.0, max(2.6, 0.42 * len(rows) + 1.4)) as fig:
        ax = fig.add_subplot()
        ys = list(range(len(rows)))
        ax.barh(ys, totals, color=colours, height=0.65)
        ax.set_yticks(ys, names)
        ax.set_xlim(0, max_total * 1.25)
        ax.set_xlabel("总分")
        for y, v, note in zip(ys, totals, notes, strict=True):
            ax.text(v + max_total * 0.01, y, note, va="center", fontsize=8.5)
        seen = []
        for r in rows:
            g = r["grade"]
            if g and g not in seen:
                seen.append(g)
        if seen:
            from matplotlib.patches import Patch

            ax.legend(
                handles=[Patch(color=GRADE_COLOURS.get(g, DEFAULT_COLOUR), label=g) for g in seen],
                loc="lower right",
                fontsize=8.5,
                title="等次",
            )
        ax.spines[["top", "right"]].set_visible(False)
        fig.suptitle(title, fontsize=12)
        return _save(fig, path)


# ---------------------------------------------------------------------------- trend


def trend_chart(compare_years_data: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """An organization's total per period as a line (gaps where it had no result), each
    point labelled with its grade and rank, and its rank in the peer group on a second,
    inverted axis."""
    data = list(compare_years_data)
    if not data:
        raise ValidationError("periods", [], "nothing to chart")
    periods = [str(d["period"]) for d in data]
    totals = [_f(d["total"]) for d in data]
    ranks = [d["rank"] for d in data]
    name = str(data[0]["name"])
    xs = list(range(len(data)))
    with _figure(7.2, 4.4) as fig:
        ax = fig.add_subplot()
        ax.plot(
            xs,
            [math.nan if v is None else v for v in totals],
            marker="o",
            color=DEFAULT_COLOUR,
            linewidth=2,
            label="总分",
        )
        ax.set_xticks(xs, periods)
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_xlabel("考核期间")
        ax.set_ylabel("总分")
        present = [v for v in totals if v is not None]
        top = max([_f(d.get("max_total")) or 0.0 for d in data] + present + [1.0])
        ax.set_ylim(0, top * 1.18)
        ax.spines[["top"]].set_visible(False)
        ax2 = None
        if any(r is not None for r in ranks):
            ax2 = ax.twinx()
            ax2.plot(
                xs,
                [math.nan if r is None else r for r in ranks],
                marker="s",
                color=PEER_COLOUR,
                linestyle="--",
                linewidth=1.2,
                label="同类组名次",
            )
            worst = max([d.get("group_size") or 1 for d in data] + [r or 1 for r in ranks])
            ax2.set_ylim(worst + 0.5, 0.5)
            ax2.set_ylabel("同类组名次")
            from matplotlib.ticker import MaxNLocator

            ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax2.spines[["top"]].set_visible(False)
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            fig.legend(h1 + h2, l1 + l2, loc="outside lower center", ncols=2, fontsize=8.5)
        # Labels go on the top-most axes, so the rank line never covers them.
        top_ax = ax2 if ax2 is not None else ax
        for x, d, v in zip(xs, data, totals, strict=True):
            if v is None:
                top_ax.annotate(
                    "无考核结果",
                    (x, 0),
                    xycoords=ax.transData,
                    textcoords="offset points",
                    xytext=(0, 4),
                    ha="center",
                    fontsize=8.5,
                    color="#888",
                )
                continue
            note = f"{d['total']}"
            if d.get("grade"):
                note += f"\n{d['grade']}"
            if d.get("rank") is not None:
                note += f" 第{d['rank']}/{d['group_size']}名"
            top_ax.annotate(
                note,
                (x, v),
                xycoords=ax.transData,
                textcoords="offset points",
                xytext=(0, 9),
                ha="center",
                fontsize=8.5,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
            )
        fig.suptitle(f"{name} 历年考核总分与名次", fontsize=12)
        return _save(fig, path)
