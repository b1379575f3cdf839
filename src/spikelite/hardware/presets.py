"""Named, cited constant sets for costing activity counts (``../shared/energy.md`` §5.8).

A :class:`CostPreset` holds every number the energy model multiplies counts with: integer
adder/multiplier energies and how they scale with bit width, optional fixed per-op
energies, the memory hierarchy (:class:`MemoryLevel`, per bit or per word), where each
traffic class lives, the on-chip weight capacity and a throughput model for cycles.
Presets never mix silently: every report embeds the preset's name and citation.

Bit-width laws (Accelergy's Aladdin plug-in, applied to a 32-bit anchor):

    E_add(b)      = E_add,32 · b / 32                         (adders: linear)
    E_mul(b1, b2) = E_mul,32 · b1 · b2 / 32²                   (multipliers: quadratic)

A preset with measured ``add_table``/``mul_table`` points (Horowitz: 8 and 32 bits)
interpolates piecewise-linearly in ``b`` (adders) or ``b1·b2`` (multipliers) instead.
All energies are pJ.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spikelite._registry import Registry
from spikelite.errors import SpikeliteError


@dataclass(frozen=True)
class MemoryLevel:
    """One memory of the hierarchy.

    Energy of moving ``bits`` (``pJ``):

    * ``read_pj_per_bit``/``write_pj_per_bit`` when set (per-bit or, with ``word_bits``
      and access mode ``words``, per ``word_bits``-bit word);
    * ``size_fit = (a, c)`` (Lemaire et al. 2022): one access per element of
      ``element_bits``, costing ``a · (memory size in bits) + c`` pJ each, independent
      of the element width.
    """

    name: str
    read_pj_per_bit: float = 0.0
    write_pj_per_bit: float = 0.0
    word_bits: int = 64
    size_fit: tuple[float, float] | None = None
    note: str = ""

    def energy(
        self,
        bits: float,
        *,
        write: bool = False,
        element_bits: float = 1.0,
        memory_bits: float = 0.0,
    ) -> float:
        """pJ to read (or write) ``bits`` (already rounded to words by the caller)."""
        if bits <= 0:
            return 0.0
        if self.size_fit is not None:
            a, c = self.size_fit
            return bits / max(element_bits, 1.0) * (a * memory_bits + c)
        return bits * (self.write_pj_per_bit if write else self.read_pj_per_bit)


def _interp(table: dict[int, float], x: float) -> float:
    """Piecewise-linear interpolation through ``table`` (extrapolating the end segments)."""
    pts = sorted(table.items())
    if len(pts) == 1:
        (x0, y0), = pts
        return y0 * x / x0
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if x <= x1 or (x1, y1) == pts[-1]:
            return max(0.0, y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class CostPreset:
    """A named constant set (energies in pJ, capacities in bits, clock in Hz)."""

    name: str
    citation: str
    description: str
    add32_pj: float = 0.1
    mul32_pj: float = 3.1
    add_table: dict[int, float] | None = None
    mul_table: dict[int, float] | None = None
    fp32_add_pj: float | None = None
    fp32_mul_pj: float | None = None
    fixed_ac_pj: float | None = None
    fixed_mac_pj: float | None = None
    gated_pj: float = 0.0
    spikes_use_multiplier: bool = False
    charges_memory: bool = True
    charges_neurons: bool = True
    levels: dict[str, MemoryLevel] = field(default_factory=dict)
    weight_level: str = "sram"
    state_level: str = "sram"
    spike_level: str = "sram"
    dram_level: str | None = "dram"
    onchip_weight_bits: float = math.inf
    pe_count: int = 128
    clock_hz: float = 200e6
    dram_bits_per_cycle: float = 64.0
    static_power_mw: float = 0.0
    defaults: dict[str, Any] = field(default_factory=dict)

    # -- arithmetic --------------------------------------------------------------------
    def e_add(self, bits: float) -> float:
        """Integer add of ``bits`` bits (pJ)."""
        if self.add_table:
            return _interp(self.add_table, bits)
        return self.add32_pj * bits / 32.0

    def e_mul(self, b1: float, b2: float) -> float:
        """Integer multiply ``b1 × b2`` bits (pJ)."""
        if self.mul_table:
            return _interp({k * k: v for k, v in self.mul_table.items()}, b1 * b2)
        return self.mul32_pj * b1 * b2 / 1024.0

    def e_ac(self, acc_bits: float, *, float32: bool = False) -> float:
        """One accumulate (binary input × weight): an add of the accumulator width."""
        if self.fixed_ac_pj is not None:
            return self.fixed_ac_pj
        if float32 and self.fp32_add_pj is not None:
            return self.fp32_add_pj
        return self.e_add(acc_bits)

    def e_mac(self, act_bits: float, weight_bits: float, acc_bits: float, *,
              float32: bool = False) -> float:
        """One multiply-accumulate: ``E_mul(b_a, b_w) + E_add(b_acc)``."""
        if self.fixed_mac_pj is not None:
            return self.fixed_mac_pj
        if float32 and self.fp32_add_pj is not None and self.fp32_mul_pj is not None:
            return self.fp32_mul_pj + self.fp32_add_pj
        return self.e_mul(act_bits, weight_bits) + self.e_add(acc_bits)

    def level(self, name: str) -> MemoryLevel:
        if name not in self.levels:
            raise SpikeliteError(
                f"preset '{self.name}' has no memory level '{name}'. Levels: "
                f"{', '.join(self.levels) or 'none'}"
            )
        return self.levels[name]

    def values(self) -> dict[str, Any]:
        """The constants with units, for reports (JSON-friendly)."""
        out: dict[str, Any] = {}
        if self.fixed_ac_pj is not None:
            out["AC"] = f"{self.fixed_ac_pj} pJ"
        if self.fixed_mac_pj is not None:
            out["MAC"] = f"{self.fixed_mac_pj} pJ"
        if self.fixed_ac_pj is None:
            if self.add_table:
                out["int add"] = {f"{b} b": f"{v} pJ" for b, v in self.add_table.items()}
                out["int mult"] = {f"{b} b": f"{v} pJ" for b, v in (self.mul_table or {}).items()}
            else:
                out["int add 32 b (× b/32)"] = f"{self.add32_pj} pJ"
                out["int mult 32 b (× b1·b2/1024)"] = f"{self.mul32_pj} pJ"
            if self.fp32_add_pj is not None:
                out["fp32 add / mult"] = f"{self.fp32_add_pj} / {self.fp32_mul_pj} pJ"
        if self.gated_pj:
            out["gated op"] = f"{self.gated_pj} pJ"
        for lv in self.levels.values():
            if lv.size_fit is not None:
                a, c = lv.size_fit
                out[f"{lv.name} access"] = f"{a:g}·(size bits) + {c:g} pJ"
            else:
                out[f"{lv.name} read/write"] = (
                    f"{lv.read_pj_per_bit * lv.word_bits:g} / "
                    f"{lv.write_pj_per_bit * lv.word_bits:g} pJ per {lv.word_bits} b"
                )
        if math.isfinite(self.onchip_weight_bits):
            out["on-chip weight capacity"] = f"{self.onchip_weight_bits:g} bits"
        out["throughput"] = f"{self.pe_count} PEs at {self.clock_hz / 1e6:g} MHz"
        if self.static_power_mw:
            out["static power"] = f"{self.static_power_mw} mW"
        return out


PRESETS: Registry[Callable[[], CostPreset]] = Registry("cost preset", instance_of=CostPreset)
"""Preset factories by name (a factory builds a fresh, immutable preset)."""


def _register(preset: CostPreset) -> CostPreset:
    PRESETS.register(preset.name)(lambda: copy.deepcopy(preset))
    return preset


def _bit(pj: float, word: int) -> float:
    return pj / word


HOROWITZ = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, "
    "45 nm, 0.9 V"
)

_register(CostPreset(
    name="horowitz45",
    citation=HOROWITZ,
    description=(
        "Horowitz's measured table: int add 0.03/0.1 pJ (8/32 b), int mult 0.2/3.1 pJ, fp32 "
        "add/mult 0.9/3.7 pJ, 8 KB SRAM 10 pJ per 64-bit word, DRAM 1.3 nJ per 64 b (lower "
        "end of 1.3–2.6 nJ); other widths interpolated piecewise-linearly"
    ),
    add_table={8: 0.03, 32: 0.1},
    mul_table={8: 0.2, 32: 3.1},
    fp32_add_pj=0.9,
    fp32_mul_pj=3.7,
    levels={
        "sram": MemoryLevel("sram", _bit(10.0, 64), _bit(10.0, 64), 64, note="8 KB"),
        "dram": MemoryLevel("dram", _bit(1300.0, 64), _bit(1300.0, 64), 64),
    },
    defaults={"memory_access": "words"},
))

_register(CostPreset(
    name="horowitz45-derived",
    citation=HOROWITZ + "; bit-width laws of Accelergy's Aladdin plug-in (adders linear, "
    "multipliers quadratic) — the constants of energy.md §6 (C1–C5)",
    description=(
        "int16 add 0.05 pJ, int16 mult 0.775 pJ (scaled from Horowitz's 32-bit 0.1/3.1 pJ), "
        "SRAM 0.15625 pJ/bit (8 KB, 10 pJ/64 b, packed bits), DRAM 1.3 nJ per 64 b"
    ),
    add32_pj=0.1,
    mul32_pj=3.1,
    fp32_add_pj=0.9,
    fp32_mul_pj=3.7,
    levels={
        "sram": MemoryLevel("sram", 0.15625, 0.15625, 64, note="8 KB"),
        "dram": MemoryLevel("dram", _bit(1300.0, 64), _bit(1300.0, 64), 64),
    },
))

_register(CostPreset(
    name="compute-only-fp32",
    citation=(
        "0.9 pJ per AC (fp32 add) and 4.6 pJ per MAC (fp32 mult + add), Horowitz ISSCC 2014 "
        "via syops (Chen et al., arXiv 2301.11929) and common SNN practice (QP-SNN Table 6)"
    ),
    description=(
        "synaptic operations only: AC 0.9 pJ, MAC 4.6 pJ whatever the bit width; no memory, "
        "no neuron updates (for comparison with papers only)"
    ),
    fixed_ac_pj=0.9,
    fixed_mac_pj=4.6,
    charges_memory=False,
    charges_neurons=False,
    levels={},
    dram_level=None,
))

_register(CostPreset(
    name="lemaire22",
    citation=(
        "E. Lemaire et al., 'An analytical estimation of spiking neural networks energy "
        "efficiency', ICONIP 2022, arXiv 2210.13107 (Qualia EnergyEstimationMetric); ops from "
        "Horowitz ISSCC 2014"
    ),
    description=(
        "ops as horowitz45; every memory access (one element) costs 1.09e-5·(memory size in "
        "bits) + 13.2 pJ; membrane read-modify-write per synaptic event; zero weights are not "
        "skipped"
    ),
    add_table={8: 0.03, 32: 0.1},
    mul_table={8: 0.2, 32: 3.1},
    fp32_add_pj=0.9,
    fp32_mul_pj=3.7,
    levels={"sram": MemoryLevel("sram", size_fit=(1.09e-5, 13.2), word_bits=1)},
    dram_level=None,
    defaults={"membrane": "sram_rmw", "skip": "inputs"},
))

_ACCELERGY = (
    "Accelergy ERT of the Sparseloop Eyeriss-like exercise, 45 nm "
    "(Accelergy-Project/timeloop-accelergy-exercises f54e468, "
    "eyeriss_like_onchip_compression; Wu et al., Sparseloop, MICRO 2022) — the closest public "
    "configuration to Schaefer et al., ISCAS 2023 (arXiv 2302.04174)"
)

_register(CostPreset(
    name="sparseloop-eyeriss45",
    citation=_ACCELERGY,
    description=(
        "DRAM 512 pJ/64 b; shared GLB read/write 49.17/37.16 pJ per 64 b; weight RF read/write "
        "0.710/1.131 pJ per 16 b; psum RF 0.710/1.131 pJ per 16 b; MAC16 2.20 pJ (mult 8.63 pJ "
        "and add 0.0857 pJ at 32 b, scaled), gated op 0.066 pJ; weights bypass the GLB and are "
        "streamed from DRAM when they exceed the 168 × 224 × 16-bit weight RFs, re-fetched "
        "every time step; 168 PEs at 200 MHz; spikes use the MAC array's multipliers"
    ),
    add32_pj=0.0857,
    mul32_pj=8.63,
    gated_pj=0.066,
    spikes_use_multiplier=True,
    levels={
        "dram": MemoryLevel("dram", _bit(512.0, 64), _bit(512.0, 64), 64),
        "glb": MemoryLevel("glb", _bit(49.17, 64), _bit(37.16, 64), 64, note="100 KiB"),
        "weights_spad": MemoryLevel("weights_spad", _bit(0.710, 16), _bit(1.131, 16), 16),
        "psum_spad": MemoryLevel("psum_spad", _bit(0.710, 16), _bit(1.131, 16), 16),
    },
    weight_level="weights_spad",
    state_level="psum_spad",
    spike_level="glb",
    onchip_weight_bits=168 * 224 * 16,
    pe_count=168,
    clock_hz=200e6,
    defaults={"temporal_reuse": False},
))


def get_preset(name: str | CostPreset) -> CostPreset:
    """A registered preset by name (or the preset itself)."""
    return PRESETS.build(name)


def list_presets() -> list[str]:
    return PRESETS.names()
