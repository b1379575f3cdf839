"""Activity regularizers: values and gradients on hand-made tensors, training effect."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikelite.config import parse_config
from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.regularize import REGULARIZERS, ActivityRegularizer, fanout_of
from spikelite.train import TrainConfig, fit

A = torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 4.0]])  # ANN: [B=2, 4]


def test_registry():
    assert REGULARIZERS.names() == ["hoyer", "hoyer_square", "l1", "l2", "synops",
                                    "target_rate"]


def test_values_on_hand_made_tensor():
    f = {n: REGULARIZERS.get(n) for n in REGULARIZERS.names()}
    assert f["l1"](A).item() == pytest.approx(10 / 8)
    assert f["l2"](A).item() == pytest.approx(30 / 8)
    # sample 1: ‖a‖₁ = 3, ‖a‖₂ = √5; sample 2: 7, 5
    assert f["hoyer"](A, time_major=False).item() == pytest.approx((3 / math.sqrt(5) + 7 / 5) / 2)
    assert f["hoyer_square"](A, time_major=False).item() == pytest.approx((9 / 5 + 49 / 25) / 2)
    fan = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert f["synops"](A, fanout=fan, time_major=False).item() == pytest.approx(
        ((1 + 6) + (6 + 16)) / 2)
    assert f["target_rate"](A, target=0.5, time_major=False).item() == pytest.approx(
        ((0.5 - 0.5) ** 2 + (1.5 - 0.5) ** 2 + (1 - 0.5) ** 2 + (2 - 0.5) ** 2) / 4)


def test_time_major_spikes():
    s = torch.zeros(4, 2, 3)
    s[0, 0, 0] = s[1, 0, 0] = s[2, 1, 2] = 1.0  # sample 0: 2 spikes, sample 1: 1
    f = REGULARIZERS.get
    assert f("hoyer")(s).item() == pytest.approx((2 / math.sqrt(2) + 1) / 2)
    fan = torch.tensor([5.0, 1.0, 2.0])
    # per time step: (2·5 + 1·2) / (T=4 · B=2)
    assert f("synops")(s, fanout=fan).item() == pytest.approx((10 + 2) / 8)
    rates = torch.tensor([2 / 8, 0, 1 / 8])
    assert f("target_rate")(s, target=0.0).item() == pytest.approx(float(rates.square().mean()))


@pytest.mark.parametrize("name", ["l1", "l2", "hoyer", "hoyer_square", "target_rate"])
def test_gradients_match_autograd_of_the_formula(name):
    a = (torch.rand(3, 5, dtype=torch.float64) + 0.1).requires_grad_()
    fn = REGULARIZERS.get(name)
    assert torch.autograd.gradcheck(lambda t: fn(t, time_major=False), (a,))


def test_hoyer_gradient_hand_computed():
    a = torch.tensor([[3.0, 4.0]], requires_grad=True)  # ‖a‖₁ = 7, ‖a‖₂ = 5
    REGULARIZERS.get("hoyer")(a, time_major=False).backward()
    # d/da_i (L1/L2) = 1/L2 − L1·a_i/L2³
    want = torch.tensor([[1 / 5 - 7 * 3 / 125, 1 / 5 - 7 * 4 / 125]])
    torch.testing.assert_close(a.grad, want)


def test_fanout_counts_nonzero_synapses():
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))
    assert fanout_of(lin, torch.Size([3])).tolist() == [1, 0, 2]
    conv = nn.Conv2d(2, 4, 3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, 0, 1, 1] = 1.0
    assert fanout_of(conv, torch.Size([2, 5, 5])).tolist() == [4, 0]


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    p = torch.full((64, 8), 0.2)
    p[y == 0, :4] = 0.9
    p[y == 1, 4:] = 0.9
    return TensorDataset((torch.rand(64, 6, 8, generator=g) < p[:, None]).float(), y)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(Flatten(), TimeDistributed(nn.Linear(8, 64)), LIF(beta=0.8),
                         TimeDistributed(nn.Linear(64, 2)))


def _rate(model: nn.Module, data: TensorDataset) -> float:
    rates = []
    h = model[2].register_forward_hook(lambda m, i, o: rates.append(float(o.mean())))
    with torch.no_grad():
        model(data.tensors[0].transpose(0, 1).contiguous())
    h.remove()
    return rates[0]


@pytest.mark.parametrize("name,weight", [("l1", 50.0), ("synops", 1.0)])
def test_strong_regularizer_lowers_activity(name, weight):
    data = _data()
    cfg = TrainConfig(epochs=3, batch_size=16, lr=5e-3)
    plain = _model()
    fit(plain, data, None, cfg, device="cpu", progress=False)
    reg_model = _model()
    reg = ActivityRegularizer(reg_model, name, weight)
    fit(reg_model, data, None, cfg, device="cpu", progress=False, regularizer=reg)
    reg.remove()
    assert _rate(reg_model, data) < 0.75 * _rate(plain, data)  # measured: 0.049 vs 0.086


def test_regularizer_errors_and_yaml():
    with pytest.raises(SpikeliteError, match="unknown regularizer 'l0'"):
        ActivityRegularizer(_model(), "l0")
    with pytest.raises(SpikeliteError, match="not in the model"):
        ActivityRegularizer(_model(), "l1", layers=["lif9"])
    with pytest.raises(SpikeliteError, match="no layer to regularize"):
        ActivityRegularizer(nn.Sequential(nn.Linear(2, 2)), "l1")
    cfg = parse_config({"regularizer": {"name": "hoyer", "weight": 1e-3, "layers": "all"}})
    assert cfg.regularizer.name == "hoyer"
    with pytest.raises(SpikeliteError, match="regularizer.name"):
        parse_config({"regularizer": {"name": "hoyr"}})
