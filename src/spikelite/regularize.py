"""Activity regularizers (Narduzzi et al., ICASSP 2022; papers.md §3.4), registered by name.

Each regularizer maps one layer's activations ``a`` — SNN spikes ``[T, B, ...]`` or ANN
post-ReLU activations ``[B, ...]`` — to a scalar added to the task loss. Per-sample
quantities use all of a sample's entries (time and features); results are batch means.

* ``l1``: ``mean(|a|)`` (mean activity / firing rate)
* ``l2``: ``mean(a²)``
* ``hoyer``: ``‖a‖₁ / ‖a‖₂`` per sample (Hoyer 2004; scale-invariant sparsity)
* ``hoyer_square``: ``‖a‖₁² / ‖a‖₂²`` per sample (Kurtz et al. 2020)
* ``synops``: ``Σ_i a_i · fanout_i`` per sample, per time step for spikes — activity weighted
  by each neuron's number of non-zero outgoing synapses in the next layer (Sorbaro et al.
  2020), i.e. the synaptic operations the activity causes
* ``target_rate``: ``mean_i (r_i − r*)²`` with ``r_i`` the neuron's mean activity over time
  and batch and ``r*`` = ``target`` (default 0.05)

:class:`ActivityRegularizer` hooks the chosen layers (spikelite neurons and ``nn.ReLU`` by
default) while the model trains and returns ``Σ_l w_l · R(a_l)`` with one weight per layer
(or one for all). ``source="membrane"`` regularizes a spiking neuron's pre-reset membrane
instead of its spikes (e.g. ``hoyer`` on membranes, as in the Hoyer-regularized SNN
training of Datta et al.).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

import torch
from pydantic import AfterValidator, Field, field_validator
from torch import nn

from spikelite._registry import Registry
from spikelite.core.neurons import LIF
from spikelite.core.synaptic import SYNAPTIC_TYPES
from spikelite.errors import SpikeliteError
from spikelite.records import Strict, registered

RegFn = Callable[..., torch.Tensor]
REGULARIZERS: Registry[RegFn] = Registry("regularizer")
_EPS = 1e-12


def _per_sample(a: torch.Tensor, time_major: bool) -> torch.Tensor:
    """``[B, N]``: every entry of one sample (over time too, for ``[T, B, ...]``)."""
    if time_major:
        return a.transpose(0, 1).reshape(a.shape[1], -1)
    return a.reshape(a.shape[0], -1)


class _MeanAbs(torch.autograd.Function):
    """``mean(|a|)`` with autograd's gradient ``sgn(a)·g/N`` bit for bit, in fewer passes:
    the forward reduces without materialising ``|a|``, the backward writes one tensor
    (autograd's ``abs``/``mean`` pair writes ``|a|``, ``sgn(a)`` and their product)."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a)
        return torch.linalg.vector_norm(a, 1) / a.numel()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (a,) = ctx.saved_tensors
        return torch.sgn(a).mul_(g / a.numel())


@REGULARIZERS.register("l1")
def l1(a: torch.Tensor, **_: Any) -> torch.Tensor:
    """``mean(|a|)``."""
    if not a.is_floating_point() or a.numel() == 0:
        return a.abs().mean()
    return _MeanAbs.apply(a)


@REGULARIZERS.register("l2")
def l2(a: torch.Tensor, **_: Any) -> torch.Tensor:
    """``mean(a²)``."""
    return a.square().mean()


@REGULARIZERS.register("hoyer")
def hoyer(a: torch.Tensor, *, time_major: bool = True, **_: Any) -> torch.Tensor:
    """``mean_b ‖a_b‖₁ / ‖a_b‖₂``."""
    x = _per_sample(a, time_major)
    return (x.abs().sum(1) / (x.square().sum(1).sqrt() + _EPS)).mean()


@REGULARIZERS.register("hoyer_square")
def hoyer_square(a: torch.Tensor, *, time_major: bool = True, **_: Any) -> torch.Tensor:
    """``mean_b ‖a_b‖₁² / ‖a_b‖₂²``."""
    x = _per_sample(a, time_major)
    return (x.abs().sum(1).square() / (x.square().sum(1) + _EPS)).mean()


def _fanout_for(fanout: torch.Tensor, feat: torch.Size) -> torch.Tensor:
    """Fan-out shaped like one sample's activations: per neuron when the next layer sees
    exactly these neurons; per channel otherwise (a pooling in between: the channel's mean
    fan-out over the positions the next layer sees)."""
    if fanout.numel() == feat.numel():
        return fanout.reshape(feat)
    c = feat[0] if len(feat) else 1
    if fanout.numel() == c:
        per = fanout
    elif fanout.numel() % c == 0:
        per = fanout.reshape(c, -1).mean(1)
    else:
        raise SpikeliteError(
            f"cannot match a fan-out of {fanout.numel()} inputs to activations of shape "
            f"{tuple(feat)}"
        )
    return per.view(c, *([1] * (len(feat) - 1)))


@REGULARIZERS.register("synops")
def synops(
    a: torch.Tensor, *, fanout: torch.Tensor | None = None, time_major: bool = True, **_: Any
) -> torch.Tensor:
    """``mean_b Σ_i a_i·fanout_i`` (per time step for ``[T, B, ...]``)."""
    if fanout is None:
        raise SpikeliteError("synops needs the layer's fan-out (the next synaptic layer)")
    feat = a.shape[2:] if time_major else a.shape[1:]
    weighted = a.abs() * _fanout_for(fanout.to(a.dtype), feat)
    if time_major:
        return weighted.sum(dim=tuple(range(2, a.dim()))).mean()
    return weighted.reshape(a.shape[0], -1).sum(1).mean()


@REGULARIZERS.register("target_rate")
def target_rate(
    a: torch.Tensor, *, target: float = 0.05, time_major: bool = True, **_: Any
) -> torch.Tensor:
    """``mean_i (r_i − r*)²``, ``r_i`` = mean activity of neuron i over time and batch."""
    rate = a.mean(dim=(0, 1)) if time_major else a.mean(dim=0)
    return (rate - target).square().mean()


def fanout_of(next_layer: nn.Module, act_shape: torch.Size) -> torch.Tensor:
    """Non-zero outgoing synapses per input neuron of ``next_layer`` (its deployed weight):
    a Linear's column counts, or a conv's taps per input channel (border effects ignored)."""
    with torch.no_grad():
        w = next_layer.weight.detach()
        if isinstance(next_layer, nn.Linear):
            return (w != 0).sum(0)
        return (w != 0).transpose(0, 1).reshape(w.shape[1], -1).sum(1)


#: Regularizers that make sense on membrane potentials (the others count spikes/events).
MEMBRANE_OK = ("l1", "l2", "hoyer", "hoyer_square")


class ActivityRegularizer:
    """``Σ_l w_l · R(a_l)`` over hooked layers ``l``, recorded while training.

    ``source="spikes"`` (default): ``a_l`` is the layer's output — spikes ``[T, B, ...]`` of a
    spikelite neuron or the activations ``[B, ...]`` of an ``nn.ReLU``. ``source="membrane"``:
    ``a_l`` is a spikelite neuron's pre-reset membrane ``h`` ``[T, B, ...]`` (the
    neuron runs its eager path while hooked; only ``l1``, ``l2``, ``hoyer`` and
    ``hoyer_square`` apply). ``layers="all"`` picks every eligible layer, or give module
    names. ``weight`` is one weight for all layers or a mapping ``{layer: weight}`` (the
    mapping's keys are then the layers). Call :meth:`penalty` after each forward pass (the
    training engine does); it clears the recorded activations. :meth:`remove` unhooks.
    """

    def __init__(self, model: nn.Module, name: str = "l1",
                 weight: float | Mapping[str, float] = 1e-3,
                 layers: str | Sequence[str] = "all", *, source: str = "spikes",
                 **options: Any) -> None:
        self.fn = REGULARIZERS.get(name)
        self.name, self.source, self.options = name, source, dict(options)
        if source not in ("spikes", "membrane"):
            raise SpikeliteError(
                f"regularizer source must be 'spikes' or 'membrane', got {source!r}")
        if source == "membrane" and name not in MEMBRANE_OK:
            raise SpikeliteError(
                f"the {name!r} regularizer counts spikes/events; on membranes use one of "
                f"{', '.join(MEMBRANE_OK)} (or source: spikes)")
        if isinstance(weight, Mapping):
            if not weight:
                raise SpikeliteError("per-layer regularizer weights are empty: give "
                                     "{layer: weight, ...} or one number")
            if layers != "all" and set(layers) != set(weight):
                raise SpikeliteError(
                    f"regularizer `layers` {sorted(layers)} and the layers of the per-layer "
                    f"weights {sorted(weight)} differ: give only the weights mapping")
            layers = list(weight)
        weights = dict(weight) if isinstance(weight, Mapping) else None
        for k, w in (weights or {"all": weight}).items():  # type: ignore[dict-item]
            if float(w) < 0:
                raise SpikeliteError(f"regularizer weight must be >= 0, got {w} for {k!r}")
        eligible = (LIF,) if source == "membrane" else (LIF, nn.ReLU)
        mods = list(model.named_modules())
        if layers == "all":
            chosen = [(n, m) for n, m in mods if isinstance(m, eligible)]
        else:
            by_name = dict(mods)
            missing = sorted(set(layers) - set(by_name))
            if missing:
                raise SpikeliteError(f"regularizer layers not in the model: {missing}")
            chosen = [(n, by_name[n]) for n in layers]
            if source == "membrane":
                bad = [n for n, m in chosen if not isinstance(m, LIF)]
                if bad:
                    raise SpikeliteError(f"layers {bad} are not spikelite neurons, so they "
                                         "have no membrane to regularize (use source: spikes)")
        if not chosen:
            raise SpikeliteError(
                "no layer to regularize: the model has no spikelite neuron"
                + ("" if source == "membrane" else " or nn.ReLU") + " (name the layers explicitly)")
        self.weights = {n: float(weights[n]) if weights else float(weight)  # type: ignore[arg-type]
                        for n, _ in chosen}
        self._next: dict[str, nn.Module | None] = {}
        order = [n for n, _ in mods]
        for n, _ in chosen:
            after = [m for k, m in mods[order.index(n) + 1:] if isinstance(m, SYNAPTIC_TYPES)]
            self._next[n] = after[0] if after else None
        self._acts: list[tuple[str, torch.Tensor, bool]] = []
        self._handles: list[Any] = []
        self._sinks: list[tuple[nn.Module, Any]] = []
        for n, m in chosen:
            if source == "membrane":
                self._sinks.append((m, getattr(m, "membrane_sink", None)))
                m.membrane_sink = self._sink(n, m)
            else:
                self._handles.append(m.register_forward_hook(self._hook(n, isinstance(m, LIF))))

    def _record(self, module: nn.Module, name: str, a: torch.Tensor, time_major: bool) -> None:
        if module.training and torch.is_grad_enabled():
            self._acts.append((name, a, time_major))

    def _hook(self, name: str, time_major: bool) -> Callable[..., None]:
        def hook(module: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            self._record(module, name, out, time_major)
        return hook

    def _sink(self, name: str, module: nn.Module) -> Callable[[torch.Tensor], None]:
        def sink(h: torch.Tensor) -> None:
            self._record(module, name, h, True)
        return sink

    def penalty(self) -> torch.Tensor:
        """The weighted penalty of the activations recorded since the last call."""
        total = torch.zeros(())
        for name, a, tm in self._acts:
            opts = dict(self.options, time_major=tm)
            if self.name == "synops":
                nxt = self._next[name]
                if nxt is None:  # the last layer feeds no synapse: no synaptic operations
                    continue
                opts["fanout"] = fanout_of(nxt, a.shape)
            total = total.to(a.device) + self.weights[name] * self.fn(a, **opts)
        self._acts.clear()
        return total

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        for m, previous in self._sinks:
            m.membrane_sink = previous
        self._handles, self._sinks = [], []
        self._acts.clear()


class RegularizerSpec(Strict):
    """Activity regularizer added to the loss, as a validated record (YAML
    ``regularizer: {name, weight, layers, source, options}``)."""

    name: Annotated[str, AfterValidator(registered(REGULARIZERS))] = "l1"
    #: one weight for every layer, or ``{layer: weight}`` (its keys are then the layers)
    weight: float | dict[str, float] = 1e-3
    layers: str | list[str] = "all"
    #: what is regularized (not ``on``: YAML 1.1 reads that key as ``true``):
    #: ``spikes`` (outputs: spikes / ReLU activations) or ``membrane`` (pre-reset membrane)
    source: Literal["spikes", "membrane"] = "spikes"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("weight")
    @classmethod
    def _nonneg(cls, v: float | dict[str, float]) -> float | dict[str, float]:
        vals = v.values() if isinstance(v, dict) else [v]
        if any(w < 0 for w in vals):
            raise ValueError(f"regularizer weights must be >= 0, got {v}")
        if isinstance(v, dict) and not v:
            raise ValueError("per-layer weights are empty: give {layer: weight} or a number")
        return v

    @property
    def label(self) -> str:
        """Short text such as ``hoyer:0.001`` or ``l1@membrane:{lif1=0.01,lif2=0.001}``."""
        w = self.weight
        ws = ("{" + ",".join(f"{k}={v:g}" for k, v in w.items()) + "}"
              if isinstance(w, dict) else f"{w:g}")
        return f"{self.name}{'@membrane' if self.source == 'membrane' else ''}:{ws}"


def regularizer_from_spec(model: nn.Module, spec: Any) -> ActivityRegularizer:
    """An :class:`ActivityRegularizer` from a config record with ``name``, ``weight``,
    ``layers``, ``source`` and ``options`` (:class:`RegularizerSpec`)."""
    return ActivityRegularizer(model, spec.name, spec.weight, spec.layers, source=spec.source,
                               **spec.options)
