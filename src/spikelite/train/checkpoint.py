"""Checkpoints that never unpickle: safetensors weights + JSON config (+ trainer state).

A checkpoint is a directory::

    model.safetensors   the model's state_dict (weights and buffers)
    config.json         how to rebuild it: {"model": {"name", "kwargs"}, "data": {...}, ...}
    trainer.pt          optimizer/scheduler/RNG state for resuming (plain tensors and
                        containers; loaded with ``torch.load(weights_only=True)``)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from spikelite.core.checks import CORRUPT_FIX, check_tensors
from spikelite.errors import SpikeliteError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TRAINER = "trainer.pt"


def _atomic_dir(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: dict[str, Any],
    trainer_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically (a crash never leaves a half-written one)."""
    path = Path(path)
    tmp = _atomic_dir(path)
    try:
        state = {k: v.detach().contiguous().cpu().clone() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True, default=str))
        if trainer_state is not None:
            torch.save(trainer_state, tmp / TRAINER)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    cfg = path / CONFIG
    if not cfg.is_file():
        raise SpikeliteError(
            f"'{path}' is not a spikelite checkpoint: {CONFIG} is missing. A checkpoint is a "
            f"directory with {WEIGHTS} and {CONFIG}, as written by `spikelite train`"
        )
    return json.loads(cfg.read_text())


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load ``model.safetensors`` into ``model`` (shape mismatches raise a clear error;
    a NaN/infinite weight or a negative BatchNorm variance is refused, naming the tensor)."""
    file = Path(path) / WEIGHTS
    if not file.is_file():
        raise SpikeliteError(f"checkpoint '{path}' has no {WEIGHTS}")
    state = load_file(str(file))
    check_tensors(state, f"checkpoint '{path}'", CORRUPT_FIX)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise SpikeliteError(
            f"the weights in '{file}' do not fit the model rebuilt from {CONFIG}: {exc}"
        ) from None


def load_trainer_state(path: str | Path) -> dict[str, Any] | None:
    file = Path(path) / TRAINER
    if not file.is_file():
        return None
    return torch.load(file, map_location="cpu", weights_only=True)


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model named in ``config.json`` (with its quantizers, if any) and load
    its weights."""
    from spikelite.models import create

    cfg = read_config(path)
    spec = cfg.get("model")
    if not isinstance(spec, dict) or "name" not in spec:
        raise SpikeliteError(f"{Path(path) / CONFIG} has no 'model' entry with a 'name'")
    model = create(spec["name"], **spec.get("kwargs", {}))
    if cfg.get("parametrizations"):  # a compressed checkpoint: quantizers and masks
        from spikelite.quant.structure import rebuild_

        rebuild_(model, cfg["parametrizations"])
    elif cfg.get("quant"):
        from spikelite.quant import apply_quant_spec_

        apply_quant_spec_(model, cfg["quant"])
    _restore_index_shortcuts_(model, path)
    load_weights(model, path)
    return model, cfg


def _restore_index_shortcuts_(model: nn.Module, path: str | Path) -> None:
    """Channel surgery on a residual net re-maps option-A shortcuts as
    :class:`~spikelite.prune.surgery.IndexShortcut` (a persistent ``index`` buffer); the
    zoo rebuilds them as even-padding ``PadShortcut``. Put the stored maps back so such a
    checkpoint (a pruned ResNet20 from a sweep) loads exactly."""
    file = Path(path) / WEIGHTS
    if not file.is_file():
        return
    from safetensors import safe_open

    from spikelite.models import PadShortcut
    from spikelite.prune.surgery import IndexShortcut

    with safe_open(str(file), framework="pt") as f:
        keys = [k for k in f.keys() if k.endswith(".index")]  # noqa: SIM118
        if not keys:
            return
        modules = dict(model.named_modules())
        for key in keys:
            name = key[: -len(".index")]
            old = modules.get(name)
            if type(old) is not PadShortcut:
                continue
            parent_name, _, attr = name.rpartition(".")
            new = IndexShortcut(f.get_tensor(key), old.out_channels, old.stride)
            setattr(modules[parent_name] if parent_name else model, attr, new)
