"""Traits a composite block declares, so that counting, costing and channel surgery can
treat it without importing the model zoo by name.

A block declares a trait by also inheriting its marker class, e.g.
``class BasicBlock(nn.Module, CoupledResidualBlock)``. A marker has no ``__init__`` and no
state: only the contract (the attributes the block must have) and class-level facts.
Readers test ``isinstance(module, Trait)``; a subclass of a block inherits its traits.

=======================  ================================================================
trait                    contract → what readers do
=======================  ================================================================
CoupledResidualBlock     ``lif2(bn2(conv2(lif1(bn1(conv1(x))))) + shortcut(x))`` → channel
                         surgery puts ``conv2``'s output and the shortcut's in one channel
                         space; the cost model notes the residual addition
ZeroPadShortcut          parameter-free option-A shortcut (``in_channels``,
                         ``out_channels``, ``stride``) → not costed; surgery carries or
                         links the channels it maps
DropoutLayer             elementwise dropout over ``[T, B, ...]`` → keeps every channel;
                         not costed
ReadoutPool              parameter-free read-out pooling (e.g. voting) → not costed
AttentionBlock           attention that mixes channels, with its own ``cost_note`` → the
                         cost model reports that note; surgery cannot prune what feeds it
=======================  ================================================================
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn


class CoupledResidualBlock:
    """Trait: a residual block whose sum couples the channels of its two branches.

    ``out = lif2(bn2(conv2(lif1(bn1(conv1(x))))) + shortcut(x))``, the seven parts being
    attributes of these names (``shortcut``: a :class:`ZeroPadShortcut`, an
    ``nn.Identity`` or a module with its own convs).
    """

    conv1: nn.Module
    bn1: nn.Module
    lif1: nn.Module
    conv2: nn.Module
    bn2: nn.Module
    shortcut: nn.Module
    lif2: nn.Module


class ZeroPadShortcut:
    """Trait: a parameter-free option-A shortcut over ``[T, B, C, ...]``.

    It subsamples by ``stride`` and maps input channel ``j`` to output channel
    ``j + ⌊(C_out − C_in)/2⌋`` (``even_padding``; other output channels receive zeros,
    positions outside ``[0, C_out)`` are dropped). A block with ``even_padding = False``
    carries its own channel map instead.
    """

    in_channels: int
    out_channels: int
    stride: int
    even_padding: ClassVar[bool] = True


class DropoutLayer:
    """Trait: elementwise dropout over ``[T, B, ...]``: every channel is kept (a mask
    multiplies each entry), and no arithmetic is costed (identity in deployment)."""


class ReadoutPool:
    """Trait: a parameter-free read-out pooling (e.g. a vote averaging groups of output
    neurons): no arithmetic is costed."""


class AttentionBlock:
    """Trait: an attention block that mixes channels, with its own costing.

    ``cost_note`` says which of its arithmetic the cost model counts (its synaptic layers,
    which are counted as any other) and which it does not.
    """

    cost_note: ClassVar[str] = "attention arithmetic is not costed; its synaptic layers are"


TRAITS: tuple[type, ...] = (
    CoupledResidualBlock, ZeroPadShortcut, DropoutLayer, ReadoutPool, AttentionBlock,
)
"""Every trait marker."""
