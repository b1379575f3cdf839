"""The ``spikelite`` command line: train, eval, compress, profile, sweep, report, pareto,
demo and the listings."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from spikelite.config import parse_key_values
from spikelite.errors import MissingExtraError, SpikeliteError

app = typer.Typer(
    help="spikelite: train, compress and measure spiking neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn spikelite's own errors into a one-line message and exit code 2."""
    try:
        yield
    except (SpikeliteError, MissingExtraError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None


@app.command()
def train(
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
    regularizer: Annotated[str | None, typer.Option(help="Activity regularizer NAME:WEIGHT, e.g. hoyer:1e-3 (l1, l2, hoyer, hoyer_square, synops, target_rate).")] = None,
    regularizer_source: Annotated[str | None, typer.Option(help="What the regularizer sees: spikes (default) or membrane (pre-reset membrane; l1, l2, hoyer, hoyer_square).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train a model; checkpoints go to OUT/best and OUT/last."""
    from spikelite.config import RunConfig, load_config, merge
    from spikelite.runner import run_training

    with _user_errors():
        cfg = load_config(config) if config is not None else RunConfig()
        overrides: dict[str, Any] = {
            "model.name": model, "data.name": dataset, "data.root": root,
            "data.time_steps": time_steps, "data.encoding": encoding, "data.limit": limit,
            "train.epochs": epochs, "train.batch_size": batch_size, "train.lr": lr,
            "train.optimizer": optimizer, "train.loss": loss, "train.seed": seed,
            "out": out_dir, "device": device,
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
        res = run_training(cfg, resume=resume, progress=progress, console=err)
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "run.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
        out.print(
            f"final test accuracy {res.accuracy:.4f} (best {res.best_accuracy:.4f}); "
            f"checkpoint: {res.checkpoint}"
        )


@app.command("eval")
def evaluate_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder (with model.safetensors).")],
    dataset: Annotated[str | None, typer.Option(help="Override the dataset in the checkpoint.")] = None,
    root: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int | None, typer.Option()] = None,
    device: Annotated[str, typer.Option()] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate a checkpoint on the test split of its dataset."""
    from spikelite.config import DataSpec
    from spikelite.runner import load_data
    from spikelite.train import evaluate, load_model

    with _user_errors():
        model, cfg = load_model(checkpoint)
        data = dict(cfg.get("data") or {})
        for k, v in {"name": dataset, "root": root, "limit": limit}.items():
            if v is not None:
                data[k] = v
        if "name" not in data:
            raise SpikeliteError("the checkpoint names no dataset; pass --dataset")
        _, test = load_data(DataSpec(**data))
        res = evaluate(model, test, loss=cfg.get("train", {}).get("loss", "ce"), device=device)
        res["samples"] = len(test)
        if json_out:
            out.print_json(json.dumps(res))
        else:
            out.print(f"test accuracy {res['accuracy']:.4f}  loss {res['loss']:.4f}  "
                      f"({len(test)} samples of '{data['name']}')")


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


@app.command()
def compress(
    checkpoint: Annotated[str | None, typer.Argument(help="Trained checkpoint folder.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML compression recipe.")] = None,
    quant: Annotated[str | None, typer.Option(help="Quantizer, e.g. rescaw or rescaw:4 (see `spikelite quantizers`).")] = None,
    bits: Annotated[int | None, typer.Option(help="Weight bit width.")] = None,
    quant_opt: Annotated[list[str] | None, typer.Option("--quant-opt", help="Quantizer option key=value, e.g. gamma=max (repeatable).")] = None,
    prune: Annotated[str | None, typer.Option(help="Unstructured pruning: SPARSITY or METHOD:SPARSITY, e.g. magnitude:0.8 or random:0.5.")] = None,
    scope: Annotated[str | None, typer.Option(help="Pruning scope: global (one threshold, Schaefer) or layer.")] = None,
    schedule: Annotated[str | None, typer.Option(help="With pruning: joint, cumulative or isolation (Schaefer et al.).")] = None,
    prune_epochs: Annotated[int | None, typer.Option(help="Cumulative: fine-tuning epochs after pruning, before quantizing.")] = None,
    skip_first: Annotated[bool | None, typer.Option("--skip-first/--no-skip-first", help="Keep the first synaptic layer in full precision (QP-SNN).")] = None,
    skip_last: Annotated[bool | None, typer.Option("--skip-last/--no-skip-last", help="Keep the last synaptic layer in full precision (QP-SNN).")] = None,
    epochs: Annotated[int | None, typer.Option(help="QAT fine-tuning epochs (0 = post-training quantization only).")] = None,
    lr: Annotated[float | None, typer.Option(help="Fine-tuning learning rate.")] = None,
    calibrate_batches: Annotated[int | None, typer.Option(help="Batches for PTQ BatchNorm re-estimation.")] = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Output folder.")] = None,
    device: Annotated[str | None, typer.Option()] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Quantize and/or prune a trained checkpoint, fine-tune, and save OUT/final."""
    from spikelite.compress import compress as run_compress
    from spikelite.config import CompressConfig, merge, parse_config, read_yaml

    with _user_errors():
        raw = read_yaml(config) if config is not None else {}
        if checkpoint is not None:
            raw["checkpoint"] = checkpoint
        if "checkpoint" not in raw:
            raise SpikeliteError("name the checkpoint to compress (argument or `checkpoint:`)")
        cfg = parse_config(raw, str(config or "command line"), CompressConfig)
        scheme, nbits = _parse_quant(quant, bits)
        method, sparsity = _parse_prune(prune)
        opts = parse_key_values(quant_opt, "--quant-opt")
        overrides: dict[str, Any] = {
            "quant.scheme": scheme, "quant.bits": nbits, "quant.skip_first": skip_first,
            "quant.skip_last": skip_last, "finetune.epochs": epochs, "finetune.lr": lr,
            "calibrate_batches": calibrate_batches, "out": out_dir, "device": device,
            "prune.method": method, "prune.sparsity": sparsity, "prune.scope": scope,
            "schedule": schedule, "prune_epochs": prune_epochs,
        }
        if opts:
            overrides["quant.options"] = {**(cfg.quant.options if cfg.quant else {}), **opts}
        cfg = merge(cfg, overrides)
        res = run_compress(cfg, progress=progress, console=err)
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "compress.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
        ptq = f"{res.ptq_accuracy:.4f}" if res.ptq_accuracy is not None else "-"
        out.print(
            f"full precision {res.fp_accuracy:.4f} → quantized (no training) {ptq} → "
            f"fine-tuned {res.accuracy:.4f} (best {res.best_accuracy:.4f}); "
            f"checkpoint: {res.checkpoint}"
        )


@app.command()
def quantizers() -> None:
    """List the weight quantizers."""
    from spikelite.quant import QUANTIZERS

    for name in QUANTIZERS.names():
        doc = (QUANTIZERS.get(name).__doc__ or "").strip().splitlines()
        out.print(f"[bold]{name}[/]  {doc[0] if doc else ''}")


@app.command()
def models() -> None:
    """List the model zoo with input shapes and parameter counts."""
    from spikelite.models import create, list_models

    table = Table(title="spikelite models")
    for col in ("name", "input [per step]", "classes", "parameters", "description"):
        table.add_column(col)
    for name in list_models():
        m = create(name)
        doc = (m.__doc__ or type(m).__doc__ or "").strip().splitlines()
        table.add_row(
            name, str(tuple(getattr(m, "input_shape", ()))), str(getattr(m, "num_classes", "")),
            f"{sum(p.numel() for p in m.parameters()):,}", doc[0] if doc else "",
        )
    out.print(table)


@app.command()
def datasets() -> None:
    """List the datasets (embedded ones need no download)."""
    from spikelite.data import DATASETS

    for name in DATASETS.names():
        doc = (DATASETS.get(name).__doc__ or "").strip().splitlines()
        out.print(f"[bold]{name}[/]  {doc[0] if doc else ''}")


def _register_commands() -> None:
    from spikelite.export.cli import export_command
    from spikelite.hardware.cli import profile_command
    from spikelite.sweep import cli as sweep_cli

    app.command("profile")(profile_command)
    app.command("export")(export_command)
    app.command("demo")(sweep_cli.demo_command)
    app.command("sweep")(sweep_cli.sweep_command)
    app.command("report")(sweep_cli.report_command)
    app.command("pareto")(sweep_cli.pareto_command)
    app.command("recipes")(sweep_cli.recipes_command)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
