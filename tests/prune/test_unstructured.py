"""Unstructured pruning: exact sparsity, global threshold, fixed masks, zero gradients."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.core.synaptic import mask_of
from spikelite.errors import SpikeliteError
from spikelite.prune.unstructured import (
    GradualPruner,
    compute_masks,
    cubic_sparsity,
    prune_unstructured_,
    sparsity_of,
)
from spikelite.quant import bake, fake_quant_of, quantize_


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), LIF(beta=0.5), Flatten(),
        TimeDistributed(nn.Linear(4 * 5 * 5, 7)), LIF(beta=0.5), TimeDistributed(nn.Linear(7, 3)),
    )


N = 4 * 2 * 9 + 100 * 7 + 7 * 3  # weights of the three layers


def _floor_exact(p: float, n: int) -> int:
    """⌊p·n⌋ on the decimal p as written: 0.35 of 700 is 245 (the float product is
    244.99999999999997)."""
    return math.floor(Fraction(repr(p)) * n)


@settings(max_examples=25, deadline=None)
@given(p=st.floats(0.0, 0.99), scope=st.sampled_from(["global", "layer"]),
       method=st.sampled_from(["magnitude", "random"]))
@example(p=0.35, scope="layer", method="magnitude")  # 0.35 · 700: float 244.99…, exact 245
@example(p=0.29, scope="global", method="magnitude")
def test_exact_number_pruned(p, scope, method):
    masks = compute_masks(_net(), p, scope=scope, method=method)
    removed = sum(int((~m).sum()) for m in masks.values())
    if scope == "global":
        assert removed == _floor_exact(p, N)
    else:
        assert removed == sum(_floor_exact(p, m.numel()) for m in masks.values())


def test_global_magnitude_threshold_spans_layers():
    model = _net()
    masks = compute_masks(model, 0.8, scope="global")
    kept = torch.cat([m.weight.detach().abs().flatten()[masks[n].flatten()]
                      for n, m in [("0.module", model[0].module), ("3.module", model[3].module),
                                   ("5.module", model[5].module)]])
    pruned = torch.cat([m.weight.detach().abs().flatten()[~masks[n].flatten()]
                        for n, m in [("0.module", model[0].module), ("3.module", model[3].module),
                                     ("5.module", model[5].module)]])
    assert pruned.max() <= kept.min()
    dens = [float(m.float().mean()) for m in masks.values()]
    assert max(dens) - min(dens) > 0.05  # one global threshold, not equal per-layer density


def test_masks_fixed_during_training_and_pruned_weights_get_no_gradient():
    model = prune_unstructured_(_net(), 0.75)
    before = {n: mask_of(m).mask.clone() for n, m in model.named_modules() if mask_of(m)}
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.rand(4, 3, 2, 5, 5)
    for _ in range(3):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        for _, m in model.named_modules():
            wm = mask_of(m)
            if wm is not None:
                g = m.parametrizations.weight.original.grad
                assert (g[~wm.mask] == 0).all()
        opt.step()
    for n, m in model.named_modules():
        if mask_of(m):
            assert torch.equal(mask_of(m).mask, before[n])
    assert sparsity_of(model)["total"] == pytest.approx(int(0.75 * N) / N)


def test_joint_mask_times_quantized_weights():
    model = quantize_(_net(), "duq", 2)
    prune_unstructured_(model, 0.5)
    _, side = bake(model)
    for lq in side.values():
        assert lq.mask_order == "after_quant" and lq.scheme == "duq"
    assert fake_quant_of(model[0].module) is not None


def test_prune_before_quant_order():
    model = prune_unstructured_(_net(), 0.5, order="before_quant")
    quantize_(model, "uniform", 2)
    _, side = bake(model)
    assert all(lq.mask_order == "before_quant" for lq in side.values())
    with pytest.raises(SpikeliteError, match="already has a quantizer"):
        prune_unstructured_(quantize_(_net(), "uniform", 2), 0.5, order="before_quant")


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, "half", True])
def test_sparsity_validated(bad):
    with pytest.raises(SpikeliteError, match=r"sparsity must be a number in \[0, 1\)"):
        prune_unstructured_(_net(), bad)


def test_errors_for_scope_method_layers_and_double_pruning():
    with pytest.raises(SpikeliteError, match="unknown scope 'local'"):
        prune_unstructured_(_net(), 0.5, scope="local")
    with pytest.raises(SpikeliteError, match="unknown pruning method 'taylor'"):
        prune_unstructured_(_net(), 0.5, method="taylor")
    with pytest.raises(SpikeliteError, match="unknown layers"):
        prune_unstructured_(_net(), 0.5, layers=["fc"])
    model = prune_unstructured_(_net(), 0.5, layers=["3.module"])
    assert mask_of(model[0].module) is None
    with pytest.raises(SpikeliteError, match="already pruned"):
        prune_unstructured_(model, 0.5, layers=["3.module"])


def test_cubic_schedule_and_gradual_pruner():
    assert cubic_sparsity(0, 0, 10, 0.9) == 0.0
    assert cubic_sparsity(10, 0, 10, 0.9) == pytest.approx(0.9)
    assert cubic_sparsity(5, 0, 10, 0.8) == pytest.approx(0.8 * (1 - 0.5**3))
    model = _net()
    gp = GradualPruner(model, 0.8, start=0, end=4)
    seen = []
    for epoch in range(6):
        gp.update(epoch)
        seen.append(sparsity_of(model)["total"])
    assert seen == sorted(seen) and seen[-1] == pytest.approx(int(0.8 * N) / N)
