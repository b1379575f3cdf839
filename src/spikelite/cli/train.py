"""``spikelite train`` and ``spikelite eval``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from spikelite.cli.console import err, out, user_errors
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
from spikelite.records import merge, parse_key_values


def train_command(
    config: Annotated[Path | None, typer.Option(help="YAML run config (model/data/train/out).")] = None,
    model: Annotated[str | None, typer.Option(help="Model name (see `spikelite models`).")] = None,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", help="Model kwarg key=value (repeatable).")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset name (see `spikelite datasets`).")] = None,
    root: Annotated[str | None, typer.Option(help="Folder of a real dataset (e.g. N-MNIST).")] = None,
    time_steps: Annotated[int | None, typer.Option(help="Time steps T.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Static-data encoder: direct, rate, latency.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use only the first N samples per split.")] = None,
    epochs: Annotated[int | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    lr: Annotated[float | None, typer.Option()] = None,
    optimizer: Annotated[str | None, typer.Option(help="sgd, adam or adamw.")] = None,
    loss: Annotated[str | None, typer.Option(help="ce or mse_rate.")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Output folder.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    loader_workers: Annotated[int | None, typer.Option(help="DataLoader worker processes (0: load in the main process; results are the same for any count).")] = None,
    pin_memory: Annotated[bool | None, typer.Option("--pin-memory/--no-pin-memory", help="Page-locked batches (default: on when training on CUDA).")] = None,
    prefetch_factor: Annotated[int | None, typer.Option(help="Batches each loader worker prepares ahead (default 2).")] = None,
    precision: Annotated[str | None, typer.Option(help="Training precision: fp32 (default, exact), bf16 or fp16 (mixed precision; fp16 needs CUDA).")] = None,
    memory_format: Annotated[str | None, typer.Option(help="Feature-map layout: contiguous (default; spikes bit-identical to the peers) or channels_last (faster conv nets on CPU, equal up to float rounding).")] = None,
    regularizer: Annotated[str | None, typer.Option(help="Activity regularizer NAME:WEIGHT, e.g. hoyer:1e-3 (l1, l2, hoyer, hoyer_square, synops, target_rate).")] = None,
    regularizer_source: Annotated[str | None, typer.Option(help="What the regularizer sees: spikes (default) or membrane (pre-reset membrane; l1, l2, hoyer, hoyer_square).")] = None,
    checkpoint_minutes: Annotated[float | None, typer.Option(help="Also checkpoint mid-epoch every this many minutes (default: after each epoch only).")] = None,
    tensorboard: Annotated[bool | None, typer.Option("--tensorboard/--no-tensorboard", help="Also log each epoch's metrics to TensorBoard (extra tensorboard).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace checkpoints of another run in OUT "
                                            "(files spikelite did not write are never "
                                            "deleted).")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    nproc: Annotated[int | None, typer.Option(help="Train one model in N processes on this machine (DistributedDataParallel: one GPU each on CUDA, Gloo on the CPU); --batch-size stays the global batch. Under torchrun leave it out.")] = None,
    sync_batchnorm: Annotated[bool, typer.Option(help="With several processes: synchronise BatchNorm statistics across them (SyncBatchNorm, CUDA only).")] = False,
) -> None:
    """Train a model; checkpoints go to OUT/best and OUT/last."""
    from spikelite.train.run import RunConfig, load_config

    with user_errors():
        cfg = load_config(config) if config is not None else RunConfig()
        overrides: dict[str, Any] = {
            "model.name": model, "data.name": dataset, "data.root": root,
            "data.time_steps": time_steps, "data.encoding": encoding, "data.limit": limit,
            "train.epochs": epochs, "train.batch_size": batch_size, "train.lr": lr,
            "train.optimizer": optimizer, "train.loss": loss, "train.seed": seed,
            "out": out_dir, "device": device, "train.num_workers": loader_workers,
            "train.pin_memory": pin_memory, "train.prefetch_factor": prefetch_factor,
            "train.checkpoint_minutes": checkpoint_minutes, "train.tensorboard": tensorboard,
            "train.precision": precision, "train.memory_format": memory_format,
        }
        kw = parse_key_values(model_arg, "--model-arg")
        if kw:
            overrides["model.kwargs"] = {**cfg.model.kwargs, **kw}
        if regularizer is not None:
            name, _, weight = regularizer.partition(":")
            try:
                overrides["regularizer.name"] = name
                overrides["regularizer.weight"] = float(weight) if weight else None
            except ValueError:
                raise SpikeliteError(
                    f"--regularizer '{regularizer}' must look like NAME or NAME:WEIGHT"
                ) from None
        if regularizer_source is not None:
            if regularizer is None and cfg.regularizer is None:
                raise SpikeliteError("--regularizer-source needs a regularizer: add "
                                     "--regularizer NAME:WEIGHT")
            overrides["regularizer.source"] = regularizer_source
        cfg = merge(cfg, overrides)
        args = (cfg.model_dump(), resume, progress, overwrite, sync_batchnorm)
        if nproc is not None and nproc != 1:
            from spikelite.train.distributed import launch

            launch(_train_main, nproc, *args)
        else:
            _train_main(*args)


def _train_main(cfg_data: dict[str, Any], resume: bool, progress: bool, overwrite: bool,
                sync_batchnorm: bool) -> None:
    """One training run: in this process, or as one rank of a process group (launched by
    torchrun or ``--nproc``), where rank 0 alone writes ``run.yaml`` and prints."""
    from spikelite.train import distributed
    from spikelite.train.run import RunConfig, run_training

    cfg = RunConfig.model_validate(cfg_data)
    joined = distributed.current() is None and distributed.setup(cfg.device) is not None
    try:
        res = run_training(cfg, resume=resume, progress=progress, console=err,
                           overwrite=overwrite, sync_batchnorm=sync_batchnorm)
        if not distributed.is_main():
            return
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "run.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
        out.print(
            f"final test accuracy {res.accuracy:.4f} (best {res.best_accuracy:.4f}); "
            f"checkpoint: {res.checkpoint}"
        )
    finally:
        if joined:
            distributed.teardown()


def eval_command(
    checkpoint: Annotated[Path | None, typer.Argument(help="Checkpoint folder (with model.safetensors); or use --model.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Override the dataset in the checkpoint.")] = None,
    root: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int | None, typer.Option()] = None,
    device: Annotated[str, typer.Option()] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    model_arg: ModelArgOpt = None,
    input_shape: InputShapeOpt = None,
    time_steps: TimeStepsOpt = None,
    input_layout: LayoutOpt = "TB",
) -> None:
    """Evaluate a checkpoint (or your network, --model) on the test split of its dataset."""
    from spikelite.train.run import evaluate_checkpoint, evaluate_network

    with user_errors():
        spec = model_spec(model, weights, model_arg, input_shape, time_steps, input_layout)
        if spec is not None:
            if dataset is None:
                raise SpikeliteError("--model needs --dataset: the data to evaluate it on")
            dspec = data_spec(dataset, spec.time_steps, root=root, limit=limit)
            res, data = evaluate_network(spec, dspec, checkpoint=checkpoint, device=device)
        elif checkpoint is None:
            raise SpikeliteError("name a checkpoint folder, or give --model module:function")
        else:
            res, data = evaluate_checkpoint(checkpoint, dataset=dataset, root=root,
                                            limit=limit, device=device)
        test_n = int(res["samples"])
        if json_out:
            out.print_json(json.dumps(res))
        else:
            out.print(f"test accuracy {res['accuracy']:.4f}  loss {res['loss']:.4f}  "
                      f"({test_n} samples of '{data['name']}')")
