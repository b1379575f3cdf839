"""The CLI's one console pair and one error wrapper.

Every command runs inside :func:`user_errors`: spikelite's own errors (and a missing
optional extra) end in one line ``error: …`` on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from spikelite.errors import MissingExtraError, SpikeliteError

#: messages, progress and errors
err = Console(stderr=True, soft_wrap=True)
#: results; piped or captured output gets a wide table instead of rich's 80 columns
out = Console(soft_wrap=True) if sys.stdout.isatty() else Console(soft_wrap=True, width=140)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn spikelite's own errors into a one-line message and exit code 2."""
    try:
        yield
    except (SpikeliteError, MissingExtraError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None


def wide_out(width: int = 200) -> Console:
    """A results console at the terminal's width, or ``width`` columns when piped."""
    return Console(soft_wrap=True) if sys.stdout.isatty() else Console(soft_wrap=True,
                                                                        width=width)
