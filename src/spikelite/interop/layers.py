"""The stateless torch layers a foreign network may hold, as plain torch layers.

Each supported layer (or a peer's subclass of it, e.g. SpikingJelly's ``layer.Conv2d``) is
rebuilt as the plain ``torch.nn`` class with the same hyper-parameters and a copy of its
tensors, so spikelite's quantizers, pruners and exporters see the types they know.
"""

from __future__ import annotations

from torch import nn

from spikelite.errors import SpikeliteError

#: what a converted network may contain besides its neurons (shown in errors and docs)
SUPPORTED_LAYERS = ("Conv2d", "Linear", "BatchNorm1d", "BatchNorm2d", "MaxPool2d",
                    "AvgPool2d", "Flatten", "Dropout (identity in evaluation)", "Identity")

_KINDS: tuple[type[nn.Module], ...] = (
    nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d,
    nn.Flatten, nn.Dropout, nn.Dropout2d, nn.Identity)


def is_layer(m: nn.Module) -> bool:
    """``m`` is a supported stateless layer (or a subclass of one, or SpikingJelly's
    ``layer.Dropout``)."""
    return isinstance(m, _KINDS) or _sj_dropout(m)


def _sj_dropout(m: nn.Module) -> bool:
    return (type(m).__module__.startswith("spikingjelly")
            and type(m).__name__ in ("Dropout", "Dropout2d") and hasattr(m, "p"))


def plain_copy(m: nn.Module, where: str) -> nn.Module:
    """A plain ``torch.nn`` layer computing what ``m`` computes on one time step
    ``[B, ...]``, with copies of its weights and buffers."""
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros":
            raise SpikeliteError(f"layer '{where}': Conv2d(padding_mode={m.padding_mode!r}) is "
                                 "not supported; use padding_mode='zeros'")
        new: nn.Module = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                   m.padding, m.dilation, m.groups, m.bias is not None)
    elif isinstance(m, nn.Linear):
        new = nn.Linear(m.in_features, m.out_features, m.bias is not None)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        cls = nn.BatchNorm2d if isinstance(m, nn.BatchNorm2d) else nn.BatchNorm1d
        new = cls(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    elif isinstance(m, nn.MaxPool2d):
        new = nn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation,
                           ceil_mode=m.ceil_mode)
        if m.return_indices:
            raise SpikeliteError(f"layer '{where}': MaxPool2d(return_indices=True) is not "
                                 "supported")
    elif isinstance(m, nn.AvgPool2d):
        new = nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                           m.count_include_pad, m.divisor_override)
    elif isinstance(m, (nn.Dropout, nn.Dropout2d)) or _sj_dropout(m):
        return nn.Dropout(float(m.p))
    elif isinstance(m, nn.Identity):
        return nn.Identity()
    else:
        raise unsupported(m, where)
    new.load_state_dict(m.state_dict())
    new.train(m.training)
    return new.to(next(iter(m.state_dict().values())).device) if m.state_dict() else new


def check_flatten(m: nn.Module, where: str) -> None:
    """Only a flatten of each sample (``start_dim=1, end_dim=-1`` on ``[B, ...]``)."""
    if (m.start_dim, m.end_dim) != (1, -1):
        raise SpikeliteError(f"layer '{where}': Flatten(start_dim={m.start_dim}, "
                             f"end_dim={m.end_dim}) is not supported; only a flatten of each "
                             "sample, Flatten(start_dim=1, end_dim=-1)")


def unsupported(m: nn.Module, where: str) -> SpikeliteError:
    """The error for a layer spikelite cannot convert, listing the supported ones."""
    return SpikeliteError(
        f"layer '{where}' is a {type(m).__module__}.{type(m).__name__}, which spikelite cannot "
        f"convert. Supported layers: {', '.join(SUPPORTED_LAYERS)}; neurons: snnTorch Leaky, "
        "SpikingJelly LIFNode/IFNode/ParametricLIFNode, Norse LIFBoxCell (docs/interop.md)")
