"""Activity regularizers: values and gradients on hand-made tensors, training effect."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.core.neurons import reset_states
from spikelite.errors import SpikeliteError
from spikelite.records import parse_record
from spikelite.regularize import REGULARIZERS, ActivityRegularizer, fanout_of
from spikelite.train import TrainConfig, fit
from spikelite.train.run import RunConfig

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
    cfg = parse_record({"regularizer": {"name": "hoyer", "weight": 1e-3, "layers": "all"}},
                       "config", RunConfig)
    assert cfg.regularizer.name == "hoyer"
    with pytest.raises(SpikeliteError, match="regularizer.name"):
        parse_record({"regularizer": {"name": "hoyr"}}, "config", RunConfig)


def _two_layer() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(Flatten(), TimeDistributed(nn.Linear(8, 16)), LIF(beta=0.8),
                         TimeDistributed(nn.Linear(16, 4)), LIF(beta=0.8))


def _pre_reset_membranes(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Hand reference: the pre-reset membrane h_t = β·v_{t−1} + I_t, reset to zero."""
    out, a = [], x
    for m in model:
        if isinstance(m, LIF):
            v, hs, ss = torch.zeros_like(a[0]), [], []
            for xt in a:
                h = 0.8 * v + xt
                s = (h >= 1.0).float()
                v = h * (1 - s)
                hs.append(h)
                ss.append(s)
            out.append(torch.stack(hs))
            a = torch.stack(ss)
        else:
            a = m(a)
    return out


def test_membrane_regularizer_sees_the_pre_reset_membrane_with_gradients():
    model = _two_layer().train()
    x = (torch.rand(5, 3, 8, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    ref = [h.detach() for h in _pre_reset_membranes(model, x)]
    reg = ActivityRegularizer(model, "l2", {"2": 0.5, "4": 2.0}, source="membrane")
    spikes = model(x)
    pen = reg.penalty()
    expected = 0.5 * ref[0].square().mean() + 2.0 * ref[1].square().mean()
    torch.testing.assert_close(pen, expected, rtol=1e-6, atol=1e-7)
    pen.backward()
    assert model[1].module.weight.grad is not None
    assert float(model[1].module.weight.grad.abs().sum()) > 0
    reg.remove()
    assert model[2].membrane_sink is None and model[4].membrane_sink is None
    reset_states(model)
    with torch.no_grad():  # while hooked (eager path) the spikes equal the fused ones
        torch.testing.assert_close(model(x), spikes.detach())


def test_per_layer_weights_scale_each_layer_and_zero_drops_it():
    model = _two_layer().train()
    x = (torch.rand(5, 3, 8, generator=torch.Generator().manual_seed(2)) < 0.6).float()
    rates: dict[str, torch.Tensor] = {}
    for n in ("2", "4"):
        model[int(n)].register_forward_hook(lambda m, i, o, n=n: rates.__setitem__(n, o))
    reg = ActivityRegularizer(model, "l1", {"2": 3.0, "4": 0.0})
    model(x)
    torch.testing.assert_close(reg.penalty(), 3.0 * rates["2"].mean())
    assert reg.weights == {"2": 3.0, "4": 0.0}


def test_strong_membrane_regularizer_lowers_the_membrane():
    data = _data()
    cfg = TrainConfig(epochs=3, batch_size=16, lr=5e-3)

    def mean_abs_h(model: nn.Module) -> float:
        hs: list[torch.Tensor] = []
        model[2].membrane_sink = hs.append
        with torch.no_grad():
            model(data.tensors[0].transpose(0, 1).contiguous())
        model[2].membrane_sink = None
        return float(hs[0].abs().mean())

    plain = _model()
    fit(plain, data, None, cfg, device="cpu", progress=False)
    reg_model = _model()
    reg = ActivityRegularizer(reg_model, "l2", 10.0, source="membrane")
    fit(reg_model, data, None, cfg, device="cpu", progress=False, regularizer=reg)
    reg.remove()
    assert mean_abs_h(reg_model) < 0.8 * mean_abs_h(plain)  # measured: 0.568 vs 0.773


def test_membrane_and_per_layer_errors_and_yaml():
    with pytest.raises(SpikeliteError, match="counts spikes/events"):
        ActivityRegularizer(_model(), "synops", source="membrane")
    with pytest.raises(SpikeliteError, match="no membrane"):
        ActivityRegularizer(_model(), "l1", layers=["1"], source="membrane")
    with pytest.raises(SpikeliteError, match="differ"):
        ActivityRegularizer(_two_layer(), "l1", {"2": 1.0}, layers=["4"])
    with pytest.raises(SpikeliteError, match=">= 0"):
        ActivityRegularizer(_two_layer(), "l1", {"2": -1.0})
    with pytest.raises(SpikeliteError, match="'spikes' or 'membrane'"):
        ActivityRegularizer(_two_layer(), "l1", source="voltage")
    relu = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with pytest.raises(SpikeliteError, match="no spikelite neuron \\("):
        ActivityRegularizer(relu, "l1", source="membrane")
    cfg = parse_record({"regularizer": {"name": "hoyer", "source": "membrane",
                                        "weight": {"lif1": 1e-3, "lif2": 1e-4}}},
                       "config", RunConfig)
    assert cfg.regularizer.label == "hoyer@membrane:{lif1=0.001,lif2=0.0001}"
    for bad in ({"source": "voltage"}, {"weight": {"lif1": -1}}, {"weight": {}}):
        with pytest.raises(SpikeliteError, match="regularizer"):
            parse_record({"regularizer": bad}, "config", RunConfig)


@pytest.mark.parametrize("shape", [(10, 4, 3, 5, 5), (7, 33)])
def test_l1_gradient_is_autograds_bit_for_bit(shape: tuple[int, ...]) -> None:
    """The fused ``l1`` gives the same value (to rounding) and exactly the gradient of
    ``a.abs().mean()``, zeros (spikes not fired: gradient 0) and negatives included."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(shape, generator=g)
    a = torch.where(torch.rand(shape, generator=g) < 0.5, torch.zeros(()), a)
    a1, a2 = a.clone().requires_grad_(), a.clone().requires_grad_()
    v1, v2 = REGULARIZERS.get("l1")(a1), a2.abs().mean()
    assert v1.item() == pytest.approx(v2.item(), rel=1e-6)
    (3.0 * v1).backward()
    (3.0 * v2).backward()
    assert torch.equal(a1.grad, a2.grad)
    assert (a1.grad[a == 0] == 0).all()
