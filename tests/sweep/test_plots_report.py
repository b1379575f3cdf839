"""Plots (valid PNG/SVG), summary.md and the self-contained report.html."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from spikelite.hardware import get_preset
from spikelite.sweep.pareto import pareto_mask
from spikelite.sweep.plots import pick_report, plot_breakdown, plot_tradeoff
from spikelite.sweep.report import write_report, write_summary_md

from .conftest import PRESETS, make_row, sweep_rows

AE = ("accuracy:max", "energy_pj:min")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_images(paths: list[Path], stem: Path) -> None:
    assert [p.name for p in paths] == [stem.name + ".png", stem.name + ".svg"]
    png, svg = paths
    assert png.read_bytes()[:8] == PNG_MAGIC
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")


def preset_dicts() -> list[dict[str, Any]]:
    out = []
    for name in PRESETS:
        p = get_preset(name)
        out.append({"name": p.name, "citation": p.citation, "description": p.description,
                    "values": p.values()})
    return out


class Collect(HTMLParser):
    """Tags, attributes and text of a page (raises nothing on valid input)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self._table = a.get("id") or f"table{len(self.rows)}"
            self.rows[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.rows[self._table].append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table is not None:
            self.rows[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def test_plot_tradeoff_writes_png_and_svg(tmp_path: Path) -> None:
    before = copy.deepcopy(dict(matplotlib.rcParams))
    rows = sweep_rows()
    stem = tmp_path / "figs" / "pareto"
    paths = plot_tradeoff(rows, "energy_pj", "accuracy", stem, objectives=AE,
                          baseline=rows[0], iso_accuracy=(1.0, 3.0))
    assert_images(paths, stem)
    assert dict(matplotlib.rcParams) == before  # styles only inside a context
    svg = paths[1].read_text()
    assert "less energy" in svg and "joint-duq4-p80" in svg
    assert "energy per sample (nJ)" in svg


@pytest.mark.parametrize(("x", "y", "kw"), [
    ("synops", "accuracy_drop_pt:min", {"log_x": False}),
    ("energy_pj__sparseloop-eyeriss45", "accuracy", {"baseline": "k-fp32"}),
])
def test_plot_tradeoff_variants(tmp_path: Path, x: str, y: str, kw: dict[str, Any]) -> None:
    paths = plot_tradeoff(sweep_rows(), x, y, tmp_path / "v", **kw)
    assert_images(paths, tmp_path / "v")


def test_plot_tradeoff_size_ratio_and_no_baseline(tmp_path: Path) -> None:
    rows = sweep_rows()
    svg = plot_tradeoff(rows, "size", "accuracy", tmp_path / "s")[1].read_text()
    assert "smaller" in svg and "deployed size (kB)" in svg
    no_base = [r for r in rows if r["schedule"] != "baseline"]
    no_base.append(make_row("zero", "ptq", 4, 0.0, 0.5, 0.0, 0))  # not drawable on log x
    paths = plot_tradeoff(no_base, "energy", "accuracy", tmp_path / "nb", iso_accuracy=())
    assert_images(paths, tmp_path / "nb")


def test_plot_breakdown(tmp_path: Path, profile_dicts: dict[str, Any]) -> None:
    rep = pick_report(profile_dicts, PRESETS[0], "bitmask")
    assert rep["weight_format"] == "bitmask"
    assert rep["preset"]["name"] == PRESETS[0]
    paths = plot_breakdown({"baseline": profile_dicts, "joint": rep}, tmp_path / "bd")
    assert_images(paths, tmp_path / "bd")
    svg = paths[1].read_text()
    for text in ("fc1", "weights", "membrane", "baseline", "joint"):
        assert text in svg


def _table_lines(md: str) -> list[str]:
    return [ln for ln in md.splitlines() if ln.startswith("|")][2:]


def test_summary_md(tmp_path: Path) -> None:
    rows = sweep_rows()
    path = write_summary_md(rows, tmp_path / "summary.md", objectives=AE,
                            baseline_key="k-fp32")
    md = path.read_text()
    lines = _table_lines(md)
    assert len(lines) == len(rows)
    mask = dict(zip((r["name"] for r in rows), pareto_mask(rows, AE), strict=True))
    starred = {ln.split("|")[2].strip() for ln in lines if "★" in ln}
    assert starred == {n for n, m in mask.items() if m}
    assert md.count("★") == sum(mask.values())
    # Sorted by energy, the NaN-accuracy row (cheapest energy) first, never starred.
    energies = [float(ln.split("|")[9]) for ln in lines]
    assert energies == sorted(energies)
    assert "13.6× less energy" in md


def test_write_report(report_run_dir: Path) -> None:
    rows = sweep_rows()
    rows[1]["name"] = "ptq <duq8> & \"x\""  # escaped everywhere
    recipe = {"name": "tiny", "data": {"name": "digits", "time_steps": 4},
              "objectives": list(AE)}
    files = write_report(report_run_dir, rows, recipe=recipe, presets=preset_dicts(),
                         objectives=AE, baseline_key="k-fp32", title="tiny <sweep>")
    for key in ("pareto_png", "pareto_svg", "size_png", "size_svg", "breakdown_png",
                "breakdown_svg", "summary", "html"):
        assert files[key].is_file(), key
    assert files["pareto_png"] == report_run_dir / "pareto.png"
    assert files["html"] == report_run_dir / "report.html"
    assert_images([files["pareto_png"], files["pareto_svg"]], report_run_dir / "pareto")
    assert_images([files["size_png"], files["size_svg"]], report_run_dir / "size")
    assert_images([files["breakdown_png"], files["breakdown_svg"]],
                  report_run_dir / "breakdown")

    page = files["html"].read_text()
    parser = Collect()
    parser.feed(page)
    parser.close()
    text = "".join(parser.text)
    imgs = [a["src"] for t, a in parser.tags if t == "img"]
    assert len(imgs) >= 3 and all(s and s.startswith("data:image/") for s in imgs)
    assert not any(t in ("link", "iframe") for t, _ in parser.tags)
    assert not any(a.get("src", "").startswith("http") for t, a in parser.tags
                   if t == "script" or t == "img")
    all_rows = parser.rows["all-points"][1:]  # header row has no <td>
    assert len(all_rows) == len(rows)
    names = {r[1] for r in all_rows}
    assert names == {r["name"] for r in rows}
    front = parser.rows["pareto-table"][1:]
    assert len(front) == sum(pareto_mask(rows, AE))
    assert all(r[0] == "★" for r in front)
    for p in preset_dicts():
        assert p["citation"] in text
        assert p["name"] in text
    assert "time_steps: 4" in text  # the recipe as YAML
    assert "spikelite 0.1" in text or "spikelite " in text
    assert "<duq8>" not in page and "&lt;duq8&gt;" in page
    assert "<sweep>" not in page
    assert "addEventListener" in page  # the sortable tables' script


def test_write_report_without_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    import spikelite.sweep.plots as plots

    calls: list[str] = []

    def fake_plot(rows: Any, x: str, y: str, stem: Path, **kw: Any) -> list[Path]:
        calls.append(x)
        out = [Path(f"{stem}.png"), Path(f"{stem}.svg")]
        out[0].write_bytes(PNG_MAGIC)
        out[1].write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
        return out

    monkeypatch.setattr(plots, "plot_tradeoff", fake_plot)
    rows = sweep_rows()
    files = write_report(tmp_path, rows, recipe={"name": "x"}, presets=[])
    assert "breakdown_png" not in files  # no artifacts/…/profile.json: skipped
    assert calls[:2] == ["energy_pj:min", "deployed_bytes:min"]
    assert files["html"].is_file() and files["summary"].is_file()
    Collect().feed(files["html"].read_text())
