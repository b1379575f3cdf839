"""Costing: a documented linear combination of exact counts (``../shared/energy.md`` §5).

Every number is (count) × (constant of the named preset). Per sample, for a synaptic
layer with bit width ``b_w``, accumulator ``b_acc``, activation width ``b_a``:

* synaptic operations, by ``skip`` mode — ``both``: Σ_events non-zero fan-out
  (NeuroBench effective ops); ``inputs``: Σ_events fan-out (zero weights computed);
  ``none``: Dense (time-stepped dense hardware). Binary-input steps are ACs
  (``E_add(b_acc)``), graded ones MACs (``E_mul(b_a, b_w) + E_add(b_acc)``); with
  ``skip="both"`` and a format that stores zeros (dense, ubm, uop) the zero-weight
  operations are gated at the preset's ``gated_pj``;
* bias: one add per output neuron-step plus a read of ``bias_bits``; with
  ``batchnorm="fold"`` a BatchNorm right after a bias-free layer is charged as that
  layer's folded bias (32 bits), otherwise BN arithmetic is not costed (noted);
* weight fetch: per input event, the event's fiber in the chosen format (payload and
  metadata as separate lines, pointer reads as metadata); ``skip="none"`` reads the whole
  stored tensor once per step instead;
* DRAM fill: when the model's stored weights exceed the on-chip capacity (or
  ``dram_fill="always"``), every layer's stored bits are read from DRAM once per inference
  (``temporal_reuse=True``) or once per time step;
* membrane, ``sram_rmw`` only: a read and a write of ``b_u`` bits per synaptic operation;
* spikes in: ``aer`` — ``⌈log2 N_in⌉`` bits per binary event (+ ``b_a`` per graded one);
  ``bitmap`` — 1 bit per input position and step (``b_a`` when graded).

Per neuron layer (``updates`` = neuron-steps, or NeuroBench's MembraneUpdates with
``neuron_mode="on_update"``, event-driven neurons):

* ``updates·(E_leak + E_add(b_u)) + spikes·E_add(b_u)`` — leak (``mul``: ``E_mul(b_u, b_u)``,
  ``shift``: ``E_add(b_u)``, ``none``; ``auto`` picks ``none`` for IF, ``shift`` for the
  τ-form with τ a power of two, else ``mul``), threshold compare, reset;
* membrane: a read and a write of ``b_u`` bits per update (both membrane modes);
* spikes out: ``⌈log2 N⌉`` bits per spike (``aer``) or 1 bit per neuron-step (``bitmap``).

With ``residual="count"`` a neuron fed by a residual sum (``residual_input``: the zoo's
ResNet blocks, graph-converted ResNets) is charged one ``E_add(b_acc)`` per neuron-step for
the addition (dense; the shortcut operand's traffic is not modelled).

Static energy ``P_static · latency``; cycles per layer ``max(ops / (PEs·utilisation),
DRAM bits / DRAM bits per cycle)``, latency = Σ cycles / clock unless given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from spikelite.errors import SpikeliteError
from spikelite.hardware.counting import Activity, NeuronActivity, SynapticActivity
from spikelite.hardware.formats import FiberCost, WeightFormat, clog2
from spikelite.hardware.layers import SynapticSpec
from spikelite.hardware.presets import CostPreset, MemoryLevel

_CHOICES = {
    "skip": ("both", "inputs", "none"),
    "membrane": ("register", "sram_rmw"),
    "leak_op": ("auto", "mul", "shift", "none"),
    "neuron_mode": ("every_step", "on_update"),
    "spike_io": ("aer", "bitmap", "none"),
    "memory_access": ("bits", "words"),
    "dram_fill": ("auto", "always", "never"),
    "batchnorm": ("ignore", "fold"),
    "residual": ("ignore", "count"),
}


@dataclass(frozen=True)
class CostOptions:
    """Modelling choices (each documented in the module docstring and docs/hardware.md).

    ``None`` fields fall back to the preset (``onchip_weight_bits``, ``static_power_mw``,
    ``pe_count``, ``clock_hz``, ``weight_level``, ``state_level``, ``spike_level``).
    ``acc_bits="auto"`` is ``b_w + ⌈log2 fan-in⌉ + 1``.
    """

    skip: str = "both"
    membrane: str = "register"
    state_bits: int = 16
    acc_bits: int | str = 16
    act_bits: int = 16
    leak_op: str = "auto"
    neuron_mode: str = "every_step"
    neurons: bool = True
    spike_io: str = "aer"
    memory_access: str = "bits"
    weight_level: str | None = None
    state_level: str | None = None
    spike_level: str | None = None
    onchip_weight_bits: float | None = None
    dram_fill: str = "auto"
    temporal_reuse: bool = True
    static_power_mw: float | None = None
    latency_s: float | None = None
    pe_count: int | None = None
    clock_hz: float | None = None
    utilization: float = 1.0
    batchnorm: str = "ignore"
    residual: str = "ignore"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_options(preset: CostPreset, options: dict[str, Any]) -> CostOptions:
    """Preset defaults, then ``options``; unknown names and bad choices raise."""
    valid = {f.name for f in fields(CostOptions)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise SpikeliteError(
            f"unknown cost option(s) {', '.join(unknown)}. Valid: {', '.join(sorted(valid))}"
        )
    merged = {**preset.defaults, **{k: v for k, v in options.items() if v is not None}}
    for key, allowed in _CHOICES.items():
        if key in merged and merged[key] not in allowed:
            raise SpikeliteError(f"{key} must be one of {', '.join(allowed)}, got {merged[key]!r}")
    acc = merged.get("acc_bits", 16)
    if acc != "auto" and (not isinstance(acc, int) or acc < 1):
        raise SpikeliteError(f"acc_bits must be a positive int or 'auto', got {acc!r}")
    if not 0 < float(merged.get("utilization", 1.0)) <= 1:
        raise SpikeliteError("utilization must lie in (0, 1]")
    return CostOptions(**merged)


@dataclass
class LayerCost:
    """Per-sample energy components (pJ), counts and cycles of one layer."""

    name: str
    role: str
    components: dict[str, float]
    counts: dict[str, float]
    cycles: float = 0.0
    storage_bits: dict[str, float] | None = None

    @property
    def total(self) -> float:
        return sum(self.components.values())


def ops_energy(
    preset: CostPreset,
    *,
    ac: float = 0.0,
    mac: float = 0.0,
    acc_bits: int = 16,
    act_bits: int = 16,
    weight_bits: int = 32,
    float32: bool = True,
) -> float:
    """pJ of ``ac`` accumulates and ``mac`` multiply-accumulates under ``preset`` — the
    compute line of the model, for costing published operation counts (e.g. QP-SNN's
    ``E = SOPs·T·E_AC + MACs·E_MAC``)."""
    e_mac = preset.e_mac(act_bits, weight_bits, acc_bits, float32=float32)
    e_ac = e_mac if preset.spikes_use_multiplier else preset.e_ac(acc_bits, float32=float32)
    return ac * e_ac + mac * e_mac


class _Costing:
    """One costing pass over an :class:`Activity` (shared helpers and resolved choices)."""

    def __init__(self, preset: CostPreset, fmt: WeightFormat, opt: CostOptions) -> None:
        self.p, self.fmt, self.o = preset, fmt, opt
        mem = preset.charges_memory
        self.wl = self._lvl(opt.weight_level or preset.weight_level) if mem else None
        self.sl = self._lvl(opt.state_level or preset.state_level) if mem else None
        self.kl = self._lvl(opt.spike_level or preset.spike_level) if mem else None
        self.dl = self._lvl(preset.dram_level) if mem and preset.dram_level else None
        self.pe = float(opt.pe_count or preset.pe_count) * opt.utilization

    def _lvl(self, name: str) -> MemoryLevel:
        return self.p.level(name)

    def mem(self, lvl: MemoryLevel | None, bits: float, *, write: bool = False,
            element_bits: float = 1.0, memory_bits: float = 0.0) -> float:
        if lvl is None:
            return 0.0
        return lvl.energy(bits, write=write, element_bits=element_bits, memory_bits=memory_bits)

    def rounded(self, bits: torch.Tensor, lvl: MemoryLevel | None) -> torch.Tensor:
        """Per-access bits rounded up to whole words in ``words`` access mode."""
        if lvl is None or self.o.memory_access != "words" or lvl.size_fit is not None:
            return bits
        w = float(lvl.word_bits)
        return torch.ceil(bits / w) * w

    # -- synaptic layers -----------------------------------------------------------------
    def synaptic(self, spec: SynapticSpec, a: SynapticActivity, fc: FiberCost, n: int,
                 use_dram: bool) -> LayerCost:
        p, o = self.p, self.o
        acc = o.acc_bits if isinstance(o.acc_bits, int) else spec.bits + clog2(spec.fan_in) + 1
        if o.skip == "both":
            ac, mac = a.eff_ac, a.eff_mac
            gated = 0.0 if self.fmt.skips_zeros else a.fan - a.eff
        elif o.skip == "inputs":
            ac, mac, gated = a.fan_ac, a.fan_mac, 0.0
        else:
            ac, mac, gated = a.dense_ac, a.dense_mac, 0.0
        ac, mac, gated = ac / n, mac / n, gated / n
        e_mac = p.e_mac(o.act_bits, spec.bits, acc, float32=spec.float32)
        e_ac = e_mac if p.spikes_use_multiplier else p.e_ac(acc, float32=spec.float32)
        c: dict[str, float] = {
            "compute.ac": ac * e_ac,
            "compute.mac": mac * e_mac,
            "compute.gated": gated * p.gated_pj,
        }
        outputs = a.outputs / n
        bias_numel, bias_bits = spec.bias_numel, spec.bias_bits
        if not bias_numel and spec.batchnorm and o.batchnorm == "fold":
            bias_numel, bias_bits = spec.weight_shape[0], 32  # BN folded: a new bias
        if bias_numel:
            c["compute.bias"] = outputs * p.e_ac(acc, float32=spec.float32)
        steps = a.sample_steps / n
        events = a.events / n
        dram_bits = 0.0
        if p.charges_memory:
            wl, stored = self.wl, fc.total_bits
            if o.skip == "none":
                pay, meta = steps * fc.payload_bits, steps * fc.metadata_bits
            else:
                fe = (a.fiber_events if a.fiber_events is not None
                      else torch.zeros(fc.payload.shape[0], dtype=torch.float64)) / n
                pay = float(fe @ self.rounded(fc.payload, wl))
                meta = float(fe @ self.rounded(fc.metadata + fc.fetch_extra, wl))
            kw = {"element_bits": spec.bits, "memory_bits": stored}
            c[f"memory.weights.{wl.name}"] = self.mem(wl, pay, **kw)
            c[f"memory.metadata.{wl.name}"] = self.mem(wl, meta, **kw)
            if bias_numel:
                c[f"memory.bias.{wl.name}"] = self.mem(
                    wl, outputs * bias_bits, element_bits=bias_bits,
                    memory_bits=bias_numel * bias_bits)
            if use_dram and self.dl is not None:
                fills = 1.0 if o.temporal_reuse else steps
                dram_bits = fills * stored
                c[f"memory.weights.{self.dl.name}"] = self.mem(self.dl, fills * fc.payload_bits)
                c[f"memory.metadata.{self.dl.name}"] = self.mem(self.dl, fills * fc.metadata_bits)
            if o.membrane == "sram_rmw":
                rmw = (ac + mac) * o.state_bits
                kw = {"element_bits": o.state_bits,
                      "memory_bits": outputs / max(steps, 1.0) * o.state_bits}
                c[f"memory.membrane.{self.sl.name}"] = (
                    self.mem(self.sl, rmw, **kw) + self.mem(self.sl, rmw, write=True, **kw))
            c[f"memory.spikes.{self.kl.name}"] = self._spikes_in(a, n)
        ops = ac + mac + gated
        cycles = max(ops / self.pe, dram_bits / self.p.dram_bits_per_cycle)
        counts = {
            "events": events,
            "events_graded": a.events_graded / n,
            "fanout": a.fan / n,
            "nonzero_fanout": a.eff / n,
            "effective_ac": a.eff_ac / n,
            "effective_mac": a.eff_mac / n,
            "dense": a.dense / n,
            "charged_ac": ac,
            "charged_mac": mac,
            "gated_ops": gated,
            "outputs": outputs,
            "steps": steps,
            "events_mean_per_step": a.events / max(a.sample_steps, 1),
            "events_max_per_step": a.events_max,
            "effective_ops_mean_per_step": a.eff / max(a.sample_steps, 1),
            "effective_ops_max_per_step": a.eff_max,
            "weight_density": spec.nnz / max(spec.numel, 1),
            "bits": float(spec.bits),
        }
        storage = {"payload": fc.payload_bits, "metadata": fc.metadata_bits}
        return LayerCost(spec.name, "synaptic", c, counts, cycles, storage)

    def _spikes_in(self, a: SynapticActivity, n: int) -> float:
        o = self.o
        if o.spike_io == "none" or a.sample_steps == 0:
            return 0.0
        positions = a.in_positions / a.sample_steps
        addr = clog2(positions)
        if o.spike_io == "aer":
            bits = (a.events - a.events_graded) * addr + a.events_graded * (addr + o.act_bits)
            elem = addr
        else:
            graded_share = a.events_graded / a.events if a.events else 0.0
            width = 1 + graded_share * (o.act_bits - 1)
            bits, elem = a.in_positions * width, 1.0
        return self.mem(self.kl, bits / n, element_bits=elem, memory_bits=positions)

    # -- neuron layers -------------------------------------------------------------------
    def neuron(self, name: str, module: Any, a: NeuronActivity, n: int,
               membrane_counted: bool) -> LayerCost:
        p, o = self.p, self.o
        if o.neuron_mode == "on_update" and not membrane_counted:
            raise SpikeliteError(
                "neuron_mode='on_update' needs the membrane updates; profile with "
                "membrane_updates=True"
            )
        updates = (a.neuron_steps if o.neuron_mode == "every_step" else a.membrane_updates) / n
        spikes = a.spikes / n
        c: dict[str, float] = {}
        if p.charges_neurons and o.neurons:
            bu = o.state_bits
            leak = self._leak_op(module)
            e_leak = {"mul": p.e_mul(bu, bu), "shift": p.e_add(bu), "none": 0.0}[leak]
            c["compute.neuron"] = updates * (e_leak + p.e_add(bu)) + spikes * p.e_add(bu)
            if p.charges_memory:
                kw = {"element_bits": bu, "memory_bits": a.neurons * bu}
                rw = updates * bu
                c[f"memory.membrane.{self.sl.name}"] = (
                    self.mem(self.sl, rw, **kw) + self.mem(self.sl, rw, write=True, **kw))
                if o.spike_io == "aer":
                    addr = clog2(a.neurons)
                    c[f"memory.spikes.{self.kl.name}"] = self.mem(
                        self.kl, spikes * addr, write=True, element_bits=addr,
                        memory_bits=a.neurons)
                elif o.spike_io == "bitmap":
                    c[f"memory.spikes.{self.kl.name}"] = self.mem(
                        self.kl, a.neuron_steps / n, write=True, memory_bits=a.neurons)
        if o.residual == "count" and getattr(module, "residual_input", False):
            # the residual sum feeding this neuron: one add per neuron-step
            acc = o.acc_bits if isinstance(o.acc_bits, int) else 16
            c["compute.residual"] = a.neuron_steps / n * p.e_add(acc)
        counts = {
            "neurons": float(a.neurons),
            "neuron_steps": a.neuron_steps / n,
            "updates_charged": updates,
            "spikes": spikes,
            "spikes_max_per_step": a.spikes_max,
            "firing_rate": a.spikes / a.neuron_steps if a.neuron_steps else 0.0,
        }
        if membrane_counted:
            counts["membrane_updates"] = a.membrane_updates / n
        return LayerCost(name, "neuron", c, counts, updates / self.pe)

    def _leak_op(self, module: Any) -> str:
        if self.o.leak_op != "auto":
            return self.o.leak_op
        beta = getattr(module, "beta", None)
        if isinstance(beta, torch.Tensor) and bool((beta == 1).all()):
            return "none"  # IF: no leak
        if getattr(module, "form", None) in ("tau", "tau_inv", "box"):
            tau = module.leak.detach()  # τ, or 1/τ for tau_inv/box
            if bool(((torch.log2(tau) % 1) == 0).all()):
                return "shift"  # (x − v)/τ with τ = 2^k (or ·2^−k) is a shift
        return "mul"


def cost(
    activity: Activity,
    synaptic: dict[str, SynapticSpec],
    neurons: dict[str, Any],
    preset: CostPreset,
    fmt: WeightFormat,
    options: CostOptions,
    order: list[str] | None = None,
) -> tuple[list[LayerCost], dict[str, float]]:
    """Cost every layer → ``(layers, model-level extras)`` with ``static`` energy,
    ``cycles`` and ``latency_s`` per sample. ``order``: layer names in the order to list
    them (e.g. ``named_modules()`` order); default synaptic layers, then neurons."""
    n = max(activity.samples, 1)
    k = _Costing(preset, fmt, options)
    fcs = {name: s.fiber_cost(fmt) for name, s in synaptic.items()}
    stored = sum(fc.total_bits for fc in fcs.values())
    cap = options.onchip_weight_bits
    cap = preset.onchip_weight_bits if cap is None else cap
    if options.dram_fill == "always" and preset.charges_memory and preset.dram_level is None:
        raise SpikeliteError(f"preset '{preset.name}' has no DRAM level; dram_fill='always' "
                             "needs one")
    use_dram = options.dram_fill == "always" or (options.dram_fill == "auto" and stored > cap)
    if use_dram and preset.charges_memory and preset.dram_level is None:
        raise SpikeliteError(
            f"the weights ({stored:.0f} bits) exceed the on-chip capacity ({cap:g} bits) but "
            f"preset '{preset.name}' has no DRAM level; raise onchip_weight_bits or pick a "
            "preset with DRAM")
    rows: list[LayerCost] = []
    names = [nm for nm in (order or [*synaptic, *neurons]) if nm in synaptic or nm in neurons]
    for name in names:
        if name in synaptic:
            a = activity.synaptic.get(name) or SynapticActivity(name)
            rows.append(k.synaptic(synaptic[name], a, fcs[name], n, use_dram))
        else:
            a = activity.neurons.get(name) or NeuronActivity(name)
            rows.append(k.neuron(name, neurons[name], a, n, activity.membrane_updates_counted))
    cycles = sum(r.cycles for r in rows)
    clock = float(options.clock_hz or preset.clock_hz)
    latency = options.latency_s if options.latency_s is not None else cycles / clock
    power = options.static_power_mw
    power = preset.static_power_mw if power is None else power
    static = float(power) * 1e9 * float(latency)  # mW · s = 1e9 pJ
    return rows, {"static": static, "cycles": cycles, "latency_s": latency,
                  "weights_in_dram": float(use_dram), "stored_weight_bits": stored}
