"""Compression schedules: Schaefer et al.'s isolation / cumulative / joint.

Each schedule is a function of (model, data, config) → (compressed model, record). The
record lists every stage with its settings and accuracies, so a sweep can store it.
(papers.md §2.7.)

* ``joint``: the mask (global magnitude, from the pretrained weights) and the fake
  quantizer are both active from the first epoch; one LR schedule over all epochs.
* ``cumulative``: prune → fine-tune in full precision → quantize (the quantizer is
  initialised from the fine-tuned weights) → fine-tune with the LR schedule restarted.
* ``isolation``: only one of them — quantization only (``sparsity = 0``) or pruning only,
  which Schaefer et al. ran with 8-bit weights (pass ``bits=8``), i.e. ``joint`` with one
  of the two knobs at its neutral value.

QP-SNN (papers.md §1.10, App. A, Table 3): :func:`run_qpsnn` — ``order="qp"``:
quantized training → channel scores (SVS) on the quantized net → channel removal →
fine-tuning; ``order="pq"``: channel pruning of the full-precision net → fine-tuning →
quantization → quantized fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from torch import nn
from torch.utils.data import Dataset

from spikelite.core.synaptic import (
    latent_weight,
    mask_of,
    strip_weight_parametrizations,
    synaptic_layers,
)
from spikelite.errors import SpikeliteError
from spikelite.prune.unstructured import (
    apply_masks_,
    check_sparsity,
    compute_masks,
    sparsity_of,
)
from spikelite.quant import quant_spec, quantize_
from spikelite.train import TrainConfig, evaluate, fit

SCHEDULES = ("isolation", "cumulative", "joint")


@dataclass(frozen=True)
class ScheduleConfig:
    """What to do: quantizer (``scheme``/``bits``, ``None`` = full precision; per-layer
    ``overrides`` as in :func:`~spikelite.quant.quantize_` for mixed precision), global
    magnitude ``sparsity`` (or per-layer ``layer_sparsity``, each layer pruned to its own
    fraction), and the epoch split (cumulative: ``prune_epochs`` then the rest).
    """

    schedule: str = "joint"
    scheme: str | None = "duq"
    bits: int = 8
    sparsity: float = 0.0
    scope: str = "global"
    method: str = "magnitude"
    epochs: int = 4
    prune_epochs: int | None = None
    quant_options: dict[str, Any] = field(default_factory=dict)
    skip_first: bool = False
    skip_last: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    layer_sparsity: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise SpikeliteError(
                f"unknown schedule '{self.schedule}'. Valid: {', '.join(SCHEDULES)}"
            )
        check_sparsity(self.sparsity)
        for p in self.layer_sparsity.values():
            check_sparsity(p)
        if self.epochs < 1:
            raise SpikeliteError(f"epochs must be >= 1, got {self.epochs}")
        if self.schedule == "cumulative":
            pe = self.prune_epochs if self.prune_epochs is not None else self.epochs // 2
            if not 1 <= pe < self.epochs:
                raise SpikeliteError(
                    f"cumulative needs 1 <= prune_epochs < epochs (= {self.epochs}), got {pe}"
                )
        if self.schedule == "isolation" and self.sparsity > 0 and self.scheme is not None \
                and self.bits != 8:
            raise SpikeliteError(
                "isolation means one technique: quantization only (sparsity 0), or pruning "
                "only (Schaefer et al. keep 8-bit weights: bits=8)"
            )


@dataclass
class ScheduleRecord:
    """What a schedule did, stage by stage."""

    config: ScheduleConfig
    stages: list[dict[str, Any]] = field(default_factory=list)
    accuracy: float = 0.0
    best_accuracy: float = 0.0
    sparsity: float = 0.0
    zero_fraction: float = 0.0
    quant: dict[str, Any] = field(default_factory=dict)


def _quantize(model: nn.Module, cfg: ScheduleConfig) -> None:
    """Quantize, keeping existing masks *after* the quantizer (``mask ⊙ Q(W)``)."""
    if cfg.scheme is None:
        return
    masks = {}
    for name, module in synaptic_layers(model):
        wm = mask_of(module)
        if wm is not None:
            masks[name] = wm.mask.clone()
            strip_weight_parametrizations(module, latent_weight(module))
    quantize_(model, cfg.scheme, cfg.bits, skip_first=cfg.skip_first,
              skip_last=cfg.skip_last, overrides=cfg.overrides, **cfg.quant_options)
    apply_masks_(model, masks, order="after_quant")


def _prune(model: nn.Module, cfg: ScheduleConfig) -> None:
    """Global/layer magnitude masks from the weights the model holds now; per-layer
    fractions (``layer_sparsity``) prune each named layer on its own."""
    if cfg.layer_sparsity:
        masks: dict[str, Any] = {}
        for name, p in cfg.layer_sparsity.items():
            if p > 0:
                masks.update(compute_masks(model, p, scope="layer", method=cfg.method,
                                           layers=[name]))
        if masks:
            apply_masks_(model, masks)
    elif cfg.sparsity > 0:
        apply_masks_(model, compute_masks(model, cfg.sparsity, scope=cfg.scope,
                                          method=cfg.method))


def pruned_fraction(model: nn.Module) -> float:
    """Fraction of synaptic weights removed by masks (quantizer zeros not counted)."""
    removed = total = 0
    for _, module in synaptic_layers(model):
        wm = mask_of(module)
        n = latent_weight(module).numel()
        total += n
        removed += int((~wm.mask).sum()) if wm is not None else 0
    return removed / max(total, 1)


def run_schedule(
    model: nn.Module,
    train: Dataset,
    test: Dataset,
    cfg: ScheduleConfig,
    train_cfg: TrainConfig | None = None,
    *,
    device: str = "auto",
    progress: bool = False,
    console: Console | None = None,
    regularizer: Any | None = None,
) -> tuple[nn.Module, ScheduleRecord]:
    """Apply ``cfg`` to a trained ``model`` (in place) with fine-tuning; see the module doc.

    ``train_cfg`` supplies the optimiser settings; its ``epochs`` is replaced by the
    schedule's split. The mask is always computed from the weights ``model`` holds on entry
    (the pretrained ones), as Schaefer et al. do. ``regularizer`` (an
    :class:`~spikelite.regularize.ActivityRegularizer`) is added to every fine-tuning loss.
    """
    base = train_cfg or TrainConfig(lr=1e-3)
    rec = ScheduleRecord(config=cfg)
    kw = {"device": device, "progress": progress, "console": console,
          "regularizer": regularizer}
    rec.stages.append({"stage": "pretrained", **evaluate(model, test, device=device)})
    if cfg.schedule in ("joint", "isolation"):
        _prune(model, cfg)  # the mask from the pretrained full-precision weights …
        _quantize(model, cfg)  # … applied to Q(W): mask ⊙ Q(W), both from epoch 0
        res = fit(model, train, test, TrainConfig(**{**base.__dict__, "epochs": cfg.epochs}),
                  **kw)
        rec.stages.append({"stage": "joint fine-tune", "epochs": cfg.epochs,
                           "accuracy": res.final_accuracy, "best": res.best_accuracy})
        best = res.best_accuracy
    else:
        pe = cfg.prune_epochs if cfg.prune_epochs is not None else cfg.epochs // 2
        _prune(model, cfg)
        r1 = fit(model, train, test, TrainConfig(**{**base.__dict__, "epochs": pe}), **kw)
        rec.stages.append({"stage": "prune + fine-tune (full precision)", "epochs": pe,
                           "accuracy": r1.final_accuracy, "best": r1.best_accuracy})
        _quantize(model, cfg)  # quantizer initialised from the fine-tuned weights
        r2 = fit(model, train, test,
                 TrainConfig(**{**base.__dict__, "epochs": cfg.epochs - pe}), **kw)
        rec.stages.append({"stage": "quantize + fine-tune (LR schedule restarted)",
                           "epochs": cfg.epochs - pe, "accuracy": r2.final_accuracy,
                           "best": r2.best_accuracy})
        best = r2.best_accuracy
    rec.accuracy = rec.stages[-1]["accuracy"]
    rec.best_accuracy = best
    rec.sparsity = pruned_fraction(model)
    rec.zero_fraction = sparsity_of(model)["total"]
    rec.quant = quant_spec(model)
    return model, rec


QP_ORDERS = ("qp", "pq")


@dataclass(frozen=True)
class QPSNNConfig:
    """QP-SNN: quantizer (default ReScaW 4 bits, first/last layer in full precision),
    channel ``ratios`` (a float for every conv, or ``{layer: ratio}``), ``criterion``
    (``svs``/``sca``/``l1``/``random``) scored on ``batches`` mini-batches, whether the
    last conv stays whole (``keep_last``, QP-SNN), the order and the epochs of the two
    training stages."""

    order: str = "qp"
    scheme: str | None = "rescaw"
    bits: int = 4
    quant_options: dict[str, Any] = field(default_factory=dict)
    skip_first: bool = True
    skip_last: bool = True
    ratios: float | dict[str, float] = 0.5
    criterion: str = "svs"
    batches: int = 5
    keep_last: bool = True
    first_epochs: int = 2
    finetune_epochs: int = 2

    def __post_init__(self) -> None:
        if self.order not in QP_ORDERS:
            raise SpikeliteError(f"unknown QP-SNN order '{self.order}'. Valid: qp, pq")
        if self.first_epochs < 0 or self.finetune_epochs < 1:
            raise SpikeliteError("QP-SNN needs first_epochs >= 0 and finetune_epochs >= 1")


def run_qpsnn(
    model: nn.Module,
    train: Dataset,
    test: Dataset,
    cfg: QPSNNConfig,
    train_cfg: TrainConfig | None = None,
    *,
    device: str = "auto",
    progress: bool = False,
    console: Console | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Quantize-then-prune (QP-SNN) or prune-then-quantize (PQ) a trained ``model``."""
    from spikelite.prune import apply_channel_plan_, plan_channel_pruning

    base = train_cfg or TrainConfig(lr=1e-3)
    kw = {"device": device, "progress": progress, "console": console}
    stages: list[dict[str, Any]] = [{"stage": "pretrained",
                                     **evaluate(model, test, device=device)}]

    def train_stage(label: str, epochs: int) -> None:
        if epochs < 1:
            return
        r = fit(model, train, test, TrainConfig(**{**base.__dict__, "epochs": epochs}), **kw)
        stages.append({"stage": label, "epochs": epochs, "accuracy": r.final_accuracy,
                       "best": r.best_accuracy})

    def quantize() -> None:
        if cfg.scheme is not None:
            quantize_(model, cfg.scheme, cfg.bits, skip_first=cfg.skip_first,
                      skip_last=cfg.skip_last, **cfg.quant_options)

    def prune() -> dict[str, Any]:
        plan = plan_channel_pruning(model, cfg.ratios, cfg.criterion, data=train,
                                    batches=cfg.batches, keep_last=cfg.keep_last)
        report = apply_channel_plan_(model, plan)
        stages.append({"stage": f"channel pruning ({cfg.criterion})",
                       "params_before": report.params_before,
                       "params_after": report.params_after,
                       **evaluate(model, test, device=device)})
        return {"params_before": report.params_before, "params_after": report.params_after,
                "widths": report.widths, "rebuildable": report.rebuildable}

    if cfg.order == "qp":
        quantize()
        train_stage("quantized training", cfg.first_epochs)
        pruned = prune()  # scores judged in the quantized domain
        train_stage("fine-tune", cfg.finetune_epochs)
    else:
        pruned = prune()
        train_stage("fine-tune (full precision)", cfg.first_epochs)
        quantize()
        train_stage("quantized fine-tune", cfg.finetune_epochs)
    last = stages[-1]
    return model, {"stages": stages, "accuracy": last["accuracy"], "best": last["best"],
                   "pruning": pruned, "quant": quant_spec(model)}
