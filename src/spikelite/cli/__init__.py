"""The ``spikelite`` command line: every command, one error wrapper, one console.

``spikelite.cli:app`` is the typer application (the ``spikelite`` script); each command
lives in the module of its subject (:mod:`.train`, :mod:`.compress`, :mod:`.profile`,
:mod:`.export`, :mod:`.sweep`, :mod:`.catalog`) and runs inside
:func:`spikelite.cli.console.user_errors`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from spikelite.cli import catalog, compress, console, export, profile, sweep, train
from spikelite.core import memory

app = typer.Typer(
    help="spikelite: train, compress and measure spiking neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option(
        "--debug", help="On an error, show the full traceback instead of one line (also: "
        "environment variable SPIKELITE_DEBUG=1).")] = False,
) -> None:
    """spikelite: train, compress and measure spiking neural networks."""
    console.set_debug(debug)
    memory.retain_unless_disabled()  # SPIKELITE_RETAIN_MEMORY=0: off


app.command("train")(train.train_command)
app.command("eval")(train.eval_command)
app.command("compress")(compress.compress_command)
app.command("quantizers")(catalog.quantizers_command)
app.command("models")(catalog.models_command)
app.command("datasets")(catalog.datasets_command)
app.command("schedules")(catalog.schedules_command)
app.command("profile")(profile.profile_command)
app.command("export")(export.export_command)
app.command("demo")(sweep.demo_command)
app.command("sweep")(sweep.sweep_command)
app.command("report")(sweep.report_command)
app.command("pareto")(sweep.pareto_command)
app.command("recipes")(sweep.recipes_command)


def main() -> None:
    app()


__all__ = ["app", "main"]
