"""The training and evaluation engine.

``fit`` trains any time-major SNN (``[T, B, ...] → [T, B, classes]``) on map-style
datasets whose items are ``(x [T, ...], y)``: SGD/Adam/AdamW, linear warm-up + cosine
schedule, per-epoch evaluation, best/last checkpoints, resume, fixed seeds.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from torch.utils.data import Dataset, Subset

from spikelite.core.checks import (
    NonFiniteError,
    all_finite,
    bad_tensors,
    check_input,
    check_model,
    naming_layers,
)
from spikelite.core.layout import channels_last
from spikelite.core.neurons import reset_states
from spikelite.errors import SpikeliteError, check_output_dir
from spikelite.train import distributed
from spikelite.train.checkpoint import (
    check_replaceable,
    load_trainer_state,
    load_weights,
    read_config,
    save_checkpoint,
)
from spikelite.train.config import (  # noqa: F401  (OPTIMIZERS re-exported)
    OPTIMIZERS,
    RUN_OPTIONS,
    TrainConfig,
)
from spikelite.train.loader import LOADER_FIELDS, EpochLoader, LoaderOptions, make_loader
from spikelite.train.losses import LOSSES, time_mean
from spikelite.train.metrics import METRICS, FiringRates, MetricsLog, recording
from spikelite.train.precision import autocast, check_model_dtype, check_precision, grad_scaler
from spikelite.train.resume import StageFolders, Timer, rng_state, set_rng_state, skip_batches
from spikelite.train.schedule import make_scheduler


@dataclass
class FitResult:
    """What :func:`fit` returns: per-epoch history and where the checkpoints are."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_accuracy: float = 0.0
    best_epoch: int = -1
    final_accuracy: float = 0.0
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


#: device types accepted by :func:`resolve_device`
DEVICES = "auto, cpu, cuda or cuda:N"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/``None`` → CUDA when available, else CPU. An unknown or unavailable
    device raises a :class:`SpikeliteError` naming the valid ones."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise SpikeliteError(f"unknown device {str(device)!r}; use {DEVICES}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SpikeliteError(f"device '{device}' was requested but CUDA is not available; "
                                 "use 'cpu'")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise SpikeliteError(f"device '{device}' does not exist: this machine has {count} "
                                 f"CUDA device(s), cuda:0 to cuda:{count - 1}")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise SpikeliteError(f"device '{device}' was requested but MPS is not available; "
                                 "use 'cpu'")
    elif dev.type != "cpu":
        raise SpikeliteError(f"device '{device}' is not supported; use {DEVICES}")
    return dev


def _float_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of ``model``'s parameters (float32 when it has none)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def _batch(x: torch.Tensor, y: torch.Tensor, dev: torch.device,
           dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A collated batch on ``dev``: inputs time-major in the model's dtype (any real
    dtype — float64, int64, bool — is converted), labels integer class indices."""
    if x.is_complex():
        raise SpikeliteError(f"dataset inputs are {x.dtype}; spikelite models take real "
                             "numbers (float, int or bool): convert the dataset")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise SpikeliteError(f"dataset labels are {y.dtype}; they must be integer class "
                             "indices (0 … classes−1): convert them, e.g. y.long()")
    if y.dim() != 1:
        raise SpikeliteError(f"dataset labels must be one class index per sample (a batch of "
                             f"shape [B]); got shape {tuple(y.shape)}")
    return to_time_major(x.to(dev, dtype)), y.to(dev, torch.long)


def _check_labels(y: torch.Tensor, out: torch.Tensor) -> None:
    """Labels must index the model's outputs: ``0 ≤ y < classes``."""
    classes = int(out.shape[-1])
    bad = y[(y < 0) | (y >= classes)]
    if bad.numel():
        raise SpikeliteError(f"label {int(bad[0])} is out of range for the model's {classes} "
                             f"outputs (labels must be 0 … {classes - 1}); the dataset has "
                             "more classes than the model: set the model's num_classes")


def to_time_major(x: torch.Tensor) -> torch.Tensor:
    """Collated ``[B, T, ...]`` → ``[T, B, ...]`` (contiguous)."""
    if x.dim() < 3:
        raise SpikeliteError(
            f"dataset items must be time-major [T, ...] so batches are [B, T, ...]; got a "
            f"batch of shape {tuple(x.shape)}. Encode static inputs over time first"
        )
    return x.transpose(0, 1).contiguous()


def _check_own_checkpoints(out: Path, meta: dict[str, Any], *, overwrite: bool) -> None:
    """Before any training: refuse to replace ``out/best`` or ``out/last`` unless they are
    this run's own (written with the same configuration ``meta``) or ``overwrite``; never
    when they hold files spikelite did not write."""
    same = _without_loader(json.loads(json.dumps(meta, sort_keys=True, default=str)))
    for name in ("best", "last"):
        ckpt = out / name
        if not (ckpt.exists() or ckpt.is_symlink()):
            continue
        check_replaceable(ckpt)
        if overwrite:
            continue
        try:
            saved = _without_loader(read_config(ckpt))
        except SpikeliteError:
            saved = None
        if saved is not None and {k: v for k, v in saved.items() if k in same} == same:
            continue  # this configuration's own checkpoint: a rerun writes the same weights
        raise SpikeliteError(
            f"'{ckpt}' holds a checkpoint of another run; pass --overwrite (Python: "
            "overwrite=True) to replace it, --resume to continue it, or choose another --out")


def _without_loader(meta: Any) -> Any:
    """``meta`` without the data-loading settings (they do not change the results)."""
    if isinstance(meta, dict):
        return {k: _without_loader(v) for k, v in meta.items() if k not in LOADER_FIELDS}
    return meta
def _train_meta(cfg: TrainConfig) -> dict[str, Any]:
    """The training config as stored in checkpoints: ``precision`` and ``memory_format``
    only when they are not the defaults (fp32, contiguous), so such checkpoints read
    exactly as before those options existed."""
    d = cfg.model_dump(exclude=set(RUN_OPTIONS))
    for key, default in (("precision", "fp32"), ("memory_format", "contiguous")):
        if d.get(key) == default:
            del d[key]
    return d


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def check_batch(x: torch.Tensor, index: int, batch_size: int, split: str) -> None:
    """Refuse a batch with a NaN/infinite input value, naming the samples it covers."""
    if not bool(torch.isfinite(x).all()):
        first = index * batch_size
        check_input(x, f"{split} batch {index + 1} (samples {first}–{first + x.shape[1] - 1})")


def check_output(out: torch.Tensor, model: nn.Module, where: str) -> None:
    """Refuse a NaN/infinite model output, naming the non-finite weights if any."""
    if bool(torch.isfinite(out).all()):
        return
    weights = bad_tensors(model.state_dict().items())
    cause = ("; ".join(weights[:3]) + "; ") if weights else ""
    check_input(out, f"the model output on {where}",
                f"{cause}the weights are corrupt or training diverged — retrain or load an "
                "earlier checkpoint")


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not enabled,
    )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 256,
    loss: str = "ce",
    device: str | torch.device | None = "auto",
    loader_options: LoaderOptions | None = None,
    loader: EpochLoader | None = None,
) -> dict[str, float]:
    """Accuracy (argmax of the time-averaged output) and mean loss over ``data``.

    ``loader_options`` sets workers and pinned memory (:mod:`spikelite.train.loader`);
    ``loader`` is a :func:`~spikelite.train.loader.make_loader` of ``data`` to reuse.
    """
    dev = resolve_device(device)
    model = model.to(dev)
    check_model(model, "the model to evaluate")
    was_training = model.training
    model.eval()
    loss_fn = LOSSES.get(loss)
    correct = total = 0
    loss_sum = 0.0
    if batch_size < 1:
        raise SpikeliteError(f"batch_size must be >= 1, got {batch_size}")
    dtype = _float_dtype(model)
    # the former per-call DataLoader drew its worker base seed from the global RNG: keep
    # that draw so dropout masks of later training steps stay as they were
    torch.empty((), dtype=torch.int64).random_()
    if loader is None:
        loader = make_loader(data, batch_size, shuffle=False, options=loader_options, device=dev)
    for i, (x, y) in enumerate(loader):
        x, y = _batch(x, y, dev, dtype)
        check_batch(x, i, batch_size, "evaluation")
        reset_states(model)
        with naming_layers(model):
            out = model(x)
        check_output(out, model, f"evaluation batch {i + 1}")
        _check_labels(y, out)
        loss_sum += float(loss_fn(out, y)) * y.shape[0]
        correct += int((time_mean(out).argmax(-1) == y).sum())
        total += y.shape[0]
    reset_states(model)
    model.train(was_training)
    if total == 0:
        raise SpikeliteError("cannot evaluate on an empty dataset")
    return {"accuracy": correct / total, "loss": loss_sum / total}


def _evaluate(model: nn.Module, test: Dataset, cfg: TrainConfig, dev: torch.device,
              rank: distributed.Rank | None) -> dict[str, float]:
    """The per-epoch evaluation: on all of ``test`` in one process; in a process group
    each rank evaluates every W-th sample with rank 0's buffers and the counts are summed
    (the same accuracy as rank 0 alone on the whole set)."""
    if rank is None:
        return evaluate(model, test, batch_size=cfg.eval_batch_size, loss=cfg.loss, device=dev)
    distributed.broadcast_buffers(model)
    part = Subset(test, range(rank.rank, len(test), rank.world))
    n = len(part)
    ev = (evaluate(model, part, batch_size=cfg.eval_batch_size, loss=cfg.loss, device=dev)
          if n else {"accuracy": 0.0, "loss": 0.0})
    correct, total, loss_sum = distributed.all_sum(
        [round(ev["accuracy"] * n), n, ev["loss"] * n], dev)
    if total == 0:
        raise SpikeliteError("cannot evaluate on an empty dataset")
    return {"accuracy": correct / total, "loss": loss_sum / total}


def fit(
    model: nn.Module,
    train: Dataset,
    test: Dataset | None,
    config: TrainConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    device: str | torch.device | None = "auto",
    progress: bool = True,
    console: Console | None = None,
    checkpoint_config: dict[str, Any] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    regularizer: Any | None = None,
    overwrite: bool = False,
    checkpoints: StageFolders | None = None,
    sync_batchnorm: bool = False,
    criterion: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> FitResult:
    """Train ``model`` and evaluate on ``test`` after every epoch.

    With ``out_dir``, checkpoints go to ``out_dir/last`` (every epoch, with trainer state)
    and ``out_dir/best`` (best test accuracy). ``resume=True`` continues from
    ``out_dir/last`` where it stopped; the result equals an uninterrupted run on CPU because
    the shuffling order depends only on (seed, epoch) and the RNG state is restored.
    ``checkpoint_config`` is stored in ``config.json`` (model/data specs for rebuilding).
    ``regularizer`` (an :class:`spikelite.regularize.ActivityRegularizer`) adds its
    activity penalty to every training loss. ``criterion(x, out, y)``, when given, replaces
    the training loss ``cfg.loss`` (e.g. :class:`spikelite.train.distill.Distiller`);
    ``on_epoch`` returning ``True`` stops training after that epoch (early stopping).

    Existing ``best``/``last`` checkpoints under ``out_dir`` are replaced only when they are
    this run's own (resumed, or written with the same configuration) or with
    ``overwrite=True``; a checkpoint folder holding files spikelite did not write is never
    replaced. ``checkpoints`` (without ``out_dir``): train in that job's next stage
    folder and resume from it (see :class:`~spikelite.train.resume.StageFolders`).

    With a folder, every epoch also appends a row to ``metrics.csv`` (see
    :mod:`spikelite.train.metrics`; TensorBoard too with ``config.tensorboard``), and with
    ``config.checkpoint_minutes`` ``last`` is also written mid-epoch on that timer (a
    resume then skips the batches already trained). Inputs of any real dtype are converted
    to the model's; a label outside the model's outputs raises a :class:`SpikeliteError`.

    In a process group (``torchrun``, ``spikelite train --nproc``; see
    :mod:`spikelite.train.distributed`) every rank calls ``fit``: the model trains under
    DistributedDataParallel on this rank's share of each global batch of
    ``config.batch_size`` samples, only rank 0 writes checkpoints, and evaluation counts
    are summed over the ranks. ``sync_batchnorm`` (CUDA) converts BatchNorm layers to
    :class:`torch.nn.SyncBatchNorm` there.
    """
    cfg = config or TrainConfig()
    console = console or Console(stderr=True)
    rank = distributed.current()  # None: one process
    if rank is not None:  # one GPU per process; only rank 0 shows progress
        device = distributed.device_for(device, rank.local)
        progress = progress and rank.main
    dev = resolve_device(device)
    seed_everything(cfg.seed)
    model = model.to(dev)
    check_model(model, "the model to train")
    if cfg.memory_format == "channels_last":  # before the optimizer sees the parameters
        channels_last(model)
    opt = _make_optimizer(model, cfg)
    steps_per_epoch = max(1, -(-len(train) // cfg.batch_size))
    sched = make_scheduler(
        opt, cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch), cfg.lr_schedule
    )
    loss_fn = LOSSES.get(cfg.loss)
    result = FitResult()
    start_epoch = 0
    stage, metrics_file = 1, None
    if out_dir is None and checkpoints is not None:
        out_dir, stage = checkpoints.next()
        metrics_file, resume = checkpoints.metrics, True
    out = Path(out_dir) if out_dir is not None else None
    meta = {**(checkpoint_config or {}), "train": _train_meta(cfg)}
    dtype = _float_dtype(model)
    check_precision(cfg.precision, dev)
    check_model_dtype(cfg.precision, dtype)
    scaler = grad_scaler(cfg.precision, dev)
    resumed = False
    partial: dict[str, Any] | None = None
    if resume and out is None:
        raise SpikeliteError("resume=True needs out_dir (where the checkpoints are)")
    if out is not None:
        check_output_dir(out)
    if rank is not None:  # rank 0 has finished writing what an earlier fit wrote
        distributed.barrier()
    if resume and out is not None:
        state = load_trainer_state(out / "last") if (out / "last").is_dir() else None
        if state is not None:
            load_weights(model, out / "last")
            try:
                opt.load_state_dict(state["optimizer"])
                sched.load_state_dict(state["scheduler"])
                set_rng_state(state)
                start_epoch = int(state["epoch"]) + 1
                partial = state.get("partial")
                if partial is not None:
                    start_epoch = int(partial["epoch"])
                result.history = [dict(h) for h in state["history"]]
                result.best_accuracy = float(state["best_accuracy"])
                result.best_epoch = int(state["best_epoch"])
                if scaler is not None and "scaler" in state:
                    scaler.load_state_dict(state["scaler"])
            except (ValueError, TypeError, KeyError, RuntimeError, IndexError) as exc:
                raise SpikeliteError(
                    f"the trainer state in '{out / 'last'}' does not fit this run "
                    f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); it was "
                    "written by another configuration: train without --resume and with "
                    "--overwrite to start over") from None
            resumed = True
            at = f", batch {int(partial['step']) + 1}" if partial is not None else ""
            if rank is None or rank.main:
                console.print(f"resuming from {out / 'last'} at epoch "
                              f"{start_epoch + 1}/{cfg.epochs}{at}")
    if out is not None:
        _check_own_checkpoints(out, meta, overwrite=overwrite or resumed)
    # the module the forward runs through: DistributedDataParallel around ``model``
    net = model if rank is None else distributed.wrap(model, dev, sync_batchnorm=sync_batchnorm)
    writes = out is not None and (rank is None or rank.main)
    loading = LoaderOptions.from_config(cfg)
    # one loader for all epochs (workers can persist); under DDP each rank draws its share
    # of the same global batches instead (distributed.rank_batches)
    loader = make_loader(train, cfg.batch_size, shuffle=True, seed=cfg.seed, options=loading,
                         device=dev)
    test_loader = (None if test is None or rank is not None else
                   make_loader(test, cfg.eval_batch_size, shuffle=False, options=loading,
                               device=dev))
    log = rates = None
    if writes:  # only rank 0 writes
        assert out is not None
        log = MetricsLog(metrics_file or out / METRICS, stage=stage, tensorboard=cfg.tensorboard)
        rates = FiringRates(model)
    timer = Timer(cfg.checkpoint_minutes)

    def trainer_state(epoch: int, part: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), **rng_state(),
                "epoch": epoch, "history": result.history, "best_accuracy": result.best_accuracy,
                "best_epoch": result.best_epoch, **({"partial": part} if part else {}),
                **({} if scaler is None else {"scaler": scaler.state_dict()})}

    t0 = time.perf_counter()
    with _progress(console, progress) as bar, \
            recording(log, rates, out / "last" if out is not None else None):
        for epoch in range(start_epoch, cfg.epochs):
            t_epoch = time.perf_counter()
            model.train()
            set_epoch = getattr(train, "set_epoch", None)
            if callable(set_epoch):  # fresh rate-code draws per epoch, reproducible
                set_epoch(epoch)
            if rank is None:
                loader.set_epoch(epoch)  # the order of (seed, epoch), as before
                epoch_batches: Any = ((b, None) for b in loader)
            else:  # this rank's share of the same global batches, and its loss weight
                gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
                epoch_batches = distributed.rank_batches(train, cfg.batch_size, gen, rank)
            task = bar.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=steps_per_epoch,
                                info="")
            seen = correct = 0
            loss_sum = 0.0
            # every weight and buffer, checked finite after every optimizer step
            state = [*model.parameters(), *model.buffers()]
            done, batches = 0, epoch_batches
            if partial is not None:  # resume mid-epoch: skip what was trained, then the RNGs
                done = int(partial["step"])
                batches = skip_batches(epoch_batches, done)
                set_rng_state(partial["rng"])
                seen, correct = int(partial["seen"]), int(partial["correct"])
                loss_sum, t_epoch = float(partial["loss_sum"]), t_epoch - partial["seconds"]
                if rates is not None:
                    rates.load(partial.get("rates"), dev)
                bar.update(task, completed=done)
                partial = None
            for step, ((x, y), share) in enumerate(batches, start=done):
                x, y = _batch(x, y, dev, dtype)
                check_batch(x, step, cfg.batch_size, f"training (epoch {epoch + 1})")
                reset_states(model)
                try:
                    with naming_layers(model), autocast(cfg.precision, dev):
                        out_t = net(x)
                    if cfg.precision != "fp32":  # the loss in float32
                        out_t = out_t.float()
                except NonFiniteError as exc:
                    raise NonFiniteError(
                        f"training stopped at epoch {epoch + 1}, step {step + 1}: {exc}; if "
                        f"the weights grew, lower the learning rate (lr={cfg.lr}) or enable "
                        "grad_clip", exc.module) from None
                _check_labels(y, out_t)
                loss = loss_fn(out_t, y) if criterion is None else criterion(x, out_t, y)
                if regularizer is not None:
                    loss = loss + regularizer.penalty()
                if share is not None:  # DDP averages over ranks: weight n_r·W/n
                    loss_unweighted, loss = loss, loss * share[2]
                else:
                    loss_unweighted = loss
                if not torch.isfinite(loss):
                    raise SpikeliteError(
                        f"training loss became {float(loss)} at epoch {epoch + 1}, step "
                        f"{step + 1}; lower the learning rate (lr={cfg.lr}) or enable grad_clip"
                    )
                opt.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                else:  # fp16: scaled loss; a step with non-finite gradients is skipped
                    scaler.scale(loss).backward()
                    scaler.unscale_(opt)
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                try:
                    if scaler is None:
                        opt.step()
                    else:
                        scaler.step(opt)
                        scaler.update()
                except RuntimeError as exc:  # e.g. Adam's lr/(1 − β₁ᵗ) past float32's range
                    if "overflow" not in str(exc):
                        raise
                    raise NonFiniteError(
                        f"training diverged at epoch {epoch + 1}, step {step + 1}: the "
                        f"optimizer step overflowed ({exc}); lower the learning rate "
                        f"(lr={cfg.lr})") from None
                sched.step()
                if not all_finite(state):
                    problems = bad_tensors(model.state_dict().items())
                    raise NonFiniteError(
                        f"training diverged at epoch {epoch + 1}, step {step + 1}: after the "
                        f"optimizer step {'; '.join(problems[:3]) or 'a weight is not finite'}"
                        f"; lower the learning rate (lr={cfg.lr}) or enable grad_clip (no "
                        "checkpoint was written from this step)"
                    )
                if share is None:
                    n = y.shape[0]
                    seen += n
                    loss_sum += float(loss.detach()) * n
                    correct += int((time_mean(out_t.detach()).argmax(-1) == y).sum())
                else:  # this rank's samples (none: a stand-in sample of weight 0)
                    n = share[0]
                    seen += n
                    loss_sum += float(loss_unweighted.detach()) * n
                    correct += int((time_mean(out_t.detach()).argmax(-1) == y).sum()) * (n > 0)
                bar.update(task, advance=1, info=f"loss {loss_sum / seen:.4f}")
                if writes and rank is None and timer.due():  # a mid-epoch checkpoint
                    save_checkpoint(out / "last", model, {**meta, "partial_epoch": epoch + 1},
                                    trainer_state(epoch - 1, {
                                        "epoch": epoch, "step": step + 1, "seen": seen,
                                        "correct": correct, "loss_sum": loss_sum,
                                        "seconds": time.perf_counter() - t_epoch,
                                        "rng": rng_state(),
                                        "rates": rates.state() if rates else None}))
                    timer.reset()
            bar.remove_task(task)
            if rank is not None:  # the epoch's metrics over all ranks
                seen, loss_sum, correct = distributed.all_sum([seen, loss_sum, correct], dev)
            rec = {
                "epoch": epoch + 1,
                "train_loss": loss_sum / seen,
                "train_accuracy": correct / seen,
                "lr": opt.param_groups[0]["lr"],
            }
            if test is not None:
                try:
                    ev = (evaluate(model, test, batch_size=cfg.eval_batch_size, loss=cfg.loss,
                                   device=dev, loader=test_loader) if rank is None
                          else _evaluate(model, test, cfg, dev, rank))
                except NonFiniteError as exc:
                    raise NonFiniteError(
                        f"training stopped at epoch {epoch + 1}, evaluating on the test data: "
                        f"{exc}; if the weights grew, lower the learning rate (lr={cfg.lr}) "
                        "or enable grad_clip", exc.module) from None
                rec["test_loss"], rec["test_accuracy"] = ev["loss"], ev["accuracy"]
            result.history.append(rec)
            acc = rec.get("test_accuracy", rec["train_accuracy"])
            improved = acc > result.best_accuracy or result.best_epoch < 0
            if improved:
                result.best_accuracy, result.best_epoch = acc, epoch + 1
            if log is not None and rates is not None:  # the row first: a rerun rewrites it
                seconds = time.perf_counter() - t_epoch
                log.write({**rec, "seconds": round(seconds, 3), **rates.take()})
                log.progress(epoch + 1, cfg.epochs, (time.perf_counter() - t0) /
                             (epoch + 1 - start_epoch))
            if writes:  # only rank 0 writes
                assert out is not None
                meta_now = {**meta, "metrics": rec, "best_accuracy": result.best_accuracy}
                if improved:
                    save_checkpoint(out / "best", model, meta_now)
                save_checkpoint(out / "last", model, meta_now, trainer_state(epoch))
                timer.reset()
            if progress:
                console.print(
                    f"epoch {epoch + 1:>3}/{cfg.epochs}  loss {rec['train_loss']:.4f}  "
                    f"train acc {rec['train_accuracy']:.4f}"
                    + (f"  test acc {rec['test_accuracy']:.4f}" if "test_accuracy" in rec else "")
                )
            if on_epoch is not None and on_epoch(rec) is True:
                break
    if rank is not None:  # the checkpoints are complete when fit returns on any rank
        distributed.barrier()
    result.seconds = time.perf_counter() - t0
    if result.history:
        last = result.history[-1]
        result.final_accuracy = last.get("test_accuracy", last["train_accuracy"])
    if out is not None:
        result.best_checkpoint, result.last_checkpoint = out / "best", out / "last"
    return result
