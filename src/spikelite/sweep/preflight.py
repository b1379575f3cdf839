"""Checks run before a sweep does any work: everything that can be known without training.

:meth:`Recipe.check <spikelite.sweep.recipe.Recipe.check>` covers what the recipe alone
decides (empty grids, duplicate names, quantizer bit widths, objectives, the search space
and storage URL). :func:`preflight` adds what needs the data or the model: it loads the
data (a missing data root fails here), builds the recipe's model at the data's shape (or
loads the baseline checkpoint) and checks every layer name a point or regularizer uses,
channel-pruning ratios against the model's convs, the device, the optional extras and the
output folder. Nothing is written and nothing is trained: a bad recipe fails in seconds,
not after the baseline has trained.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from spikelite.errors import SpikeliteError, require
from spikelite.sweep.recipe import PointSpec, Recipe, check_storage_url


def preflight(recipe: Recipe, *, storage: str | None = None) -> None:
    """Check ``recipe`` (and a search ``storage`` URL given apart from it) before any work;
    raises :class:`SpikeliteError` naming the problem and the fix."""
    recipe.check()
    if recipe.search is not None:
        require("optuna", "search", "the recipe's `search:` section (multi-objective search)")
    if storage is not None:
        check_storage_url(storage)
    check_out_dir(Path(recipe.out))
    _check_device(recipe.device)
    _check_devices(recipe)
    model = _model(recipe)
    layers = _synaptic_names(model)
    if recipe.baseline.regularizer is not None:
        _check_regularizer(model, recipe.baseline.regularizer, "baseline.regularizer")
    for point in recipe.expand():
        try:
            check_point(model, layers, point)
        except SpikeliteError as exc:
            raise SpikeliteError(f"point '{point.label}': {exc}") from None
    if recipe.store is not None:  # the results store answers (server, login, database)
        check_store_opens(recipe)
    url = storage or (recipe.search.storage if recipe.search is not None else None)
    if url is not None:  # last: opening it creates the study tables
        check_storage_opens(url)


def check_store_opens(recipe: Recipe) -> None:
    """Open the recipe's results store once: a missing driver (extra ``postgres``), an
    unreachable server, a refused login or an unknown database fail here, in one line."""
    from spikelite.sweep.shared import store_for

    store_for(recipe).close()


def open_storage(optuna: Any, url: str) -> Any:
    """Optuna storage for ``url``; SQLite connections wait up to 60 s for a lock (the
    default 5 s is too short when several workers write trials on a busy machine)."""
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    return optuna.storages.RDBStorage(psycopg3(url), engine_kwargs=kwargs)


def psycopg3(url: str) -> str:
    """``postgresql://`` / ``postgres://`` → ``postgresql+psycopg://`` (psycopg 3, extra
    ``postgres``; SQLAlchemy 2.0 would pick psycopg2 for a bare ``postgresql://``)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def check_storage_opens(url: str) -> None:
    """Open the Optuna storage at ``url`` once (a missing database driver, an unreachable
    server or an SQLite path in a missing folder fail here, not after the baseline)."""
    optuna = require("optuna", "search", "multi-objective search")
    if psycopg3(url).startswith("postgresql+psycopg://"):
        from spikelite.sweep.storeurl import require_driver

        require_driver()
    try:
        open_storage(optuna, url)
    except ImportError as exc:
        raise SpikeliteError(f"the search storage {url!r} needs a database driver that is "
                             f"not installed ({exc}); install it or use a sqlite:/// URL"
                             ) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpikeliteError(f"cannot open the search storage {url!r}: {first}") from None


def check_out_dir(out: Path) -> None:
    """The sweep folder can be created and written: not an existing file, not read-only."""
    if out.exists() and not out.is_dir():
        raise SpikeliteError(f"the sweep folder '{out}' is an existing file; choose another "
                             "--out (or recipe `out:`)")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise SpikeliteError(f"cannot create the sweep folder '{out}': '{probe}' is a file")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise SpikeliteError(f"cannot write the sweep folder '{out}': '{probe}' is not "
                             "writable; choose another --out (or recipe `out:`)")


def _check_device(device: str) -> None:
    from spikelite.train.engine import resolve_device

    try:
        resolve_device(device)
    except SpikeliteError:
        raise
    except (RuntimeError, ValueError, TypeError) as exc:
        raise SpikeliteError(f"device {device!r} is not a torch device ({exc}); use "
                             "'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'") from None


def _check_devices(recipe: Recipe) -> None:
    """Every device of ``devices:`` exists, and each can train at the recipe's precisions."""
    from spikelite.sweep.devices import check_devices
    from spikelite.train.engine import resolve_device
    from spikelite.train.precision import check_precision

    devices = recipe.devices or [recipe.device]
    if recipe.devices:
        check_devices(recipe.devices)
    specs = [recipe.baseline.train, recipe.finetune,
             *(p.finetune for p in recipe.expand() if p.finetune is not None)]
    for d in devices:
        dev = resolve_device(d)
        for precision in sorted({s.precision for s in specs}):
            check_precision(precision, dev)


def _model(recipe: Recipe) -> nn.Module:
    """The baseline's architecture: the checkpoint's model, or the recipe's model built
    at the data's shape (untrained; the data is loaded, so a missing root fails here)."""
    from spikelite.data.spec import load_data

    train, _ = load_data(recipe.data)
    if recipe.baseline.checkpoint is not None:
        from spikelite.train import load_model

        model, _ = load_model(recipe.baseline.checkpoint)
        return model
    from spikelite.models.spec import build_model

    try:
        return build_model(recipe.model, train)
    except SpikeliteError as exc:
        raise SpikeliteError(f"model: {exc}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise SpikeliteError(f"model '{recipe.model.label}' cannot be built with kwargs "
                             f"{recipe.model.kwargs} for {recipe.data.name}: {exc}") from None


def _synaptic_names(model: nn.Module) -> list[str]:
    from spikelite.core.synaptic import synaptic_layers

    return [n for n, _ in synaptic_layers(model)]


def _unknown(names: Any, layers: list[str], key: str) -> None:
    unknown = sorted(set(names) - set(layers))
    if unknown:
        raise SpikeliteError(f"{key} names unknown layers {unknown}; the model's synaptic "
                             f"layers are: {', '.join(layers)}")


def _check_regularizer(model: nn.Module, spec: Any, key: str) -> None:
    from spikelite.regularize import regularizer_from_spec

    try:
        regularizer_from_spec(model, spec).remove()
    except SpikeliteError as exc:
        raise SpikeliteError(f"{key}: {exc}") from None


def check_point(model: nn.Module, layers: list[str], point: PointSpec) -> None:
    """The layer names of ``point`` exist in ``model`` (``layer_bits``, unstructured
    ``layer_sparsity``, channel-pruning ratios, regularizer layers)."""
    _unknown(point.layer_bits, layers, "layer_bits")
    if point.channel and point.prunes:
        _check_channels(model, point)
    elif point.layer_sparsity:
        _unknown(point.layer_sparsity, layers, "layer_sparsity")
    if point.regularizer is not None:
        _check_regularizer(model, point.regularizer, "regularizer")


def _check_channels(model: nn.Module, point: PointSpec) -> None:
    """Plan the channel pruning with placeholder scores: every ratio name, group and
    blocked conv is checked as :func:`~spikelite.prune.plan_channel_pruning` will."""
    import torch

    from spikelite.prune import plan_channel_pruning
    from spikelite.prune.graph import trace_channels

    ratios = dict(point.layer_sparsity) or point.sparsity
    try:
        graph = trace_channels(model)
        if not graph.convs:
            raise SpikeliteError(graph.no_convs())
        scores = {n: torch.zeros(int(m.out_channels)) for n, m in graph.convs.items()}
        plan_channel_pruning(model, ratios, "l1", scores=scores)
    except SpikeliteError as exc:
        key = "layer_sparsity" if point.layer_sparsity else "sparsity"
        raise SpikeliteError(f"{key}: {exc}") from None
