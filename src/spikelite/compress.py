"""Compress a trained checkpoint and save the result to ``OUT/final``.

Without pruning: quantize → calibrate (PTQ) → fine-tune (QAT). With unstructured pruning:
one of Schaefer et al.'s schedules (:mod:`spikelite.pipeline`). The checkpoint's
``config.json`` records every layer's parametrizations (quantizer spec, masks) so
:func:`spikelite.train.load_model` rebuilds the compressed model and ``spikelite eval``
works on it like on any other checkpoint. The final model is saved (the accuracy of the
best epoch is reported alongside).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from torch import nn

from spikelite.config import CompressConfig, DataSpec
from spikelite.errors import SpikeliteError


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


def compress(
    cfg: CompressConfig, *, progress: bool = True, console: Console | None = None
) -> CompressOutcome:
    """Run the compression described by ``cfg`` on ``cfg.checkpoint``."""
    from spikelite.config import CHANNEL_METHODS
    from spikelite.pipeline import QPSNNConfig, ScheduleConfig, run_qpsnn, run_schedule
    from spikelite.quant import calibrate_, quant_spec, quantize_
    from spikelite.quant.structure import describe
    from spikelite.runner import load_data
    from spikelite.train import TrainConfig, evaluate, fit, load_model, save_checkpoint

    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    model, ck = load_model(cfg.checkpoint)
    if "data" not in ck:
        raise SpikeliteError(f"checkpoint '{cfg.checkpoint}' names no dataset in config.json")
    data_spec = DataSpec(**ck["data"])
    train, test = load_data(data_spec)
    loss = cfg.finetune.loss
    fp = evaluate(model, test, loss=loss, device=cfg.device)["accuracy"]
    console.print(f"loaded {cfg.checkpoint}: test accuracy {fp:.4f}")
    ptq = None
    out = Path(cfg.out)
    q = cfg.quant
    tcfg = TrainConfig(**{**cfg.finetune.model_dump(), "epochs": 1})
    if cfg.prune is not None and q is not None and q.overrides:
        raise SpikeliteError("per-layer quantization overrides are not supported together "
                             "with pruning yet; quantize per layer without `prune`, or drop "
                             "the overrides")
    if cfg.prune is not None and cfg.prune.structured:
        if cfg.finetune.epochs < 2 and cfg.prune_epochs is None:
            raise SpikeliteError("QP-SNN schedules need finetune.epochs >= 2 (two stages)")
        first = cfg.prune_epochs if cfg.prune_epochs is not None else cfg.finetune.epochs // 2
        qcfg = QPSNNConfig(
            order=cfg.schedule or "qp", scheme=q.scheme if q else None,
            bits=q.bits if q else 32, quant_options=dict(q.options) if q else {},
            skip_first=q.skip_first if q else True, skip_last=q.skip_last if q else True,
            ratios=dict(cfg.prune.ratios) or cfg.prune.sparsity,
            criterion=CHANNEL_METHODS[cfg.prune.method], batches=cfg.prune.batches,
            first_epochs=first, finetune_epochs=max(cfg.finetune.epochs - first, 1),
        )
        model, qrec = run_qpsnn(model, train, test, qcfg, tcfg, device=cfg.device,
                                progress=progress, console=console)
        if not qrec["pruning"]["rebuildable"]:
            raise SpikeliteError("the channel-pruned model cannot be rebuilt from its zoo "
                                 "config (residual shortcuts re-mapped); save it from Python")
        acc, best = qrec["accuracy"], qrec["best"]
        pr = qrec["pruning"]
        console.print(f"{qcfg.order}: {pr['params_before']:,} → {pr['params_after']:,} "
                      f"parameters; accuracy {acc:.4f}")
        extra = {"schedule": {"stages": qrec["stages"], "pruning": pr}}
        ck["model"] = model.spikelite_config
    elif cfg.prune is not None and cfg.prune.sparsity > 0:
        if cfg.finetune.epochs < 1:
            raise SpikeliteError("pruning needs fine-tuning: set finetune.epochs >= 1")
        sched = ScheduleConfig(
            schedule=cfg.schedule or "joint", scheme=q.scheme if q else None,
            bits=q.bits if q else 32, sparsity=cfg.prune.sparsity, scope=cfg.prune.scope,
            method=cfg.prune.method,
            epochs=cfg.finetune.epochs, prune_epochs=cfg.prune_epochs,
            quant_options=dict(q.options) if q else {},
            skip_first=q.skip_first if q else False, skip_last=q.skip_last if q else False,
        )
        model, rec = run_schedule(model, train, test, sched, tcfg, device=cfg.device,
                                  progress=progress, console=console)
        acc, best = rec.accuracy, rec.best_accuracy
        console.print(f"{sched.schedule}: pruned {rec.sparsity:.1%} of the weights; "
                      f"accuracy {acc:.4f}")
        extra = {"schedule": {"stages": rec.stages, "sparsity": rec.sparsity}}
    else:
        if q is not None:
            quantize_(model, q.scheme, q.bits, skip_first=q.skip_first,
                      skip_last=q.skip_last, overrides=q.overrides, **q.options)
            calibrate_(model, train if cfg.calibrate_batches > 0 else None,
                       batches=cfg.calibrate_batches)
            ptq = evaluate(model, test, loss=loss, device=cfg.device)["accuracy"]
            console.print(f"quantized ({q.scheme}, {q.bits} bits), no training: "
                          f"accuracy {ptq:.4f}")
        extra = {}
        if cfg.finetune.epochs > 0:
            res = fit(model, train, test, TrainConfig(**cfg.finetune.model_dump()),
                      device=cfg.device, progress=progress, console=console)
            acc, best = res.final_accuracy, res.best_accuracy
        else:
            acc = best = ptq if ptq is not None else fp
    spec = quant_spec(model)
    meta = {"model": ck["model"], "data": ck["data"], "quant": spec,
            "parametrizations": describe(model), "compress": cfg.model_dump(),
            "parent": str(cfg.checkpoint), "metrics": {"test_accuracy": acc},
            "best_accuracy": best, **extra}
    ckpt = save_checkpoint(out / "final", model, meta)
    return CompressOutcome(model=model, fp_accuracy=fp, ptq_accuracy=ptq, accuracy=acc,
                           best_accuracy=best, checkpoint=ckpt, quant=spec,
                           seconds=time.perf_counter() - t0)
