"""Surrogate registry and formulas."""

from __future__ import annotations

import math

import pytest
import torch

from spikelite.core import SURROGATES, get_surrogate, spike
from spikelite.errors import SpikeliteError

X = torch.tensor([-2.0, -0.5, -0.25, 0.0, 0.25, 0.5, 2.0], dtype=torch.float64)


def test_registry_names():
    assert SURROGATES.names() == ["atan", "fast_sigmoid", "rectangular", "sigmoid", "triangle"]


@pytest.mark.parametrize(
    "name,params,expected",
    [
        ("atan", {"alpha": 2.0}, lambda x: 1.0 / (1 + (math.pi * x) ** 2)),
        ("triangle", {"width": 1.0}, lambda x: max(1 - abs(x), 0.0)),
        ("triangle", {"width": 0.5}, lambda x: max(0.5 - abs(x), 0.0) / 0.5),
        ("fast_sigmoid", {"slope": 25.0}, lambda x: 1 / (25 * abs(x) + 1) ** 2),
        ("sigmoid", {"slope": 4.0},
         lambda x: 4 * (1 / (1 + math.exp(-4 * x))) * (1 - 1 / (1 + math.exp(-4 * x)))),
        ("rectangular", {"width": 1.0}, lambda x: 1.0 if abs(x) < 0.5 else 0.0),
    ],
)
def test_surrogate_formula(name, params, expected):
    s = get_surrogate(name, **params)
    got = s.grad(X)
    want = torch.tensor([expected(float(v)) for v in X], dtype=torch.float64)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("name", SURROGATES.names())
def test_spike_forward_is_heaviside_and_backward_is_surrogate(name):
    s = get_surrogate(name)
    x = X.clone().requires_grad_()
    out = spike(x, s)
    assert out.tolist() == [0, 0, 0, 1, 1, 1, 1]
    out.sum().backward()
    torch.testing.assert_close(x.grad, s.grad(X))
    assert spike(X, s, strict=True).tolist() == [0, 0, 0, 0, 1, 1, 1]


def test_unknown_surrogate_lists_valid_names():
    with pytest.raises(SpikeliteError, match="unknown surrogate 'arctan'.*atan.*triangle"):
        get_surrogate("arctan")


@pytest.mark.parametrize("name,bad", [("atan", {"alpha": 0}), ("triangle", {"width": -1.0}),
                                      ("sigmoid", {"slope": float("nan")})])
def test_bad_surrogate_parameter(name, bad):
    with pytest.raises(SpikeliteError, match="must be a positive number"):
        get_surrogate(name, **bad)


def test_unknown_surrogate_parameter():
    with pytest.raises(SpikeliteError, match="bad parameters for surrogate 'atan'"):
        get_surrogate("atan", slope=3.0)
