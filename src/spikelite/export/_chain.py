"""A sequential model as a chain of leaf layers (shared by the exporters)."""

from __future__ import annotations

import copy

from torch import nn

from spikelite.core import TimeDistributed
from spikelite.errors import SpikeliteError


def flat_layers(model: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The model as a chain of ``(named_modules name, leaf)``: ``TimeDistributed``
    unwrapped, nested sequentials opened."""
    if not isinstance(model, nn.Sequential):
        raise SpikeliteError(
            f"export handles sequential models (nn.Sequential / the zoo's "
            f"SpikingSequential); got {type(model).__name__}")
    out: list[tuple[str, nn.Module]] = []
    for name, m in model.named_children():
        full = f"{prefix}{name}"
        if isinstance(m, TimeDistributed):
            full, m = f"{full}.module", m.module
        if isinstance(m, nn.Sequential):
            out.extend(flat_layers(m, f"{full}."))
        else:
            out.append((full, m))
    return out


def on_cpu(model: nn.Module) -> nn.Module:
    """``model`` itself when it lives on the CPU, else a CPU copy (exports run on the CPU;
    the caller's model is not moved)."""
    if all(t.device.type == "cpu" for t in (*model.parameters(), *model.buffers())):
        return model
    return copy.deepcopy(model).cpu()


def check_pool(name: str, m: nn.Module) -> None:
    """Pooling that exports as plain windows: no ceil mode, no padding excluded from the
    average (what NIR's and the package's pooling mean)."""
    if getattr(m, "ceil_mode", False):
        raise SpikeliteError(f"layer '{name}': pooling with ceil_mode=True cannot be exported; "
                             "use ceil_mode=False")
    pad = getattr(m, "padding", 0)
    if pad not in (0, (0, 0)) and not getattr(m, "count_include_pad", True):
        raise SpikeliteError(f"layer '{name}': padded average pooling with "
                             "count_include_pad=False cannot be exported")
