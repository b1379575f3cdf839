"""``spikelite profile CHECKPOINT --preset ... --format ...`` (or ``--model module:function``
for your own network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spikelite.cli.console import user_errors, wide_out
from spikelite.cli.usermodel import (
    InputShapeOpt,
    LayoutOpt,
    ModelArgOpt,
    ModelOpt,
    TimeStepsOpt,
    WeightsOpt,
    data_spec,
    model_spec,
)
from spikelite.errors import SpikeliteError
from spikelite.hardware.formats import list_formats
from spikelite.hardware.presets import list_presets
from spikelite.hardware.profiler import DEFAULT_FORMAT, DEFAULT_PRESET

_PRESET_HELP = f"Constant set: {', '.join(list_presets())}."
_FORMAT_HELP = (f"Weight storage format: {', '.join(list_formats())}; options as "
                "'rle:run_bits=5'.")


def profile_command(
    checkpoint: Annotated[Path | None, typer.Argument(
        help="Checkpoint folder (with model.safetensors), or a .nir graph file (or use "
        "--model).")] = None,
    preset: Annotated[str, typer.Option(help=_PRESET_HELP)] = DEFAULT_PRESET,
    weight_format: Annotated[str, typer.Option("--format", help=_FORMAT_HELP)] = DEFAULT_FORMAT,
    dataset: Annotated[str | None, typer.Option(help="Override the checkpoint's dataset.")] = None,
    limit: Annotated[int | None, typer.Option(help="Profile the first N test samples.")] = 256,
    batch_size: Annotated[int, typer.Option(help="Batch size of the profiling run.")] = 64,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="Cost option key=value (repeatable), e.g. skip=inputs, "
        "membrane=sram_rmw, temporal_reuse=false.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    membrane_updates: Annotated[bool, typer.Option(
        "--membrane-updates", help="Also count NeuroBench's MembraneUpdates (~5 % more "
        "time; implied by --option neuron_mode=on_update).")] = False,
    neurobench: Annotated[Path | None, typer.Option(
        "--neurobench", help="Also write the NeuroBench-named metrics to this JSON file in "
        "the layout of NeuroBench's Benchmark.run() results (implies --membrane-updates; "
        "adds ClassificationAccuracy from one more pass over the same samples).")] = None,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    model_arg: ModelArgOpt = None,
    input_shape: InputShapeOpt = None,
    time_steps: TimeStepsOpt = None,
    input_layout: LayoutOpt = "TB",
) -> None:
    """Count a checkpoint's exact activity on its test data and cost it on hardware."""
    out = wide_out(200)  # a pipe or file gets the full table width
    with user_errors():
        from spikelite.data.spec import DataSpec, load_data
        from spikelite.hardware.profiler import profile
        from spikelite.quant import bake
        from spikelite.records import parse_key_values
        from spikelite.train import load_model
        from spikelite.train.engine import resolve_device

        if batch_size < 1:
            raise SpikeliteError(f"--batch-size must be >= 1, got {batch_size}")
        if limit is not None and limit < 1:
            raise SpikeliteError(f"--limit must be >= 1 (the number of test samples to "
                                 f"profile), got {limit}")
        device = str(resolve_device(device))
        opts = parse_key_values(option, "--option")
        spec = model_spec(model, weights, model_arg, input_shape, time_steps, input_layout)
        if spec is not None:
            from spikelite.train.run import open_model

            if dataset is None:
                raise SpikeliteError("--model needs --dataset: the data to profile it on")
            net, _ = open_model(checkpoint, model=spec,
                                data=data_spec(dataset, spec.time_steps))
            model_, sidecars = bake(net)
            data = data_spec(dataset, spec.time_steps).model_dump()
        elif checkpoint is None:
            raise SpikeliteError("name a checkpoint folder or .nir file, or give --model "
                                 "module:function")
        elif checkpoint.suffix == ".nir":
            from spikelite.export.nir import read_nir_for_profile

            model_, sidecars, data = read_nir_for_profile(checkpoint)
        else:
            model_, cfg = load_model(checkpoint)
            model_, sidecars = bake(model_)  # plain weights + exact codes/masks per layer
            data = dict(cfg.get("data") or {})
        if dataset is not None:
            data["name"] = dataset
        if "name" not in data:
            raise SpikeliteError(f"'{checkpoint}' names no dataset; pass --dataset")
        _, test = load_data(DataSpec(**data))
        if neurobench is not None:
            membrane_updates = True
        report = profile(model_.to(device), test, preset, weight_format,
                         layers=sidecars, limit=limit, batch_size=batch_size,
                         device=device, membrane_updates=membrane_updates or None, **opts)
        if neurobench is not None:
            from torch.utils.data import Subset

            from spikelite.hardware.neurobench import write_neurobench_json
            from spikelite.train.engine import evaluate

            n = len(test) if limit is None else min(limit, len(test))
            acc = evaluate(model_, Subset(test, range(n)), batch_size=batch_size,
                           device=device)["accuracy"]
            write_neurobench_json(report, neurobench, accuracy=acc)
    if json_out:
        out.print_json(json.dumps(report.to_dict(), default=float))
    else:
        out.print(report.table())

