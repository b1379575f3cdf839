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

:func:`neurobench_results` / :func:`write_neurobench_json` give the block in the layout of
NeuroBench's ``Benchmark.run()`` results (what its ``save_benchmark_results`` writes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from spikelite.errors import SpikeliteError, os_failure
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


#: NeuroBench's result keys in the order ``Benchmark.run()`` returns them for the default
#: metric lists (static metrics first, then workload metrics).
RESULT_KEYS = ("Footprint", "ConnectionSparsity", "ParameterCount", "ClassificationAccuracy",
               "ActivationSparsity", "SynapticOperations", "MembraneUpdates")


def neurobench_results(source: Any, *, accuracy: float | None = None) -> dict[str, Any]:
    """spikelite's NeuroBench-named block in the layout of NeuroBench's ``Benchmark.run()``.

    ``source``: a :class:`~spikelite.hardware.Report` or its ``neurobench`` dict. The result
    is flat, keyed by NeuroBench's metric class names, with ``SynapticOperations`` nested as
    ``{"Effective_MACs", "Effective_ACs", "Dense"}`` (NeuroBench 2.3,
    ``benchmarks/benchmark.py``, ``metrics/workload/synaptic_operations.py``).
    ``ClassificationAccuracy`` (a fraction in [0, 1]) is included when ``accuracy`` is
    given, ``MembraneUpdates`` when it was counted.
    """
    block = getattr(source, "neurobench", source)
    if not isinstance(block, dict) or "SynapticOperations" not in block:
        raise SpikeliteError("neurobench_results needs a profile Report or its .neurobench "
                             f"dict, got {type(source).__name__}")
    if accuracy is not None and not 0.0 <= float(accuracy) <= 1.0:
        raise SpikeliteError(f"accuracy must be a fraction in [0, 1] (NeuroBench's "
                             f"ClassificationAccuracy), got {accuracy}")
    values = dict(block)
    values["ClassificationAccuracy"] = None if accuracy is None else float(accuracy)
    so = values["SynapticOperations"]
    values["SynapticOperations"] = {k: so[k] for k in ("Effective_MACs", "Effective_ACs",
                                                       "Dense")}
    return {k: values[k] for k in RESULT_KEYS if values.get(k) is not None}


def write_neurobench_json(source: Any, path: str | Path, *,
                          accuracy: float | None = None) -> Path:
    """Write :func:`neurobench_results` as JSON, as NeuroBench's
    ``Benchmark.save_benchmark_results(..., "json")`` does (``json.dump(results,
    indent=4)``), through a temporary file renamed into place. Returns the path."""
    results = neurobench_results(source, accuracy=accuracy)
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(results, f, indent=4)
        os.replace(tmp, out)
    except OSError as exc:
        raise os_failure(exc, out) from None
    finally:
        tmp.unlink(missing_ok=True)
    return out
