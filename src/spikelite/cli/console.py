"""The CLI's one console pair and one error wrapper.

Every command runs inside :func:`user_errors`: every failure ends in one line ``error: …``
on stderr and exit code 2: spikelite's own errors (and a missing optional extra) with their
message, an operating-system error (a full disk, a read-only folder) with the path and the
fix, anything else with its type and a request to report it. ``spikelite --debug`` or the
environment variable ``SPIKELITE_DEBUG=1`` lets the exception through with its traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import click
import typer
from rich.console import Console
from rich.markup import escape

from spikelite.errors import MissingExtraError, SpikeliteError, os_failure

#: messages, progress and errors
err = Console(stderr=True, soft_wrap=True)
#: results; piped or captured output gets a wide table instead of rich's 80 columns
out = Console(soft_wrap=True) if sys.stdout.isatty() else Console(soft_wrap=True, width=140)


#: set by ``spikelite --debug`` (the app's callback) for the command being run
_debug = False


def set_debug(flag: bool) -> None:
    """Show tracebacks (``--debug``) for this invocation, or not."""
    global _debug
    _debug = bool(flag)


def debugging() -> bool:
    """Whether errors keep their traceback: ``--debug`` or ``SPIKELITE_DEBUG=1``."""
    env = os.environ.get("SPIKELITE_DEBUG", "").strip().lower()
    return _debug or env in ("1", "true", "yes", "on")


#: torch's advice for a refused ``torch.load`` — never shown: spikelite never unpickles
_UNSAFE_ADVICE = ("weights_only", "weights only load failed")


def error_message(exc: BaseException) -> str:
    """The line (or, for a validation error, the lines) the CLI prints for ``exc``."""
    if isinstance(exc, SpikeliteError | MissingExtraError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.errno is not None:
        text = str(os_failure(exc))
    else:
        detail = " ".join(str(exc).split()) or "no message"
        if any(w in detail.lower() for w in _UNSAFE_ADVICE):
            detail = "a file could not be read as plain tensors (it was not unpickled)"
        text = (f"unexpected {type(exc).__name__}: {detail[:500]}. This input is not checked "
                "yet (or spikelite has a bug): rerun with --debug (or SPIKELITE_DEBUG=1) for "
                "the traceback and report it")
    if any(w in text.lower() for w in _UNSAFE_ADVICE):  # never advise unpickling
        text = "\n".join(line for line in text.splitlines()
                         if not any(w in line.lower() for w in _UNSAFE_ADVICE))
    return text


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn every failure into a one-line message and exit code 2 (with ``--debug`` or
    ``SPIKELITE_DEBUG=1``: the exception and its traceback)."""
    try:
        yield
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except Exception as exc:
        if debugging():
            raise
        err.print(f"[bold red]error:[/] {escape(error_message(exc))}")
        raise typer.Exit(2) from None


def wide_out(width: int = 200) -> Console:
    """A results console at the terminal's width, or ``width`` columns when piped."""
    return Console(soft_wrap=True) if sys.stdout.isatty() else Console(soft_wrap=True,
                                                                        width=width)
