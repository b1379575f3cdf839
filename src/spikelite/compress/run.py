"""The one compression entry point.

:func:`compress_model` applies a :class:`CompressionSpec` to a trained model through its
registered schedule; sweeps, search and ``spikelite compress`` all call it.
:func:`compress_checkpoint` is the ``spikelite compress`` job around it: load a checkpoint
and its data, compress, save ``OUT/final`` whose ``config.json`` records every layer's
parametrizations (quantizer spec, masks), so :func:`spikelite.train.load_model` rebuilds
the compressed model and ``spikelite eval`` works on it like on any other checkpoint.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from torch import nn
from torch.utils.data import Dataset

from spikelite.compress.result import CompressionResult
from spikelite.compress.schedules import SCHEDULES, RunContext
from spikelite.compress.spec import CompressConfig, CompressionSpec
from spikelite.core.checks import check_model
from spikelite.data.spec import DataSpec, load_data
from spikelite.errors import SpikeliteError, check_output_dir
from spikelite.quant import quant_spec
from spikelite.quant.structure import describe
from spikelite.train import evaluate, load_model, save_checkpoint, seed_everything
from spikelite.train.checkpoint import check_replaceable
from spikelite.train.config import RUN_OPTIONS, FinetuneSpec
from spikelite.train.engine import resolve_device
from spikelite.train.precision import check_precision
from spikelite.train.resume import StageFolders, prune_stages, stage_folders
from spikelite.train.run import open_model


def compress_model(
    model: nn.Module,
    train: Dataset,
    test: Dataset,
    spec: CompressionSpec,
    finetune: FinetuneSpec | None = None,
    *,
    seed: int | None = None,
    device: str = "auto",
    progress: bool = False,
    console: Console | None = None,
    checkpoints: StageFolders | None = None,
) -> CompressionResult:
    """Apply ``spec`` to the trained ``model`` (in place; channel surgery may return a
    rebuilt model in the result). ``finetune``: the fine-tuning settings when the spec has
    none (default :class:`FinetuneSpec`). ``seed``: reseed every RNG first (sweeps do, so
    random masks and calibration batches are reproducible). ``checkpoints``: every
    fine-tuning stage checkpoints into (and resumes from) its folder there, so rerunning
    an interrupted compression replays the finished stages from their last checkpoints
    (the compression steps between them are deterministic) and continues the one that
    was running; the result equals an uninterrupted run (CPU)."""
    ft = spec.finetune or finetune or FinetuneSpec()
    spec.check(ft)
    check_model(model, "the model to compress")
    if seed is not None:
        seed_everything(seed)
    teacher = copy.deepcopy(model) if ft.distill is not None else None
    reference = (evaluate(model, test, device=device)["accuracy"]
                 if ft.max_epochs is not None else None)
    ctx = RunContext(device=device, progress=progress, console=console,
                     checkpoints=checkpoints, teacher=teacher, reference_accuracy=reference)
    res = SCHEDULES.get(spec.schedule).run(model, (train, test), spec, ft, ctx)
    check_model(res.model, f"the model compressed by '{spec.schedule}'",
                "compression or fine-tuning diverged — lower the fine-tuning learning rate "
                "(finetune.lr) or check the calibration data")
    return res


#: the folder under a compression's OUT where its fine-tuning checkpoints and metrics go
FINETUNE = "finetune"


@dataclass
class CompressOutcome:
    """Accuracies before and after each stage, and where the result was saved."""

    model: nn.Module
    fp_accuracy: float
    ptq_accuracy: float | None
    accuracy: float
    best_accuracy: float
    checkpoint: Path
    quant: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    result: CompressionResult | None = None


def compress_checkpoint(
    cfg: CompressConfig, *, progress: bool = True, console: Console | None = None
) -> CompressOutcome:
    """Run the compression job ``cfg`` on ``cfg.checkpoint`` and save ``cfg.out/final``
    (the output folder is checked before any work)."""
    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    spec = cfg.spec()
    check_output_dir(cfg.out)
    check_replaceable(Path(cfg.out) / "final")
    check_precision(cfg.finetune.precision, resolve_device(cfg.device))
    if cfg.model is not None:  # the user's network, converted
        model, ck = open_model(model=cfg.model, data=cfg.data)
        parent = cfg.model.checkpoint or cfg.model.factory
    else:
        model, ck = load_model(cfg.checkpoint)
        parent = cfg.checkpoint
    if "data" not in ck:
        raise SpikeliteError(f"checkpoint '{cfg.checkpoint}' names no dataset in config.json")
    train, test = load_data(DataSpec(**ck["data"]))
    fp = evaluate(model, test, loss=cfg.finetune.loss, device=cfg.device)["accuracy"]
    console.print(f"loaded {parent}: test accuracy {fp:.4f}")
    src = Path(str(parent))
    weights = src / "model.safetensors" if src.is_dir() else src
    stat = weights.stat() if weights.is_file() else None
    job = {"compress": cfg.model_dump(exclude={"out": True,
                                               "finetune": set(RUN_OPTIONS)}),
           "parent": [str(parent), stat and stat.st_size, stat and stat.st_mtime_ns]}
    stages, again = stage_folders(Path(cfg.out) / FINETUNE, job)
    if again:
        console.print(f"resuming the fine-tuning checkpointed in {stages.root}")
    res = compress_model(model, train, test, spec, cfg.finetune, device=cfg.device,
                         progress=progress, console=console, checkpoints=stages)
    model = res.model
    if res.ptq_accuracy is not None:
        console.print(f"quantized ({spec.scheme}, {spec.bits} bits), no training: "
                      f"accuracy {res.ptq_accuracy:.4f}")
    if res.pruning is not None:
        if not res.pruning.rebuildable:
            raise SpikeliteError("the channel-pruned model cannot be rebuilt from its zoo "
                                 "config (residual shortcuts re-mapped); save it from Python")
        console.print(f"{spec.schedule}: {res.pruning.params_before:,} → "
                      f"{res.pruning.params_after:,} parameters; accuracy {res.accuracy:.4f}")
        ck["model"] = model.spikelite_config
    elif res.masked_fraction > 0:
        console.print(f"{spec.schedule}: pruned {res.masked_fraction:.1%} of the weights; "
                      f"accuracy {res.accuracy:.4f}")
    qspec = quant_spec(model)
    meta = {"model": ck["model"], "data": ck["data"], "quant": qspec,
            "parametrizations": describe(model), "compress": cfg.model_dump(),
            "compression": spec.model_dump(), "parent": str(parent),
            "metrics": {"test_accuracy": res.accuracy}, "best_accuracy": res.best_accuracy,
            "schedule": res.record()}
    ckpt = save_checkpoint(Path(cfg.out) / "final", model, meta)
    prune_stages(stages.root)
    return CompressOutcome(model=model, fp_accuracy=fp, ptq_accuracy=res.ptq_accuracy,
                           accuracy=res.accuracy, best_accuracy=res.best_accuracy,
                           checkpoint=ckpt, quant=qspec, seconds=time.perf_counter() - t0,
                           result=res)


def compress(
    cfg: CompressConfig, *, progress: bool = True, console: Console | None = None
) -> CompressOutcome:
    """Deprecated name of :func:`compress_checkpoint`."""
    import warnings

    warnings.warn("spikelite.compress.compress is deprecated; use compress_checkpoint",
                  DeprecationWarning, stacklevel=2)
    return compress_checkpoint(cfg, progress=progress, console=console)
