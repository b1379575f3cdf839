"""Glue between a validated :class:`RunConfig` and the engine: load data, build, train.

Used by the CLI (``spikelite train``, ``spikelite demo``) and usable from Python.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from torch import nn

from spikelite.config import DataSpec, ModelSpec, RunConfig
from spikelite.errors import SpikeliteError


@dataclass
class TrainOutcome:
    """What :func:`run_training` did: the model, its history and where it was saved."""

    model: nn.Module
    accuracy: float
    best_accuracy: float
    checkpoint: Path
    history: list[dict[str, float]]
    data_seconds: float
    train_seconds: float


def load_data(spec: DataSpec) -> tuple[Any, Any]:
    """``spikelite.data.load`` with the spec's fields."""
    from spikelite.data import load

    return load(
        spec.name,
        root=spec.root,
        time_steps=spec.time_steps,
        seed=spec.seed,
        test_fraction=spec.test_fraction,
        encoding=spec.encoding,
        limit=spec.limit,
        **spec.kwargs,
    )


def model_kwargs_for_data(name: str, kwargs: dict[str, Any], train: Any) -> dict[str, Any]:
    """Fill the data-dependent arguments a model factory accepts and the user left out.

    ``num_classes`` ← the dataset's classes, ``input_shape`` ← its per-step shape,
    ``in_channels`` ← its first dimension, ``input_size`` ← its last, ``time_steps`` ← T.
    """
    from spikelite.models import MODELS

    accepted = inspect.signature(MODELS.get(name)).parameters
    shape = tuple(getattr(train, "input_shape", ()))
    derived: dict[str, Any] = {
        "num_classes": getattr(train, "classes", None),
        "input_shape": list(shape) if shape else None,
        "in_channels": shape[0] if len(shape) >= 2 else None,
        "input_size": shape[-1] if len(shape) >= 2 else None,
        "time_steps": getattr(train, "time_steps", None),
    }
    out = dict(kwargs)
    for key, value in derived.items():
        if key in accepted and key not in out and value is not None:
            out[key] = value
    return out


def build_model(spec: ModelSpec, train: Any) -> nn.Module:
    """Create the zoo model of ``spec`` sized for the dataset ``train``."""
    from spikelite.models import create

    return create(spec.name, **model_kwargs_for_data(spec.name, dict(spec.kwargs), train))


def run_training(
    cfg: RunConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> TrainOutcome:
    """Load data, build the model, train it with checkpoints under ``cfg.out``."""
    from spikelite.train import TrainConfig, fit, seed_everything

    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    with console.status(f"loading dataset '{cfg.data.name}'", spinner="dots"):
        train, test = load_data(cfg.data)
    data_seconds = time.perf_counter() - t0
    console.print(
        f"data '{cfg.data.name}': {len(train)} train / {len(test)} test samples, "
        f"T={cfg.data.time_steps}, input {tuple(getattr(train, 'input_shape', ()))} "
        f"({data_seconds:.1f} s)"
    )
    seed_everything(cfg.train.seed)  # the weight initialisation depends on it
    model = build_model(cfg.model, train)
    n_params = sum(p.numel() for p in model.parameters())
    console.print(f"model '{cfg.model.name}': {n_params:,} parameters")
    reg = None
    if cfg.regularizer is not None:
        from spikelite.regularize import regularizer_from_spec

        reg = regularizer_from_spec(model, cfg.regularizer)
    spec = getattr(model, "spikelite_config", None)
    if spec is None:
        raise SpikeliteError(f"model '{cfg.model.name}' has no spikelite_config to save")
    result = fit(
        model,
        train,
        test,
        TrainConfig(**cfg.train.model_dump()),
        out_dir=cfg.out,
        resume=resume,
        device=cfg.device,
        progress=progress,
        console=console,
        checkpoint_config={"model": spec, "data": cfg.data.model_dump(), "run": cfg.model_dump()},
        regularizer=reg,
    )
    if reg is not None:
        reg.remove()
    if result.best_checkpoint is None:  # fit always sets it when given out_dir
        raise SpikeliteError(f"training wrote no checkpoint under {cfg.out}")
    return TrainOutcome(
        model=model,
        accuracy=result.final_accuracy,
        best_accuracy=result.best_accuracy,
        checkpoint=result.best_checkpoint,
        history=result.history,
        data_seconds=data_seconds,
        train_seconds=result.seconds,
    )
