"""Checkpoints that never unpickle: safetensors weights + JSON config (+ trainer state).

A checkpoint is a directory::

    model.safetensors   the model's state_dict (weights and buffers)
    config.json         how to rebuild it: {"model": {"name", "kwargs"}, "data": {...}, ...}
    trainer.pt          optimizer/scheduler/RNG state for resuming (plain tensors and
                        containers; loaded with ``torch.load(weights_only=True)``)

Reading checks every file at this boundary: a truncated, empty or tampered
``model.safetensors``, a ``config.json`` that is not a JSON object, weights that do not fit
the model rebuilt from it (the first mismatching tensor is named) and a damaged
``trainer.pt`` each raise a :class:`SpikeliteError` naming the file and the fix. Writing
replaces a checkpoint folder as a whole, so it refuses a folder that holds files spikelite
did not write (they are never deleted).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from spikelite.core.checks import CORRUPT_FIX, check_tensors
from spikelite.errors import SpikeliteError, os_failure

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TRAINER = "trainer.pt"
#: the files of a checkpoint folder, all written by :func:`save_checkpoint`
OWN_FILES = (WEIGHTS, CONFIG, TRAINER)
#: the keys :func:`spikelite.train.fit` stores in ``trainer.pt``
TRAINER_KEYS = ("optimizer", "scheduler", "rng", "epoch", "history", "best_accuracy",
                "best_epoch")


class UnreadableTrainerState(SpikeliteError, pickle.UnpicklingError):
    """A ``trainer.pt`` that cannot be read as plain tensors and containers (also an
    :class:`pickle.UnpicklingError`, the type ``torch.load`` raises for it)."""


def foreign_files(path: Path) -> list[str]:
    """The names in the checkpoint folder ``path`` that spikelite did not write."""
    return sorted(p.name for p in path.iterdir() if p.name not in OWN_FILES)


def check_replaceable(path: str | Path) -> None:
    """Refuse to replace ``path`` when it is not a checkpoint folder or holds files
    spikelite did not write (replacing it would delete them)."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    if not path.is_dir():
        raise SpikeliteError(f"'{path}' exists and is not a checkpoint folder; remove it or "
                             "choose another output folder")
    foreign = foreign_files(path)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        raise SpikeliteError(
            f"'{path}' holds files spikelite did not write ({shown}); a checkpoint folder is "
            "replaced as a whole, so move them elsewhere or choose another output folder")


def _atomic_dir(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: dict[str, Any],
    trainer_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically (a crash never leaves a half-written one).
    An existing folder is replaced only when it holds nothing but a checkpoint's files
    (:func:`check_replaceable`); an operating-system error (a full disk, a read-only
    folder) raises a :class:`SpikeliteError` naming the path."""
    path = Path(path)
    check_replaceable(path)
    try:
        tmp = _atomic_dir(path)
    except OSError as exc:
        raise os_failure(exc, path) from None
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
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise os_failure(exc, path) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _damaged(file: Path, what: str) -> str:
    """``'file' (a link to 'target') <what>`` for an error message."""
    link = f" (a link to '{file.resolve()}')" if file.is_symlink() else ""
    return f"'{file}'{link} {what}"


def read_config(path: str | Path) -> dict[str, Any]:
    """The checkpoint's ``config.json`` as a dict (a JSON object; ``model`` and ``data``,
    where present, objects too)."""
    path = Path(path)
    cfg = path / CONFIG
    if not cfg.is_file():
        raise SpikeliteError(
            f"'{path}' is not a spikelite checkpoint: {CONFIG} is missing. A checkpoint is a "
            f"directory with {WEIGHTS} and {CONFIG}, as written by `spikelite train`"
        )
    fix = "the checkpoint is damaged: write it again (e.g. `spikelite train`) or restore it"
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SpikeliteError(_damaged(cfg, f"is not UTF-8 JSON text; {fix}")) from None
    except json.JSONDecodeError as exc:
        raise SpikeliteError(_damaged(cfg, f"is not valid JSON ({exc.msg} at line "
                                           f"{exc.lineno}, column {exc.colno}); {fix}")
                             ) from None
    except OSError as exc:
        raise os_failure(exc, cfg) from None
    if not isinstance(data, dict):
        raise SpikeliteError(_damaged(cfg, f"must hold a JSON object with 'model' and 'data', "
                                           f"not a {type(data).__name__}; {fix}"))
    for key in ("model", "data"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise SpikeliteError(_damaged(cfg, f"has a '{key}' entry that is a "
                                               f"{type(data[key]).__name__}, not an object; "
                                               f"{fix}"))
    return data


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a truncated, empty or tampered file (or a link
    to something else) raises a :class:`SpikeliteError`."""
    fix = ("it is truncated, damaged or not a checkpoint's weights: write the checkpoint "
           "again (e.g. `spikelite train`) or restore it")
    try:
        if file.stat().st_size == 0:
            raise SpikeliteError(_damaged(file, f"is empty; {fix}"))
        return load_file(str(file))
    except (SafetensorError, ValueError, RuntimeError) as exc:
        if isinstance(exc, SpikeliteError):
            raise
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise SpikeliteError(_damaged(file, f"is not a valid safetensors file ({reason}); "
                                            f"{fix}")) from None
    except OSError as exc:
        raise os_failure(exc, file) from None


def _first_misfit(model: nn.Module, state: dict[str, torch.Tensor], strict: bool) -> str | None:
    """What keeps ``state`` from loading into ``model``, naming the first tensor."""
    own = model.state_dict()
    if strict:
        missing = [k for k in own if k not in state]
        if missing:
            return (f"the model has {len(missing)} tensor(s) the file lacks, first "
                    f"'{missing[0]}'")
        extra = [k for k in state if k not in own]
        if extra:
            return f"the file has {len(extra)} tensor(s) the model lacks, first '{extra[0]}'"
    for key, mine in own.items():
        value = state.get(key)
        if value is None:
            continue
        if tuple(mine.shape) != tuple(value.shape):
            return (f"tensor '{key}' has shape {list(value.shape)} in the file but "
                    f"{list(mine.shape)} in the model")
        if mine.is_floating_point() and not value.is_floating_point():
            return f"tensor '{key}' is {value.dtype} in the file but {mine.dtype} in the model"
    return None


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load ``model.safetensors`` into ``model`` (shape mismatches raise a clear error;
    a NaN/infinite weight or a negative BatchNorm variance is refused, naming the tensor)."""
    file = Path(path) / WEIGHTS
    if not file.is_file():
        raise SpikeliteError(f"checkpoint '{path}' has no {WEIGHTS}")
    state = _read_weights(file)
    misfit = _first_misfit(model, state, strict)
    if misfit is not None:
        raise SpikeliteError(f"the weights in '{file}' do not fit the model rebuilt from "
                             f"{CONFIG}: {misfit}; {CONFIG} was edited or belongs to another "
                             "checkpoint")
    check_tensors(state, f"checkpoint '{path}'", CORRUPT_FIX)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise SpikeliteError(
            f"the weights in '{file}' do not fit the model rebuilt from {CONFIG}: "
            f"{' '.join(str(exc).split())}"
        ) from None


def load_trainer_state(path: str | Path) -> dict[str, Any] | None:
    """The resume state in ``trainer.pt`` (``None`` when there is none). Loaded with
    ``weights_only=True``: a file holding anything but tensors and plain containers is
    refused, never unpickled; so is a truncated one."""
    file = Path(path) / TRAINER
    if not file.is_file():
        return None
    fix = ("to start over, train again without --resume and with --overwrite (or delete "
           f"'{file.parent}')")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except PermissionError as exc:
        raise os_failure(exc, file) from None
    except Exception:  # torch raises many types; its text advises unsafe loading
        raise UnreadableTrainerState(_damaged(
            file, "is truncated, damaged or holds Python objects other than tensors and plain "
                  f"containers (refused: spikelite never unpickles it); {fix}")) from None
    missing = [k for k in TRAINER_KEYS if k not in state] if isinstance(state, dict) else None
    if missing is None or missing:
        what = (f"lacks {', '.join(missing)}" if missing else
                f"holds a {type(state).__name__}, not a dict")
        raise SpikeliteError(_damaged(file, f"is not a trainer state written by spikelite "
                                            f"(it {what}); {fix}"))
    return state


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model named in ``config.json`` (with its quantizers, if any) and load
    its weights."""
    from spikelite.models import create

    cfg = read_config(path)
    file = Path(path) / CONFIG
    spec = cfg.get("model")
    if isinstance(spec, dict) and spec.get("factory") is not None:
        model = _rebuild_foreign(spec, file)
        if cfg.get("parametrizations"):
            from spikelite.quant.structure import rebuild_

            rebuild_(model, cfg["parametrizations"])
        load_weights(model, path)
        return model, cfg
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise SpikeliteError(f"{file} has no 'model' entry with a 'name'")
    kwargs = spec.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise SpikeliteError(f"{file}: model.kwargs must be an object of keyword arguments, "
                             f"not a {type(kwargs).__name__}")
    step = f"rebuild the model '{spec['name']}'"
    try:
        model = create(spec["name"], **kwargs)
        if cfg.get("parametrizations"):  # a compressed checkpoint: quantizers and masks
            from spikelite.quant.structure import rebuild_

            step = "rebuild the quantizers and masks ('parametrizations')"
            rebuild_(model, cfg["parametrizations"])
        elif cfg.get("quant"):
            from spikelite.quant import apply_quant_spec_

            step = "rebuild the quantizers ('quant')"
            apply_quant_spec_(model, cfg["quant"])
    except SpikeliteError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise SpikeliteError(f"cannot {step} from {file} ({type(exc).__name__}: {detail}); "
                             f"{CONFIG} was edited or damaged: restore it") from None
    _restore_index_shortcuts_(model, path)
    load_weights(model, path)
    return model, cfg


def _rebuild_foreign(spec: dict[str, Any], file: Path) -> nn.Module:
    """A user's network saved by spikelite: built again by its factory and converted (its
    weights then come from ``model.safetensors``, not from the original checkpoint)."""
    from spikelite.models.spec import ModelSpec, build_model
    from spikelite.records import parse_record

    keys = ("factory", "kwargs", "input_shape", "time_steps", "input_layout")
    record = parse_record({k: spec[k] for k in keys if spec.get(k) is not None},
                          f"{file} (model)", ModelSpec)
    return build_model(record, None)


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

    try:
        handle = safe_open(str(file), framework="pt")
    except Exception:  # a damaged file: load_weights names the problem right after
        return
    with handle as f:
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
