"""Run NeuroBench's ``Benchmark`` on spikelite models (the ``neurobench`` extra, v2.3).

* :func:`to_neurobench` — a NeuroBench model (``NeuroBenchModel`` subclass) around any
  spikelite module following the time-major convention: NeuroBench's ``[B, T, ...]``
  batches become ``[T, B, ...]``, states are reset per batch, predictions are the arg-max
  of the time-mean output (``readout``), spikelite neurons are NeuroBench activation
  modules and Linear/Conv layers its connection layers. A model with parametrized weights
  (masks, fake quantizers) is first baked (:func:`spikelite.quant.bake`): NeuroBench reads
  only plain weights (a parametrized layer is no leaf for ``ConnectionSparsity``, and its
  binarized copy for ``SynapticOperations`` is overwritten by the parametrization).
* :func:`neurobench_benchmark` — build the ``Benchmark`` and run it; a metric that fails
  inside NeuroBench (which would store ``0.0``/``None`` and go on) raises instead.

Without ``neurobench`` installed both raise :class:`~spikelite.errors.MissingExtraError`.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader, Dataset, TensorDataset

from spikelite.core.synaptic import synaptic_layers
from spikelite.errors import SpikeliteError, require

#: NeuroBench's metrics that apply to a classifying SNN, static first (results key order).
DEFAULT_METRICS = ("Footprint", "ConnectionSparsity", "ParameterCount",
                   "ClassificationAccuracy", "ActivationSparsity", "SynapticOperations",
                   "MembraneUpdates")

_FAILED = re.compile(r"^Error running (?:workload )?metric '([^']+)': (.*)$")


def _require() -> None:
    require("neurobench.models", "neurobench", "Running NeuroBench on spikelite models")


def to_neurobench(
    model: nn.Module,
    *,
    readout: str | Callable[[torch.Tensor], torch.Tensor] = "mean",
    bake_weights: bool = True,
) -> Any:
    """``model`` as a NeuroBench model (``neurobench.models.NeuroBenchModel``).

    ``readout``: ``mean`` (arg-max of the time-mean output, spikelite's evaluation
    read-out), ``sum``, ``last``, ``none`` (batch-major output ``[B, T, ...]`` for
    NeuroBench post-processors) or a callable on the time-major output. ``bake_weights``:
    run a model with parametrized weights as its baked copy (the wrapper's ``sidecars``
    then hold the :class:`~spikelite.quant.LayerQuant` per layer; ``model`` is not
    changed).
    """
    _require()
    from spikelite.hardware._neurobench_model import SpikeliteModel

    if not isinstance(model, nn.Module):
        raise SpikeliteError(f"to_neurobench needs a torch nn.Module, got {type(model).__name__}")
    sidecars = None
    if bake_weights and any(parametrize.is_parametrized(m) for _, m in synaptic_layers(model)):
        from spikelite.quant import bake

        model, sidecars = bake(model)
    return SpikeliteModel(model, readout=readout, sidecars=sidecars)


def _metric_classes(metrics: Sequence[Any] | None) -> tuple[list[type], list[type]]:
    """Split NeuroBench metric classes or names (``SynapticOperations`` or the 1.x
    ``synaptic_operations``) into ``(static, workload)``."""
    from neurobench.metrics import static, workload
    from neurobench.metrics.abstract import StaticMetric, WorkloadMetric

    static_cls: list[type] = []
    workload_cls: list[type] = []
    for item in DEFAULT_METRICS if metrics is None else metrics:
        cls = item
        if isinstance(item, str):
            name = item if item[:1].isupper() else "".join(
                w.title() for w in item.split("_"))
            cls = getattr(static, name, None) or getattr(workload, name, None)
            if cls is None:
                known = sorted({*static.__all__, *workload.__all__})
                raise SpikeliteError(f"unknown NeuroBench metric {item!r}; known: "
                                     f"{', '.join(known)}")
        if isinstance(cls, type) and issubclass(cls, StaticMetric):
            static_cls.append(cls)
        elif isinstance(cls, type) and issubclass(cls, WorkloadMetric):
            workload_cls.append(cls)
        else:
            raise SpikeliteError(f"{item!r} is not a NeuroBench metric class (a StaticMetric "
                                 "or WorkloadMetric subclass) or name")
    return static_cls, workload_cls


def _loader(data: Any, batch_size: int) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 \
            and all(isinstance(t, torch.Tensor) for t in data):
        data = TensorDataset(*data)
    if isinstance(data, Dataset):
        if batch_size < 1:
            raise SpikeliteError(f"batch_size must be >= 1, got {batch_size}")
        return DataLoader(data, batch_size=batch_size, shuffle=False)
    raise SpikeliteError(
        f"data must be a DataLoader or Dataset of (x [T, ...], label) items, or a pair of "
        f"tensors (x [B, T, ...], labels); got {type(data).__name__}")


def neurobench_benchmark(
    model: nn.Module | Any,
    data: Any,
    metrics: Sequence[Any] | None = None,
    *,
    readout: str | Callable[[torch.Tensor], torch.Tensor] = "mean",
    batch_size: int = 64,
    preprocessors: Sequence[Any] = (),
    postprocessors: Sequence[Any] = (),
    device: str | None = None,
) -> dict[str, Any]:
    """Run NeuroBench's ``Benchmark`` on a spikelite model; returns ``Benchmark.run()``'s dict.

    ``model``: a spikelite module (wrapped by :func:`to_neurobench` with ``readout``) or an
    already wrapped NeuroBench model. ``data``: a ``DataLoader`` of batch-major
    ``[B, T, ...]`` batches, a ``Dataset`` of ``(x [T, ...], y)`` items (batched by
    ``batch_size``, spikelite's datasets) or a pair ``(x [B, T, ...], y)``. ``metrics``:
    NeuroBench metric classes or names (default :data:`DEFAULT_METRICS`).
    """
    _require()
    from neurobench.benchmarks import Benchmark
    from neurobench.models import NeuroBenchModel

    nb_model = model if isinstance(model, NeuroBenchModel) else to_neurobench(
        model, readout=readout)
    loader = _loader(data, batch_size)
    static_cls, workload_cls = _metric_classes(metrics)
    out, err = io.StringIO(), io.StringIO()
    bench = Benchmark(nb_model, loader, list(preprocessors), list(postprocessors),
                      [static_cls, workload_cls])
    try:
        # NeuroBench prints a failing metric's error and stores 0.0/None: capture and raise
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            results = bench.run(quiet=False, device=device)
        missing = getattr(nb_model, "missing_membranes", list)()
    finally:
        bench.workload_metric_manager.cleanup_hooks(nb_model)
    for line in out.getvalue().splitlines():
        if (m := _FAILED.match(line.strip())) is not None:
            raise SpikeliteError(f"NeuroBench metric {m.group(1)} failed: {m.group(2)}")
    if missing and any(c.__name__ == "MembraneUpdates" for c in workload_cls):
        raise SpikeliteError("NeuroBench MembraneUpdates cannot be counted: "
                             + "; ".join(missing))
    return results
