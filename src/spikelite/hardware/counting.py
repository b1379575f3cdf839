"""Exact activity counting with forward hooks (``../shared/energy.md`` §5.1, §2).

Per synaptic layer and per time step, for every sample:

* ``events``: non-zero inputs; the step's input is **binary** when every value is in
  {−1, 0, 1} (NeuroBench's rule, decided per layer per step over the batch), else graded;
* ``Σ fan-out`` and ``Σ non-zero fan-out`` over the events: each input position's fan-out
  (number of output/weight pairs it feeds, padding excluded) comes from a fan-out map
  ``F(i) = ∂/∂x_i Σ layer(x; W)`` computed once per input shape with ``W`` = all-ones
  (``F_all``) or the exact non-zero mask (``F_nz``), so
  ``Σ_events F_nz = Σ_out Σ_taps [x ≠ 0]·[w ≠ 0]`` — NeuroBench's effective operations;
* ``dense``: ``Σ_i F_all(i)`` per step — NeuroBench's Dense;
* events per fiber (input channel/feature), for the format-dependent weight fetch.

Per neuron layer: neuron-steps, output spikes and NeuroBench's MembraneUpdates (all
neurons at the first step, then the neurons whose pre-reset potential changed,
``h_t ≠ h_{t−1}`` — what snnTorch keeps in ``mem``). ``h_t`` is read from the neuron
itself while recording (its opt-in ``step_observer``, called by the fused and eager
kernels after each step), so nothing is recomputed; a neuron that does not report ``h``
is replayed from the recorded input and spikes with its own step equations.

Synaptic inputs are counted in a forward *pre*-hook, while still in cache: one matrix
product of the non-zero indicator with the ``[F_nz, F_all, 1]`` rows and one column sum
(events per fiber); inputs known to be spikes skip the indicator and the binary check, and
a graded step is usually decided by its maximum alone (``max > 1``).

Time layout of a synaptic layer's input: ``[T·B, ...]`` (folded by ``TimeDistributed``) or
``[T, B, ..., F]`` (a Linear applied to a time-major tensor) are split into T steps;
anything else (e.g. TCJA's 1-D convs over ``[B, T, C]``) is one step per call.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch
from torch import nn

from spikelite.core.functional import charge, reset, rest
from spikelite.core.layout import memory_order
from spikelite.core.state_quant import quantize_state
from spikelite.hardware.layers import SynapticSpec

_EXACT_F32 = float(1 << 24)
_MAXPOOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d,
            nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)


@dataclass
class SynapticActivity:
    """Counts of one synaptic layer, summed over every sample and step seen.

    ``*_ac``/``*_mac``: operations at steps whose input was binary / graded.
    """

    name: str
    calls: int = 0
    step_slots: int = 0
    sample_steps: int = 0
    events: float = 0.0
    events_graded: float = 0.0
    eff_ac: float = 0.0
    eff_mac: float = 0.0
    fan_ac: float = 0.0
    fan_mac: float = 0.0
    dense_ac: float = 0.0
    dense_mac: float = 0.0
    in_positions: float = 0.0
    outputs: float = 0.0
    events_max: float = 0.0
    eff_max: float = 0.0
    events_per_step: list[float] = field(default_factory=list)
    eff_per_step: list[float] = field(default_factory=list)
    fiber_events: torch.Tensor | None = None
    input_shape: tuple[int, ...] = ()

    @property
    def eff(self) -> float:
        return self.eff_ac + self.eff_mac

    @property
    def fan(self) -> float:
        return self.fan_ac + self.fan_mac

    @property
    def dense(self) -> float:
        return self.dense_ac + self.dense_mac


@dataclass
class NeuronActivity:
    """Counts of one neuron layer, summed over every sample and step seen."""

    name: str
    neurons: int = 0
    calls: int = 0
    neuron_steps: float = 0.0
    spikes: float = 0.0
    spikes_max: float = 0.0
    membrane_updates: float = 0.0
    spikes_per_step: list[float] = field(default_factory=list)


@dataclass
class Activity:
    """All counts of a run: totals over ``samples`` samples of ``time_steps`` steps."""

    samples: int = 0
    time_steps: int = 0
    batches: int = 0
    synaptic: dict[str, SynapticActivity] = field(default_factory=dict)
    neurons: dict[str, NeuronActivity] = field(default_factory=dict)
    membrane_updates_counted: bool = True


def _add_steps(acc: list[float], values: torch.Tensor | list[float]) -> None:
    for i, v in enumerate(values.tolist() if isinstance(values, torch.Tensor) else values):
        if i < len(acc):
            acc[i] += v
        else:
            acc.append(v)


class _SynapticCounter:
    """Hook state of one synaptic layer: cached fan-out maps per input shape."""

    def __init__(self, spec: SynapticSpec) -> None:
        self.spec = spec
        self.act = SynapticActivity(spec.name)
        self._maps: dict[tuple[int, ...], tuple[torch.Tensor, float, int]] = {}
        self._nz_fan = spec.mask.sum(0, dtype=torch.float64)  # linear: per input feature
        self._ws: torch.Tensor | None = None  # [x ≠ 0] of graded inputs

    def maps(
        self, sample: tuple[int, ...], device: torch.device
    ) -> tuple[torch.Tensor, float, int]:
        """``([3, P] (F_nz, F_all, 1) rows, Σ F_all, positions per fiber)`` for a sample shape.

        Stored transposed: ``maps @ nzᵀ`` reads the large ``[R, P]`` indicator about twice as
        fast on CPU as ``nz @ mapsᵀ``.
        """
        if sample in self._maps:
            return self._maps[sample]
        spec = self.spec
        if spec.is_linear:
            f_in = sample[-1]
            reps = int(torch.Size(sample[:-1]).numel())
            nz = self._nz_fan.repeat(reps)
            al = torch.full_like(nz, float(spec.mask.shape[0]))
        else:
            ones = torch.ones(spec.weight_shape)
            nz, al = (self._conv_fanout(sample, w) for w in (spec.mask.float(), ones))
            f_in = sample[0]
        maxsum = float(al.sum())
        dtype = torch.float32 if maxsum < _EXACT_F32 else torch.float64
        ones = torch.ones_like(nz)  # third row: Σ events
        stacked = torch.stack([nz, al, ones], 0).to(device=device, dtype=dtype).contiguous()
        per_fiber = int(torch.Size(sample).numel()) // f_in
        self._maps[sample] = (stacked, maxsum, per_fiber)
        return self._maps[sample]

    def _conv_fanout(self, sample: tuple[int, ...], weight: torch.Tensor) -> torch.Tensor:
        m = self.spec.module
        # float32 is exact here: every fan-out is an integer ≤ C_out·Πk (< 2**24)
        x = torch.zeros((1, *sample), requires_grad=True)
        with torch.enable_grad():
            y = m._conv_forward(x, weight, None)  # type: ignore[operator]
            (g,) = torch.autograd.grad(y.sum(), x)
        return g.reshape(-1).double()

    def add_outputs(self, out: torch.Tensor) -> None:
        self.act.outputs += float(out.numel())

    def _indicator(self, flat: torch.Tensor) -> torch.Tensor:
        """``[x ≠ 0]`` as 0/1 in ``flat``'s dtype, in a workspace reused across calls."""
        buf = self._ws
        if buf is None or buf.shape != flat.shape or buf.dtype != flat.dtype \
                or buf.device != flat.device:
            buf = self._ws = torch.empty_like(flat, memory_format=torch.contiguous_format)
        return torch.ne(flat, 0, out=buf)

    def record(self, x: torch.Tensor, T: int, B: int, binary: bool = False) -> None:
        """Count one call's input ``x``; ``binary``: ``x`` is known to hold only 0/1."""
        spec, a = self.spec, self.act
        if spec.is_linear and x.dim() >= 3 and tuple(x.shape[:2]) == (T, B):
            S, Bs, sample = T, B, tuple(x.shape[2:])
        elif x.shape[0] == T * B:
            S, Bs, sample = T, B, tuple(x.shape[1:])
        else:
            S, Bs, sample = 1, x.shape[0], tuple(x.shape[1:])
        maps, dense_per, per_fiber = self.maps(sample, x.device)
        flat = x.reshape(S * Bs, -1)
        graded_step: torch.Tensor | None = None  # None: every step binary
        if binary:  # spikes: the input is its own non-zero indicator
            nzf = flat
        else:
            nzf = self._indicator(flat)
            if not torch.equal(flat, nzf):
                graded_step = _graded_steps(flat, nzf, S)
        nzm = nzf if nzf.dtype == maps.dtype else nzf.to(maps.dtype)
        # [S, Bs, 3]: Σ F_nz, Σ F_all, events per sample-step (exact integers)
        counts = torch.mm(maps, nzm.t()).t().to(torch.float64).reshape(S, Bs, 3)
        # one host transfer for every number of this call: [S, 3] per-step sums, the two
        # per-sample-step maxima, the [S] graded flags (if any), the events per fiber
        parts = [counts.sum(1).reshape(-1), counts[..., 2].amax().reshape(1),
                 counts[..., 0].amax().reshape(1),
                 _fiber_events(nzf, spec.is_linear, sample, per_fiber)]
        if graded_step is not None:
            parts.append(graded_step.to(torch.float64))
        vals = torch.cat([t.to(device="cpu", dtype=torch.float64) for t in parts]).tolist()
        per_step = [vals[3 * i: 3 * i + 3] for i in range(S)]
        ev_max, eff_max = vals[3 * S], vals[3 * S + 1]
        n_fib = len(vals) - 3 * S - 2 - (S if graded_step is not None else 0)
        fe = vals[3 * S + 2: 3 * S + 2 + n_fib]
        graded = vals[3 * S + 2 + n_fib:] if graded_step is not None else [0.0] * S
        a.calls += 1
        a.step_slots += S
        a.sample_steps += S * Bs
        for (eff, fan, ev), g in zip(per_step, graded, strict=True):
            a.events += ev
            if g:
                a.events_graded += ev
                a.eff_mac += eff
                a.fan_mac += fan
                a.dense_mac += dense_per * Bs
            else:
                a.eff_ac += eff
                a.fan_ac += fan
                a.dense_ac += dense_per * Bs
        a.in_positions += float(flat.shape[1]) * S * Bs
        a.events_max = max(a.events_max, ev_max)
        a.eff_max = max(a.eff_max, eff_max)
        _add_steps(a.events_per_step, [ps[2] for ps in per_step])
        _add_steps(a.eff_per_step, [ps[0] for ps in per_step])
        a.input_shape = sample
        fet = torch.tensor(fe, dtype=torch.float64)
        a.fiber_events = fet if a.fiber_events is None else a.fiber_events + fet


def _fiber_events(nzf: torch.Tensor, is_linear: bool, sample: tuple[int, ...],
                  per_fiber: int) -> torch.Tensor:
    """Events per fiber of the ``[R, P]`` indicator ``nzf``: ``Σ_rows nzf`` per feature (a
    linear layer's fiber is its input feature) or per input channel (a conv's fiber is its
    channel's ``per_fiber`` positions).

    A linear layer's column sums are one ``1ᵀ·nzf`` product; a conv's are the per-row,
    per-channel sums over contiguous positions (``[R, C, per_fiber]`` summed over the last,
    inner dimension: about 4× faster on CPU than a column sum over rows), then summed over
    rows in float64. Float32 sums of 0/1 values are exact integers below 2**24.
    """
    if is_linear:
        rows = nzf.reshape(-1, sample[-1])
        if rows.dtype in (torch.float32, torch.float64) and rows.shape[0] < _EXACT_F32:
            return torch.mm(torch.ones(1, rows.shape[0], dtype=rows.dtype,
                                       device=rows.device), rows).reshape(-1)
        return rows.sum(0, dtype=torch.float64)
    cells = nzf.reshape(nzf.shape[0], sample[0], per_fiber)
    exact = cells.dtype == torch.float64 or (
        cells.dtype == torch.float32 and per_fiber < _EXACT_F32)
    per_row = cells.sum(-1) if exact else cells.sum(-1, dtype=torch.float64)
    return per_row.sum(0, dtype=torch.float64)


def _graded_steps(flat: torch.Tensor, nzf: torch.Tensor, S: int) -> torch.Tensor:
    """``[S]`` bool: steps with a value ``|x| ∉ {0, 1}`` (NeuroBench's graded input).

    A step whose maximum exceeds 1 is graded (one cheap reduction, decides event counts);
    the others are checked exactly, ``|x| ≠ [x ≠ 0]`` anywhere.
    """
    steps = flat.reshape(S, -1)
    graded = steps.amax(1) > 1
    if bool(graded.all()):
        return graded
    rest_ = (~graded).nonzero().squeeze(1)
    graded[rest_] = torch.ne(steps[rest_].abs(), nzf.reshape(S, -1)[rest_]).any(1)
    return graded


#: Elements per chunk of the membrane comparison (512 KiB of float32: the 0/1 result
#: stays in cache between the comparison and its sum).
_CHUNK = 1 << 17


def _count_changes(h: torch.Tensor, h_prev: torch.Tensor, buf: torch.Tensor,
                   sums: list[torch.Tensor]) -> None:
    """Append to ``sums`` 0-dim partial counts of ``Σ [h ≠ h_prev]``; ``buf`` (≥ ``_CHUNK``
    elements of ``h``'s dtype) is the workspace.

    The comparison is written as 0/1 in the membrane's float dtype and summed chunk by
    chunk (vectorised and in cache; a bool mask with ``count_nonzero`` is about twice as
    slow on CPU). Each partial sum is an exact integer (a chunk holds < 2**24 elements);
    other dtypes use ``count_nonzero``.
    """
    exact = h.dtype in (torch.float32, torch.float64)
    # split: all chunk views in one call (slicing chunk by chunk costs ~25 % more here)
    if h.stride() == h_prev.stride():  # in memory order: channels-last steps not copied
        h, h_prev = memory_order(h), memory_order(h_prev)
    for hc, pc in zip(h.reshape(-1).split(_CHUNK), h_prev.reshape(-1).split(_CHUNK),
                      strict=True):
        b = torch.ne(hc, pc, out=buf if hc.numel() == buf.numel() else buf[: hc.numel()])
        sums.append(b.sum() if exact else torch.count_nonzero(b))


class _NeuronCounter:
    """Hook state of one neuron layer.

    MembraneUpdates (all neurons at a call's first step, then ``Σ_t [h_t ≠ h_{t−1}]``) come
    from the neuron's own pre-reset membrane ``h_t``: while recording, the recorder sets the
    neuron's opt-in ``step_observer`` (:data:`spikelite.core.fused.StepObserver`), which the
    fused and eager kernels call after each step. A neuron whose forward does not call it
    (a subclass with its own forward) is replayed from the recorded input and spikes with
    the :mod:`spikelite.core.functional` step equations instead.
    """

    def __init__(self, name: str, module: nn.Module, membrane_updates: bool) -> None:
        self.module = module
        self.act = NeuronActivity(name)
        self.membrane_updates = membrane_updates
        self.pre_mem: torch.Tensor | None = None
        self._steps = 0  # steps observed in the current call (−1: out of order)
        self._first = 0  # neurons at the observed first step
        self._changes: list[torch.Tensor] = []
        self._spikes: list[torch.Tensor] = []
        self._buf: torch.Tensor | None = None
        self._saved_observer: object = None
        self._attached = False

    def attach(self) -> None:
        """Install :meth:`observe` as the neuron's ``step_observer`` (if it has one)."""
        if hasattr(self.module, "step_observer"):
            self._saved_observer = self.module.step_observer
            self.module.step_observer = self.observe
            self._attached = True

    def detach(self) -> None:
        if self._attached:
            self.module.step_observer = self._saved_observer
            self._saved_observer, self._attached = None, False
        self._buf = None
        self._changes.clear()
        self._spikes.clear()

    def pre(self, x: torch.Tensor) -> None:
        mem = getattr(self.module, "mem", None)
        self.pre_mem = None if mem is None or mem.shape != x.shape[1:] else mem
        self._steps, self._first = 0, 0
        self._changes.clear()
        self._spikes.clear()

    def observe(self, t: int, h: torch.Tensor, h_prev: torch.Tensor | None,
                s: torch.Tensor) -> None:
        """Step observer: per-sample spike counts of step ``t`` and (with
        ``membrane_updates``) ``Σ [h_t ≠ h_{t−1}]``, while the step is fresh in cache."""
        if t != self._steps:
            self._steps = -1
            return
        self._steps += 1
        # per-sample sums of 0/1 are exact below 2**24 (memory order: no copy of a
        # channels-last step, whose batch dimension stays first)
        rows = memory_order(s).reshape(s.shape[0], -1)
        self._spikes.append(rows.sum(-1) if rows.shape[1] < _EXACT_F32
                            else rows.sum(-1, dtype=torch.float64))
        if not self.membrane_updates:
            return
        if h_prev is None:
            self._first += h.numel()
            return
        buf = self._buf
        if buf is None or buf.dtype != h.dtype or buf.device != h.device:
            buf = self._buf = torch.empty(_CHUNK, dtype=h.dtype, device=h.device)
        _count_changes(h, h_prev, buf, self._changes)

    def record(self, x: torch.Tensor, s: torch.Tensor) -> None:
        a = self.act
        T, B = x.shape[:2]
        n = int(torch.Size(x.shape[2:]).numel())
        a.neurons = n
        a.calls += 1
        a.neuron_steps += float(n) * T * B
        observed = self._steps == T and len(self._spikes) == T and T > 0 \
            and self._spikes[0].numel() == B
        # 0/1 spikes, exact per row; counted by the observer while each step was in cache
        sp = (torch.stack(self._spikes) if observed else
              s.reshape(T, B, -1).sum(-1, dtype=torch.float64))
        self._spikes.clear()
        a.spikes += float(sp.sum())
        a.spikes_max = max(a.spikes_max, float(sp.max()) if sp.numel() else 0.0)
        _add_steps(a.spikes_per_step, sp.sum(1))
        if not self.membrane_updates:
            return
        if self._steps == T and T > 0:  # every step observed
            changes = torch.stack(self._changes).sum(dtype=torch.float64) if self._changes \
                else 0.0
            a.membrane_updates += self._first + int(changes)
        else:
            a.membrane_updates += self._replay(x, s)
        self._changes.clear()

    def _replay(self, x: torch.Tensor, s: torch.Tensor) -> int:
        """MembraneUpdates by replaying ``h_t = charge(x_t, v_{t−1})``, ``v_t = reset(h_t,
        s_t)`` (then fixed-point ``state_bits`` if set) from the recorded input and spikes."""
        p = self.module.params_for(x)  # type: ignore[operator]
        v = self.pre_mem if self.pre_mem is not None else rest(x[0], p)
        T, B = x.shape[:2]
        updates = int(torch.Size(x.shape[2:]).numel()) * B
        h_prev: torch.Tensor | None = None
        for t in range(T):  # the neuron's own equations (LIFParams)
            h = charge(x[t], v, p)
            if h_prev is not None:
                updates += int(torch.count_nonzero(torch.ne(h, h_prev)))
            v, h_prev = reset(h, s[t], p, v), h
            if p.state_bits is not None:
                v = quantize_state(v, p.state_bits, p.state_max)  # type: ignore[arg-type]
        return updates


class _BinaryTensors:
    """Which tensors are known to hold only 0/1 — spike outputs of spikelite neurons and
    max-pools of them — keyed by storage, so views (reshape, flatten, ``TimeDistributed``)
    are recognised. Entries hold weak references: a live entry means the storage is still
    that tensor's, so an address cannot be recycled by an unrelated tensor."""

    def __init__(self) -> None:
        self._refs: dict[int, weakref.ref] = {}

    def mark(self, t: torch.Tensor) -> None:
        self._refs[t.untyped_storage().data_ptr()] = weakref.ref(t)

    def known(self, t: torch.Tensor) -> bool:
        ref = self._refs.get(t.untyped_storage().data_ptr())
        return ref is not None and ref() is not None

    def clear(self) -> None:
        self._refs.clear()


class ActivityRecorder:
    """Context manager that hooks a model's synaptic and neuron layers.

    Call :meth:`batch` with each time-major input's ``(T, B)`` before the forward pass;
    :attr:`activity` holds the totals.
    """

    def __init__(
        self,
        model: nn.Module,
        synaptic: dict[str, SynapticSpec],
        neurons: dict[str, nn.Module],
        *,
        membrane_updates: bool = True,
    ) -> None:
        self.model = model
        self._syn = {n: _SynapticCounter(s) for n, s in synaptic.items()}
        self._neu = {n: _NeuronCounter(n, m, membrane_updates) for n, m in neurons.items()}
        self.activity = Activity(membrane_updates_counted=membrane_updates)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._T = self._B = 0
        self._binary = _BinaryTensors()

    def batch(self, T: int, B: int) -> None:
        self._T, self._B = int(T), int(B)
        self._binary.clear()
        self.activity.samples += int(B)
        self.activity.batches += 1
        self.activity.time_steps = max(self.activity.time_steps, int(T))

    def __enter__(self) -> ActivityRecorder:
        for c in self._syn.values():
            m = c.spec.module
            self._handles.append(m.register_forward_pre_hook(self._syn_hook(c)))
            self._handles.append(m.register_forward_hook(
                lambda _m, _a, out, c=c: c.add_outputs(out)))
        for n in self._neu.values():
            n.attach()
            m = n.module
            self._handles.append(m.register_forward_pre_hook(lambda _m, a, n=n: n.pre(a[0])))
            self._handles.append(m.register_forward_hook(self._neu_hook(n)))
        for m in self.model.modules():
            if isinstance(m, _MAXPOOL):
                self._handles.append(m.register_forward_hook(self._pool_hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for n in self._neu.values():
            n.detach()
        self._binary.clear()
        self.activity.synaptic = {n: c.act for n, c in self._syn.items()}
        self.activity.neurons = {n: c.act for n, c in self._neu.items()}

    def _syn_hook(self, c: _SynapticCounter):
        # a pre-hook: the input is counted while it is still in cache (just written by
        # the layer before), not after the layer's own forward has evicted it
        def hook(_m: nn.Module, args: tuple) -> None:
            with torch.no_grad():
                x = args[0].detach()
                c.record(x, self._T, self._B, binary=self._binary.known(x))

        return hook

    def _neu_hook(self, c: _NeuronCounter):
        def hook(_m: nn.Module, args: tuple, out: torch.Tensor) -> None:
            with torch.no_grad():
                c.record(args[0].detach(), out.detach())
            self._binary.mark(out)  # spikelite neurons emit exact 0/1 spikes

        return hook

    def _pool_hook(self, _m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if isinstance(out, torch.Tensor) and self._binary.known(args[0]):
            self._binary.mark(out)  # the max of 0/1 values is 0/1
