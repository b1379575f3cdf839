"""Sweep reports: ``summary.md`` and one self-contained ``report.html`` with the plots.

:func:`write_report` writes, into a sweep folder, ``pareto.png|svg`` (accuracy vs energy),
``size.png|svg`` (accuracy vs deployed size), ``pareto__<preset>.png|svg`` for every other
cost preset, ``breakdown.png|svg`` (per-layer energy of the baseline and the best Pareto
points, from their ``artifacts/<key>/profile.json``), ``summary.md`` and ``report.html``
(images embedded, sortable tables, the recipe, the constant sets and their citations).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spikelite.hardware.units import energy_scale, fmt_energy
from spikelite.sweep.columns import (
    ENERGY_PREFIX,
    MASKED_FRACTION,
    REMOVED_FRACTION,
    accuracy_drop,
    find_baseline,
    header,
    headline,
    headline_sentence,
    to_float,
)
from spikelite.sweep.pareto import Objective, pareto_mask, parse_objectives

Row = Mapping[str, Any]


# -- helpers -----------------------------------------------------------------------------------
def version() -> str:
    """spikelite's version string."""
    try:
        import spikelite

        v = getattr(spikelite, "__version__", None)
        if v:
            return str(v)
        from importlib.metadata import version as _v

        return _v("spikelite")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


def preset_columns(rows: Sequence[Row], presets: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """The ``energy_pj__<preset>`` columns present, in the order of ``presets`` first."""
    present: list[str] = []
    for r in rows:
        for k in r:
            if k.startswith(ENERGY_PREFIX) and k not in present:
                present.append(k)
    order = [f"{ENERGY_PREFIX}{p.get('name')}" for p in presets]
    return [c for c in order if c in present] + sorted(c for c in present if c not in order)


def _n(k: int) -> str:
    return f"{k} point" + ("" if k == 1 else "s")


def _fmt(v: float, spec: str = ".4g") -> str:
    return format(round(v, 9) + 0.0, spec) if math.isfinite(v) else "–"


def _sort_energy(rows: Sequence[Row], column: str) -> list[int]:
    def key(i: int) -> tuple[float, str]:
        v = to_float(rows[i].get(column))
        return (v if math.isfinite(v) else math.inf, str(rows[i].get("name", "")))

    return sorted(range(len(rows)), key=key)


def _energy_column(objs: Sequence[Objective], rows: Sequence[Row]) -> str:
    col = next((o.column for o in objs if o.column.startswith("energy_pj")), "energy_pj")
    if rows and not any(col in r for r in rows):
        col = next((c for c in preset_columns(rows)), col)
    return col


def _accuracy_column(objs: Sequence[Objective]) -> str:
    return next((o.column for o in objs if o.column in ("accuracy", "best_accuracy")),
                "accuracy")


# -- table model -------------------------------------------------------------------------------
class Column:
    """A table column: header, raw value (for sorting) and display text."""

    def __init__(self, header: str, raw: Callable[[Row], Any],
                 text: Callable[[Row], str], numeric: bool = True) -> None:
        self.header, self.raw, self.text, self.numeric = header, raw, text, numeric


def table_columns(rows: Sequence[Row], presets: Sequence[Mapping[str, Any]],
                  baseline: Row | None, energy: str, *, full: bool = True) -> list[Column]:
    """The columns of the summary tables (``full`` adds bookkeeping columns)."""
    def get(c: str) -> Callable[[Row], Any]:
        return lambda r: r.get(c)

    def num(c: str, spec: str = ".4g", scale: float = 1.0) -> Callable[[Row], str]:
        return lambda r: _fmt(to_float(r.get(c)) / scale, spec)

    def text(c: str) -> Callable[[Row], str]:
        return lambda r: "" if r.get(c) is None else str(r.get(c))

    cols = [
        Column("name", get("name"), text("name"), numeric=False),
        Column("schedule", get("schedule"), text("schedule"), numeric=False),
    ]
    if full:
        cols.append(Column("scheme", get("scheme"), text("scheme"), numeric=False))
    cols += [
        Column("bits", get("bits"), num("bits", "g")),
    ]
    if full:
        cols.append(Column("method", get("method"), text("method"), numeric=False))
    pruned = [MASKED_FRACTION] + ([REMOVED_FRACTION] if any(
        to_float(r.get(REMOVED_FRACTION)) > 0 for r in rows) else [])
    for c in pruned:
        cols.append(Column(header(c), get(c),
                           lambda r, c=c: _fmt(100 * to_float(r.get(c)), ".1f") + " %"))
    cols += [
        Column("accuracy", get("accuracy"), lambda r: _fmt(100 * to_float(r.get("accuracy")),
                                                           ".2f") + " %"),
        Column("Δacc (pt)", lambda r: -accuracy_drop(r, baseline),
               lambda r: _fmt(-accuracy_drop(r, baseline), "+.2f")),
    ]
    ecols = preset_columns(rows, presets) or [energy]
    for c in ecols:
        unit, div = energy_scale(to_float(r.get(c)) for r in rows)
        name = c[len(ENERGY_PREFIX):] if c.startswith(ENERGY_PREFIX) else "primary"
        cols.append(Column(f"energy {name} ({unit})", get(c), num(c, ".4g", div)))
    if baseline is not None and math.isfinite(be := to_float(baseline.get(energy))):
        def ratio(r: Row, be: float = be) -> float:
            v = to_float(r.get(energy))
            return be / v if math.isfinite(v) and v > 0 else math.nan

        cols.append(Column("× less energy", ratio, lambda r: _fmt(ratio(r), ".3g") + "×"))
    cols.append(Column("format", get("format"), text("format"), numeric=False))
    cols.append(Column("deployed (kB)", get("deployed_bytes"),
                       num("deployed_bytes", ",.2f", 1e3)))
    if full:
        for c, spec in (("synops", ".4g"), ("params", ",.0f"), ("seconds", ".1f")):
            if any(c in r for r in rows):
                cols.append(Column(c, get(c), num(c, spec)))
        cols.append(Column("key", get("key"), text("key"), numeric=False))
    return cols


# -- summary.md --------------------------------------------------------------------------------
def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def write_summary_md(rows: Sequence[Row], path: str | Path, *,
                     objectives: Sequence[str | Objective] = ("accuracy:max", "energy_pj:min"),
                     baseline_key: str | None = None,
                     presets: Sequence[Mapping[str, Any]] = ()) -> Path:
    """A markdown table of all points sorted by energy; Pareto points marked ★."""
    path = Path(path)
    rows = list(rows)
    objs = parse_objectives(objectives)
    mask = pareto_mask(rows, objs)
    base = find_baseline(rows, baseline_key)
    energy = _energy_column(objs, rows)
    cols = table_columns(rows, presets, base, energy, full=False)
    lines = [
        "# Sweep summary",
        "",
        f"{_n(len(rows))}, sorted by {energy}. Pareto front over "
        f"{', '.join(f'{o.column} ({o.sense})' for o in objs)}: {_n(sum(mask))}, marked "
        "in the first column.",
    ]
    if base is not None:
        lines.append(f"Baseline: {_md_cell(str(base.get('name', base.get('key', '?'))))}.")
        best = headline(rows, base, energy=energy)
        if best is not None:
            lines.append(headline_sentence(best, base, energy) + ".")
    lines += ["", "| Pareto | " + " | ".join(_md_cell(c.header) for c in cols) + " |",
              "|:---:|" + "|".join(":---" if not c.numeric else "---:" for c in cols) + "|"]
    for i in _sort_energy(rows, energy):
        r = rows[i]
        lines.append(f"| {'★' if mask[i] else ''} | "
                     + " | ".join(_md_cell(c.text(r)) for c in cols) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- plots -------------------------------------------------------------------------------------
def _breakdown_points(rows: Sequence[Row], mask: Sequence[bool], base: Row | None,
                      energy: str) -> list[tuple[str, Row]]:
    chosen: list[tuple[str, Row]] = []
    if base is not None:
        chosen.append(("baseline", base))
    best = headline(rows, base, energy=energy)
    if best is not None:
        chosen.append(("best within 1 pt", best))
    front = [r for r, m in zip(rows, mask, strict=True) if m
             and math.isfinite(to_float(r.get(energy)))]
    cheapest = min(front, key=lambda r: to_float(r.get(energy)), default=None)
    if cheapest is not None:
        chosen.append(("least-energy Pareto point", cheapest))
    out: list[tuple[str, Row]] = []
    for why, r in chosen:
        if all(r is not o for _, o in out):
            out.append((why, r))
    return out


def _load_profile(run_dir: Path, row: Row, preset: str | None) -> dict[str, Any] | None:
    from spikelite.sweep.plots import pick_report

    art = row.get("artifacts")
    if not art:
        return None
    f = run_dir / str(art) / "profile.json"
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text())
        return pick_report(data, preset, row.get("format"))
    except (ValueError, KeyError, TypeError, StopIteration):
        return None


# -- html --------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:.9em}.headline{background:#f3f8f3;border-left:4px solid #4a4;
padding:.5em 1em}
figure{margin:1em 0}figure img{max-width:100%;height:auto}figcaption{color:#555;
font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}
td.t,th.t{text-align:left}th{background:#f4f4f4;cursor:pointer;user-select:none}
th[data-dir=asc]::after{content:" ▲"}th[data-dir=desc]::after{content:" ▼"}
tr.front td{background:#fffbe6}tr.base td{font-weight:600}
.scroll{overflow-x:auto}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.85em}
"""

JS = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", dir);
    function key(td) {
      var v = td.hasAttribute("data-v") ? td.getAttribute("data-v") : td.textContent;
      var n = parseFloat(v);
      return (v.trim() === "" || isNaN(n)) ? [1, v.toLowerCase()] : [0, n];
    }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      var c = x[0] !== y[0] ? x[0] - y[0] : (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _raw_attr(v: Any) -> str:
    f = to_float(v)
    if math.isfinite(f):
        return f' data-v="{f!r}"'
    return f' data-v="{_e(v)}"' if v is not None else ' data-v=""'


def html_table(rows: Sequence[Row], order: Sequence[int], cols: Sequence[Column],
               mask: Sequence[bool], base: Row | None, table_id: str) -> str:
    """A sortable HTML table of ``rows`` in ``order`` (front rows highlighted)."""
    head = "".join(f'<th class="{"" if c.numeric else "t"}">{_e(c.header)}</th>' for c in cols)
    body = []
    for i in order:
        r = rows[i]
        cls = " ".join(x for x in ("front" if mask[i] else "", "base" if r is base else "") if x)
        cells = "".join(
            f'<td class="{"" if c.numeric else "t"}"{_raw_attr(c.raw(r))}>{_e(c.text(r))}</td>'
            for c in cols)
        star = '<td class="t" data-v="1">★</td>' if mask[i] else '<td class="t" data-v="0"></td>'
        body.append(f'<tr class="{cls}">{star}{cells}</tr>')
    return (f'<div class="scroll"><table class="sortable" id="{_e(table_id)}"><thead><tr>'
            f'<th class="t">Pareto</th>{head}</tr></thead><tbody>{"".join(body)}'
            "</tbody></table></div>")


def _img(path: Path, caption: str) -> str:
    svg = path.with_suffix(".svg")
    if svg.is_file():
        uri = "data:image/svg+xml;base64," + base64.b64encode(svg.read_bytes()).decode()
    else:
        uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{_e(caption)}" src="{uri}"><figcaption>{_e(caption)}'
            "</figcaption></figure>")


def _value_text(v: Any) -> str:
    if isinstance(v, Mapping):
        return "; ".join(f"{k}: {_value_text(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_value_text(x) for x in v)
    return str(v)


def _preset_html(p: Mapping[str, Any]) -> str:
    vals = p.get("values") or {}
    rows = "".join(f'<tr><td class="t">{_e(k)}</td><td class="t">{_e(_value_text(v))}</td></tr>'
                   for k, v in (vals.items() if isinstance(vals, Mapping) else []))
    out = [f"<h3>{_e(p.get('name', '?'))}</h3>"]
    if p.get("citation"):
        out.append(f"<p><b>Source:</b> {_e(p['citation'])}</p>")
    if p.get("description"):
        out.append(f"<p>{_e(p['description'])}</p>")
    if rows:
        out.append('<table class="sortable"><thead><tr><th class="t">constant</th>'
                   f'<th class="t">value</th></tr></thead><tbody>{rows}</tbody></table>')
    return "\n".join(out)


def _yaml(obj: Any) -> str:
    try:
        import yaml

        return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, default_flow_style=False)
    except Exception:
        return json.dumps(obj, indent=2, default=str)


# -- the report --------------------------------------------------------------------------------
def write_report(
    run_dir: str | Path,
    rows: Sequence[Row],
    *,
    recipe: Mapping[str, Any],
    presets: Sequence[Mapping[str, Any]],
    objectives: Sequence[str | Objective] = ("accuracy:max", "energy_pj:min"),
    baseline_key: str | None = None,
    title: str = "spikelite sweep",
    artifacts: str | Path | None = None,
) -> dict[str, Path]:
    """Write the plots, ``summary.md`` and ``report.html`` into ``run_dir``; returns the
    paths by name (``pareto_png``, ``pareto_svg``, ``size_png``, …, ``summary``, ``html``).

    ``presets`` are ``{name, citation, description, values}`` dicts (the first is the
    primary one, whose per-layer profile is plotted); ``baseline_key`` picks the baseline
    row (default: the row with schedule ``baseline``); ``artifacts`` is the folder the
    rows' ``artifacts`` paths are relative to (default ``run_dir``).
    """
    from spikelite.sweep.plots import plot_breakdown, plot_tradeoff

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    objs = parse_objectives(objectives)
    mask = pareto_mask(rows, objs)
    base = find_baseline(rows, baseline_key)
    energy = _energy_column(objs, rows)
    acc = _accuracy_column(objs)
    files: dict[str, Path] = {}
    figures: list[tuple[Path, str]] = []

    def plot(name: str, x: str, caption: str, **kw: Any) -> None:
        if not any(math.isfinite(to_float(r.get(x))) for r in rows):
            return
        front = objs if {o.column for o in objs} == {x, acc} else None
        png, svg = plot_tradeoff(rows, f"{x}:min", f"{acc}:max", run_dir / name,
                                 objectives=front, baseline=base, **kw)
        files[f"{name}_png"], files[f"{name}_svg"] = png, svg
        figures.append((png, caption))

    primary = presets[0].get("name") if presets else None
    plot("pareto", energy, f"Accuracy vs modelled energy per sample"
         f"{f' ({primary})' if primary else ''}; Pareto front outlined.")
    plot("size", "deployed_bytes", "Accuracy vs deployed model size; Pareto front outlined.")
    for col in preset_columns(rows, presets):
        pname = col[len(ENERGY_PREFIX):]
        if pname == primary or col == energy:
            continue
        plot(f"pareto__{pname}", col, f"Accuracy vs energy under the {pname} constants.")

    chosen = _breakdown_points(rows, mask, base, energy)
    profiles: dict[str, dict[str, Any]] = {}
    for why, r in chosen:
        rep = _load_profile(Path(artifacts) if artifacts else run_dir, r, primary)
        if rep is not None:
            profiles[f"{r.get('name', r.get('key', '?'))} ({why})"] = rep
    if profiles:
        png, svg = plot_breakdown(profiles, run_dir / "breakdown")
        files["breakdown_png"], files["breakdown_svg"] = png, svg
        figures.append((png, "Per-layer energy per sample by component group: "
                        + ", ".join(profiles) + "."))

    files["summary"] = write_summary_md(rows, run_dir / "summary.md", objectives=objs,
                                        baseline_key=base.get("key") if base else None,
                                        presets=presets)
    cols = table_columns(rows, presets, base, energy)
    order = _sort_energy(rows, energy)
    front_order = [i for i in order if mask[i]]
    best = headline(rows, base, energy=energy)
    now = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Generated {_e(now)} by spikelite {_e(version())} · '
        f"{_n(len(rows))} · Pareto front over "
        f"{_e(', '.join(f'{o.column} ({o.sense})' for o in objs))}: {_n(sum(mask))}"
        "</p>",
    ]
    if base is not None:
        parts.append(f"<p>Baseline: <b>{_e(base.get('name', base.get('key')))}</b>, accuracy "
                     f"{_e(_fmt(100 * to_float(base.get('accuracy')), '.2f'))} %, "
                     f"energy {_e(_fmt_pj(to_float(base.get(energy))))} per sample.</p>")
    if best is not None and base is not None:
        parts.append(f'<p class="headline">{_e(headline_sentence(best, base, energy))} '
                     f"({_e(best.get('format', ''))} weights).</p>")
    parts.append("<h2>Pareto front</h2>")
    parts.append(html_table(rows, front_order, cols, mask, base, "pareto-table"))
    if figures:
        parts.append("<h2>Figures</h2>")
        parts += [_img(p, c) for p, c in figures]
    parts.append("<h2>All points</h2>")
    parts.append("<p class=\"meta\">Click a column header to sort.</p>")
    parts.append(html_table(rows, order, cols, mask, base, "all-points"))
    parts.append("<h2>Cost constants</h2>")
    parts += [_preset_html(p) for p in presets] or ["<p>No preset information.</p>"]
    parts.append("<h2>Recipe</h2>")
    parts.append(f"<pre>{_e(_yaml(dict(recipe)))}</pre>")
    parts.append(f"<script>{JS}</script></body></html>")
    out = run_dir / "report.html"
    out.write_text("\n".join(parts) + "\n", encoding="utf-8")
    files["html"] = out
    return files


def _fmt_pj(pj: float) -> str:
    return fmt_energy(pj) if math.isfinite(pj) else "–"
