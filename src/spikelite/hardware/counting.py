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
``h_t ≠ h_{t−1}`` — what snnTorch keeps in ``mem``), recomputed from the recorded input
and spikes with the neuron's own equations (optional: it replays the recursion).

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


def _add_steps(acc: list[float], values: torch.Tensor) -> None:
    for i, v in enumerate(values.tolist()):
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

    def maps(
        self, sample: tuple[int, ...], device: torch.device
    ) -> tuple[torch.Tensor, float, int]:
        """``([P, 3] (F_nz, F_all, 1) map, Σ F_all, positions per fiber)`` for a sample shape."""
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
        ones = torch.ones_like(nz)  # third column: Σ events
        stacked = torch.stack([nz, al, ones], 1).to(device=device, dtype=dtype)
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

    def record(self, x: torch.Tensor, out: torch.Tensor, T: int, B: int,
               binary: bool = False) -> None:
        """Count one call; ``binary``: ``x`` is known to hold only 0/1 (spikes)."""
        spec, a = self.spec, self.act
        if spec.is_linear and x.dim() >= 3 and tuple(x.shape[:2]) == (T, B):
            S, Bs, sample = T, B, tuple(x.shape[2:])
        elif x.shape[0] == T * B:
            S, Bs, sample = T, B, tuple(x.shape[1:])
        else:
            S, Bs, sample = 1, x.shape[0], tuple(x.shape[1:])
        maps, dense_per, per_fiber = self.maps(sample, x.device)
        flat = x.reshape(S * Bs, -1)
        if binary:  # spikes: the input is its own non-zero indicator
            nzf = flat
            graded_step = torch.zeros(S, dtype=torch.bool, device=x.device)
        else:
            nzf = torch.ne(flat, 0, out=torch.empty_like(flat))  # 0/1 as floats, one pass
            if torch.equal(flat, nzf):  # 0/1 values: every step binary
                graded_step = torch.zeros(S, dtype=torch.bool, device=x.device)
            else:
                # graded where |x| ∉ {0, 1}, i.e. |x| differs from its 0/1 indicator
                graded_step = torch.ne(flat.abs(), nzf).reshape(S, -1).any(1)
        counts = (nzf if nzf.dtype == maps.dtype else nzf.to(maps.dtype)) @ maps
        # [S, Bs, 3]: Σ F_nz, Σ F_all, events per sample-step (exact integers)
        counts = counts.to(torch.float64).reshape(S, Bs, 3)
        ev2 = counts[..., 2]
        g = graded_step.to(torch.float64)
        eff_s, fan_s, ev_s = counts.sum(1).unbind(-1)
        a.calls += 1
        a.step_slots += S
        a.sample_steps += S * Bs
        a.events += float(ev_s.sum())
        a.events_graded += float((ev_s * g).sum())
        a.eff_mac += float((eff_s * g).sum())
        a.eff_ac += float((eff_s * (1 - g)).sum())
        a.fan_mac += float((fan_s * g).sum())
        a.fan_ac += float((fan_s * (1 - g)).sum())
        n_graded = float(g.sum())
        a.dense_mac += dense_per * Bs * n_graded
        a.dense_ac += dense_per * Bs * (S - n_graded)
        a.in_positions += float(flat.shape[1]) * S * Bs
        a.outputs += float(out.numel())
        a.events_max = max(a.events_max, float(ev2.max()))
        a.eff_max = max(a.eff_max, float(counts[..., 0].max()))
        _add_steps(a.events_per_step, ev_s)
        _add_steps(a.eff_per_step, eff_s)
        a.input_shape = sample
        if spec.is_linear:
            rows = nzf.reshape(-1, sample[-1])
            fe = (rows if rows.shape[0] < _EXACT_F32 else rows.double()).sum(0)
        else:
            fe = nzf.reshape(S * Bs, sample[0], per_fiber).sum(2).to(torch.float64).sum(0)
        fe = fe.to(device="cpu", dtype=torch.float64)
        a.fiber_events = fe if a.fiber_events is None else a.fiber_events + fe


class _NeuronCounter:
    def __init__(self, name: str, module: nn.Module, membrane_updates: bool) -> None:
        self.module = module
        self.act = NeuronActivity(name)
        self.membrane_updates = membrane_updates
        self.pre_mem: torch.Tensor | None = None
        self._buf: tuple[torch.Tensor, ...] | None = None

    def pre(self, x: torch.Tensor) -> None:
        mem = getattr(self.module, "mem", None)
        self.pre_mem = None if mem is None or mem.shape != x.shape[1:] else mem

    def record(self, x: torch.Tensor, s: torch.Tensor) -> None:
        a = self.act
        T, B = x.shape[:2]
        n = int(torch.Size(x.shape[2:]).numel())
        a.neurons = n
        a.calls += 1
        a.neuron_steps += float(n) * T * B
        sp = s.reshape(T, B, -1).sum(-1).to(torch.float64)  # 0/1 spikes, exact per row
        a.spikes += float(sp.sum())
        a.spikes_max = max(a.spikes_max, float(sp.max()) if sp.numel() else 0.0)
        _add_steps(a.spikes_per_step, sp.sum(1))
        if not self.membrane_updates:
            return
        p = self.module.params_for(x)  # type: ignore[operator]
        fast = (p.form == "beta" and p.reset == "zero" and isinstance(p.leak, float)
                and isinstance(p.v_reset, float) and p.v_reset == 0.0)
        if fast:
            a.membrane_updates += self._updates_fast(x, s, float(p.leak))
            return
        v = self.pre_mem if self.pre_mem is not None else rest(x[0], p)
        updates = n * B
        h_prev: torch.Tensor | None = None
        for t in range(T):  # the neuron's own equations (LIFParams)
            h = charge(x[t], v, p)
            if h_prev is not None:
                updates += int(torch.count_nonzero(torch.ne(h, h_prev)))
            v, h_prev = reset(h, s[t], p), h
        a.membrane_updates += updates

    def _updates_fast(self, x: torch.Tensor, s: torch.Tensor, beta: float) -> int:
        """β-form, zero reset to 0: ``h_t = x_t + β·v_{t−1}``, ``v_t = h_t − h_t·s_t``, in
        reused buffers (fresh large allocations cost as much as the arithmetic on CPU)."""
        shape = x.shape[1:]
        if self._buf is None or self._buf[0].shape != shape or self._buf[0].dtype != x.dtype:
            self._buf = (torch.empty_like(x[0]), torch.empty_like(x[0]), torch.empty_like(x[0]),
                         torch.empty(shape, dtype=torch.bool, device=x.device))
        h, h_prev, v, changed = self._buf
        if self.pre_mem is not None:
            torch.add(x[0], self.pre_mem, alpha=beta, out=h)
        else:
            h.copy_(x[0])
        total = 0
        for t in range(1, x.shape[0]):
            h, h_prev = h_prev, h
            torch.addcmul(h_prev, h_prev, s[t - 1], value=-1.0, out=v)
            torch.add(x[t], v, alpha=beta, out=h)
            torch.ne(h, h_prev, out=changed)
            total += int(torch.count_nonzero(changed))
        return total + int(torch.Size(shape).numel())


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
            self._handles.append(c.spec.module.register_forward_hook(self._syn_hook(c)))
        for n in self._neu.values():
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
        self._binary.clear()
        self.activity.synaptic = {n: c.act for n, c in self._syn.items()}
        self.activity.neurons = {n: c.act for n, c in self._neu.items()}

    def _syn_hook(self, c: _SynapticCounter):
        def hook(_m: nn.Module, args: tuple, out: torch.Tensor) -> None:
            with torch.no_grad():
                x = args[0].detach()
                c.record(x, out, self._T, self._B, binary=self._binary.known(x))

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
