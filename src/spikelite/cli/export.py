"""``spikelite export CHECKPOINT --out model.nir`` (typer command function)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spikelite.cli.console import err, user_errors
from spikelite.errors import SpikeliteError
from spikelite.export.nir import DEFAULT_DT
from spikelite.sweep.rundir import is_run_dir, point_checkpoint


def export_command(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder (with model.safetensors), "
                                               "or a sweep folder with --point.")],
    out: Annotated[Path, typer.Option("--out", help="The .nir file (or package folder) to "
                                      "write.")],
    to: Annotated[str, typer.Option(help="nir (a NIR graph file) or package (integer weights "
                                    "+ per-channel gains folded into thresholds).")] = "nir",
    dt: Annotated[float, typer.Option(help="Time step the NIR time constants refer to "
                                      "(snnTorch's importer assumes 1e-4).")] = DEFAULT_DT,
    lif_gain: Annotated[str, typer.Option(help="Where a LIF's input gain 1/(1−β) goes: r "
                                          "(r = τ/dt; snnTorch, SpikingJelly) or weights "
                                          "(r = 1, folded into the layer before; also "
                                          "Norse).")] = "r",
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
) -> None:
    """Export a checkpoint (quantized/pruned ones baked) to NIR or an integer package."""
    with user_errors():
        from spikelite.quant import bake
        from spikelite.train import load_model

        if to not in ("nir", "package"):
            raise SpikeliteError(f"--to must be nir or package, got {to!r}")
        if is_run_dir(checkpoint):
            checkpoint = point_checkpoint(checkpoint, point)
        elif point is not None:
            raise SpikeliteError(f"--point needs a sweep folder; '{checkpoint}' holds no "
                                 "results.sqlite")
        model, cfg = load_model(checkpoint)
        plain, sidecars = bake(model)
        plain.eval()
        if to == "nir":
            from spikelite.export.nir import check_roundtrip, to_nir, write_nir

            meta = {"spikelite.data": json.dumps(cfg["data"])} if cfg.get("data") else {}
            graph = to_nir(plain, dt=dt, sidecars=sidecars,
                           allow_reset_mismatch=allow_reset_mismatch, metadata=meta,
                           lif_gain=lif_gain)
            write_nir(graph, out)
            msg = f"wrote {out} ({len(graph.nodes)} nodes, dt={dt:g})"
            agree = check_roundtrip(plain, out) if check else None
        else:
            from spikelite.export.package import check_package, export_package

            manifest = export_package(plain, sidecars, out, pack=pack,
                                      extra={"source": {"checkpoint": str(checkpoint),
                                                        "model": cfg.get("model"),
                                                        "data": cfg.get("data")}})
            kb = manifest["packed_weight_bits"] / 8 / 1024
            msg = (f"wrote {out}/manifest.json and tensors.safetensors "
                   f"({len(manifest['layers'])} layers; weights {kb:.1f} KiB at their bit "
                   "widths)")
            agree = check_package(plain, out) if check else None
        if agree is not None:
            msg += f"; read back: {agree:.4%} of output values equal the checkpoint's"
    err.print(msg)
