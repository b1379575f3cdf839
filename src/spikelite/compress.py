"""Compress a trained checkpoint: quantize → calibrate (PTQ) → fine-tune (QAT) → save.

The compressed checkpoint stores the quantizer of every layer in ``config.json``
(``"quant"``), so :func:`spikelite.train.load_model` rebuilds the fake-quantized model and
``spikelite eval`` works on it like on any other checkpoint.
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
    from spikelite.quant import calibrate_, quant_spec, quantize_
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
    if cfg.quant is not None:
        q = cfg.quant
        quantize_(model, q.scheme, q.bits, skip_first=q.skip_first, skip_last=q.skip_last,
                  overrides=q.overrides, **q.options)
        calibrate_(model, train if cfg.calibrate_batches > 0 else None,
                   batches=cfg.calibrate_batches)
        ptq = evaluate(model, test, loss=loss, device=cfg.device)["accuracy"]
        console.print(f"quantized ({q.scheme}, {q.bits} bits), no training: accuracy {ptq:.4f}")
    spec = quant_spec(model)
    meta = {"model": ck["model"], "data": ck["data"], "quant": spec,
            "compress": cfg.model_dump(), "parent": str(cfg.checkpoint)}
    out = Path(cfg.out)
    if cfg.finetune.epochs > 0:
        res = fit(model, train, test, TrainConfig(**cfg.finetune.model_dump()), out_dir=out,
                  device=cfg.device, progress=progress, console=console,
                  checkpoint_config=meta)
        acc, best, ckpt = res.final_accuracy, res.best_accuracy, out / "best"
    else:
        acc = best = ptq if ptq is not None else fp
        metrics = {"test_accuracy": acc}
        save_checkpoint(out / "best", model, {**meta, "metrics": metrics})
        ckpt = out / "best"
    return CompressOutcome(model=model, fp_accuracy=fp, ptq_accuracy=ptq, accuracy=acc,
                           best_accuracy=best, checkpoint=ckpt, quant=spec,
                           seconds=time.perf_counter() - t0)
