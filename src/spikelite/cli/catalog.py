"""The listings: ``spikelite models``, ``datasets``, ``quantizers``, ``schedules``."""

from __future__ import annotations

from rich.table import Table

from spikelite.cli.console import out


def quantizers_command() -> None:
    """List the weight quantizers."""
    from spikelite.quant import QUANTIZERS

    for name in QUANTIZERS.names():
        doc = (QUANTIZERS.get(name).__doc__ or "").strip().splitlines()
        out.print(f"[bold]{name}[/]  {doc[0] if doc else ''}")


def models_command() -> None:
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


def datasets_command() -> None:
    """List the datasets (embedded ones need no download)."""
    from spikelite.data import DATASETS

    for name in DATASETS.names():
        doc = (DATASETS.get(name).__doc__ or "").strip().splitlines()
        out.print(f"[bold]{name}[/]  {doc[0] if doc else ''}")


def schedules_command() -> None:
    """List the compression schedules."""
    from spikelite.compress import SCHEDULES

    for name in SCHEDULES.names():
        out.print(f"[bold]{name}[/]  {SCHEDULES.get(name).summary}")
