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
default) while the model trains and returns ``weight · Σ_layers R(a_layer)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from spikelite._registry import Registry
from spikelite.core.neurons import LIF
from spikelite.errors import SpikeliteError

RegFn = Callable[..., torch.Tensor]
REGULARIZERS: Registry[RegFn] = Registry("regularizer")
_EPS = 1e-12


def _per_sample(a: torch.Tensor, time_major: bool) -> torch.Tensor:
    """``[B, N]``: every entry of one sample (over time too, for ``[T, B, ...]``)."""
    if time_major:
        return a.transpose(0, 1).reshape(a.shape[1], -1)
    return a.reshape(a.shape[0], -1)


@REGULARIZERS.register("l1")
def l1(a: torch.Tensor, **_: Any) -> torch.Tensor:
    """``mean(|a|)``."""
    return a.abs().mean()


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


class ActivityRegularizer:
    """``weight · Σ_layers R(a_layer)`` over hooked layers, recorded while training.

    ``layers="all"``: every spikelite neuron (spikes, time-major) and every ``nn.ReLU``
    (ANN activations, batch-major); or a list of module names. Call :meth:`penalty` after
    each forward pass (the training engine does); it clears the recorded activations.
    """

    def __init__(self, model: nn.Module, name: str = "l1", weight: float = 1e-3,
                 layers: str | Sequence[str] = "all", **options: Any) -> None:
        self.fn = REGULARIZERS.get(name)
        self.name, self.weight, self.options = name, float(weight), dict(options)
        if self.weight < 0:
            raise SpikeliteError(f"regularizer weight must be >= 0, got {weight}")
        mods = list(model.named_modules())
        chosen = [(n, m) for n, m in mods if isinstance(m, (LIF, nn.ReLU))] if layers == "all" \
            else [(n, m) for n, m in mods if n in set(layers)]
        if layers != "all":
            missing = sorted(set(layers) - {n for n, _ in chosen})
            if missing:
                raise SpikeliteError(f"regularizer layers not in the model: {missing}")
        if not chosen:
            raise SpikeliteError("no layer to regularize: the model has no spikelite neuron "
                                 "or nn.ReLU (name the layers explicitly)")
        self._next: dict[str, nn.Module | None] = {}
        synaptic = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
        order = [n for n, _ in mods]
        for n, _ in chosen:
            after = [m for k, m in mods[order.index(n) + 1:] if isinstance(m, synaptic)]
            self._next[n] = after[0] if after else None
        self._acts: list[tuple[str, torch.Tensor, bool]] = []
        self._handles = [m.register_forward_hook(self._hook(n, isinstance(m, LIF)))
                         for n, m in chosen]

    def _hook(self, name: str, time_major: bool) -> Callable[..., None]:
        def hook(module: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            if module.training and torch.is_grad_enabled():
                self._acts.append((name, out, time_major))
        return hook

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
            total = total.to(a.device) + self.fn(a, **opts)
        self._acts.clear()
        return self.weight * total

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._acts.clear()
