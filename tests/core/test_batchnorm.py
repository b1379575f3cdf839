"""The one BatchNorm fold: folded conv/linear equal the layer followed by its BatchNorm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikelite.core.batchnorm import bn_gain_offset, check_foldable, fold_batchnorm
from spikelite.errors import SpikeliteError


def _bn(c: int, affine: bool = True) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    bn = nn.BatchNorm1d(c, affine=affine).eval()
    bn.running_mean.copy_(torch.randn(c, generator=g))
    bn.running_var.copy_(torch.rand(c, generator=g) + 0.1)
    if affine:
        bn.weight.data.copy_(torch.randn(c, generator=g))
        bn.bias.data.copy_(torch.randn(c, generator=g))
    return bn


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_fold_equals_layer_then_batchnorm(affine: bool, bias: bool) -> None:
    torch.manual_seed(0)
    lin, bn = nn.Linear(6, 4, bias=bias), _bn(4, affine)
    x = torch.randn(8, 6)
    w, b = fold_batchnorm(lin.weight, lin.bias, bn)
    with torch.no_grad():
        torch.testing.assert_close(nn.functional.linear(x, w, b), bn(lin(x)))
    # the gain/offset form: BN(W·x + b) = s·(W·x) + m, in float64
    s, m = bn_gain_offset(bn, lin.bias, 4, torch.float64)
    assert s.dtype == m.dtype == torch.float64
    with torch.no_grad():
        torch.testing.assert_close((s * nn.functional.linear(x, lin.weight).double() + m).float(),
                                   bn(lin(x)))


def test_without_a_batchnorm_the_gain_is_one_and_the_offset_the_bias() -> None:
    b = torch.tensor([0.5, -1.0])
    s, m = bn_gain_offset(None, b, 2, torch.float64)
    assert torch.equal(s, torch.ones(2, dtype=torch.float64))
    assert torch.equal(m, b.double())
    s, m = bn_gain_offset(None, None, 3, torch.float64)
    assert torch.equal(m, torch.zeros(3, dtype=torch.float64))


def test_unfoldable_batchnorms_are_named() -> None:
    with pytest.raises(SpikeliteError, match="'bn'.*track_running_stats"):
        check_foldable(nn.BatchNorm1d(3, track_running_stats=False), 3, "fc", "bn")
    with pytest.raises(SpikeliteError, match="3 features but 'fc' has 4 outputs"):
        check_foldable(nn.BatchNorm1d(3), 4, "fc", "bn")
