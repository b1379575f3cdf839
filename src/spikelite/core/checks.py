"""The one home of the finite-number checks: name the offending tensors, or pass.

Every boundary that takes numbers from outside (loading a checkpoint, each training step,
evaluation, profiling, export, compression, a neuron's input) calls these, so a NaN, an
infinity or a negative BatchNorm variance never passes silently: the error names the
tensor (and the layer) and the fix. The common case (everything finite) costs one
``isfinite().all()`` per tensor (:func:`describe_bad`: one sum).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import nn

from spikelite.errors import SpikeliteError

#: How many offending tensors an error names before "and N more".
_SHOWN = 3

#: The fix for non-finite weights read from a file (checkpoint, NIR graph).
CORRUPT_FIX = "the checkpoint is corrupt or training diverged — retrain or load an earlier " \
    "checkpoint"
#: The fix for non-finite weights of a model held in memory.
MODEL_FIX = "the model's weights are corrupt or training diverged — retrain it, lower the " \
    "learning rate or load an earlier checkpoint"
#: The fix for non-finite input data.
DATA_FIX = "the data has corrupt samples — check the dataset files or the transform that " \
    "produced them"


class NonFiniteError(SpikeliteError):
    """A NaN/infinite value (or a negative variance) where a finite number is needed.

    ``module``: the layer that saw it, when a layer raised it (a neuron does not know its
    own name; :func:`naming_layers` fills the name in from the model around it).
    """

    def __init__(self, message: str, module: nn.Module | None = None) -> None:
        super().__init__(message)
        self.module = module


def describe_bad(t: torch.Tensor) -> str | None:
    """``"12 NaN values"``, ``"3 infinite values"``, ``"2 NaN and 1 infinite values"`` for
    a tensor with non-finite entries; ``None`` when every entry is finite (or it is not a
    floating-point tensor).

    Fast path: a finite ``Σ t`` implies every entry is finite (a NaN or ±inf entry makes the
    sum NaN or ±inf), and a sum is one vectorised pass, many times cheaper on CPU than
    ``isfinite(t).all()``; only a non-finite sum (a bad entry, or an overflow of large
    finite values) takes the exact elementwise check."""
    if not (t.is_floating_point() or t.is_complex()):
        return None
    if bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all()):
        return None
    nan = int(torch.isnan(t).sum())
    inf = int(torch.isinf(t).sum())
    if nan and inf:
        return f"{nan} NaN and {inf} infinite values"
    if nan:
        return f"{nan} NaN value{'s' if nan != 1 else ''}"
    return f"{inf} infinite value{'s' if inf != 1 else ''}"


def _negative_variance(name: str, t: torch.Tensor) -> str | None:
    if not name.endswith("running_var") or not t.is_floating_point():
        return None
    neg = int((t < 0).sum())
    if not neg:
        return None
    return f"{neg} negative value{'s' if neg != 1 else ''} (a variance is ≥ 0)"


def _kind(name: str) -> str:
    """What a state-dict entry is, for the message: weight, BatchNorm statistic, neuron
    parameter, or (anything else) tensor."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ("running_mean", "running_var"):
        return "BatchNorm statistic"
    if leaf in ("weight", "bias", "original", "original0", "original1"):
        return "weight"
    if leaf in ("leak", "threshold", "v_reset"):
        return "neuron parameter"
    return "tensor"


def bad_tensors(named: Iterable[tuple[str, torch.Tensor]]) -> list[str]:
    """``"weight 'conv1.weight' has 12 NaN values"`` for every tensor with a non-finite
    entry (or a ``running_var`` with a negative one); empty when all are fine."""
    problems = []
    for name, t in named:
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach()
        what = describe_bad(t) or _negative_variance(name, t)
        if what is not None:
            problems.append(f"{_kind(name)} '{name}' has {what}")
    return problems


def _joined(problems: list[str]) -> str:
    shown = "; ".join(problems[:_SHOWN])
    more = len(problems) - _SHOWN
    return shown + (f" (and {more} more tensor{'s' if more != 1 else ''})" if more > 0 else "")


def check_tensors(named: Iterable[tuple[str, torch.Tensor]] | Mapping[str, torch.Tensor],
                  where: str, fix: str) -> None:
    """Raise :class:`NonFiniteError` ``"{where}: weight 'x' has 12 NaN values; {fix}"``
    when a tensor has a NaN/infinite entry or a ``running_var`` a negative one."""
    items = list(named.items() if isinstance(named, Mapping) else named)
    if _all_fine(items):
        return
    problems = bad_tensors(items)
    if problems:
        raise NonFiniteError(f"{where}: {_joined(problems)}; {fix}")


def check_model(model: nn.Module, where: str, fix: str = MODEL_FIX) -> None:
    """:func:`check_tensors` over ``model``'s state (weights, quantizer parameters,
    BatchNorm statistics, neuron parameters)."""
    check_tensors(model.state_dict(keep_vars=False).items(), where, fix)


def _all_fine(items: list[tuple[str, torch.Tensor]]) -> bool:
    """Every floating tensor finite and every ``running_var`` ≥ 0, with one host sync."""
    flags = []
    for name, t in items:
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            t = t.detach()
            flags.append(torch.isfinite(t).all())
            if name.endswith("running_var"):
                flags.append((t >= 0).all())
    if not flags:
        return True
    devices = {f.device for f in flags}
    if len(devices) > 1:
        flags = [f.cpu() for f in flags]
    return bool(torch.stack(flags).all())


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """Whether every floating-point tensor is finite, with one host sync for all of them
    (the fast path of a per-step check; name the culprits with :func:`bad_tensors`)."""
    flags = [torch.isfinite(t.detach()).all() for t in tensors if t.is_floating_point()]
    if not flags:
        return True
    if len({f.device for f in flags}) > 1:
        flags = [f.cpu() for f in flags]
    return bool(torch.stack(flags).all())


def check_input(x: torch.Tensor, what: str, fix: str = DATA_FIX) -> None:
    """Raise :class:`NonFiniteError` ``"{what} has 3 NaN values; {fix}"`` for a tensor
    with a non-finite entry."""
    bad = describe_bad(x)
    if bad is not None:
        raise NonFiniteError(f"{what} has {bad}; {fix}")


def layer_name(model: nn.Module, module: nn.Module) -> str | None:
    """The ``named_modules`` name of ``module`` inside ``model`` (``None``: not in it)."""
    for name, m in model.named_modules():
        if m is module:
            return name or None
    return None


@contextlib.contextmanager
def naming_layers(model: nn.Module) -> Iterator[None]:
    """Re-raise a :class:`NonFiniteError` raised by one of ``model``'s layers with the
    layer's name in front (``"layer 'lif1': LIF input …"``); free when nothing is raised."""
    try:
        yield
    except NonFiniteError as exc:
        if exc.module is None or getattr(exc, "named", False):
            raise
        name = layer_name(model, exc.module)
        if name is None:
            raise
        named = NonFiniteError(f"layer '{name}': {exc}",
                               exc.module)
        named.named = True  # type: ignore[attr-defined]
        raise named from None
