"""A sequential SNN as the normalised chain of steps every export target writes.

:func:`walk_chain` opens a sequential model (``TimeDistributed`` unwrapped, nested
sequentials opened, Dropout/Identity dropped — the identity in evaluation) into:

* :class:`SynapseStep` — a ``Linear``/``Conv2d`` together with the BatchNorm right after it
  (folded by :mod:`spikelite.core.batchnorm`: :meth:`~SynapseStep.deployed` gives the folded
  weight and bias, :meth:`~SynapseStep.gain_offset` the per-channel gain and offset);
* :class:`NeuronStep` — a LIF/IF (any subclass), with the synapse that feeds it directly;
* :class:`PoolStep` — ``MaxPool2d``/``AvgPool2d`` as plain windows;
* :class:`FlattenStep` — a full flatten of each sample.

Each step knows its input and output shape (one sample: no time or batch axis) and whether
its input is binary spikes. Anything else is refused by name, and a target adds its own
refusals through ``refuse``; so a new target walks nothing itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.core.batchnorm import BATCHNORMS, bn_gain_offset, check_foldable, fold_batchnorm
from spikelite.errors import SpikeliteError

#: The synaptic layers every export target handles — what NIR has nodes for (``Affine``/
#: ``Linear``, ``Conv2d``) and the integer package stores; not all of spikelite's synaptic
#: layer types.
EXPORT_SYNAPTIC: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d)
#: Layers that are the identity in evaluation and are left out of every export.
DROPPED: tuple[type[nn.Module], ...] = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)
SUPPORTED = ("Linear, Conv2d, BatchNorm (folded), LIF/IF, MaxPool2d, AvgPool2d, Flatten, "
             "Dropout")

#: A target's own refusals: called with ``(name, module, spikes_in)`` for every kept layer
#: before it runs; raises :class:`SpikeliteError` to refuse it.
Refuse = Callable[[str, nn.Module, bool], None]


def flat_layers(model: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The model as a chain of ``(named_modules name, leaf)``: ``TimeDistributed``
    unwrapped, nested sequentials opened."""
    if not isinstance(model, nn.Sequential):
        raise SpikeliteError(
            f"export handles sequential models (nn.Sequential / the zoo's "
            f"SpikingSequential); got {type(model).__name__}")
    out: list[tuple[str, nn.Module]] = []
    for name, m in model.named_children():
        full = f"{prefix}{name}"
        if isinstance(m, TimeDistributed):
            full, m = f"{full}.module", m.module
        if isinstance(m, nn.Sequential):
            out.extend(flat_layers(m, f"{full}."))
        else:
            out.append((full, m))
    return out


def on_cpu(model: nn.Module) -> nn.Module:
    """``model`` itself when it lives on the CPU, else a CPU copy (exports run on the CPU;
    the caller's model is not moved)."""
    if all(t.device.type == "cpu" for t in (*model.parameters(), *model.buffers())):
        return model
    return copy.deepcopy(model).cpu()


def check_pool(name: str, m: nn.Module) -> None:
    """Pooling that exports as plain windows: no ceil mode, no padding excluded from the
    average (what NIR's and the package's pooling mean)."""
    if getattr(m, "ceil_mode", False):
        raise SpikeliteError(f"layer '{name}': pooling with ceil_mode=True cannot be exported; "
                             "use ceil_mode=False")
    pad = getattr(m, "padding", 0)
    if pad not in (0, (0, 0)) and not getattr(m, "count_include_pad", True):
        raise SpikeliteError(f"layer '{name}': padded average pooling with "
                             "count_include_pad=False cannot be exported")


@dataclass(frozen=True, kw_only=True)
class Step:
    """One kept layer: its ``named_modules`` name, the module, its input and output shape
    (one sample) and whether its input is binary spikes (it follows a neuron, through
    max-pools and flattens only)."""

    name: str
    module: nn.Module
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    spikes_in: bool

    @property
    def key(self) -> str:
        """The layer's name without a ``TimeDistributed`` wrapper's ``.module``."""
        return self.name.removesuffix(".module")


@dataclass(frozen=True, kw_only=True)
class SynapseStep(Step):
    """A ``Linear``/``Conv2d`` (zero padding given as numbers) and the BatchNorm right
    after it, if any; ``feeds_neuron``: the next kept layer is a neuron."""

    kind: Literal["linear", "conv2d"]
    bn: nn.Module | None
    bn_name: str | None
    feeds_neuron: bool

    def deployed(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(W, b)`` of the affine map the layer computes, the BatchNorm folded in
        (``W' = s·W``, ``b' = s·(b − μ) + β``); ``b`` is ``None`` for a bias-free layer
        without a BatchNorm. Detached, in the model's dtype."""
        m = self.module
        if self.bn is not None:
            return fold_batchnorm(m.weight, m.bias, self.bn)
        return m.weight.detach(), (None if m.bias is None else m.bias.detach())

    def gain_offset(self, dtype: torch.dtype = torch.float64
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per output channel ``(s, m)`` with ``BN(W·x + b) = s·(W·x) + m`` (``s = 1``,
        ``m = b`` without a BatchNorm), in ``dtype``."""
        m = self.module
        return bn_gain_offset(self.bn, m.bias, int(m.weight.shape[0]), dtype)


@dataclass(frozen=True, kw_only=True)
class NeuronStep(Step):
    """A spiking neuron (:class:`~spikelite.core.LIF` or a subclass); ``synapse``: the
    synaptic step feeding it directly, if any."""

    module: LIF
    synapse: SynapseStep | None


@dataclass(frozen=True, kw_only=True)
class PoolStep(Step):
    """``MaxPool2d`` (``kind="max"``) or ``AvgPool2d`` (``"avg"``), plain windows."""

    kind: Literal["max", "avg"]


@dataclass(frozen=True, kw_only=True)
class FlattenStep(Step):
    """A full flatten of each sample (:class:`spikelite.core.Flatten` or
    ``nn.Flatten(start_dim=1, end_dim=-1)``)."""


@dataclass(frozen=True)
class Chain:
    """A model as export steps: ``model`` (on the CPU), one sample's input and output
    shape, the steps in order."""

    model: nn.Module
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    steps: tuple[Step, ...]


def _misfit(name: str, m: nn.Module, in_shape: tuple[int, ...],
            exc: RuntimeError) -> SpikeliteError:
    return SpikeliteError(f"layer '{name}' ({type(m).__name__}) cannot take one sample of "
                          f"shape {in_shape}: {exc}")


def walk_chain(model: nn.Module, input_shape: Sequence[int] | None = None, *,
               label: str, refuse: Refuse | None = None) -> Chain:
    """``model`` (a baked sequential SNN) as a :class:`Chain` of export steps.

    ``input_shape``: one sample's shape without time and batch (default: the zoo model's
    ``input_shape``). ``label`` names the target in refusals (e.g. ``"NIR export"``);
    ``refuse`` adds the target's own (see :data:`Refuse`). Refused: parametrized (unbaked)
    models, non-sequential models, BatchNorm not right after a conv/linear or without
    running statistics, non-zero padding modes, ceil-mode pooling, partial flattens and
    every layer not in :data:`SUPPORTED`.
    """
    shape = tuple(input_shape or getattr(model, "input_shape", ()) or ())
    if not shape:
        raise SpikeliteError("give input_shape (one sample's shape without time and batch), "
                             "e.g. input_shape=(2, 34, 34)")
    if any(hasattr(m, "parametrizations") for m in model.modules()):
        raise SpikeliteError(
            "the model still has fake-quant/mask parametrizations: bake it first "
            f"(spikelite.quant.bake) so that {label} writes the deployed weights — bake the "
            "model first, then export the plain model with its sidecars")
    model = on_cpu(model)
    layers = flat_layers(model)
    steps: list[Step] = []
    x = torch.zeros(1, *shape)
    spikes_in = False
    i = 0
    with torch.no_grad():
        while i < len(layers):
            name, m = layers[i]
            in_shape = tuple(x.shape[1:])
            if isinstance(m, DROPPED):
                i += 1
                continue
            if isinstance(m, EXPORT_SYNAPTIC):
                conv = isinstance(m, nn.Conv2d)
                if conv and (isinstance(m.padding, str) or m.padding_mode != "zeros"):
                    raise SpikeliteError(f"layer '{name}': {label} needs zero padding given "
                                         "as numbers (padding_mode='zeros')")
                bn_name, bn = layers[i + 1] if i + 1 < len(layers) else (None, None)
                if not isinstance(bn, BATCHNORMS):
                    bn_name, bn = None, None
                else:
                    check_foldable(bn, int(m.weight.shape[0]), name, str(bn_name))
                j = i + (2 if bn is not None else 1)
                while j < len(layers) and isinstance(layers[j][1], DROPPED):
                    j += 1
                if refuse is not None:
                    refuse(name, m, spikes_in)
                w = m.weight
                try:
                    x = (nn.functional.conv2d(x.to(w.dtype), w, None, m.stride, m.padding,
                                              m.dilation, m.groups) if conv
                         else nn.functional.linear(x.to(w.dtype), w))
                except RuntimeError as exc:
                    raise _misfit(name, m, in_shape, exc) from None
                feeds = j < len(layers) and isinstance(layers[j][1], LIF)
                steps.append(SynapseStep(
                    name=name, module=m, in_shape=in_shape, out_shape=tuple(x.shape[1:]),
                    spikes_in=spikes_in, kind="conv2d" if conv else "linear", bn=bn,
                    bn_name=bn_name, feeds_neuron=feeds))
                spikes_in = False
                i += 2 if bn is not None else 1
                continue
            if isinstance(m, BATCHNORMS):
                raise SpikeliteError(f"layer '{name}': a BatchNorm that does not follow a "
                                     f"conv/linear cannot be folded for {label}")
            if isinstance(m, LIF):
                if refuse is not None:
                    refuse(name, m, spikes_in)
                prev = steps[-1] if steps and isinstance(steps[-1], SynapseStep) else None
                steps.append(NeuronStep(name=name, module=m, in_shape=in_shape,
                                        out_shape=in_shape, spikes_in=spikes_in, synapse=prev))
                spikes_in = True
            elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
                check_pool(name, m)
                if refuse is not None:
                    refuse(name, m, spikes_in)
                try:
                    x = m(x)
                except RuntimeError as exc:
                    raise _misfit(name, m, in_shape, exc) from None
                kind: Literal["max", "avg"] = "max" if isinstance(m, nn.MaxPool2d) else "avg"
                steps.append(PoolStep(name=name, module=m, in_shape=in_shape,
                                      out_shape=tuple(x.shape[1:]), spikes_in=spikes_in,
                                      kind=kind))
                spikes_in = spikes_in and kind == "max"  # the max of spikes is a spike
            elif isinstance(m, (Flatten, nn.Flatten)):
                if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1):
                    raise SpikeliteError(f"layer '{name}': only a full flatten of each sample "
                                         f"can be exported ({label})")
                if refuse is not None:
                    refuse(name, m, spikes_in)
                x = x.flatten(1)
                steps.append(FlattenStep(name=name, module=m, in_shape=in_shape,
                                         out_shape=tuple(x.shape[1:]), spikes_in=spikes_in))
            else:
                raise SpikeliteError(f"layer '{name}' ({type(m).__name__}) has no {label}; "
                                     f"supported: {SUPPORTED}")
            i += 1
    return Chain(model=model, input_shape=shape, output_shape=tuple(x.shape[1:]),
                 steps=tuple(steps))
