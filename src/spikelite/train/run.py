"""A training run from a validated :class:`RunConfig`: load data, build, train.

Used by ``spikelite train``, ``spikelite demo`` and sweeps' baselines, and from Python.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from rich.console import Console
from torch import nn

from spikelite.data.spec import DataSpec, load_data
from spikelite.errors import SpikeliteError, check_output_dir
from spikelite.models.spec import ModelSpec, build_model
from spikelite.records import Strict, parse_record, read_yaml
from spikelite.regularize import RegularizerSpec, regularizer_from_spec
from spikelite.train import distributed
from spikelite.train.config import TrainSpec
from spikelite.train.engine import fit, resolve_device, seed_everything
from spikelite.train.precision import check_precision


class RunConfig(Strict):
    """A training run: model, data, training hyper-parameters and output folder::

        model: {name: csnn, kwargs: {}}
        data: {name: digits-dvs, time_steps: 10, seed: 0}
        train: {epochs: 8, batch_size: 32, optimizer: adam, lr: 0.002}
        out: runs/train
    """

    model: ModelSpec = Field(default_factory=ModelSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    regularizer: RegularizerSpec | None = None
    out: str = "runs/train"
    device: str = "auto"


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run configuration."""
    return parse_record(read_yaml(path), str(path), RunConfig)


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


def run_training(
    cfg: RunConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    console: Console | None = None,
    overwrite: bool = False,
    sync_batchnorm: bool = False,
) -> TrainOutcome:
    """Load data, build the model, train it with checkpoints under ``cfg.out``. Checkpoints
    of another run there are replaced only with ``overwrite`` (see :func:`fit`); the output
    folder is checked before the data is loaded.

    In a process group (``torchrun``; :mod:`spikelite.train.distributed`) every rank calls
    it: rank 0 loads the data first (so a download happens once) and alone prints and
    writes; ``sync_batchnorm`` converts BatchNorm to SyncBatchNorm (CUDA)."""
    console = console or Console(stderr=True)
    if not distributed.is_main():
        console = Console(stderr=True, quiet=True)
    fresh = not Path(cfg.out).exists()
    check_output_dir(cfg.out)
    try:
        check_precision(cfg.train.precision, resolve_device(cfg.device))
        t0 = time.perf_counter()
        with console.status(f"loading dataset '{cfg.data.name}'", spinner="dots"), \
                distributed.main_first():
            train, test = load_data(cfg.data)
    except BaseException:
        # a run that fails before any work leaves no empty output folder behind
        if fresh and distributed.is_main():
            with contextlib.suppress(OSError):
                Path(cfg.out).rmdir()
        raise
    data_seconds = time.perf_counter() - t0
    console.print(
        f"data '{cfg.data.name}': {len(train)} train / {len(test)} test samples, "
        f"T={cfg.data.time_steps}, input {tuple(getattr(train, 'input_shape', ()))} "
        f"({data_seconds:.1f} s)"
    )
    seed_everything(cfg.train.seed)  # the weight initialisation depends on it
    model = build_model(cfg.model, train)
    n_params = sum(p.numel() for p in model.parameters())
    console.print(f"model '{cfg.model.label}': {n_params:,} parameters")
    reg = None
    if cfg.regularizer is not None:
        reg = regularizer_from_spec(model, cfg.regularizer)
    spec = getattr(model, "spikelite_config", None)
    if spec is None:
        raise SpikeliteError(f"model '{cfg.model.label}' has no spikelite_config to save")
    result = fit(
        model,
        train,
        test,
        cfg.train,
        out_dir=cfg.out,
        resume=resume,
        device=cfg.device,
        progress=progress,
        console=console,
        checkpoint_config={"model": spec, "data": cfg.data.model_dump(), "run": _run_meta(cfg)},
        regularizer=reg,
        overwrite=overwrite,
        sync_batchnorm=sync_batchnorm,
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


def _run_meta(cfg: RunConfig) -> dict[str, object]:
    """The run config as stored in checkpoints: the training ``precision`` only when it is
    not fp32, so fp32 checkpoints read exactly as before mixed precision existed."""
    d = cfg.model_dump()
    if d["train"].get("precision") == "fp32":
        del d["train"]["precision"]
    return d


def evaluate_checkpoint(
    path: str | Path,
    *,
    dataset: str | None = None,
    root: str | None = None,
    limit: int | None = None,
    device: str = "auto",
) -> tuple[dict[str, float], dict[str, object]]:
    """Evaluate the checkpoint at ``path`` on the test split of its dataset (or of
    ``dataset``/``root``/``limit`` where given). Returns ``(metrics, data spec)``; the
    metrics hold ``accuracy``, ``loss`` and ``samples``."""
    from spikelite.train.checkpoint import load_model
    from spikelite.train.engine import evaluate

    resolve_device(device)  # before any loading
    if limit is not None and limit < 1:
        raise SpikeliteError(f"limit must be >= 1 (the number of test samples), got {limit}")
    model, cfg = load_model(path)
    data: dict[str, object] = dict(cfg.get("data") or {})
    for k, v in {"name": dataset, "root": root, "limit": limit}.items():
        if v is not None:
            data[k] = v
    if "name" not in data:
        raise SpikeliteError("the checkpoint names no dataset; pass --dataset")
    source = f"the data of {Path(path) / 'config.json'} with the options given"
    _, test = load_data(parse_record(data, source, DataSpec))
    res = evaluate(model, test, loss=cfg.get("train", {}).get("loss", "ce"), device=device)
    res["samples"] = len(test)
    return res, data


def open_model(
    checkpoint: str | Path | None = None,
    *,
    model: ModelSpec | None = None,
    data: DataSpec | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """The model a command works on and its config (``model``, ``data`` entries like a
    checkpoint's ``config.json``): a spikelite checkpoint folder, or the user's network
    (``model`` with a ``factory``; its ``checkpoint`` the foreign weights) converted at the
    shape of ``data`` (loaded only when ``model`` gives no ``input_shape``)."""
    from spikelite.train.checkpoint import load_model

    if (checkpoint is None) == (model is None):
        raise SpikeliteError("give either a spikelite checkpoint folder or a model factory "
                             "(--model module:function), not both")
    if checkpoint is not None:
        return load_model(checkpoint)
    assert model is not None
    if model.factory is None:
        raise SpikeliteError(f"model '{model.name}' is a zoo model with untrained weights; "
                             "give a trained checkpoint folder, or a factory of your network")
    train = None
    if model.input_shape is None:
        if data is None:
            raise SpikeliteError(f"model '{model.factory}': give --input-shape (one sample at "
                                 "one time step, e.g. 1,28,28) or --dataset to take it from")
        train, _ = load_data(data)
    if model.time_steps is None:
        if data is None:
            raise SpikeliteError(f"model '{model.factory}': give --time-steps (or --dataset)")
        model = model.model_copy(update={"time_steps": data.time_steps})
    net = build_model(model, train)
    cfg: dict[str, Any] = {"model": dict(net.spikelite_config),
                           "source": {"factory": model.factory,
                                      "checkpoint": model.checkpoint}}
    if data is not None:
        cfg["data"] = data.model_dump()
    return net, cfg


def evaluate_network(
    model: ModelSpec, data: DataSpec, *, checkpoint: str | Path | None = None,
    device: str = "auto", loss: str = "ce",
) -> tuple[dict[str, float], dict[str, object]]:
    """:func:`evaluate_checkpoint` for the user's network ``model`` (a factory; see
    :func:`open_model`) on the test split of ``data``."""
    from spikelite.train.engine import evaluate

    resolve_device(device)
    if checkpoint is not None:
        raise SpikeliteError("give either a checkpoint folder or --model, not both")
    net, _ = open_model(model=model, data=data)
    _, test = load_data(data)
    res = evaluate(net, test, loss=loss, device=device)
    res["samples"] = len(test)
    return res, data.model_dump()
