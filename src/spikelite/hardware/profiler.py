"""``profile(model, data, preset=..., weight_format=..., **options)``: count, then cost.

Counting runs the model once over ``data`` with hooks (:mod:`~.counting`); costing is a
pure function of the counts (:mod:`~.energy`), so :meth:`Report.recost` prices the same
activity under another preset or format without running the model again.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from spikelite.core import reset_states
from spikelite.core.checks import check_input, check_model, naming_layers
from spikelite.errors import SpikeliteError
from spikelite.hardware.counting import Activity, ActivityRecorder
from spikelite.hardware.energy import cost, resolve_options
from spikelite.hardware.formats import WeightFormat, get_format
from spikelite.hardware.layers import Classified, classify
from spikelite.hardware.neurobench import neurobench_metrics
from spikelite.hardware.presets import CostPreset, get_preset
from spikelite.hardware.report import CostContext, Report
from spikelite.hardware.size import model_size
from spikelite.quant import LayerQuant

DEFAULT_PRESET = "horowitz45-derived"
DEFAULT_FORMAT = "dense"


def _first(item: Any) -> torch.Tensor:
    x = item[0] if isinstance(item, (tuple, list)) else item
    if not isinstance(x, torch.Tensor):
        raise SpikeliteError(f"data must yield tensors or (tensor, label) pairs, got "
                             f"{type(x).__name__}")
    return x


def iter_batches(
    data: Any,
    *,
    batch_size: int = 64,
    limit: int | None = None,
    time_major: bool | None = None,
) -> Iterator[torch.Tensor]:
    """Time-major ``[T, B, ...]`` float batches from ``data``.

    * a tensor: one batch, time-major unless ``time_major=False`` (then ``[B, T, ...]``);
    * a ``Dataset`` of ``(x [T, ...], y)`` items: batched and transposed (spikelite's
      datasets);
    * a ``DataLoader`` or any iterable of batches / ``(x, y)`` pairs: batch-major
      ``[B, T, ...]`` unless ``time_major=True``.

    ``limit`` caps the number of samples.
    """
    if isinstance(data, torch.Tensor):
        batches: Iterable[Any] = [data]
        tm = True if time_major is None else time_major
    elif isinstance(data, Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        batches = DataLoader(data, batch_size=batch_size, shuffle=False)
        tm = False if time_major is None else time_major
    else:
        batches = data
        tm = False if time_major is None else time_major
    seen = 0
    for item in batches:
        x = _first(item)
        if x.dim() < 3:
            raise SpikeliteError(
                f"profile needs time-major inputs [T, B, ...] (or batch-major [B, T, ...] "
                f"from a DataLoader); got a batch of shape {tuple(x.shape)}")
        x = x if tm else x.transpose(0, 1)
        if limit is not None:
            if seen >= limit:
                return
            x = x[:, : limit - seen]
        seen += x.shape[1]
        yield x.float()


def record_activity(
    model: nn.Module,
    data: Any,
    layers: Mapping[str, LayerQuant] | None = None,
    *,
    classified: Classified | None = None,
    batch_size: int = 64,
    limit: int | None = None,
    time_major: bool | None = None,
    membrane_updates: bool = False,
    device: str | torch.device | None = None,
) -> Activity:
    """Run ``model`` over ``data`` (eval mode, no gradients) and return the exact counts.

    A NaN/infinite weight, input or output is refused (it would cost as finite energy)."""
    check_model(model, "the model to profile")
    cl = classified if classified is not None else classify(model, layers)
    dev = torch.device(device) if device is not None else next(
        (p.device for p in itertools.chain(model.parameters(), model.buffers())),
        torch.device("cpu"))
    was = model.training
    model.eval()
    rec = ActivityRecorder(model, cl.synaptic, cl.neurons, membrane_updates=membrane_updates)
    try:
        with torch.no_grad(), rec, naming_layers(model):
            for i, x in enumerate(iter_batches(data, batch_size=batch_size, limit=limit,
                                               time_major=time_major)):
                check_input(x, f"profile input batch {i + 1}")
                reset_states(model)
                rec.batch(x.shape[0], x.shape[1])
                y = model(x.to(dev))
                if isinstance(y, torch.Tensor):
                    check_input(y, f"the model output on profile input batch {i + 1}",
                                "check the model's weights and the input data")
        reset_states(model)
    finally:
        model.train(was)
    if rec.activity.samples == 0:
        raise SpikeliteError("profile got no samples: the data is empty")
    return rec.activity


def cost_activity(
    model: nn.Module,
    activity: Activity,
    preset: str | CostPreset = DEFAULT_PRESET,
    weight_format: str | WeightFormat = DEFAULT_FORMAT,
    *,
    layers: Mapping[str, LayerQuant] | None = None,
    strict: bool = False,
    **options: Any,
) -> Report:
    """Cost recorded ``activity`` of ``model`` → :class:`Report` (see :func:`profile`)."""
    p = get_preset(preset)
    fmt = get_format(weight_format)
    opt = resolve_options(p, options)
    cl = classify(model, layers)
    if strict and cl.uncounted:
        raise SpikeliteError("layers that cannot be counted: " + "; ".join(
            f"{u['name']} ({u['type']}): {u['reason']}" for u in cl.uncounted))
    order = [name for name, _ in model.named_modules()]
    rows, extras = cost(activity, cl.synaptic, cl.neurons, p, fmt, opt, order)
    neurons = {name: a.neurons for name, a in activity.neurons.items() if a.neurons}
    size = model_size(model, layers, weight_format=fmt, state_bits=opt.state_bits,
                      neurons=neurons)
    cfg = getattr(model, "spikelite_config", None)
    return Report(
        preset=p,
        weight_format=repr(fmt),
        options=opt,
        samples=activity.samples,
        time_steps=activity.time_steps,
        layers=rows,
        extras=extras,
        neurobench=neurobench_metrics(model, activity, cl.synaptic),
        footprint=size,
        uncounted=cl.uncounted,
        notes=cl.notes,
        model_name=cfg["name"] if isinstance(cfg, dict) else type(model).__name__,
        context=CostContext(model, activity, layers, cost_activity),
    )


def profile(
    model: nn.Module,
    data: Any,
    preset: str | CostPreset = DEFAULT_PRESET,
    weight_format: str | WeightFormat = DEFAULT_FORMAT,
    *,
    layers: Mapping[str, LayerQuant] | None = None,
    batch_size: int = 64,
    limit: int | None = None,
    time_major: bool | None = None,
    membrane_updates: bool | None = None,
    strict: bool = False,
    device: str | torch.device | None = None,
    **options: Any,
) -> Report:
    """Count a model's exact activity on ``data`` and cost it.

    * ``preset``: a constant set name (:func:`~spikelite.hardware.list_presets`);
    * ``weight_format``: ``dense``, ``bitmask``, ``coo``, ``csr``, ``rle``, ``uop``,
      ``ubm``, with options as ``"rle:run_bits=5"``;
    * ``layers``: :class:`~spikelite.quant.LayerQuant` sidecars by module name (from
      ``spikelite.quant.bake``); without them every synaptic layer is FP32 with its actual
      zero weights as the mask;
    * ``data``: see :func:`iter_batches`; ``limit`` caps the samples;
    * ``membrane_updates``: also count exact state changes and NeuroBench's
      MembraneUpdates (compares each step's pre-reset membrane, reported by the neuron,
      with the previous one; about +5 % time). Default (``None``): only when the costing
      needs them (``neuron_mode="on_update"``); otherwise ``report.neurobench
      ["MembraneUpdates"]`` is ``None``;
    * ``strict``: raise instead of reporting layers that cannot be counted;
    * ``**options``: :class:`~spikelite.hardware.energy.CostOptions` fields (``skip``,
      ``membrane``, ``state_bits``, ``acc_bits``, ``spike_io``, ``dram_fill``,
      ``temporal_reuse``, ``static_power_mw``, …).
    """
    if batch_size < 1:
        raise SpikeliteError(f"batch size must be >= 1 (samples per profiling batch), got "
                             f"{batch_size}")
    if limit is not None and limit < 1:
        raise SpikeliteError(f"limit must be >= 1 (the number of samples to profile; None: "
                             f"all), got {limit}")
    if device is not None:
        try:
            torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise SpikeliteError(f"unknown device {str(device)!r}; use cpu, cuda or cuda:N"
                                 ) from None
    p = get_preset(preset)
    get_format(weight_format)
    opt = resolve_options(p, options)  # fail before the (possibly long) run
    if membrane_updates is None:
        membrane_updates = opt.neuron_mode == "on_update"
    cl = classify(model, layers)
    if cl.uncounted:
        msg = "; ".join(f"{u['name']} ({u['type']}): {u['reason']}" for u in cl.uncounted)
        if strict:
            raise SpikeliteError(f"layers that cannot be counted: {msg}")
        warnings.warn(f"not counted: {msg}", stacklevel=2)
    activity = record_activity(model, data, layers, classified=cl, batch_size=batch_size,
                               limit=limit, time_major=time_major,
                               membrane_updates=membrane_updates, device=device)
    return cost_activity(model, activity, p, weight_format, layers=layers, **options)
