"""Structured channel pruning: plan which output channels to keep, then remove the others.

QP-SNN (Wei et al., ICLR 2025; papers.md §1.7–§1.10, §1.12, §1.14) prunes whole conv
kernels once, per layer, with hand-chosen ratios, after quantized training and before
fine-tuning::

    plan = plan_channel_pruning(model, ratios, "svs", data=train_loader)   # ChannelPlan
    report = apply_channel_plan_(model, plan)                                # surgery
    # or in one step (returns the model): prune_channels_(model, ratios, "svs", data=...)

* **Ratios**: one float for every conv, or ``{layer name: ratio}`` (names as in
  ``named_modules()``: the ``TimeDistributed`` wrapper ``conv3`` or the real conv
  ``conv3.module``; unnamed convs keep all channels). The **last conv is kept whole** by
  default (QP-SNN keeps the classifier's input intact; ``keep_last=False`` lifts it).
* **Kept channels** per layer of ``n``: ``⌊n·(1 − r)⌋`` (``rounding="floor"``, default —
  the QP-SNN code's ``int(c·(1−r))``, which reproduces the paper's Table 1 model sizes
  exactly, §1.14), or ``n − ⌊r·n + ½⌋`` (``"round_removed"``, the paper text's
  ``⌈r·n⌋`` removed kernels); at least one channel is kept.
* **Selection**: the top-scoring channels, ties broken stably (the **lower index wins**:
  the sort is ``torch.sort(descending=True, stable=True)``); kept indices stay in
  ascending order. (The QP-SNN code keeps ``argsort(rank)[I_prun:]``, i.e. the higher
  index among ties.)
* **Residual sums**: convs writing into one addition share their channels (see
  :mod:`spikelite.prune.graph`); they must be given the same ratio and are selected by
  the mean of their scores. ``keep_last`` keeps the last conv's whole group.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from spikelite.errors import SpikeliteError
from spikelite.prune.criteria import (
    Criterion,
    Data,
    channel_scores,
    get_criterion,
    scores_from,
)
from spikelite.prune.graph import ChannelGraph, trace_channels
from spikelite.prune.surgery import prune_space_, relink_shortcut_

Rounding = Literal["floor", "round_removed"]
ShortcutMode = Literal["exact", "zoo"]


@dataclass(frozen=True)
class LayerPlan:
    """Channels of one conv: ``keep`` (ascending) out of ``channels``; ``group`` lists all
    convs sharing these channels (a residual sum), itself included."""

    layer: str
    channels: int
    keep: tuple[int, ...]
    ratio: float
    group: tuple[str, ...]

    @property
    def kept(self) -> int:
        return len(self.keep)

    @property
    def removed(self) -> tuple[int, ...]:
        k = set(self.keep)
        return tuple(i for i in range(self.channels) if i not in k)


@dataclass(frozen=True)
class ChannelPlan:
    """What :func:`apply_channel_plan_` removes: one :class:`LayerPlan` per conv, in
    execution order, plus the scores used (not part of equality or ``to_dict``)."""

    criterion: str
    rounding: str
    layers: tuple[LayerPlan, ...]
    scores: Mapping[str, torch.Tensor] = field(default_factory=dict, compare=False, repr=False)

    def __getitem__(self, layer: str) -> LayerPlan:
        for lp in self.layers:
            if lp.layer == layer:
                return lp
        raise SpikeliteError(f"the plan has no layer '{layer}'")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record (for a checkpoint's config)."""
        return {
            "criterion": self.criterion,
            "rounding": self.rounding,
            "layers": [
                {"layer": lp.layer, "channels": lp.channels, "keep": list(lp.keep),
                 "ratio": lp.ratio, "group": list(lp.group)}
                for lp in self.layers
            ],
        }


@dataclass(frozen=True)
class ChannelPruneReport:
    """What :func:`apply_channel_plan_` did.

    ``widths``: the model's new zoo ``widths`` (written to ``model.spikelite_config``),
    ``None`` for a model not built by :func:`spikelite.models.create`. ``rebuildable``:
    ``create(**model.spikelite_config)`` builds exactly the pruned shapes (checked).
    ``shortcuts``: notes on re-mapped option-A shortcuts.
    """

    plan: ChannelPlan
    params_before: int
    params_after: int
    widths: tuple[int, ...] | None
    rebuildable: bool
    shortcuts: tuple[str, ...] = ()


def kept_count(n: int, ratio: float, rounding: Rounding = "floor") -> int:
    """Channels kept of ``n`` at pruning ratio ``r``: ``⌊n(1−r)⌋`` or ``n − ⌊rn + ½⌋``, ≥ 1."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise SpikeliteError(f"a pruning ratio must be a number in [0, 1), got {ratio!r}")
    if rounding == "floor":
        k = int(n * (1 - ratio))  # the expression of widths_from_ratios / the QP-SNN code
    elif rounding == "round_removed":
        k = n - math.floor(ratio * n + 0.5)
    else:
        raise SpikeliteError(f"rounding must be 'floor' or 'round_removed', got {rounding!r}")
    return max(1, k)


def select_channels(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (ascending) of the ``k`` highest ``scores``; ties: the lower index wins."""
    order = torch.sort(scores.to(torch.float64), descending=True, stable=True).indices
    return order[:k].sort().values


def _ratios(graph: ChannelGraph, ratios: float | Mapping[str, float], keep_last: bool
            ) -> dict[str, float]:
    """Per-group ratio keyed by the group's first conv; validated."""
    convs = list(graph.convs)
    last = convs[-1]
    given: dict[str, float] = {}
    if isinstance(ratios, Mapping):
        for k, r in ratios.items():
            c = graph.canonical(k)
            if c is None:
                raise SpikeliteError(f"ratios name {graph.unknown(k)}")
            kept_count(1, r)  # validates r
            given[c] = float(r)
        if keep_last and given.get(last, 0.0) > 0:
            raise SpikeliteError(f"'{last}' is the last conv, kept whole by default (QP-SNN); "
                                 "pass keep_last=False to prune it")
    else:
        kept_count(1, ratios)
        given = {c: float(ratios) for c in convs}
    out: dict[str, float] = {}
    for c in convs:
        group = graph.group(c)
        if group[0] in out:
            continue
        if keep_last and last in group:
            out[group[0]] = 0.0
            continue
        named = {m: given[m] for m in group if m in given}
        if len(set(named.values())) > 1:
            raise SpikeliteError(
                f"{', '.join(named)} write into the same residual sum and must share one "
                f"pruning ratio; got {named}"
            )
        r = next(iter(named.values()), 0.0)
        if r > 0 and graph.blocked(c):
            raise SpikeliteError(
                f"cannot prune the output channels of '{c}': {'; '.join(graph.blocked(c))}. "
                "Give a dict of ratios that leaves it out"
            )
        out[group[0]] = r
    return out


def plan_channel_pruning(
    model: nn.Module,
    ratios: float | Mapping[str, float],
    criterion: str | Criterion = "svs",
    data: Data | None = None,
    *,
    batches: int = 5,
    batch_size: int = 128,
    rounding: Rounding = "floor",
    keep_last: bool = True,
    scores: Mapping[str, torch.Tensor] | None = None,
    **options: Any,
) -> ChannelPlan:
    """Choose the channels to keep (the model is not changed; see the module docstring).

    ``scores`` (``{layer: [C]}``) skips scoring, e.g. to reuse :func:`channel_scores`.
    ``options`` go to the criterion (``eps`` for ``svs``, ``seed`` for ``random``).
    """
    graph = trace_channels(model)
    if not graph.convs:
        raise SpikeliteError(graph.no_convs())
    group_ratio = _ratios(graph, ratios, keep_last)
    crit = get_criterion(criterion, **options)
    need = any(r > 0 for r in group_ratio.values())
    if scores is not None:
        sc = scores_from(scores, graph)
    elif need:
        sc = channel_scores(model, crit, data, batches, batch_size=batch_size)
    else:
        sc = {}
    layers = []
    for c, conv in graph.convs.items():
        group = graph.group(c)
        r = group_ratio[group[0]]
        n = int(conv.out_channels)
        if r == 0:
            keep = torch.arange(n)
        else:
            have = [sc[m] for m in group if m in sc]
            if not have:
                raise SpikeliteError(f"no scores for '{c}' (criterion '{crit.name}' scores a "
                                     "conv by the neuron after it; it has none)")
            if any(h.numel() != n for h in have):
                raise SpikeliteError(f"scores for '{c}' must have {n} entries")
            keep = select_channels(torch.stack(have).mean(0), kept_count(n, r, rounding))
        layers.append(LayerPlan(c, n, tuple(int(i) for i in keep), r, tuple(group)))
    return ChannelPlan(crit.name, rounding, tuple(layers), dict(sc))


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """state_dict shapes with parametrized tensors under their plain names."""
    out = {}
    for k, v in model.state_dict().items():
        if ".parametrizations." in k:
            if not k.endswith(".original"):
                continue
            head, _, rest = k.partition(".parametrizations.")
            k = f"{head}.{rest.rsplit('.', 1)[0]}"
        out[k] = tuple(v.shape)
    return out


def _update_widths(model: nn.Module) -> tuple[tuple[int, ...] | None, bool]:
    """Write the new per-conv widths into ``model.spikelite_config`` and check that
    ``create(**config)`` rebuilds the same shapes."""
    cfg = getattr(model, "spikelite_config", None)
    if not isinstance(cfg, Mapping) or not isinstance(cfg.get("kwargs", {}).get("widths"), list):
        return None, False
    convs = [m for n, m in model.named_modules()
             if isinstance(m, nn.Conv2d) and ".shortcut" not in f".{n}"]
    widths = tuple(int(m.out_channels) for m in convs)
    if len(widths) != len(cfg["kwargs"]["widths"]):
        return None, False
    new = copy.deepcopy(dict(cfg))
    new["kwargs"]["widths"] = list(widths)
    model.spikelite_config = new
    from spikelite.models import create

    rebuilt = create(**new)
    return widths, _shapes(rebuilt) == _shapes(model)


def apply_channel_plan_(
    model: nn.Module, plan: ChannelPlan, *, shortcut: ShortcutMode = "exact"
) -> ChannelPruneReport:
    """Remove the channels ``plan`` does not keep, in place (see
    :mod:`spikelite.prune.surgery` for what is sliced).

    ``shortcut`` (residual nets whose option-A shortcut changes channel count): ``"exact"``
    keeps the network function exactly (an :class:`~spikelite.prune.surgery.IndexShortcut`
    where the zoo's even padding no longer fits — such a model does not rebuild from its
    zoo ``widths``); ``"zoo"`` re-lays those shortcuts as the zoo's even padding
    (rebuildable, but the identity path changes: fine-tune afterwards). Build the optimizer
    after surgery: parameters are new tensors.
    """
    if shortcut not in ("exact", "zoo"):
        raise SpikeliteError(f"shortcut must be 'exact' or 'zoo', got {shortcut!r}")
    graph = trace_channels(model)
    before = _n_params(model)
    keep: dict[int, torch.Tensor] = {}
    for lp in plan.layers:
        c = graph.canonical(lp.layer)
        if c is None:
            raise SpikeliteError(f"the plan names '{lp.layer}', which is not a conv of this model")
        n = int(graph.convs[c].out_channels)
        if n != lp.channels:
            raise SpikeliteError(f"'{c}' has {n} output channels but the plan was made for "
                                 f"{lp.channels}; plan again on this model")
        if lp.kept == n:
            continue
        idx = torch.tensor(lp.keep, dtype=torch.long)
        if idx.numel() == 0 or bool((idx[1:] <= idx[:-1]).any()) or idx[-1] >= n or idx[0] < 0:
            raise SpikeliteError(f"'{c}': keep must be ascending indices in [0, {n})")
        sid = graph.space_of[c]
        if sid in keep and not torch.equal(keep[sid], idx):
            raise SpikeliteError(f"{', '.join(graph.group(c))} share channels (a residual sum) "
                                 "but the plan keeps different ones")
        if graph.blocked(c):
            raise SpikeliteError(f"cannot prune the output channels of '{c}': "
                                 f"{'; '.join(graph.blocked(c))}")
        keep[sid] = idx
    for lp in plan.layers:  # a group member left whole while another is pruned
        c = graph.canonical(lp.layer)
        if lp.kept == lp.channels and graph.space_of[c] in keep:  # type: ignore[index]
            raise SpikeliteError(f"'{c}' shares channels with {graph.group(c)} (a residual "  # type: ignore[arg-type]
                                 "sum) but the plan keeps all of its channels")
    for sid, idx in keep.items():
        prune_space_(graph, graph.spaces[sid], idx)
    notes = []
    for link in graph.links:
        if link.src in keep or link.dst in keep:
            note = relink_shortcut_(model, link, keep, shortcut)
            if note:
                notes.append(note)
    widths, rebuildable = _update_widths(model)
    return ChannelPruneReport(plan, before, _n_params(model), widths, rebuildable, tuple(notes))


def prune_channels_(
    model: nn.Module,
    ratios: float | Mapping[str, float],
    criterion: str | Criterion = "svs",
    data: Data | None = None,
    *,
    batches: int = 5,
    batch_size: int = 128,
    rounding: Rounding = "floor",
    keep_last: bool = True,
    shortcut: ShortcutMode = "exact",
    **options: Any,
) -> nn.Module:
    """Score, select and physically remove output channels, in place; returns ``model``.

    :func:`plan_channel_pruning` followed by :func:`apply_channel_plan_` (use those two
    to keep the :class:`ChannelPlan` / :class:`ChannelPruneReport`).
    """
    plan = plan_channel_pruning(
        model, ratios, criterion, data, batches=batches, batch_size=batch_size,
        rounding=rounding, keep_last=keep_last, **options,
    )
    apply_channel_plan_(model, plan, shortcut=shortcut)
    return model
