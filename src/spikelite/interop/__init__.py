"""Bring your own network: snnTorch, SpikingJelly and Norse networks as spikelite models.

:func:`from_foreign` (or one function per library) converts a network into a
:class:`ConvertedSequential` over time-major ``[T, B, ...]`` input, checked bit-identical to
the original on a sample input; :func:`build_foreign` builds one from a ``module:function``
factory and an optional checkpoint of the foreign model (the CLI's ``--model``, recipes'
``model: {factory: ...}``); :func:`to_foreign` writes a compressed, fine-tuned model's
weights back into the user's network (outputs checked bit-identical). See docs/interop.md.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikelite.interop.convert import LIBRARIES, detect_library, from_foreign, sample_input
from spikelite.interop.factory import build_foreign, load_factory, load_foreign_weights
from spikelite.interop.layers import SUPPORTED_LAYERS
from spikelite.interop.model import ConvertedSequential
from spikelite.interop.write_back import to_foreign


def from_snntorch(model: nn.Module, sample_input: torch.Tensor | None = None,
                  **options: Any) -> ConvertedSequential:
    """:func:`from_foreign` for an snnTorch network (``snn.Leaky`` neurons)."""
    return from_foreign(model, sample_input, library_name="snntorch", **options)


def from_spikingjelly(model: nn.Module, sample_input: torch.Tensor | None = None,
                      **options: Any) -> ConvertedSequential:
    """:func:`from_foreign` for a SpikingJelly ``activation_based`` network."""
    return from_foreign(model, sample_input, library_name="spikingjelly", **options)


def from_norse(model: nn.Module, sample_input: torch.Tensor | None = None,
               **options: Any) -> ConvertedSequential:
    """:func:`from_foreign` for a Norse network (``SequentialState``, ``LIFBox(Cell)``)."""
    return from_foreign(model, sample_input, library_name="norse", **options)


__all__ = [
    "LIBRARIES", "SUPPORTED_LAYERS", "ConvertedSequential", "build_foreign",
    "detect_library", "from_foreign", "from_norse", "from_snntorch", "from_spikingjelly",
    "load_factory", "load_foreign_weights", "sample_input", "to_foreign",
]
