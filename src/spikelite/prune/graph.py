"""The channel graph of a model: which layers produce, carry and consume each channel axis.

Channel surgery needs to know, for every conv's output channels, every tensor indexed by
them. :func:`trace_channels` walks the module tree in execution order (``nn.Sequential``
containers, :class:`~spikelite.core.TimeDistributed` wrappers and blocks declaring the
:class:`~spikelite.core.traits.CoupledResidualBlock` trait, such as the zoo's BasicBlock)
and groups the layers into **channel spaces**:

* **producers**: the convs writing the channels (output dim 0 of their weight and bias);
* **carriers**: per-channel layers on the way (BatchNorm, spikelite ``LIF``/``IF`` neurons
  and their state, identity shortcuts);
* **consumers**: the next synaptic layers (input dim 1 of a conv; of a ``Linear`` after
  :class:`~spikelite.core.Flatten`, where channel ``c`` becomes the ``S`` columns
  ``c·S … c·S + S − 1``, ``S`` = spatial positions per channel).

A residual addition joins the spaces of its two operands (union-find), so every conv
writing into one sum is a member of one space and is pruned with the same channel set.
A padding option-A shortcut (a :class:`~spikelite.core.traits.ZeroPadShortcut` whose
channel count changes, or that carries its own channel map) is a **link** between two
spaces: input channel ``j`` lands on output channel ``j + ⌊(C_out − C_in)/2⌋`` (or where its
map says).

Anything else — an unknown module, an :class:`~spikelite.core.traits.AttentionBlock` such
as TCJA (it mixes channels), a grouped conv — **blocks** the space it reads: its producers
cannot be pruned, and the reason is kept for the error message. Nothing is silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from spikelite._deprecation import moved
from spikelite.core import LIF, Flatten, MeanOverTime, TimeDistributed
from spikelite.core.synaptic import CONV_TYPES
from spikelite.core.traits import (
    AttentionBlock,
    CoupledResidualBlock,
    DropoutLayer,
    ZeroPadShortcut,
)

__getattr__ = moved(__name__, {"CONVS": ("spikelite.core.synaptic", "CONV_TYPES")})

_PASS = (
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity, DropoutLayer,
    MeanOverTime,
)


@dataclass
class Space:
    """One channel axis of the network (see the module docstring)."""

    size: int
    producers: list[str] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # convs not yet followed by a neuron


@dataclass(frozen=True)
class PadLink:
    """An option-A shortcut ``shortcut`` from space ``src`` into space ``dst``."""

    shortcut: str
    src: int
    dst: int


@dataclass
class ChannelGraph:
    """Result of :func:`trace_channels`.

    ``convs``: layer name → the real conv module, in execution order (the layer name is
    the :class:`TimeDistributed` wrapper's when there is one: ``conv3``, not
    ``conv3.module``). ``neuron_of``: conv → the first neuron applied to its channels
    (the module whose spikes score it). ``modules``: every module name → module (a
    consumer/carrier name refers to the real layer).
    """

    convs: dict[str, nn.Module]
    space_of: dict[str, int]
    neuron_of: dict[str, str]
    spaces: dict[int, Space]
    links: list[PadLink]
    modules: dict[str, nn.Module]
    aliases: dict[str, str]
    hidden: dict[str, str] = field(default_factory=dict)

    def group(self, conv: str) -> list[str]:
        """Every conv writing the same channels as ``conv`` (itself included), in order."""
        sid = self.space_of[conv]
        return [c for c in self.convs if self.space_of[c] == sid]

    def blocked(self, conv: str) -> list[str]:
        """Why the output channels of ``conv`` cannot be removed (empty: they can)."""
        return self.spaces[self.space_of[conv]].blocked

    def unknown(self, name: str) -> str:
        """Error text for a name that is not a traced conv."""
        if name in self.hidden:
            return (f"'{name}' sits inside '{self.hidden[name]}', which channel surgery "
                    "cannot see into")
        return f"unknown conv '{name}'. Convs: {', '.join(self.convs) or 'none'}"

    def no_convs(self) -> str:
        """Error text for a model without traced convs."""
        if self.hidden:
            where = sorted(set(self.hidden.values()))
            return (f"the model's convs sit inside {', '.join(where)}, which channel surgery "
                    "cannot trace: it follows nn.Sequential containers, TimeDistributed "
                    "wrappers and the zoo's BasicBlock")
        return "the model has no conv layer to prune"

    def canonical(self, name: str) -> str | None:
        """The layer name of a conv given as itself or as ``<wrapper>.module``."""
        return name if name in self.convs else self.aliases.get(name)


@dataclass
class _State:
    space: int
    flat: bool = False


class _Tracer:
    def __init__(self, model: nn.Module) -> None:
        self.names: dict[int, str] = {}
        for n, m in model.named_modules():
            self.names.setdefault(id(m), n)
        self.modules = dict(model.named_modules())
        self.spaces: list[Space] = []
        self.parent: list[int] = []
        self.links: list[PadLink] = []
        self.convs: dict[str, nn.Module] = {}
        self.conv_space: dict[str, int] = {}
        self.neuron_of: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self.hidden: dict[str, str] = {}  # conv inside an untraceable module → that module

    # ----------------------------------------------------------------- union-find
    def new(self, size: int, blocked: str | None = None) -> int:
        self.spaces.append(Space(size, blocked=[blocked] if blocked else []))
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        sa, sb = self.spaces[ra], self.spaces[rb]
        if sa.size and sb.size and sa.size != sb.size:
            raise RuntimeError(f"internal: joining channel spaces of {sa.size} and {sb.size}")
        self.parent[rb] = ra
        sa.size = sa.size or sb.size
        for key in ("producers", "carriers", "consumers", "blocked", "pending"):
            getattr(sa, key).extend(getattr(sb, key))
        return ra

    def space(self, st: _State) -> Space:
        return self.spaces[self.find(st.space)]

    def block(self, st: _State, reason: str) -> None:
        self.space(st).blocked.append(reason)

    # -------------------------------------------------------------------- tracing
    def run(self, m: nn.Module, st: _State, layer: str | None = None) -> _State:
        name = self.names[id(m)]
        layer = layer or name
        if isinstance(m, TimeDistributed):
            return self.run(m.module, st, layer=name)
        if isinstance(m, nn.Sequential):
            for child in m:
                st = self.run(child, st)
            return st
        if isinstance(m, CoupledResidualBlock):
            return self.block_(m, st)
        if isinstance(m, CONV_TYPES):
            return self.conv(m, name, layer, st)
        if isinstance(m, nn.Linear):
            return self.linear(m, name, layer, st)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            self.space(st).carriers.append(name)
            return st
        if isinstance(m, LIF):
            sp = self.space(st)
            sp.carriers.append(name)
            for conv in sp.pending:
                self.neuron_of[conv] = name
            sp.pending.clear()
            return st
        if isinstance(m, Flatten):
            return _State(st.space, flat=True)
        if isinstance(m, _PASS):
            return st
        why = (
            "its attention mixes channels" if isinstance(m, AttentionBlock)
            else "channel surgery does not know this layer (it may mix channels)"
        )
        self.block(st, f"it feeds '{layer}' ({type(m).__name__}): {why}")
        for sub, mod in m.named_modules():
            if isinstance(mod, CONV_TYPES):
                self.hidden[f"{name}.{sub}" if name else sub] = layer or type(m).__name__
        return _State(self.new(0, f"produced by '{layer}' ({type(m).__name__})"))

    def conv(self, m: nn.Module, name: str, layer: str, st: _State) -> _State:
        sp = self.space(st)
        if st.flat:
            sp.blocked.append(f"'{layer}' convolves flattened features")
        elif m.groups != 1:  # type: ignore[union-attr]
            sp.blocked.append(f"it feeds '{layer}', a grouped conv (groups={m.groups})")
        else:
            sp.consumers.append(name)
        out = self.new(int(m.out_channels))  # type: ignore[union-attr]
        osp = self.spaces[out]
        osp.producers.append(layer)
        osp.pending.append(layer)
        if m.groups != 1:  # type: ignore[union-attr]
            osp.blocked.append(f"'{layer}' is a grouped conv (groups={m.groups})")
        self.convs[layer] = m
        self.conv_space[layer] = out
        if layer != name:
            self.aliases[name] = layer
        return _State(out)

    def linear(self, m: nn.Module, name: str, layer: str, st: _State) -> _State:
        sp = self.space(st)
        if st.flat:
            sp.consumers.append(name)
        elif sp.producers:
            sp.blocked.append(f"'{layer}' (Linear) reads the last axis, not the channels")
        return _State(self.new(int(m.out_features)))  # type: ignore[union-attr]

    def block_(self, blk: CoupledResidualBlock, x: _State) -> _State:
        h = x
        for child in (blk.conv1, blk.bn1, blk.lif1, blk.conv2, blk.bn2):
            h = self.run(child, h)
        sc, name = blk.shortcut, self.names[id(blk.shortcut)]
        if isinstance(sc, ZeroPadShortcut) and (
            not sc.even_padding or sc.in_channels != sc.out_channels
        ):
            self.links.append(PadLink(name, self.find(x.space), self.find(h.space)))
        elif isinstance(sc, (ZeroPadShortcut, nn.Identity)):
            if isinstance(sc, ZeroPadShortcut):
                self.space(x).carriers.append(name)
            h = _State(self.union(x.space, h.space))
        else:
            s = self.run(sc, x)
            h = _State(self.union(s.space, h.space))
        return self.run(blk.lif2, h)


def trace_channels(model: nn.Module) -> ChannelGraph:
    """Build the :class:`ChannelGraph` of ``model`` (no forward pass is run)."""
    tr = _Tracer(model)
    start = _State(tr.new(0, "they are the model's input channels"))
    tr.run(model, start, layer="")
    # links recorded before a later union must point at roots
    links = [PadLink(lk.shortcut, tr.find(lk.src), tr.find(lk.dst)) for lk in tr.links]
    space_of = {c: tr.find(s) for c, s in tr.conv_space.items()}
    roots = {tr.find(i) for i in range(len(tr.spaces))}
    return ChannelGraph(
        convs=tr.convs,
        space_of=space_of,
        neuron_of=tr.neuron_of,
        spaces={r: tr.spaces[r] for r in roots},
        links=links,
        modules=tr.modules,
        aliases=tr.aliases,
        hidden=tr.hidden,
    )
