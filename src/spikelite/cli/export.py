"""``spikelite export CHECKPOINT --out model.nir`` (typer command function).

The targets (``--to``) come from :data:`spikelite.export.EXPORT_TARGETS`; each flag goes to
the targets whose ``export`` takes it as an option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spikelite.cli.console import err, user_errors
from spikelite.cli.usermodel import (
    InputShapeOpt,
    LayoutOpt,
    ModelArgOpt,
    ModelOpt,
    TimeStepsOpt,
    WeightsOpt,
    model_spec,
)
from spikelite.errors import SpikeliteError
from spikelite.export import EXPORT_TARGETS, export_model
from spikelite.export.nir import DEFAULT_DT
from spikelite.export.peers import PEERS
from spikelite.sweep.rundir import is_run_dir, point_checkpoint


def _either(words: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"


_TO_HELP = _either([f"{n} ({EXPORT_TARGETS.get(n).description})"
                    for n in EXPORT_TARGETS.names()]) + "."


def export_command(
    out: Annotated[Path, typer.Option("--out", help="The .nir file (or package folder) to "
                                      "write.")],
    checkpoint: Annotated[Path | None, typer.Argument(
        help="Checkpoint folder (with model.safetensors), or a sweep folder with --point (or "
        "use --model).")] = None,
    to: Annotated[str, typer.Option(help=_TO_HELP)] = "nir",
    dt: Annotated[float, typer.Option(help="Time step the NIR time constants refer to "
                                      "(snnTorch's importer assumes 1e-4).")] = DEFAULT_DT,
    lif_gain: Annotated[str | None, typer.Option(
        help="Where a LIF's input gain 1/(1−β) goes: r (r = τ/dt; snnTorch, SpikingJelly) or "
        "weights (r = 1, folded into the layer before; also Norse). Default: r, or what "
        "--for needs.")] = None,
    for_peer: Annotated[str | None, typer.Option(
        "--for", help=f"Write NIR for one library's importer ({', '.join(PEERS)}): the node "
        "patterns it loads exactly (a max-pool as its pool node + a neuron that ORs the "
        "window, a batch-safe flatten); then load the file there and compare, when it is "
        "installed.")] = None,
    allow_reset_mismatch: Annotated[bool, typer.Option(
        "--allow-reset-mismatch", help="Export subtract/none-reset neurons anyway (NIR "
        "resets to v_reset; the true reset is kept in the node metadata only).")] = False,
    pack: Annotated[bool, typer.Option("--pack", help="Package: store quantized weights "
                                       "bit-packed at their bit width.")] = False,
    point: Annotated[str | None, typer.Option(help="With a sweep folder: the point to export "
                                              "(its name in results.csv).")] = None,
    check: Annotated[bool, typer.Option(help="Read the file back, rebuild the model and "
                                        "compare it with the checkpoint on random spikes.")]
    = True,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    model_arg: ModelArgOpt = None,
    input_shape: InputShapeOpt = None,
    time_steps: TimeStepsOpt = None,
    input_layout: LayoutOpt = "TB",
    store: Annotated[str | None, typer.Option(help="With a sweep folder: the shared results "
                                              "store (postgresql://…) its rows are in.")] = None,
    artifacts: Annotated[Path | None, typer.Option(help="With a sweep folder: where its "
                                                   "artifacts are (default: the recipe's "
                                                   "`artifacts:` or the folder).")] = None,
) -> None:
    """Export a checkpoint (quantized/pruned ones baked) to NIR or an integer package."""
    with user_errors():
        from spikelite.quant import bake
        from spikelite.train import load_model

        if to not in EXPORT_TARGETS:
            raise SpikeliteError(f"--to must be {_either(EXPORT_TARGETS.names())}, got {to!r}")
        spec = model_spec(model, weights, model_arg, input_shape, time_steps, input_layout)
        if spec is not None:
            from spikelite.train.run import open_model

            net, cfg = open_model(checkpoint, model=spec)
            source = str(spec.checkpoint or spec.factory)
        elif checkpoint is None:
            raise SpikeliteError("name a checkpoint folder, or give --model module:function")
        else:
            if store is not None or is_run_dir(checkpoint):
                checkpoint = point_checkpoint(checkpoint, point, store=store,
                                              artifacts=artifacts)
            elif point is not None:
                raise SpikeliteError(f"--point needs a sweep folder; '{checkpoint}' holds no "
                                     "results.sqlite")
            net, cfg = load_model(checkpoint)
            source = str(checkpoint)
        plain, sidecars = bake(net)
        plain.eval()
        flags = {"dt": dt, "lif_gain": lif_gain, "allow_reset_mismatch": allow_reset_mismatch,
                 "pack": pack, "peer": for_peer}
        takes = EXPORT_TARGETS.get(to).options()
        if for_peer is not None and "peer" not in takes:
            raise SpikeliteError(f"--for applies to --to nir, not --to {to}")
        done = export_model(plain, sidecars, out, to=to, check=check,
                            source={"checkpoint": source, "model": cfg.get("model"),
                                    "data": cfg.get("data")},
                            notify=lambda line: err.print(f"note: {line}", markup=False,
                                                          highlight=False),
                            **{k: v for k, v in flags.items() if k in takes})
        msg = done.summary
        if done.agreement is not None:
            msg += f"; read back: {done.agreement:.4%} of output values equal the checkpoint's"
    err.print(msg)
