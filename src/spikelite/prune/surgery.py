"""Physical channel removal (surgery) on a traced model (:mod:`spikelite.prune.graph`).

Keeping the output channels ``K`` (ascending indices) of a channel space:

* every producer conv keeps ``weight[K]`` and ``bias[K]``; with a weight parametrization
  the **latent** tensor (``parametrizations.weight.original``) is sliced, a
  :class:`~spikelite.core.synaptic.WeightMask` slices its mask and a
  :class:`~spikelite.quant.FakeQuant` slices every per-output-channel state tensor
  (shape ``[C, 1, …]``; per-tensor state such as DuQ's ``a``/``c`` or LSQ's step is kept
  as it is). Any other parametrization is refused with an error;
* every carrier keeps entries ``K``: BatchNorm's affine parameters and running
  statistics, a neuron's per-channel ``leak``/``threshold``/``v_reset`` and its membrane
  ``mem`` (channel axis 1); an identity shortcut (a
  :class:`~spikelite.core.traits.ZeroPadShortcut`) updates its channel counts;
* every consumer keeps input channels ``K``: ``weight[:, K]`` of a conv; of a ``Linear``
  after a flatten the columns ``c·S + s`` for ``c ∈ K`` (``S`` = in_features / C);
* an option-A shortcut between two spaces is re-mapped (:func:`relink_shortcut_`).

With zero-weight (silent) removed channels the pruned model computes exactly what the
original computed. Quantizers whose state is recomputed from the weights at every call
(ReScaW's γ = mean|W|) see a different tensor afterwards — as in QP-SNN, where the smaller
net is rebuilt and fine-tuned.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikelite.core import LIF
from spikelite.core.synaptic import CONV_TYPES, WeightMask
from spikelite.core.traits import ZeroPadShortcut
from spikelite.errors import SpikeliteError
from spikelite.models import PadShortcut  # the zoo's layout, rebuilt by relink_shortcut_
from spikelite.prune.graph import ChannelGraph, PadLink, Space
from spikelite.quant import FakeQuant


class IndexShortcut(PadShortcut):
    """Option-A shortcut with an explicit channel map (exact surgery on residual nets).

    ``index[j]`` is the output channel that input channel ``j`` is added to, or −1 when it
    is dropped; the other output channels receive zeros. Spatial subsampling by
    ``stride`` as :class:`~spikelite.models.PadShortcut` (of which this is a subclass, so
    it declares the same :class:`~spikelite.core.traits.ZeroPadShortcut` trait and counting
    code treats it as the same parameter-free layer; with ``even_padding = False`` the
    channel graph always links through it). ``index`` is a persistent buffer: a checkpoint
    of a model holding one does not load into the zoo's even-padding layout by mistake.
    """

    even_padding = False

    def __init__(self, index: torch.Tensor, out_channels: int, stride: int = 1) -> None:
        super().__init__(int(index.numel()), out_channels, stride)
        self.register_buffer("index", index.detach().to(torch.long).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[..., :: self.stride, :: self.stride]
        keep = self.index >= 0
        src = keep.nonzero().flatten()
        out = x.new_zeros(*x.shape[:2], self.out_channels, *x.shape[3:])
        return out.index_copy(2, self.index[keep], x.index_select(2, src))


def expand_index(idx: torch.Tensor, channels: int, n: int) -> torch.Tensor:
    """Indices into an axis of length ``n`` holding ``channels`` channels of ``n/channels``
    consecutive entries each (``n == channels``: ``idx`` itself)."""
    if n == channels:
        return idx
    if channels <= 0 or n % channels:
        raise SpikeliteError(
            f"an axis of {n} entries does not hold {channels} channels of equal size"
        )
    s = n // channels
    return (idx[:, None] * s + torch.arange(s, device=idx.device)).reshape(-1)


def _replace(owner: nn.Module, attr: str, value: torch.Tensor) -> None:
    old = getattr(owner, attr)
    if isinstance(old, nn.Parameter):
        setattr(owner, attr, nn.Parameter(value, requires_grad=old.requires_grad))
    else:
        setattr(owner, attr, value)


def _slice_tensor_(module: nn.Module, attr: str, idx: torch.Tensor, dim: int, who: str) -> int:
    """Keep ``idx`` (channel indices, expanded as needed) along ``dim`` of ``module.attr``,
    through its parametrizations; returns the new length of that axis."""
    if parametrize.is_parametrized(module, attr):
        plist = module.parametrizations[attr]  # type: ignore[index]
        if not plist.is_tensor:
            raise SpikeliteError(f"{who}: a parametrization of '{attr}' with several "
                                 "original tensors cannot be sliced")
        n = plist.original.shape[dim]
        for p in plist:
            if isinstance(p, WeightMask):
                p.mask = p.mask.index_select(dim, idx.to(p.mask.device))
            elif isinstance(p, FakeQuant):
                for key, t in p.params().items():
                    if t.dim() > dim and t.shape[dim] == n and n > 1:
                        _replace(p, key, t.detach().index_select(dim, idx.to(t.device)).clone())
            else:
                raise SpikeliteError(
                    f"{who}: cannot slice a '{attr}' parametrized by {type(p).__name__}; "
                    "remove that parametrization before channel pruning"
                )
        module, attr = plist, "original"
    t = getattr(module, attr)
    _replace(module, attr, t.detach().index_select(dim, idx.to(t.device)).clone())
    return int(idx.numel())


def _prune_producer(conv: nn.Module, keep: torch.Tensor, who: str) -> None:
    conv.out_channels = _slice_tensor_(conv, "weight", keep, 0, who)
    if conv.bias is not None:
        _slice_tensor_(conv, "bias", keep, 0, who)


def _prune_consumer(m: nn.Module, keep: torch.Tensor, channels: int, who: str) -> None:
    if isinstance(m, CONV_TYPES):
        m.in_channels = _slice_tensor_(m, "weight", keep, 1, who)
    elif isinstance(m, nn.Linear):
        idx = expand_index(keep, channels, m.in_features)
        m.in_features = _slice_tensor_(m, "weight", idx, 1, who)
    else:  # pragma: no cover - the tracer records only these
        raise SpikeliteError(f"{who}: {type(m).__name__} is not a channel consumer")


def _prune_carrier(m: nn.Module, keep: torch.Tensor, channels: int, who: str) -> None:
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        idx = expand_index(keep, channels, m.num_features)
        for attr in ("weight", "bias", "running_mean", "running_var"):
            if getattr(m, attr, None) is not None:
                _slice_tensor_(m, attr, idx, 0, who)
        m.num_features = int(idx.numel())
    elif isinstance(m, LIF):
        for attr in ("leak", "threshold", "v_reset"):
            t = getattr(m, attr)
            if t.dim() >= 1:
                _slice_tensor_(m, attr, expand_index(keep, channels, t.shape[0]), 0, who)
        if m.mem is not None and m.mem.dim() >= 2:
            idx = expand_index(keep, channels, m.mem.shape[1]).to(m.mem.device)
            m.mem = m.mem.index_select(1, idx)
    elif isinstance(m, ZeroPadShortcut):  # an identity shortcut inside one space
        m.in_channels = m.out_channels = int(keep.numel())
    else:  # pragma: no cover - the tracer records only these
        raise SpikeliteError(f"{who}: {type(m).__name__} is not a per-channel layer")


def prune_space_(graph: ChannelGraph, space: Space, keep: torch.Tensor) -> None:
    """Remove every channel of ``space`` not in ``keep`` from all its layers."""
    c = space.size
    for name in space.producers:
        _prune_producer(graph.convs[name], keep, name)
    for name in space.consumers:
        _prune_consumer(graph.modules[name], keep, c, name)
    for name in space.carriers:
        _prune_carrier(graph.modules[name], keep, c, name)


def shortcut_map(sc: ZeroPadShortcut) -> torch.Tensor:
    """Output channel of each input channel of an option-A shortcut (−1: dropped)."""
    if isinstance(sc, IndexShortcut):
        return sc.index.clone()
    off = (sc.out_channels - sc.in_channels) // 2
    pos = torch.arange(sc.in_channels) + off
    return torch.where((pos >= 0) & (pos < sc.out_channels), pos, torch.full_like(pos, -1))


def relink_shortcut_(
    model: nn.Module, link: PadLink, keep: Mapping[int, torch.Tensor], mode: str
) -> str | None:
    """Re-map the option-A shortcut ``link`` after its two spaces kept ``keep[src]`` and
    ``keep[dst]``. Returns a note, or ``None`` when the zoo's even padding still describes
    it exactly (the shortcut then stays a plain :class:`PadShortcut`).

    ``mode="exact"``: otherwise replace it by an :class:`IndexShortcut` (same function).
    ``mode="zoo"``: otherwise keep a :class:`PadShortcut` with the new channel counts (the
    zoo layout, rebuildable from ``widths``, but the identity path is re-laid: the network
    function changes there, as when QP-SNN rebuilds a smaller net and fine-tunes it).
    """
    sc = model.get_submodule(link.shortcut)
    ks = keep.get(link.src, torch.arange(sc.in_channels))
    kd = keep.get(link.dst, torch.arange(sc.out_channels))
    old = shortcut_map(sc).cpu()
    new_pos = torch.full((sc.out_channels,), -1, dtype=torch.long)
    new_pos[kd] = torch.arange(kd.numel())
    src_map = old[ks]
    mapped = torch.where(src_map >= 0, new_pos[src_map.clamp_min(0)], src_map)
    plain = PadShortcut(int(ks.numel()), int(kd.numel()), sc.stride)
    if torch.equal(mapped, shortcut_map(plain)):
        _set_submodule(model, link.shortcut, plain)
        return None
    if mode == "zoo":
        _set_submodule(model, link.shortcut, plain)
        return (f"{link.shortcut}: re-laid as the zoo's evenly padded shortcut "
                f"({plain.in_channels}→{plain.out_channels}); the identity path changed")
    device = next((t.device for t in model.parameters()), torch.device("cpu"))
    index_sc = IndexShortcut(mapped, int(kd.numel()), sc.stride).to(device)
    _set_submodule(model, link.shortcut, index_sc)
    return f"{link.shortcut}: replaced by an IndexShortcut (exact channel map)"


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)
