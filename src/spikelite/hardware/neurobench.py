"""NeuroBench-named metrics with NeuroBench's definitions (v2.3.0; ``energy.md`` §2).

Computed from spikelite's exact counts, so they also work on models NeuroBench cannot
run (spikelite neurons, parametrized weights) — but with NeuroBench's semantics:

* ``Effective_ACs`` / ``Effective_MACs``: Σ over synaptic layers and steps of the
  (non-zero input, non-zero weight) pairs, per sample; a step's pairs are ACs when every
  input value of the layer at that step is in {−1, 0, 1}, else MACs. Weight bit widths
  never matter.
* ``Dense``: every (input, weight) pair, zeros included (padding excluded), per sample.
* ``MembraneUpdates``: per neuron layer, all neurons at the first step, then the neurons
  whose (pre-reset) membrane changed; per sample.
* ``ActivationSparsity``: 1 − non-zero outputs / all outputs of the spiking layers.
* ``ConnectionSparsity``: zero weights / all weights of the Linear/Conv layers (deployed
  weights: codes and masks), rounded to 4 decimals.
* ``ParameterCount``: Σ ``numel`` of the parameters.
* ``Footprint``: Σ ``numel × element_size`` of parameters **and buffers** in bytes — the
  framework's storage, not the deployed size (a 4-bit weight stored as float32 counts
  4 bytes; see :func:`spikelite.hardware.model_size` for deployed bits).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from spikelite.hardware.counting import Activity
from spikelite.hardware.layers import SynapticSpec


def footprint_bytes(model: nn.Module) -> int:
    """NeuroBench ``Footprint``: bytes of every parameter and buffer as stored."""
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def connection_sparsity(synaptic: dict[str, SynapticSpec]) -> float:
    """NeuroBench ``ConnectionSparsity`` over the deployed Linear/Conv weights."""
    total = sum(s.numel for s in synaptic.values())
    zeros = sum(s.numel - s.nnz for s in synaptic.values())
    return round(zeros / total, 4) if total else 0.0


def neurobench_metrics(
    model: nn.Module, activity: Activity, synaptic: dict[str, SynapticSpec]
) -> dict[str, Any]:
    """The NeuroBench-named block (per sample, summed over time steps)."""
    n = max(activity.samples, 1)
    syn = activity.synaptic.values()
    neu = activity.neurons.values()
    outputs = sum(a.neuron_steps for a in neu)
    spikes = sum(a.spikes for a in neu)
    return {
        "Footprint": footprint_bytes(model),
        "ConnectionSparsity": connection_sparsity(synaptic),
        "ParameterCount": sum(p.numel() for p in model.parameters()),
        "SynapticOperations": {
            "Effective_MACs": sum(a.eff_mac for a in syn) / n,
            "Effective_ACs": sum(a.eff_ac for a in syn) / n,
            "Dense": sum(a.dense for a in syn) / n,
        },
        "ActivationSparsity": 1.0 - spikes / outputs if outputs else 0.0,
        "MembraneUpdates": (sum(a.membrane_updates for a in neu) / n
                            if activity.membrane_updates_counted else None),
    }
