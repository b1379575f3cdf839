"""``spikelite compress``: quantize and/or prune a trained checkpoint."""

from __future__ import annotations

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
from spikelite.records import parse_key_values, parse_record, read_yaml, set_dotted


def _parse_quant(value: str | None, bits: int | None) -> tuple[str | None, int | None]:
    """``"rescaw"`` or ``"rescaw:4"`` → (scheme, bits); ``--bits`` wins when both given."""
    if value is None:
        return None, bits
    scheme, _, b = value.partition(":")
    if b and not b.isdigit():
        raise SpikeliteError(f"--quant '{value}' must look like SCHEME or SCHEME:BITS")
    return scheme, bits if bits is not None else (int(b) if b else None)


def _parse_prune(value: str | None) -> tuple[str | None, float | None]:
    """``"0.8"`` or ``"magnitude:0.8"`` → (method, sparsity)."""
    if value is None:
        return None, None
    method, _, amount = value.rpartition(":")
    try:
        sparsity = float(amount)
    except ValueError:
        raise SpikeliteError(
            f"--prune '{value}' must look like SPARSITY or METHOD:SPARSITY (e.g. magnitude:0.8)"
        ) from None
    return (method or None), sparsity


def _parse_distill(value: str | None) -> dict[str, Any] | None:
    """``"4"`` or ``"4:0.5"`` → ``{"temperature": 4.0[, "alpha": 0.5]}``."""
    if value is None:
        return None
    t, _, a = value.partition(":")
    try:
        return {"temperature": float(t), **({"alpha": float(a)} if a else {})}
    except ValueError:
        raise SpikeliteError(f"--distill '{value}' must look like TEMPERATURE or "
                             "TEMPERATURE:ALPHA (e.g. 4:0.5)") from None


def compress_command(
    checkpoint: Annotated[str | None, typer.Argument(help="Trained checkpoint folder.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML compression recipe.")] = None,
    quant: Annotated[str | None, typer.Option(help="Quantizer, e.g. rescaw or rescaw:4 (see `spikelite quantizers`).")] = None,
    bits: Annotated[int | None, typer.Option(help="Weight bit width.")] = None,
    quant_opt: Annotated[list[str] | None, typer.Option("--quant-opt", help="Quantizer option key=value, e.g. gamma=max (repeatable).")] = None,
    prune: Annotated[str | None, typer.Option(help="Unstructured pruning: SPARSITY or METHOD:SPARSITY, e.g. magnitude:0.8 or random:0.5.")] = None,
    scope: Annotated[str | None, typer.Option(help="Pruning scope: global (one threshold, Schaefer) or layer.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Compression schedule (see `spikelite schedules`); default: qp with channel pruning, joint with unstructured pruning, qat (ptq with --epochs 0) with quantization alone.")] = None,
    prune_epochs: Annotated[int | None, typer.Option(help="Cumulative: fine-tuning epochs after pruning, before quantizing.")] = None,
    skip_first: Annotated[bool | None, typer.Option("--skip-first/--no-skip-first", help="Keep the first synaptic layer in full precision (QP-SNN).")] = None,
    skip_last: Annotated[bool | None, typer.Option("--skip-last/--no-skip-last", help="Keep the last synaptic layer in full precision (QP-SNN).")] = None,
    epochs: Annotated[int | None, typer.Option(help="QAT fine-tuning epochs (0 = post-training quantization only).")] = None,
    lr: Annotated[float | None, typer.Option(help="Fine-tuning learning rate.")] = None,
    distill: Annotated[str | None, typer.Option(help="Distil from the uncompressed checkpoint while fine-tuning: TEMPERATURE or TEMPERATURE:ALPHA, e.g. 4:0.5 (docs/lowbit.md).")] = None,
    finetune_opt: Annotated[list[str] | None, typer.Option("--finetune-opt", help="Fine-tuning option key=value, e.g. bn_reestimate=true, quant_init=mse, patience=1, max_epochs=6 (repeatable; docs/lowbit.md).")] = None,
    calibrate_batches: Annotated[int | None, typer.Option(help="Batches for PTQ BatchNorm re-estimation.")] = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Output folder.")] = None,
    device: Annotated[str | None, typer.Option()] = None,
    checkpoint_minutes: Annotated[float | None, typer.Option(help="Also checkpoint mid-epoch every this many minutes (default: after each epoch only).")] = None,
    tensorboard: Annotated[bool | None, typer.Option("--tensorboard/--no-tensorboard", help="Also log each epoch's metrics to TensorBoard (extra tensorboard).")] = None,
    precision: Annotated[str | None, typer.Option(help="Fine-tuning precision: fp32 (default, exact), bf16 or fp16 (mixed precision; fp16 needs CUDA).")] = None,
    memory_format: Annotated[str | None, typer.Option(help="Feature-map layout: contiguous (default; spikes bit-identical to the peers) or channels_last (faster conv nets on CPU, equal up to float rounding).")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    model_arg: ModelArgOpt = None,
    input_shape: InputShapeOpt = None,
    time_steps: TimeStepsOpt = None,
    input_layout: LayoutOpt = "TB",
    dataset: Annotated[str | None, typer.Option(help="With --model: the dataset to fine-tune "
                                                "and evaluate on.")] = None,
    limit: Annotated[int | None, typer.Option(help="With --model: use only the first N "
                                              "samples per split.")] = None,
) -> None:
    """Quantize and/or prune a trained checkpoint, fine-tune, and save OUT/final."""
    from spikelite.compress import CompressConfig, compress_checkpoint

    with user_errors():
        raw = read_yaml(config) if config is not None else {}
        if checkpoint is not None:
            raw["checkpoint"] = checkpoint
        spec = model_spec(model, weights, model_arg, input_shape, time_steps, input_layout)
        if spec is not None:
            raw["model"] = spec.model_dump()
            if dataset is None and "data" not in raw:
                raise SpikeliteError("--model needs --dataset: the data to fine-tune and "
                                     "evaluate it on")
        if dataset is not None:
            raw["data"] = data_spec(dataset, time_steps, limit=limit).model_dump()
        if "checkpoint" not in raw and "model" not in raw:
            raise SpikeliteError("name the checkpoint to compress (argument or `checkpoint:`), "
                                 "or give your network with --model module:function")
        scheme, nbits = _parse_quant(quant, bits)
        method, sparsity = _parse_prune(prune)
        opts = parse_key_values(quant_opt, "--quant-opt")
        ft_opts = parse_key_values(finetune_opt, "--finetune-opt")
        overrides: dict[str, Any] = {
            "quant.scheme": scheme, "quant.bits": nbits, "quant.skip_first": skip_first,
            "quant.skip_last": skip_last, "finetune.epochs": epochs, "finetune.lr": lr,
            "calibrate_batches": calibrate_batches, "out": out_dir, "device": device,
            "prune.method": method, "prune.sparsity": sparsity, "prune.scope": scope,
            "schedule": schedule, "prune_epochs": prune_epochs,
            "finetune.checkpoint_minutes": checkpoint_minutes,
            "finetune.tensorboard": tensorboard, "finetune.precision": precision, "finetune.memory_format": memory_format,
        }
        kd = _parse_distill(distill)
        if kd is not None:
            ft_raw = raw.get("finetune") if isinstance(raw.get("finetune"), dict) else {}
            kd_raw = ft_raw.get("distill") if isinstance(ft_raw.get("distill"), dict) else {}
            overrides["finetune.distill"] = {**kd_raw, **kd}
        overrides.update({f"finetune.{k}": v for k, v in ft_opts.items()})
        if opts:
            quant_raw = raw.get("quant") if isinstance(raw.get("quant"), dict) else {}
            overrides["quant.options"] = {**(quant_raw.get("options") or {}), **opts}
        # flags complete the job file before it is validated as a whole
        source = f"{config} with command-line options" if config else "command-line options"
        cfg = parse_record(set_dotted(raw, overrides), source, CompressConfig)
        res = compress_checkpoint(cfg, progress=progress, console=err)
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "compress.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
        ptq = f"{res.ptq_accuracy:.4f}" if res.ptq_accuracy is not None else "-"
        out.print(
            f"full precision {res.fp_accuracy:.4f} → quantized (no training) {ptq} → "
            f"fine-tuned {res.accuracy:.4f} (best {res.best_accuracy:.4f}); "
            f"checkpoint: {res.checkpoint}"
        )
