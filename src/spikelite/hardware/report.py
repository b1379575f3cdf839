"""The profile report: per layer and per component, totals per sample and per time step.

Energies are stored in pJ per sample. :meth:`Report.table` renders rich tables,
:meth:`Report.to_dict`/:meth:`Report.to_json` serialise everything (constant-set name,
citation and values included), :attr:`Report.neurobench` is the NeuroBench-named block.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from spikelite.hardware.energy import CostOptions, LayerCost
from spikelite.hardware.presets import CostPreset
from spikelite.hardware.size import SizeReport
from spikelite.hardware.units import fmt_energy, fmt_si  # fmt_energy: also imported from here

#: Display groups of the component keys (``memory.<class>.<level>``).
GROUPS = ("compute", "weights", "metadata", "membrane", "spikes", "dram", "static")


def group_of(component: str) -> str:
    """``compute.ac`` → compute; ``memory.metadata.sram`` → metadata; any ``*.dram`` → dram."""
    parts = component.split(".")
    if parts[0] == "compute":
        return "compute"
    if parts[0] == "static":
        return "static"
    if parts[-1] == "dram":
        return "dram"
    return {"bias": "weights"}.get(parts[1], parts[1])


@dataclass(frozen=True)
class CostContext:
    """What a report was costed from, so :meth:`Report.recost` can cost the same recorded
    activity again: the (baked) model, its recorded activity, the per-layer quantization
    sidecars, and the costing function that made the report
    (:func:`spikelite.hardware.profiler.cost_activity`)."""

    model: Any
    activity: Any
    layers: Mapping[str, Any] | None
    cost: Callable[..., Report]


@dataclass
class Report:
    """Result of :func:`spikelite.hardware.profile` (energies in pJ per sample)."""

    preset: CostPreset
    weight_format: str
    options: CostOptions
    samples: int
    time_steps: int
    layers: list[LayerCost]
    extras: dict[str, float]
    neurobench: dict[str, Any]
    footprint: SizeReport
    uncounted: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model_name: str = ""
    context: CostContext | None = field(default=None, repr=False, compare=False)

    # -- totals ----------------------------------------------------------------------------
    def components(self) -> dict[str, float]:
        """pJ per sample by component key, summed over layers (+ ``static``)."""
        out: dict[str, float] = {}
        for row in self.layers:
            for k, v in row.components.items():
                out[k] = out.get(k, 0.0) + v
        if self.extras.get("static"):
            out["static"] = self.extras["static"]
        return out

    def groups(self) -> dict[str, float]:
        out = dict.fromkeys(GROUPS, 0.0)
        for k, v in self.components().items():
            out[group_of(k)] += v
        return out

    @property
    def total_pj(self) -> float:
        """Energy per sample (pJ)."""
        return sum(self.components().values())

    @property
    def per_step_pj(self) -> float:
        return self.total_pj / max(self.time_steps, 1)

    @property
    def edp(self) -> float:
        """Energy-delay product per sample (J·s)."""
        return self.total_pj * 1e-12 * self.extras.get("latency_s", 0.0)

    def exact(self) -> dict[str, float]:
        """spikelite's own exact counts, per sample, summed over layers and steps."""
        syn = [r.counts for r in self.layers if r.role == "synaptic"]
        neu = [r.counts for r in self.layers if r.role == "neuron"]
        out = {k: sum(c[k] for c in syn) for k in (
            "events", "events_graded", "fanout", "nonzero_fanout", "effective_ac",
            "effective_mac", "dense", "charged_ac", "charged_mac", "gated_ops")}
        for k in ("neuron_steps", "updates_charged", "spikes", "membrane_updates"):
            if all(k in c for c in neu):
                out[k] = sum(c[k] for c in neu)
        return out

    def recost(self, preset: str | CostPreset | None = None,
               weight_format: str | None = None, **options: Any) -> Report:
        """The same recorded activity costed with another preset/format/options."""
        ctx = self.context
        if ctx is None:
            raise ValueError("this report has no recorded activity to re-cost")
        merged = {**self.options.to_dict(), **options} if preset is None else options
        return ctx.cost(ctx.model, ctx.activity, preset or self.preset,
                        weight_format or self.weight_format, layers=ctx.layers, **merged)

    # -- output ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        comps = self.components()
        return {
            "model": self.model_name,
            "preset": {"name": self.preset.name, "citation": self.preset.citation,
                       "description": self.preset.description, "values": self.preset.values()},
            "weight_format": self.weight_format,
            "options": self.options.to_dict(),
            "samples": self.samples,
            "time_steps": self.time_steps,
            "units": "pJ per sample (energies), bits (storage)",
            "total_pj_per_sample": self.total_pj,
            "total_pj_per_step": self.per_step_pj,
            "components_pj": comps,
            "groups_pj": self.groups(),
            "cycles": self.extras.get("cycles"),
            "latency_s": self.extras.get("latency_s"),
            "edp_js": self.edp,
            "weights_in_dram": bool(self.extras.get("weights_in_dram")),
            "exact": self.exact(),
            "neurobench": self.neurobench,
            "footprint": self.footprint.to_dict(),
            "layers": [
                {"name": r.name, "role": r.role, "total_pj": r.total, "components_pj":
                 r.components, "counts": r.counts, "cycles": r.cycles,
                 "storage_bits": r.storage_bits}
                for r in self.layers
            ],
            "uncounted": list(self.uncounted),
            "notes": list(self.notes),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=float)

    def table(self) -> Group:
        """Rich tables: per layer, per component, NeuroBench block."""
        title = (f"{self.model_name or 'model'} — preset {self.preset.name}, weights "
                 f"{self.weight_format}, {self.samples} samples × T={self.time_steps}")
        t = Table(title=title, title_justify="left")
        for col in ("layer", "bits", "w dens.", "events", "syn ops", "spikes",
                    *GROUPS[:-1], "total"):
            t.add_column(col, justify="left" if col == "layer" else "right")
        for r in self.layers:
            g = dict.fromkeys(GROUPS, 0.0)
            for k, v in r.components.items():
                g[group_of(k)] += v
            c = r.counts
            syn = r.role == "synaptic"
            t.add_row(
                r.name,
                f"{c['bits']:.0f}" if syn else "",
                f"{c['weight_density']:.2f}" if syn else "",
                fmt_si(c["events"]) if syn else "",
                fmt_si(c["charged_ac"] + c["charged_mac"]) if syn else "",
                "" if syn else fmt_si(c["spikes"]),
                *(fmt_energy(g[k]) if g[k] else "–" for k in GROUPS[:-1]),
                fmt_energy(r.total),
            )
        gr = self.groups()
        t.add_row("total", "", "", "", "", "", *(fmt_energy(gr[k]) if gr[k] else "–"
                                                  for k in GROUPS[:-1]),
                  fmt_energy(self.total_pj), style="bold")
        comp = Table(title="components (per sample)", title_justify="left")
        for col in ("component", "energy", "per step", "share"):
            comp.add_column(col, justify="left" if col == "component" else "right")
        total = self.total_pj or 1.0
        for k, v in sorted(self.components().items(), key=lambda kv: -kv[1]):
            if v:
                comp.add_row(k, fmt_energy(v), fmt_energy(v / max(self.time_steps, 1)),
                             f"{100 * v / total:.1f} %")
        nb = Table(title="NeuroBench-named metrics (per sample)", title_justify="left")
        nb.add_column("metric")
        nb.add_column("value", justify="right")
        so = self.neurobench["SynapticOperations"]
        for k, v in (("Effective_ACs", so["Effective_ACs"]), ("Effective_MACs",
                     so["Effective_MACs"]), ("Dense", so["Dense"]),
                     ("MembraneUpdates", self.neurobench["MembraneUpdates"]),
                     ("ActivationSparsity", self.neurobench["ActivationSparsity"]),
                     ("ConnectionSparsity", self.neurobench["ConnectionSparsity"]),
                     ("ParameterCount", self.neurobench["ParameterCount"]),
                     ("Footprint (framework bytes)", self.neurobench["Footprint"])):
            if v is None:
                cell = "not counted (membrane_updates=True)" if k == "MembraneUpdates" \
                    else "n/a"
            else:
                cell = f"{v:.4f}" if isinstance(v, float) and v < 1 else f"{v:,.0f}"
            nb.add_row(k, cell)
        nb.add_row("deployed size (spikelite)", f"{self.footprint.bytes:,.0f} B")
        lat = self.extras.get("latency_s", 0.0)
        foot = Text(
            f"total {fmt_energy(self.total_pj)} per sample, {fmt_energy(self.per_step_pj)} per "
            f"step; {self.extras.get('cycles', 0):,.0f} cycles, {lat * 1e3:.3g} ms, EDP "
            f"{self.edp:.3g} J·s\nconstants: {self.preset.name} — {self.preset.citation}"
        )
        parts: list[Any] = [t, comp, nb, foot]
        for u in self.uncounted:
            parts.append(Text(f"NOT COUNTED: {u['name']} ({u['type']}): {u['reason']}",
                              style="bold red"))
        parts.extend(Text(f"note: {n}", style="dim") for n in self.notes)
        return Group(*parts)

    def render(self, width: int = 140) -> str:
        """The tables as plain text."""
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(self.table())
        return console.export_text()
