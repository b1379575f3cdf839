"""Paper-ready figures of a sweep (PNG at 300 dpi + SVG), drawn on result rows.

* :func:`plot_tradeoff` — accuracy against energy, size, synops, … with points styled as
  in Schaefer et al.'s figures (marker by schedule, colour by bit width, size/alpha by
  pruned fraction), the Pareto front as a step line, the baseline and iso-accuracy annotations;
* :func:`plot_breakdown` — per-layer energy by component group, one panel per point.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no
global state) inside an ``rc_context`` (no lasting rcParams change).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from spikelite.hardware.report import GROUPS, group_of
from spikelite.hardware.units import SI_PREFIXES, energy_scale, fmt_energy, scale_for
from spikelite.sweep.columns import (
    MASKED_FRACTION,
    REMOVED_FRACTION,
    find_baseline,
    info,
    to_float,
)
from spikelite.sweep.pareto import Objective, pareto_mask

Row = Mapping[str, Any]

#: Paper style (used in an ``rc_context``).
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.labelsize": 9.5,
    "axes.titlesize": 9.5,
    "legend.fontsize": 7.5,
    "legend.title_fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.2,
    "savefig.dpi": 300,
    "svg.fonttype": "none",
    "svg.hashsalt": "spikelite",
    "pdf.fonttype": 42,
}

#: Marker per compression schedule.
SCHEDULE_MARKERS: dict[str, str] = {
    "baseline": "*", "isolation": "o", "joint": "s", "cumulative": "D",
    "qp": "^", "pq": "v", "ptq": "P",
}
#: Colour per weight bit width (others cycle through tab10).
BITS_COLORS: dict[int, str] = {
    32: "#4d4d4d", 16: "#8c564b", 8: "#1f77b4", 6: "#17becf", 5: "#9467bd",
    4: "#2ca02c", 3: "#ff7f0e", 2: "#d62728", 1: "#e377c2",
}
#: Colour per energy component group.
GROUP_COLORS: dict[str, str] = {
    "compute": "#4c72b0", "weights": "#dd8452", "metadata": "#937860",
    "membrane": "#55a868", "spikes": "#c44e52", "dram": "#8172b3", "static": "#8c8c8c",
}


@contextmanager
def paper_style() -> Iterator[None]:
    """The figure style, applied only inside the ``with`` block."""
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float, **kw: Any) -> Figure:
    """A pyplot-free figure on the Agg canvas."""
    fig = Figure(figsize=(width, height), **kw)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` (300 dpi) and ``stem.svg``; returns both paths."""
    stem = Path(stem)
    if stem.suffix.lower() in (".png", ".svg", ".pdf"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")
    # One draw for the tight bounding box, shared by both files (saves a draw each).
    fig.canvas.draw()
    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.04)
    fig.savefig(png, dpi=300, bbox_inches=bbox, metadata={"Software": None})
    fig.savefig(svg, bbox_inches=bbox, metadata={"Date": None})
    return [png, svg]


# -- axes ------------------------------------------------------------------------------------
def axis_spec(column: str, values: Sequence[float]) -> tuple[str, float]:
    """Axis label (with unit) and the divisor that turns raw values into that unit."""
    base, _, variant = column.partition("__")
    suffix = f" [{variant}]" if variant else ""
    if base == "energy_pj":
        unit, div = energy_scale(values)
        return f"energy per sample ({unit}){suffix}", div
    if base == "deployed_bytes":
        unit, div = scale_for(values, (("MB", 1e6), ("kB", 1.0)))
        return f"deployed size ({unit}){suffix}", 1e3 if unit == "kB" else div
    if base in ("accuracy", "best_accuracy"):
        return f"{'best ' if base == 'best_accuracy' else ''}test accuracy (%)", 0.01
    if base == "accuracy_drop_pt":
        return "accuracy drop (pt)", 1.0
    if base in ("synops", "params"):
        unit, div = scale_for(values, SI_PREFIXES)
        what = "synaptic ops per sample" if base == "synops" else "parameters"
        return (f"{what} ({unit})" if unit else what) + suffix, div
    if base in (MASKED_FRACTION, REMOVED_FRACTION):
        return f"{info(base).label} (%){suffix}", 0.01  # type: ignore[union-attr]
    if base.endswith("seconds"):
        return column.replace("_", " ") + " (s)", 1.0
    return column, 1.0


def _ratio_phrase(column: str) -> str:
    base = column.partition("__")[0]
    return {"energy_pj": "less energy", "deployed_bytes": "smaller",
            "synops": "fewer synops", "params": "fewer parameters"}.get(
        base, f"lower {column}")


def bits_color(bits: Any) -> str:
    """Colour of a bit width (grey when unknown)."""
    b = to_float(bits)
    if math.isnan(b):
        return "#999999"
    b_int = round(b)
    if b_int in BITS_COLORS:
        return BITS_COLORS[b_int]
    return matplotlib.colormaps["tab10"](b_int % 10)  # type: ignore[return-value]


def schedule_marker(schedule: Any) -> str:
    """Marker of a schedule (``X`` when unknown)."""
    return SCHEDULE_MARKERS.get(str(schedule), "X")


def _pruned(row: Row) -> float:
    """The fraction a point is pruned by (masked weights or removed parameters; one of the
    two is 0), in [0, 1]: what a marker's size and alpha show."""
    s = sum(v for c in (MASKED_FRACTION, REMOVED_FRACTION)
            if math.isfinite(v := to_float(row.get(c)))) + 0.0
    return min(max(s, 0.0), 1.0)


BASELINE_SIZE = 170.0


def _label_points(ax: Any, labels: Sequence[tuple[float, float, str, bool]]) -> None:
    """Write ``(x, y, text, bold)`` labels next to their points: labels at the same place are
    merged, and each takes the first of a few offsets where it overlaps no earlier label
    (greedy, in points)."""
    groups: dict[tuple[float, float], tuple[list[str], bool]] = {}
    for x, y, text, bold in labels:
        names, b = groups.setdefault((x, y), ([], bold))
        names.append(text)
        groups[(x, y)] = (names, b or bold)
    to_pt = 72.0 / ax.figure.dpi
    placed: list[tuple[float, float, float, float]] = []
    offsets = [(5, 4, "left", "bottom"), (5, -5, "left", "top"), (-5, 4, "right", "bottom"),
               (-5, -5, "right", "top"), (5, 13, "left", "bottom"), (5, -14, "left", "top"),
               (-5, 13, "right", "bottom"), (-5, -14, "right", "top")]

    def box(px: float, py: float, off: tuple[int, int, str, str], w: float,
            h: float) -> tuple[float, float, float, float]:
        dx, dy, ha, va = off
        x0 = px + dx - (w if ha == "right" else 0)
        y0 = py + dy - (h if va == "top" else 0)
        return (x0, y0, x0 + w, y0 + h)

    for (x, y), (names, bold) in groups.items():
        text = " / ".join(names)
        size = 7.0 if bold else 6.0
        w, h = (0.62 if bold else 0.57) * size * len(text), 1.25 * size
        px, py = (v * to_pt for v in ax.transData.transform((x, y)))
        order = offsets[2:4] + offsets[:2] + offsets[4:] if bold else offsets
        choice = next((o for o in order if all(
            (b := box(px, py, o, w, h))[2] < p[0] or b[0] > p[2] or b[3] < p[1] or b[1] > p[3]
            for p in placed)), order[0])
        placed.append(box(px, py, choice, w, h))
        dx, dy, ha, va = choice
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=size,
                    color="black" if bold else "#333333", ha=ha, va=va,
                    fontweight="bold" if bold else "normal", zorder=5,
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none",
                          "alpha": 0.7})


def _plain_log_ticks(ax: Any, xs: np.ndarray) -> None:
    """Plain-number tick labels on a log x axis (minor ones at 2× and 5× when the data
    span two decades or less)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    pos = xs[np.isfinite(xs) & (xs > 0)]
    span = math.log10(pos.max() / pos.min()) if len(pos) else 0.0

    def major(v: float, _: Any) -> str:
        return f"{v:g}"

    def minor(v: float, _: Any) -> str:
        if span > 2.0 or v <= 0:
            return ""
        mant = round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6)
        return f"{v:g}" if mant in (2.0, 5.0) else ""

    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_major_formatter(FuncFormatter(major))
    ax.xaxis.set_minor_formatter(FuncFormatter(minor))


def _size(s: float) -> float:
    return 26.0 + 110.0 * s


def _alpha(s: float) -> float:
    return 0.92 - 0.35 * s


def _bits_label(b: int) -> str:
    return "FP32" if b == 32 else f"{b} bit"


# -- trade-off ---------------------------------------------------------------------------------
def plot_tradeoff(
    rows: Sequence[Row],
    x: str,
    y: str,
    stem: str | Path,
    *,
    objectives: Sequence[str | Objective] | None = None,
    baseline: Row | str | None = None,
    log_x: bool = True,
    iso_accuracy: Sequence[float] = (1.0,),
    title: str | None = None,
    label_front: bool = True,
) -> list[Path]:
    """Scatter ``y`` against ``x`` (columns or aliases such as ``energy``/``size``) and
    write ``stem.png`` + ``stem.svg``.

    The Pareto front over ``objectives`` (default: ``x`` and ``y`` with their usual senses)
    is drawn as a step line with its points outlined. ``baseline`` (a row, a row key, or
    ``None`` for the row with schedule ``baseline``) is labelled; for each drop in
    ``iso_accuracy`` (points), a dashed line at baseline accuracy − drop and the cheapest
    point above it annotated with its ratio to the baseline ("12.3× less energy").
    """
    rows = list(rows)
    ox, oy = Objective.parse(x, rows), Objective.parse(y, rows)
    base = baseline if isinstance(baseline, Mapping) else find_baseline(rows, baseline)
    objs = [Objective.parse(o, rows) for o in objectives] if objectives else [oy, ox]
    xs = np.array([ox.raw(r) for r in rows], dtype=float)
    ys = np.array([oy.raw(r) for r in rows], dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    log = bool(log_x and ok.any() and (xs[ok] > 0).all())
    on_front = np.array(pareto_mask(rows, objs), dtype=bool) if rows else np.zeros(0, bool)
    xlabel, xdiv = axis_spec(ox.column, xs[ok].tolist())
    ylabel, ydiv = axis_spec(oy.column, ys[ok].tolist())
    X, Y = xs / xdiv, ys / ydiv

    with paper_style():
        fig = new_figure(6.2, 3.9)
        ax = fig.add_subplot()
        if log:
            ax.set_xscale("log")
        idx = np.flatnonzero(ok)
        by_schedule: dict[str, list[int]] = {}
        for i in idx:
            by_schedule.setdefault(str(rows[i].get("schedule", "")), []).append(int(i))
        for sched, members in by_schedule.items():
            sp = [_pruned(rows[i]) for i in members]
            colors = [matplotlib.colors.to_rgba(bits_color(rows[i].get("bits")), _alpha(s))
                      for i, s in zip(members, sp, strict=True)]
            sizes = np.array([BASELINE_SIZE if sched == "baseline" else _size(s) for s in sp])
            ax.scatter(X[members], Y[members], marker=schedule_marker(sched), s=sizes,
                       c=colors, edgecolors="white", linewidths=0.4, zorder=3)
            front = [k for k, i in enumerate(members) if on_front[i]]
            if front:
                ax.scatter(X[members][front], Y[members][front],
                           marker=schedule_marker(sched), s=sizes[front] + 34,
                           facecolors="none", edgecolors="black", linewidths=0.9, zorder=4)
        # Pareto step line (2-D front of the plotted pair when objectives are x and y).
        fidx = sorted((int(i) for i in idx if on_front[i]), key=lambda i: (X[i], Y[i]))
        if len(fidx) >= 2:
            ax.step(X[fidx], Y[fidx], where="post", color="black", lw=1.0, alpha=0.75,
                    zorder=2)
        # Baseline and iso-accuracy annotations.
        bx = by = math.nan
        iso_label: str | None = None
        if base is not None:
            bx, by = ox.raw(base), oy.raw(base)
        labels: list[tuple[float, float, str, bool]] = []
        if math.isfinite(bx) and math.isfinite(by):
            labels.append((bx / xdiv, by / ydiv, "baseline", True))
            iso_label = _iso(ax, rows, ox, oy, base, xs, ys, ok, xdiv, ydiv, iso_accuracy)
        if label_front and 0 < len(fidx) <= 12:
            labels += [(float(X[i]), float(Y[i]), str(rows[i].get("name", "")), False)
                       for i in fidx]
        if labels:
            ax.autoscale_view()
            _label_points(ax, labels)
        if log:
            _plain_log_ticks(ax, X[ok])
        ax.set_xlabel(f"{xlabel}  {ox.arrow}")
        ax.set_ylabel(f"{ylabel}  {oy.arrow}")
        if title:
            ax.set_title(title, loc="left")
        _tradeoff_legend(ax, rows, idx, len(fidx) >= 1, iso_label)
        return save(fig, stem)


def _iso(ax: Any, rows: Sequence[Row], ox: Objective, oy: Objective, base: Row,
         xs: np.ndarray, ys: np.ndarray, ok: np.ndarray, xdiv: float, ydiv: float,
         drops: Sequence[float]) -> str | None:
    """Dashed iso-accuracy lines and the cheapest point within each drop; returns the
    legend label of the lines (None when not drawn)."""
    ycol = oy.column.partition("__")[0]
    if ycol not in ("accuracy", "best_accuracy", "accuracy_drop_pt") or not drops:
        return None
    bx, by = ox.raw(base), oy.raw(base)
    done: set[int] = set()
    for k, d in enumerate(sorted(drops)):
        if ycol == "accuracy_drop_pt":
            thr = by + d
            within = ok & (ys <= thr + 1e-9)
        else:
            thr = by - d / 100.0
            within = ok & (ys >= thr - 1e-12)
        ax.axhline(thr / ydiv, color="#555555", ls="--", lw=0.8, zorder=1)
        cand = [int(i) for i in np.flatnonzero(within) if rows[i] is not base]
        if not cand:
            continue
        best = (min(cand, key=lambda i: xs[i]) if ox.sense == "min"
                else max(cand, key=lambda i: xs[i]))
        if best in done or xs[best] <= 0 or bx <= 0:
            continue
        ratio = bx / xs[best] if ox.sense == "min" else xs[best] / bx
        if ratio <= 1.0:
            continue
        done.add(best)
        drop_pt = (by - ys[best]) * 100.0 if ycol != "accuracy_drop_pt" else ys[best] - by
        delta = f"{-drop_pt:+.2f}".replace("-", "−")
        ax.annotate(f"{ratio:.1f}× {_ratio_phrase(ox.column)}\n(Δacc {delta} pt)",
                    (xs[best] / xdiv, ys[best] / ydiv), xytext=(14, -30 - 22 * k),
                    textcoords="offset points", fontsize=7.5, fontweight="bold",
                    arrowprops={"arrowstyle": "->", "lw": 0.8, "color": "black"},
                    bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#999999",
                          "lw": 0.5, "alpha": 0.9}, zorder=6)
    return f"baseline − {', '.join(f'{d:g}' for d in sorted(drops))} pt"


def _tradeoff_legend(ax: Any, rows: Sequence[Row], idx: np.ndarray, front: bool,
                     iso_label: str | None = None) -> None:
    handles: list[Any] = []
    headers: list[int] = []

    def header(text: str) -> None:
        headers.append(len(handles))
        handles.append(Line2D([], [], linestyle="none", label=text))

    schedules = sorted({str(rows[i].get("schedule", "")) for i in idx},
                       key=lambda s: (list(SCHEDULE_MARKERS).index(s)
                                      if s in SCHEDULE_MARKERS else 99, s))
    if schedules:
        header("schedule")
        handles += [Line2D([], [], marker=schedule_marker(s), linestyle="none",
                           color="#666666", markersize=7 if s == "baseline" else 5,
                           label=s or "?") for s in schedules]
    bits = sorted({round(b) for i in idx if math.isfinite(b := to_float(rows[i].get(
        "bits")))}, reverse=True)
    if bits:
        header("weight bits")
        handles += [Patch(color=bits_color(b), label=_bits_label(b)) for b in bits]
    sp = sorted({round(_pruned(rows[i]), 2) for i in idx})
    if len(sp) > 1:
        header("pruned")
        shown = sorted({sp[0], sp[len(sp) // 2], sp[-1]})
        handles += [Line2D([], [], marker="o", linestyle="none", color="#666666",
                           alpha=_alpha(s), markersize=math.sqrt(_size(s)),
                           label=f"{100 * s:.0f} %") for s in shown]
    if front or iso_label:
        header("")
    if front:
        handles.append(Line2D([], [], color="black", lw=1.0, marker="o", markersize=5,
                              markerfacecolor="none", label="Pareto front"))
    if iso_label:
        handles.append(Line2D([], [], color="#555555", lw=0.8, ls="--", label=iso_label))
    if not handles:
        return
    leg = ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5),
                    frameon=False, handlelength=1.3, borderaxespad=0.0, labelspacing=0.35)
    for i, text in enumerate(leg.get_texts()):
        if i in headers:
            text.set_fontweight("bold")


# -- breakdown ---------------------------------------------------------------------------------
def pick_report(profile: Mapping[str, Any], preset: str | None = None,
                weight_format: str | None = None) -> dict[str, Any]:
    """One report dict from a ``profile.json`` (``{preset: {format: report}}``): the given
    preset (default: the first) and format (default: the least energy). A report dict is
    returned as is."""
    if "layers" in profile:
        return dict(profile)
    if not profile:
        raise ValueError("empty profile")
    by_format = profile[preset] if preset in profile else next(iter(profile.values()))
    if weight_format in by_format:
        return dict(by_format[weight_format])
    return dict(min(by_format.values(),
                    key=lambda r: to_float(r.get("total_pj_per_sample"))))


def layer_groups(report: Mapping[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """``[(layer name, {group: pJ})]`` of a report dict (``.module`` suffixes dropped)."""
    out = []
    for layer in report.get("layers", []):
        g = dict.fromkeys(GROUPS, 0.0)
        for comp, v in (layer.get("components_pj") or {}).items():
            g[group_of(comp)] += float(v or 0.0)
        name = str(layer.get("name", "?")).removesuffix(".module")
        out.append((name, g))
    return out


def plot_breakdown(profiles: Mapping[str, Mapping[str, Any]], stem: str | Path) -> list[Path]:
    """Per-layer energy by component group (stacked horizontal bars), one panel per entry of
    ``profiles`` (label → report dict, or a whole ``profile.json``); writes ``stem.png`` +
    ``stem.svg``."""
    if not profiles:
        raise ValueError("plot_breakdown needs at least one profile")
    reports = {label: pick_report(p) for label, p in profiles.items()}
    per = {label: layer_groups(r) for label, r in reports.items()}
    used = [g for g in GROUPS if any(v[g] for rows in per.values() for _, v in rows)]
    used = used or ["compute"]
    totals = [sum(v.values()) for rows in per.values() for _, v in rows]
    unit, div = energy_scale(totals)
    names = [[n for n, _ in rows] for rows in per.values()]
    share_y = all(n == names[0] for n in names)
    n = len(per)
    n_layers = max((len(x) for x in names), default=1)
    with paper_style():
        fig = new_figure(min(2.6 * n + 1.2, 11.0), 1.2 + 0.26 * max(n_layers, 2),
                         layout="constrained")
        axes = fig.subplots(1, n, sharey=share_y, squeeze=False)[0]
        for k, (ax, (label, rows)) in enumerate(zip(axes, per.items(), strict=True)):
            ypos = np.arange(len(rows))
            left = np.zeros(len(rows))
            for g in used:
                vals = np.array([v[g] for _, v in rows]) / div
                ax.barh(ypos, vals, left=left, color=GROUP_COLORS[g], height=0.7,
                        label=g, edgecolor="white", linewidth=0.3)
                left += vals
            ax.set_yticks(ypos, [nm for nm, _ in rows])
            if not share_y or k == 0:
                ax.invert_yaxis()
            rep = reports[label]
            total = to_float(rep.get("total_pj_per_sample"))
            sub = fmt_energy(total) if math.isfinite(total) else "?"
            fmt = str(rep.get("weight_format") or "").split("(")[0]  # "rle(run_bits=4, …)" → "rle"
            ax.set_title(f"{label}\n{sub} per sample" + (f" ({fmt})" if fmt else ""),
                         fontsize=8.5)
            ax.grid(axis="y", visible=False)
            if share_y and k > 0:
                ax.tick_params(axis="y", left=False)
        fig.legend(handles=[Patch(color=GROUP_COLORS[g], label=g) for g in used],
                   loc="outside upper center", ncol=len(used), frameon=False)
        preset = next(iter(reports.values())).get("preset", {})
        pname = preset.get("name") if isinstance(preset, Mapping) else None
        fig.supxlabel(f"energy per sample ({unit})" + (f" — constants: {pname}" if pname
                                                        else ""), fontsize=8.5)
        return save(fig, stem)
