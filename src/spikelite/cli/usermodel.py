"""The options every command that reads a model shares for *your own* network:
``--model module:function [--checkpoint net.pt] [--model-arg k=v] [--input-shape 1,28,28]
[--time-steps 10] [--input-layout TB|BT]`` (docs/interop.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from spikelite.errors import SpikeliteError
from spikelite.records import parse_key_values, parse_record

ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="Your network instead of a checkpoint folder: a factory "
    "'module:function' (imported from the current folder or PYTHONPATH) building an "
    "snnTorch, SpikingJelly or Norse network.")]
WeightsOpt = Annotated[Path | None, typer.Option(
    "--checkpoint", help="With --model: the network's trained state_dict (torch.save, read "
    "with weights_only=True; or .safetensors).")]
ModelArgOpt = Annotated[list[str] | None, typer.Option(
    "--model-arg", help="With --model: factory argument key=value (repeatable).")]
InputShapeOpt = Annotated[str | None, typer.Option(
    "--input-shape", help="With --model: one sample at one time step, e.g. 1,28,28 "
    "(default: the dataset's).")]
TimeStepsOpt = Annotated[int | None, typer.Option(
    "--time-steps", help="With --model: time steps T (default: the dataset's).")]
LayoutOpt = Annotated[str, typer.Option(
    "--input-layout", help="With --model: the layout your network's forward takes, TB "
    "([T, B, ...]) or BT.")]


def model_spec(factory: str | None, weights: Path | None, model_arg: list[str] | None,
               input_shape: str | None, time_steps: int | None, layout: str) -> Any:
    """The :class:`~spikelite.models.spec.ModelSpec` of ``--model ...`` (``None`` without
    ``--model``; the other flags then are an error)."""
    from spikelite.models.spec import ModelSpec

    if factory is None:
        given = [flag for flag, v in (("--checkpoint", weights), ("--model-arg", model_arg),
                                      ("--input-shape", input_shape),
                                      ("--time-steps", time_steps)) if v]
        if given:
            raise SpikeliteError(f"{', '.join(given)} need(s) --model module:function (your "
                                 "network); a spikelite checkpoint folder carries its own")
        return None
    raw: dict[str, Any] = {"factory": factory, "kwargs": parse_key_values(model_arg,
                                                                            "--model-arg"),
                           "input_layout": layout.upper()}
    if weights is not None:
        raw["checkpoint"] = str(weights)
    if input_shape is not None:
        try:
            raw["input_shape"] = [int(s) for s in input_shape.replace("x", ",").split(",") if s]
        except ValueError:
            raise SpikeliteError(f"--input-shape '{input_shape}' must be sizes separated by "
                                 "commas, e.g. 1,28,28") from None
    if time_steps is not None:
        raw["time_steps"] = time_steps
    return parse_record(raw, "--model options", ModelSpec)


def data_spec(dataset: str | None, time_steps: int | None, **more: Any) -> Any:
    """The :class:`~spikelite.data.spec.DataSpec` for ``--dataset`` (``None`` without it)."""
    from spikelite.data.spec import DataSpec

    if dataset is None:
        return None
    raw: dict[str, Any] = {"name": dataset, **{k: v for k, v in more.items() if v is not None}}
    if time_steps is not None:
        raw["time_steps"] = time_steps
    return parse_record(raw, "--dataset options", DataSpec)
