"""NeuroBench's model wrapper for spikelite models (imports ``neurobench``: load lazily).

Only :mod:`spikelite.hardware.neurobench_adapter` imports this module, after checking that
the ``neurobench`` extra is installed. NeuroBench 2.3 semantics it serves
(``neurobench/models/neurobench_model.py``, ``hooks/``, ``metrics/workload/``):

* a model is called on a batch-major ``[B, T, ...]`` batch and returns predictions;
* ``activation_hooks`` hold, per activation layer, the outputs (ActivationSparsity) and,
  per step, the membrane before and after the step (MembraneUpdates counts all neurons at
  the first entry, then ``count_nonzero(pre − post)`` for the others);
* ``connection_hooks`` hold, per Linear/Conv layer, one input tuple per call
  (SynapticOperations decides AC vs MAC per entry: all values in {−1, 0, 1} → ACs).

A spikelite model runs all T steps in one call, so the hooks here present what NeuroBench
would record from a step-by-step run (as with its ``SNNTorchModel``): one synaptic entry per
step, and each step's pre-reset membrane ``h_t`` reported by the neuron's ``step_observer``
(snnTorch's ``mem`` is the same pre-reset quantity, so ``pre − post = h_{t−1} − h_t``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from neurobench.hooks.layer import LayerHook
from neurobench.hooks.neuron import NeuronHook
from neurobench.models import NeuroBenchModel
from torch import nn

from spikelite.core import LIF, reset_states
from spikelite.errors import SpikeliteError

Readout = str | Callable[[torch.Tensor], torch.Tensor]
READOUTS = ("mean", "sum", "last", "none")


@dataclass
class _Steps:
    """``(T, B)`` of the batch being run, shared by a model's hooks (per model instance)."""

    T: int = 0
    B: int = 0


def read_out(out: Any, readout: Readout) -> Any:
    """Predictions from a time-major output ``[T, B, C]``.

    ``mean``: ``argmax_c mean_t out`` (spikelite's evaluation read-out); ``sum``: argmax of
    the spike count ``Σ_t out``; ``last``: argmax at the last step; ``none``: the output
    batch-major ``[B, T, ...]`` (for NeuroBench post-processors such as ``ChooseMaxCount``);
    a callable gets the raw output. A 2-D output ``[B, C]`` (already reduced over time) is
    arg-maxed as it is by ``mean``/``sum``/``last``.
    """
    if callable(readout):
        return readout(out)
    if not isinstance(out, torch.Tensor):
        raise SpikeliteError(f"the model returned {type(out).__name__}, not a tensor; pass "
                             "readout=<callable> that turns its output into predictions")
    if readout == "none":
        return out.transpose(0, 1) if out.dim() >= 3 else out
    if out.dim() == 2:
        return out.argmax(-1)
    if out.dim() != 3:
        raise SpikeliteError(f"readout={readout!r} needs a model output [T, B, classes], got "
                             f"shape {tuple(out.shape)}; pass readout='none' or a callable")
    if readout == "mean":
        return out.mean(0).argmax(-1)
    if readout == "sum":
        return out.sum(0).argmax(-1)
    return out[-1].argmax(-1)  # "last"


class _MembraneHook(NeuronHook):
    """NeuroBench's activation hook on a spikelite neuron: the outputs of each call, and
    per step the pre-reset membrane before (``h_{t−1}``) and after (``h_t``) the step.

    The first step of a call has no previous membrane; its ``pre`` entry is NaN, so
    NeuroBench counts every neuron as updated there (spikelite's rule: all neurons at a
    call's first step) — at the batch's first entry NeuroBench counts them anyway.
    """

    def __init__(self, layer: nn.Module, name: str | None, steps: _Steps) -> None:
        super().__init__(layer, name)
        self._steps = steps
        self._observed = 0
        self.missing_membrane: str | None = None
        self._saved_observer = getattr(layer, "step_observer", None)
        layer.step_observer = self._observe  # type: ignore[assignment]

    def pre_hook_fn(self, layer: nn.Module, input: tuple) -> None:
        self.activation_inputs.append(input)
        self._observed = 0

    def _observe(self, t: int, h: torch.Tensor, h_prev: torch.Tensor | None,
                 s: torch.Tensor) -> None:
        post = h.detach().clone()  # the kernel reuses its buffers after the call
        if h_prev is None or not self.post_fire_mem_potential:
            pre = torch.full_like(post, float("nan"))
        else:
            pre = self.post_fire_mem_potential[-1]
        self.pre_fire_mem_potential.append(pre)
        self.post_fire_mem_potential.append(post)
        self._observed += 1

    def hook_fn(self, layer: nn.Module, input: tuple, output: torch.Tensor) -> None:
        self.activation_outputs.append(output)
        steps = input[0].shape[0] if input and isinstance(input[0], torch.Tensor) else 0
        if self._observed != steps:
            self.missing_membrane = (
                f"{self.name or type(layer).__name__} ({type(layer).__name__}) reported "
                f"{self._observed} of {steps} steps' membranes (its forward does not call "
                "step_observer)")

    def close(self) -> None:
        super().close()
        if self.layer is not None and getattr(self.layer, "step_observer", None) \
                == self._observe:
            self.layer.step_observer = self._saved_observer


class _StepLayerHook(LayerHook):
    """NeuroBench's connection hook, one entry per time step: a time-major call's input
    ``[T·B, ...]`` (folded by ``TimeDistributed``) or ``[T, B, ..., F]`` (a Linear on a
    time-major tensor) is split into T step inputs ``[B, ...]``; any other input is one
    entry (the same layout rule as :mod:`spikelite.hardware.counting`)."""

    def __init__(self, layer: nn.Module, steps: _Steps) -> None:
        self._steps = steps
        super().__init__(layer)

    def hook_fn(self, module: nn.Module, input: tuple) -> None:
        x = input[0] if input else None
        T, B = self._steps.T, self._steps.B
        if not isinstance(x, torch.Tensor) or T < 1:
            self.inputs.append(input)
            return
        if isinstance(module, nn.Linear) and x.dim() >= 3 and tuple(x.shape[:2]) == (T, B):
            self.inputs.extend((xt,) for xt in x.unbind(0))
        elif x.dim() >= 1 and x.shape[0] == T * B:
            self.inputs.extend((xt,) for xt in x.reshape(T, B, *x.shape[1:]).unbind(0))
        else:
            self.inputs.append(input)


class SpikeliteModel(NeuroBenchModel):
    """A spikelite model (time-major ``[T, B, ...] → [T, B, C]``) as a NeuroBench model.

    ``__call__(batch)`` takes NeuroBench's batch-major ``[B, T, ...]`` (its ``Benchmark``
    takes ``batch.size(0)`` as the batch size), converts it to the model's float dtype and
    device, resets every neuron state, runs the model once without gradients and returns
    :func:`read_out`. spikelite neurons (:class:`~spikelite.core.LIF` and its subclasses)
    are activation modules; Linear/Conv layers are NeuroBench's connection layers.
    ``sidecars``: the
    :class:`~spikelite.quant.LayerQuant` of each layer when the model was baked for
    NeuroBench (``None`` otherwise).
    """

    def __init__(self, net: nn.Module, *, readout: Readout = "mean",
                 sidecars: dict[str, Any] | None = None) -> None:
        super().__init__()
        if not callable(readout) and readout not in READOUTS:
            raise SpikeliteError(f"unknown readout {readout!r}; use one of "
                                 f"{', '.join(READOUTS)} or a callable")
        self.net = net
        self.net.eval()
        self.readout = readout
        self.sidecars = sidecars
        self._steps = _Steps()
        self.add_activation_module(LIF)

    def __net__(self) -> nn.Module:
        return self.net

    def _dtype_device(self) -> tuple[torch.dtype, torch.device]:
        for t in (*self.net.parameters(), *self.net.buffers()):
            if t.is_floating_point():
                return t.dtype, t.device
        return torch.get_default_dtype(), torch.device("cpu")

    def __call__(self, batch: torch.Tensor) -> Any:
        if not isinstance(batch, torch.Tensor) or batch.dim() < 3:
            got = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
            raise SpikeliteError(
                f"a NeuroBench batch must be a tensor [B, T, ...] with at least 3 dims, got "
                f"{got}; give the data a time axis (spikelite's datasets do)")
        x = batch.transpose(0, 1)
        dtype, device = self._dtype_device()
        x = x.to(device=device, dtype=dtype)
        self._steps.T, self._steps.B = int(x.shape[0]), int(x.shape[1])
        reset_states(self.net)
        with torch.no_grad():
            out = self.net(x)
        reset_states(self.net)
        return read_out(out, self.readout)

    def register_hooks(self) -> None:
        for entry in self.activation_layers():
            layer, name = entry["layer"], entry["layer_name"]
            hook = (_MembraneHook(layer, name, self._steps) if isinstance(layer, LIF)
                    else NeuronHook(layer, name))
            self.activation_hooks.append(hook)
        for layer in self.connection_layers():
            self.connection_hooks.append(_StepLayerHook(layer, self._steps))

    def missing_membranes(self) -> list[str]:
        """Neuron layers whose membranes were not reported (MembraneUpdates is then wrong)."""
        return [h.missing_membrane for h in self.activation_hooks
                if getattr(h, "missing_membrane", None)]
