"""core.pooling: the index-free 2×2 max pooling equals ``max_pool2d`` exactly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikelite.core import MaxPool2d, TimeDistributed, max_pool2x2


def _binary_adversarial() -> torch.Tensor:
    """Windows of every one of the 16 binary patterns (all-zero, all-one, single spikes in
    each corner, ties), repeated over channels, plus an odd width/height (cropped)."""
    pats = torch.tensor([[(k >> b) & 1 for b in range(4)] for k in range(16)], dtype=torch.float32)
    win = pats.view(16, 2, 2)  # 16 windows
    row = torch.cat(list(win), dim=1)  # [2, 32]
    x = row.repeat(3, 1).view(1, 1, 6, 32).repeat(2, 3, 1, 1)
    return torch.cat([x, torch.ones(2, 3, 1, 32)], dim=2)[..., :31]  # H = 7, W = 31


@pytest.mark.parametrize("make", [
    _binary_adversarial,
    lambda: (torch.rand(4, 3, 10, 12, generator=torch.Generator().manual_seed(0)) < 0.3).float(),
    # real values with ties, negative numbers, -0.0/+0.0 and ±inf
    lambda: torch.tensor([[[[-1.0, -1.0, 2.0, 2.0], [-3.0, -1.0, 2.0, 2.0],
                            [-0.0, 0.0, float("inf"), 5.0], [0.0, -0.0, -float("inf"), 1.0]]]]),
    lambda: torch.randn(3, 5, 9, 8, generator=torch.Generator().manual_seed(1)).round(),
])
def test_values_equal_max_pool2d_without_grad(make) -> None:
    x = make()
    with torch.no_grad():
        got, ref = max_pool2x2(x), F.max_pool2d(x, 2)
    assert got.shape == ref.shape
    assert torch.equal(got, ref)  # as values (a −0.0/+0.0 tie may keep either zero)
    if bool(((x == 0) | (x == 1)).all()):  # spikes: bit for bit
        assert torch.equal(got.view(torch.int32), ref.view(torch.int32))


def test_nan_propagates_like_max_pool2d() -> None:
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 0] = float("nan")
    with torch.no_grad():
        got, ref = max_pool2x2(x), F.max_pool2d(x, 2)
    assert torch.equal(torch.isnan(got), torch.isnan(ref))
    assert torch.equal(got.nan_to_num(), ref.nan_to_num())


def test_training_path_is_max_pool2d_with_its_gradient() -> None:
    """With autograd the module is max_pool2d itself: gradient to the first maximum."""
    x = _binary_adversarial().requires_grad_()
    g = torch.randn(2, 3, 3, 15, generator=torch.Generator().manual_seed(2))
    MaxPool2d(2)(x).backward(g)
    x2 = x.detach().clone().requires_grad_()
    F.max_pool2d(x2, 2).backward(g)
    assert torch.equal(x.grad, x2.grad)


@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=2, stride=1),
                                dict(kernel_size=2, padding=1), dict(kernel_size=2,
                                                                     ceil_mode=True)])
def test_other_configurations_fall_back(kw: dict) -> None:
    x = torch.randn(2, 3, 7, 9, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(MaxPool2d(**kw)(x), nn.MaxPool2d(**kw)(x))


def test_module_is_an_nn_maxpool2d_in_time_distributed() -> None:
    pool = MaxPool2d(2)
    assert isinstance(pool, nn.MaxPool2d) and type(pool).__name__ == "MaxPool2d"
    x = (torch.rand(4, 2, 3, 8, 8, generator=torch.Generator().manual_seed(4)) < 0.2).float()
    with torch.no_grad():
        assert torch.equal(TimeDistributed(pool)(x), TimeDistributed(nn.MaxPool2d(2))(x))
