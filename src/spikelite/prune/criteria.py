"""Channel-importance criteria (QP-SNN, Wei et al. ICLR 2025; papers.md §1.8–§1.9).

A score is one number per output channel ``f`` of a conv ``l``; higher = more important.

* ``svs`` (QP-SNN Eqs. 11–13): the output spikes ``S^{l,f} ∈ {0,1}^{T×h×w}`` of the
  neuron after the conv, averaged over time, ``S̄ = (1/T) Σ_t S[t]``; the score is the
  numerical rank ``Σ_i 1(σ_i(S̄) > ε)`` (ε = 1e-6) averaged over the samples of ``N``
  mini-batches (``N = 5`` as the QP-SNN code). Batched ``torch.linalg.svdvals`` over
  (sample, channel). Note: the third-party code uses ``matrix_rank``'s default tolerance
  σ_max·max(h, w)·eps_float32 instead of the paper's fixed ε; ``eps`` sets it.
* ``sca`` (Li et al. 2024, QP-SNN's baseline, Eq. 7): the L1 norm of the pre-reset
  membrane map ``Ũ^{l,f}[t] ∈ ℝ^{h×w}``, averaged over samples and time:
  ``(1/(B·T)) Σ_b Σ_t ‖Ũ^{l,f}[t]‖₁``. The neuron module keeps no membrane history, so
  ``Ũ`` is recomputed exactly from the neuron's recorded input current with the eager
  step function :func:`spikelite.core.functional.lif_step` (from the state the neuron
  started the batch in).
* ``l1``: the filter norm ``‖W^{l,f}‖₁`` of the effective weight (through fake quantizer
  and mask: quantize first, then prune judges importance in the quantized domain).
* ``random``: uniform random scores from a seeded generator (``seed``).

Scores are collected with forward hooks on the first neuron after each conv (for a
residual block's ``conv2``: the block's output neuron, after the addition), with the model
in eval mode and without gradients. ``data``: a ``Dataset`` (batched with ``batch_size``)
or any iterable of ``(x [B, T, …], y)`` batches as a ``DataLoader`` over the spikelite
datasets yields (``x`` is transposed to time-major ``[T, B, …]``).

:func:`batch_stability` is QP-SNN's Eq. 15: per layer, the mean pairwise cosine similarity
of the per-batch score vectors, ``2/(N(N−1)) Σ_{i<j} cos(s_i, s_j)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from spikelite._registry import Registry
from spikelite.core import LIF, reset_states
from spikelite.core.functional import lif_step, rest
from spikelite.errors import SpikeliteError
from spikelite.prune.graph import ChannelGraph, trace_channels

Data = Dataset | Iterable[Any]


class Criterion:
    """Base class: data-free criteria implement :meth:`weight_scores`, activity criteria
    :meth:`sample_scores` (``needs_data = True``)."""

    name: ClassVar[str] = "base"
    needs_data: ClassVar[bool] = True

    def weight_scores(self, conv: nn.Module, generator: torch.Generator) -> torch.Tensor:
        """``[C]`` scores of the output channels of ``conv`` (data-free criteria)."""
        raise SpikeliteError(f"criterion '{self.name}' needs data")

    def sample_scores(
        self, neuron: nn.Module, x: torch.Tensor, v0: torch.Tensor | None, spikes: torch.Tensor
    ) -> torch.Tensor:
        """``[B, C]`` per-sample scores from one batch through ``neuron``: its input
        current ``x [T, B, C, …]``, start state ``v0`` and output ``spikes``."""
        raise SpikeliteError(f"criterion '{self.name}' does not score from activity")


CRITERIA: Registry[type[Criterion]] = Registry("pruning criterion", instance_of=Criterion)


def svs_ranks(spikes: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Numerical rank of each time-averaged spike map: ``[T, B, C, h, w] → [B, C]``.

    ``rank = #{σ_i(S̄) > eps}`` with ``S̄ = mean_t S[t]`` (QP-SNN Eq. 13, before the
    average over samples).
    """
    if spikes.dim() != 5:
        raise SpikeliteError(
            f"svs needs 2-D spike maps [T, B, C, h, w], got shape {tuple(spikes.shape)}"
        )
    avg = spikes.to(torch.float32).mean(0)
    return (torch.linalg.svdvals(avg) > eps).sum(-1).to(torch.float32)


def membrane_l1(
    neuron: LIF, x: torch.Tensor, v0: torch.Tensor | None = None
) -> torch.Tensor:
    """SCA per sample: ``(1/T) Σ_t ‖Ũ[t]‖₁`` of each channel, ``[T, B, C, …] → [B, C]``,
    with the pre-reset membrane ``Ũ`` re-run by :func:`~spikelite.core.functional.lif_step`."""
    p = neuron.params_for(x)
    v = rest(x[0], p) if v0 is None else v0
    acc = torch.zeros(x.shape[1], x.shape[2], dtype=torch.float32, device=x.device)
    for xt in x.unbind(0):
        _, v, h = lif_step(xt, v, p)
        acc += h.abs().reshape(h.shape[0], h.shape[1], -1).sum(-1).to(torch.float32)
    return acc / x.shape[0]


@CRITERIA.register("svs")
@dataclass(frozen=True)
class SVS(Criterion):
    """QP-SNN's singular-value score (see the module docstring)."""

    eps: float = 1e-6
    name: ClassVar[str] = "svs"

    def sample_scores(self, neuron, x, v0, spikes):  # type: ignore[override]
        return svs_ranks(spikes, self.eps)


@CRITERIA.register("sca")
@dataclass(frozen=True)
class SCA(Criterion):
    """Li et al.'s membrane-potential L1 score (QP-SNN's baseline, Eq. 7)."""

    name: ClassVar[str] = "sca"

    def sample_scores(self, neuron, x, v0, spikes):  # type: ignore[override]
        if not isinstance(neuron, LIF):
            raise SpikeliteError(f"sca needs a spikelite LIF/IF neuron, got {type(neuron)}")
        return membrane_l1(neuron, x, v0)


@CRITERIA.register("l1")
@dataclass(frozen=True)
class L1(Criterion):
    """Filter norm ``‖W^{l,f}‖₁`` of the effective (fake-quantized, masked) weight."""

    name: ClassVar[str] = "l1"
    needs_data: ClassVar[bool] = False

    def weight_scores(self, conv, generator):  # type: ignore[override]
        w = conv.weight.detach()
        return w.abs().reshape(w.shape[0], -1).sum(1).to(torch.float32).cpu()


@CRITERIA.register("random")
@dataclass(frozen=True)
class Random(Criterion):
    """Uniform random scores (a baseline); reproducible through ``seed``."""

    seed: int = 0
    name: ClassVar[str] = "random"
    needs_data: ClassVar[bool] = False

    def weight_scores(self, conv, generator):  # type: ignore[override]
        return torch.rand(conv.weight.shape[0], generator=generator)


def get_criterion(criterion: str | Criterion, **options: Any) -> Criterion:
    """A :class:`Criterion` by registered name (``svs``, ``sca``, ``l1``, ``random``)."""
    return CRITERIA.build(criterion, **options)


def iter_batches(data: Data, batches: int, batch_size: int = 128) -> Iterator[torch.Tensor]:
    """Up to ``batches`` time-major inputs ``[T, B, …]`` from ``data`` (see module doc)."""
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise SpikeliteError(f"batches must be a positive int, got {batches!r}")
    loader = DataLoader(data, batch_size=batch_size) if isinstance(data, Dataset) else data
    n = 0
    for item in loader:
        if n >= batches:
            break
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, torch.Tensor) or x.dim() < 3:
            raise SpikeliteError(
                "data must yield (x [B, T, ...], y) batches (a DataLoader over a spikelite "
                f"dataset) or be a Dataset; got {type(x).__name__}"
            )
        n += 1
        yield x.transpose(0, 1)
    if n == 0:
        raise SpikeliteError("data yielded no batch")


@torch.no_grad()
def _per_batch(
    model: nn.Module, crit: Criterion, data: Data | None, batches: int, batch_size: int
) -> tuple[dict[str, list[torch.Tensor]], list[int]]:
    """Per-batch score vectors ``[C]`` of every scored conv, and the batch sizes."""
    graph = trace_channels(model)
    if not graph.convs:
        raise SpikeliteError(graph.no_convs())
    if not crit.needs_data:
        gen = torch.Generator().manual_seed(int(getattr(crit, "seed", 0)))
        out = {c: [] for c in graph.convs}
        for _ in range(batches):
            for c, conv in graph.convs.items():
                out[c].append(crit.weight_scores(conv, gen))
        return out, [1] * batches
    if data is None:
        raise SpikeliteError(f"criterion '{crit.name}' scores spike activity and needs data "
                             "(a Dataset or an iterable of (x, y) batches)")
    # conv → the neuron scoring it (a conv with no neuron after it is left out)
    convs = {c: graph.neuron_of[c] for c in graph.convs if c in graph.neuron_of}
    neurons = {n: graph.modules[n] for n in set(convs.values())}
    current: dict[str, torch.Tensor] = {}
    starts: dict[str, torch.Tensor | None] = {}

    def pre(name: str):
        def hook(m: nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0]
            mem = getattr(m, "mem", None)
            ok = isinstance(mem, torch.Tensor) and mem.shape == x.shape[1:]
            starts[name] = mem.clone() if ok else None

        return hook

    def post(name: str):
        def hook(m: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
            current[name] = crit.sample_scores(m, args[0], starts.pop(name, None), out).cpu()

        return hook

    handles = []
    for n, m in neurons.items():
        handles.append(m.register_forward_pre_hook(pre(n)))
        handles.append(m.register_forward_hook(post(n)))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    per: dict[str, list[torch.Tensor]] = {c: [] for c in convs}
    sizes: list[int] = []
    try:
        for x in iter_batches(data, batches, batch_size):
            current.clear()
            reset_states(model)
            model(x.to(device, torch.float32))
            for c, n in convs.items():
                if n not in current:
                    raise SpikeliteError(f"neuron '{n}' after '{c}' did not run in forward")
                per[c].append(current[n].mean(0))
            sizes.append(int(x.shape[1]))
    finally:
        for h in handles:
            h.remove()
        reset_states(model)
        model.train(was_training)
    return per, sizes


def channel_scores(
    model: nn.Module,
    criterion: str | Criterion,
    data: Data | None = None,
    batches: int = 5,
    *,
    batch_size: int = 128,
    **options: Any,
) -> dict[str, torch.Tensor]:
    """``{conv layer name: scores [C]}`` (higher = keep) by ``criterion`` over up to
    ``batches`` batches of ``data``; activity scores are averaged over all samples.

    Layer names are those of :class:`~spikelite.prune.graph.ChannelGraph` (``conv3``, or
    ``layer1.0.conv1``: the ``TimeDistributed`` wrapper's name). Data-free criteria
    (``l1``, ``random``) ignore ``data`` and ``batches``.
    """
    crit = get_criterion(criterion, **options)
    per, sizes = _per_batch(model, crit, data, batches if crit.needs_data else 1, batch_size)
    w = torch.tensor(sizes, dtype=torch.float32)
    return {c: (torch.stack(v) * w[:, None]).sum(0) / w.sum() for c, v in per.items()}


def pairwise_cosine(vectors: torch.Tensor) -> float:
    """QP-SNN Eq. 15 for ``[N, C]`` score vectors: ``2/(N(N−1)) Σ_{i<j} cos(s_i, s_j)``.

    A zero vector has cosine 0 with everything (norms are clamped at 1e-12).
    """
    n = vectors.shape[0]
    if n < 2:
        raise SpikeliteError(f"batch stability needs at least 2 batches, got {n}")
    v = vectors.to(torch.float64)
    u = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    gram = u @ u.T
    iu = torch.triu_indices(n, n, offset=1)
    return float(gram[iu[0], iu[1]].mean())


def batch_stability(
    model: nn.Module,
    criterion: str | Criterion,
    data: Data | None = None,
    batches: int = 5,
    *,
    batch_size: int = 128,
    **options: Any,
) -> dict[str, float]:
    """QP-SNN Eq. 15 per conv layer: how alike the per-batch score vectors of ``batches``
    batches are (1 = identical rankings up to scale). ``l1`` is 1 by construction;
    ``random`` draws a fresh vector per batch."""
    crit = get_criterion(criterion, **options)
    per, _ = _per_batch(model, crit, data, batches, batch_size)
    return {c: pairwise_cosine(torch.stack(v)) for c, v in per.items()}


def scores_from(
    mapping: Mapping[str, torch.Tensor], graph: ChannelGraph
) -> dict[str, torch.Tensor]:
    """Given scores keyed by layer or ``<layer>.module`` names → keyed by layer names."""
    out = {}
    for k, v in mapping.items():
        c = graph.canonical(k)
        if c is None:
            raise SpikeliteError(f"scores name {graph.unknown(k)}")
        out[c] = torch.as_tensor(v, dtype=torch.float32).flatten()
    return out
