"""Sparse weight storage formats and their exact bit costs (``../shared/energy.md`` §5.4).

A weight tensor is stored as **fibers**, one per input (the weights an input event fans
out to): column ``j`` of a Linear weight ``[out, in]`` (length ``F = out``), or, for a
convolution ``[C_out, C_in/g, *k]``, input channel ``c``'s slice ``W[group(c), c_local]``
flattened in ``(out, *k)`` order (``F = C_out/g · Πk``). For a fiber with ``z`` non-zeros
and ``b_w``-bit weights:

===========  =====================================================  =======================
format       bits per fiber (= storage = fetch per input event)     zero weights
===========  =====================================================  =======================
dense        ``F·b_w``                                              fetched, gated
bitmask      ``F + z·b_w``                                          skipped
coo          ``z·(b_w + c)``, ``c = ⌈log2 F⌉``                      skipped
csr          ``z·(b_w + c)`` + 2 pointer reads of ``p`` bits per     skipped
             event; storage + ``(fibers+1)·p``,
             ``p = ⌈log2(nnz_total + 1)⌉``
rle          ``(z + pad)·(b_w + b_r)``, ``pad = Σ_gaps ⌊gap/2^b_r⌋`` skipped
             (zero runs before each non-zero; trailing zeros are
             not stored; ``padding=False`` drops ``pad`` —
             Sparseloop's RLE model)
uop          ``F·b_w`` for a non-empty fiber, 0 for an empty one,   empty fibers skipped,
             + 2 offset reads of ``p`` bits per event; storage +     others gated
             ``(fibers+1)·p``, ``p = ⌈log2(stored entries + 1)⌉``
             (Sparseloop's uncompressed-offset-pair rank over an
             uncompressed inner rank)
ubm          ``F + F·b_w`` (uncompressed bitmask: gating only)       fetched, gated
===========  =====================================================  =======================

Payload (weight values, including RLE padding entries) and metadata (masks, coordinates,
run lengths, pointers) are kept apart so that metadata is always its own line item.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from spikelite._registry import Registry
from spikelite.errors import SpikeliteError


@dataclass(frozen=True)
class FiberCost:
    """Bits of every fiber of one weight tensor in one format.

    ``payload``/``metadata``: ``float64 [fibers]`` bits stored per fiber, which is also
    what one input event on that fiber fetches. ``storage_extra``: metadata stored once
    per tensor (pointer arrays). ``fetch_extra``: metadata bits read per event on top of
    the fiber (pointer reads).
    """

    payload: torch.Tensor
    metadata: torch.Tensor
    storage_extra: float = 0.0
    fetch_extra: float = 0.0

    @property
    def payload_bits(self) -> float:
        return float(self.payload.sum())

    @property
    def metadata_bits(self) -> float:
        return float(self.metadata.sum()) + self.storage_extra

    @property
    def total_bits(self) -> float:
        return self.payload_bits + self.metadata_bits


def clog2(n: float) -> int:
    """``⌈log2 n⌉`` for ``n ≥ 1`` (at least 1 bit)."""
    return max(1, math.ceil(math.log2(max(float(n), 1.0))))


class WeightFormat(ABC):
    """Base class: ``cost(fibers, bits)`` → :class:`FiberCost`.

    ``fibers``: ``bool [n, F]`` (``True`` = non-zero deployed weight). ``skips_zeros``:
    whether zero weights are absent from storage (their operations are skipped) rather
    than stored and gated.
    """

    name = "base"
    skips_zeros = False

    def __init__(self, **params: Any) -> None:
        if params:
            raise SpikeliteError(
                f"weight format '{self.name}' takes no options, got {', '.join(params)}"
            )

    def params(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def cost(self, fibers: torch.Tensor, bits: int) -> FiberCost:
        """Storage and access cost of the ``fibers`` at ``bits`` per weight."""

    def zero_mask_bits(self, fibers: torch.Tensor) -> torch.Tensor:
        """Mask bits per fiber needed when zeros are stored as values but the layer's grid
        has no zero code (e.g. QP-SNN's uniform grid with unstructured pruning): one bit
        per stored position. 0 for formats that skip zeros or carry a mask anyway."""
        return torch.zeros(fibers.shape[0], dtype=torch.float64)

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.name}({extra})" if extra else self.name


def _nnz(fibers: torch.Tensor) -> torch.Tensor:
    return fibers.sum(1, dtype=torch.float64) if fibers.numel() else torch.zeros(
        fibers.shape[0], dtype=torch.float64
    )


FORMATS: Registry[Callable[..., WeightFormat]] = Registry("weight format",
                                                          instance_of=WeightFormat)


def _register(cls: type[WeightFormat]) -> type[WeightFormat]:
    FORMATS.register(cls.name)(cls)
    return cls


@_register
class Dense(WeightFormat):
    """Every weight stored: ``F·b_w`` bits per fiber, no metadata."""

    name = "dense"

    def cost(self, fibers: torch.Tensor, bits: int) -> FiberCost:
        n, f = fibers.shape
        payload = torch.full((n,), float(f * bits), dtype=torch.float64)
        return FiberCost(payload, torch.zeros(n, dtype=torch.float64))

    def zero_mask_bits(self, fibers: torch.Tensor) -> torch.Tensor:
        n, f = fibers.shape
        return torch.full((n,), float(f), dtype=torch.float64)


@_register
class Bitmask(WeightFormat):
    """One mask bit per position plus the non-zero values: ``F + z·b_w``."""

    name = "bitmask"
    skips_zeros = True

    def cost(self, fibers: torch.Tensor, bits: int) -> FiberCost:
        n, f = fibers.shape
        return FiberCost(_nnz(fibers) * bits, torch.full((n,), float(f), dtype=torch.float64))


class _Coordinate(WeightFormat):
    """Shared by COO and CSR: ``coord_bits`` (default ``⌈log2 F⌉``) per non-zero."""

    def __init__(self, coord_bits: int | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.coord_bits = None if coord_bits is None else int(coord_bits)

    def params(self) -> dict[str, Any]:
        return {} if self.coord_bits is None else {"coord_bits": self.coord_bits}

    def _coords(self, f: int) -> int:
        return self.coord_bits if self.coord_bits is not None else clog2(f)


@_register
class COO(_Coordinate):
    """Coordinate/payload (Sparseloop's CP): ``z·(b_w + c)``."""

    name = "coo"
    skips_zeros = True

    def cost(self, fibers: torch.Tensor, bits: int) -> FiberCost:
        z = _nnz(fibers)
        return FiberCost(z * bits, z * self._coords(fibers.shape[1]))


@_register
class CSR(_Coordinate):
    """Compressed sparse rows over the fibers: COO's entries plus a row-pointer array.

    Storage adds ``(fibers + 1)·p`` pointer bits; each event reads 2 pointers
    (``p = pointer_bits`` or ``⌈log2(nnz_total + 1)⌉``).
    """

    name = "csr"
    skips_zeros = True

    def __init__(self, coord_bits: int | None = None, pointer_bits: int | None = None) -> None:
        super().__init__(coord_bits)
        self.pointer_bits = None if pointer_bits is None else int(pointer_bits)

    def params(self) -> dict[str, Any]:
        out = super().params()
        if self.pointer_bits is not None:
            out["pointer_bits"] = self.pointer_bits
        return out

    def cost(self, fibers: torch.Tensor, bits: int) -> FiberCost:
        n, f = fibers.shape
        z = _nnz(fibers)
        p = self.pointer_bits if self.pointer_bits is not None else clog2(float(z.sum()) + 1)
        return FiberCost(z * bits, z * self._coords(f), (n + 1) * p, 2.0 * p)


def rle_padding(fibers: torch.Tensor, run_bits: int) -> torch.Tensor:
    """Padding entries per fiber: ``Σ ⌊gap / 2^b_r⌋`` over the zero runs before each non-zero.

    A run field of ``b_r`` bits counts at most ``2^b_r − 1`` zeros; a longer gap needs
    extra (explicit-zero) entries, EIE-style. Trailing zeros are not stored.
    """
    n = fibers.shape[0]
    idx = fibers.nonzero()
    pad = torch.zeros(n, dtype=torch.float64)
    if idx.numel() == 0:
        return pad
    rows, cols = idx[:, 0], idx[:, 1]
    prev = torch.empty_like(cols)
    prev[0] = -1
    prev[1:] = cols[:-1]
    new_row = torch.ones_like(rows, dtype=torch.bool)
    new_row[1:] = rows[1:] != rows[:-1]
    prev[new_row] = -1
    gaps = cols - prev - 1
    return pad.index_add_(0, rows, torch.div(gaps, 2**run_bits, rounding_mode="floor").double())


@_register
class RLE(WeightFormat):
    """Run-length: each stored entry = value (``b_w``) + preceding zero run (``b_r``).

    ``run_bits`` (default 4); ``padding=False`` gives Sparseloop's RLE occupancy (no
    padding entries, for cross-checking against Sparseloop/Schaefer).
    """

    name = "rle"
    skips_zeros = True

    def __init__(self, run_bits: int = 4, padding: bool = True) -> None:
        super().__init__()
        if int(run_bits) < 1:
            raise SpikeliteError(f"rle: run_bits must be ≥ 1, got {run_bits}")
        self.run_bits = int(run_bits)
        self.padding = bool(padding)

    def params(self) -> dict[str, Any]:
        return {"run_bits": self.run_bits, "padding": self.padding}

    def cost(self, fibers: torch.Tensor, bits: int) -> FiberCost:
        entries = _nnz(fibers)
        if self.padding:
            entries = entries + rle_padding(fibers, self.run_bits)
        return FiberCost(entries * bits, entries * self.run_bits)


@_register
class UOP(WeightFormat):
    """Uncompressed offset pairs over the fibers, each non-empty fiber stored dense.

    Storage: ``F·b_w`` per non-empty fiber + ``(fibers + 1)·p`` offsets; each event reads
    2 offsets and its fiber (nothing more if the fiber is empty).
    """

    name = "uop"

    def __init__(self, pointer_bits: int | None = None) -> None:
        super().__init__()
        self.pointer_bits = None if pointer_bits is None else int(pointer_bits)

    def params(self) -> dict[str, Any]:
        return {} if self.pointer_bits is None else {"pointer_bits": self.pointer_bits}

    def cost(self, fibers: torch.Tensor, bits: int) -> FiberCost:
        n, f = fibers.shape
        nonempty = (_nnz(fibers) > 0).double()
        stored = float(nonempty.sum()) * f
        p = self.pointer_bits if self.pointer_bits is not None else clog2(stored + 1)
        return FiberCost(nonempty * f * bits, torch.zeros(n, dtype=torch.float64),
                         (n + 1) * p, 2.0 * p)

    def zero_mask_bits(self, fibers: torch.Tensor) -> torch.Tensor:
        return (_nnz(fibers) > 0).double() * fibers.shape[1]


@_register
class UBM(WeightFormat):
    """Uncompressed bitmask (Sparseloop's UB): all values plus a mask, ``F + F·b_w``.

    No storage saving; the mask only gates the operations on zero weights.
    """

    name = "ubm"

    def cost(self, fibers: torch.Tensor, bits: int) -> FiberCost:
        n, f = fibers.shape
        return FiberCost(torch.full((n,), float(f * bits), dtype=torch.float64),
                         torch.full((n,), float(f), dtype=torch.float64))


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(low)
    except ValueError:
        return text.strip()


def get_format(spec: str | WeightFormat, **options: Any) -> WeightFormat:
    """A weight format from a name (``"rle"``), a spec with options
    (``"rle:run_bits=5,padding=false"``) or an instance (returned as is)."""
    if isinstance(spec, WeightFormat):
        return FORMATS.build(spec, **options)
    name, _, rest = str(spec).partition(":")
    kw: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        if "=" not in item:
            raise SpikeliteError(f"weight format option '{item}' must look like key=value")
        k, v = item.split("=", 1)
        kw[k.strip()] = _parse_value(v)
    kw.update(options)
    return FORMATS.build(name.strip(), **kw)


def list_formats() -> list[str]:
    return FORMATS.names()
