from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from spikelite.convert import (
    ConvertedIF,
    ann_to_snn,
    calibrate_thresholds,
    encode_input,
    fold_bn,
)
from spikelite.core import IF, TimeDistributed
from spikelite.errors import SpikeliteError

sys.path.insert(0, str(Path(__file__).parent))
from _digits import accuracy, digits_split, train_digits_mlp


def _randomize_bn(bn: nn.Module, g: torch.Generator) -> None:
    c = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(c, generator=g))
        bn.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.1)
        if bn.affine:
            bn.weight.copy_(torch.randn(c, generator=g))
            bn.bias.copy_(torch.randn(c, generator=g))


# -- BatchNorm folding ------------------------------------------------------------------
@pytest.mark.parametrize("affine", [True, False])
def test_fold_bn_linear_exact(affine: bool) -> None:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(12, 7), nn.BatchNorm1d(7, affine=affine), nn.ReLU(),
                        nn.Linear(7, 3, bias=False), nn.BatchNorm1d(3))
    for m in ann:
        if isinstance(m, nn.BatchNorm1d):
            _randomize_bn(m, g)
    ann.eval()
    folded = fold_bn(ann)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    assert [type(m) for m in folded] == [nn.Linear, nn.ReLU, nn.Linear]
    x = torch.randn(32, 12, generator=g)
    torch.testing.assert_close(folded(x), ann(x), rtol=1e-5, atol=1e-5)


def test_fold_bn_conv_exact_nested_and_ann_untouched() -> None:
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    ann = nn.Sequential(block, nn.AvgPool2d(2), nn.Conv2d(8, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 2 * 2, 5))
    for m in ann.modules():
        if isinstance(m, nn.BatchNorm2d):
            _randomize_bn(m, g)
    ann.eval()
    before = {k: v.clone() for k, v in ann.state_dict().items()}
    folded = fold_bn(ann)
    x = torch.randn(6, 3, 8, 8, generator=g)
    torch.testing.assert_close(folded(x), ann(x), rtol=1e-5, atol=1e-5)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in folded.modules())
    for k, v in ann.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_fold_bn_errors() -> None:
    with pytest.raises(SpikeliteError, match=r"'1'.*directly follow a Conv/Linear"):
        fold_bn(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(4)))
    ann = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False))
    with pytest.raises(SpikeliteError, match="track_running_stats"):
        fold_bn(ann)


# -- threshold balancing ---------------------------------------------------------------
def test_percentile_thresholds_at_most_max() -> None:
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Sequential(nn.Linear(32, 16), nn.ReLU()),
                        nn.Linear(16, 2))
    data = torch.randn(500, 10)
    mx = calibrate_thresholds(ann, data, "max")
    assert set(mx) == {"1", "2.1"}
    with torch.no_grad():
        a1 = torch.relu(ann[0](data))
    assert mx["1"] == pytest.approx(float(a1.max()), rel=1e-6)
    for p in (50.0, 99.0, 99.9, 100.0):
        pc = calibrate_thresholds(ann, data, "percentile", p)
        for k in mx:
            assert 0 < pc[k] <= mx[k] + 1e-9
    assert calibrate_thresholds(ann, data, "percentile", 100.0)["1"] == pytest.approx(mx["1"])
    assert calibrate_thresholds(ann, data, "percentile", 50.0)["1"] < mx["1"]
    # iterable of (x, y) batches gives the same result as one tensor
    batches = [(data[i:i + 100], None) for i in range(0, 500, 100)]
    assert calibrate_thresholds(ann, batches, "max") == pytest.approx(mx)


def test_calibration_argument_errors() -> None:
    ann = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    with pytest.raises(SpikeliteError, match="'max' or 'percentile'"):
        calibrate_thresholds(ann, torch.randn(4, 3), "mean")  # type: ignore[arg-type]
    with pytest.raises(SpikeliteError, match="percentile must be"):
        ann_to_snn(ann, torch.randn(4, 3), percentile=0)
    with pytest.raises(SpikeliteError, match="empty"):
        ann_to_snn(ann, [])
    with pytest.raises(SpikeliteError, match="time_steps"):
        ann_to_snn(ann, torch.randn(4, 3), time_steps=0)


# -- the IF mapping ----------------------------------------------------------------------
def test_if_rate_approximates_clipped_current_over_threshold() -> None:
    z = torch.linspace(-0.5, 3.0, 36).view(1, -1)  # constant currents
    theta = 2.0
    for v_init, tol in ((0.0, 1.0), (0.5, 0.5)):
        n = ConvertedIF(theta, v_init=v_init)
        assert isinstance(n, IF) and n.reset_mode == "subtract"
        for T in (10, 100):
            rate = n(z.expand(T, 1, 36).clone()).mean(0)
            n.reset()
            target = (z / theta).clamp(0, 1)
            assert (rate - target).abs().max() <= tol / T + 1e-6


def test_conv_net_time_mean_matches_ann_and_structure() -> None:
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.AvgPool2d(2), nn.Conv2d(6, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(8, 4))
    _randomize_bn(ann[1], torch.Generator().manual_seed(3))
    ann.eval()
    x = torch.rand(16, 2, 8, 8)
    snn = ann_to_snn(ann, x, threshold="max", time_steps=400)
    assert sum(isinstance(m, ConvertedIF) for m in snn) == 2
    assert all(isinstance(m, (ConvertedIF, TimeDistributed)) for m in list(snn)[:6])
    assert snn.thresholds == pytest.approx(calibrate_thresholds(ann, x, "max"))
    out_t = snn(encode_input(x, 5))
    assert out_t.shape == (5, 16, 4)
    with torch.no_grad():
        ref = ann(x)
    got = snn.simulate(x)
    err = (got - ref).abs().max() / ref.abs().max()
    assert err < 0.05


def test_net_ending_in_relu_uses_output_scale() -> None:
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(5, 6), nn.ReLU()).eval()
    x = torch.rand(20, 5)
    snn = ann_to_snn(ann, x, threshold="max", time_steps=500)
    with torch.no_grad():
        ref = ann(x)
    assert (snn.simulate(x) - ref).abs().max() <= ref.max() / 500 + 1e-5


# -- input coding ----------------------------------------------------------------------
def test_encode_input() -> None:
    x = torch.rand(4, 3)
    d = encode_input(x, 7)
    assert d.shape == (7, 4, 3) and torch.equal(d[3], x)
    g = torch.Generator().manual_seed(0)
    r = encode_input(x, 4000, "rate", generator=g)
    assert set(r.unique().tolist()) <= {0.0, 1.0}
    assert (r.mean(0) - x).abs().max() < 0.05
    with pytest.raises(SpikeliteError, match="'direct' or 'rate'"):
        encode_input(x, 3, "latency")  # type: ignore[arg-type]
    with pytest.raises(SpikeliteError, match=r"\[0, 1\]"):
        encode_input(x * 5, 3, "rate")


# -- unsupported layers ------------------------------------------------------------------
class _Custom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


@pytest.mark.parametrize(
    ("layer", "pattern"),
    [
        (nn.MaxPool2d(2), r"layer '2' \(MaxPool2d\).*replace MaxPool2d with AvgPool2d"),
        (nn.Sigmoid(), r"layer '2' \(Sigmoid\).*replace it with nn.ReLU"),
        (nn.GELU(), r"layer '2' \(GELU\).*nn.ReLU"),
        (nn.LeakyReLU(), r"layer '2' \(LeakyReLU\).*nn.ReLU"),
        (_Custom(), r"layer '2' \(_Custom\).*supports only"),
    ],
)
def test_unsupported_layers_name_layer_and_alternative(layer: nn.Module, pattern: str) -> None:
    ann = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), layer, nn.Flatten(), nn.Linear(2, 2))
    with pytest.raises(SpikeliteError, match=pattern):
        ann_to_snn(ann, torch.rand(2, 1, 6, 6))


def test_other_unsupported_inputs() -> None:
    with pytest.raises(SpikeliteError, match=r"layer '1.1' \(Softmax\).*remove the final"):
        ann_to_snn(nn.Sequential(nn.Linear(3, 2), nn.Sequential(nn.ReLU(), nn.Softmax(-1))),
                   torch.rand(2, 3))
    with pytest.raises(SpikeliteError, match="needs an nn.Sequential"):
        ann_to_snn(nn.Linear(3, 2), torch.rand(2, 3))


# -- end to end on digits ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    xtr, ytr, xte, yte = digits_split()
    ann = train_digits_mlp(xtr, ytr, epochs=30)
    return ann, xtr, xte, yte


def test_digits_snn_accuracy_within_one_point(digits) -> None:  # type: ignore[no-untyped-def]
    ann, xtr, xte, yte = digits
    with torch.no_grad():
        ann_acc = accuracy(ann(xte), yte)
    assert ann_acc > 90
    snn = ann_to_snn(ann, xtr, threshold="percentile", percentile=99.9, time_steps=200)
    assert abs(accuracy(snn.simulate(xte), yte) - ann_acc) <= 1.0
    g = torch.Generator().manual_seed(0)
    rate_acc = accuracy(snn.simulate(xte, 200, "rate", generator=g), yte)
    assert rate_acc >= ann_acc - 3.0


def test_digits_rates_approach_normalized_activations(digits) -> None:  # type: ignore[no-untyped-def]
    ann, xtr, xte, _ = digits
    snn = ann_to_snn(ann, xtr, threshold="max", v_init=0.0)
    acts = {}
    with torch.no_grad():
        h = xte
        for i, m in enumerate(ann):
            h = m(h)
            if isinstance(m, nn.ReLU):
                acts[str(i)] = h
    assert set(acts) == set(snn.thresholds)
    errs = {}
    for T in (20, 200):
        rates = snn.firing_rates(xte, T)
        errs[T] = {k: float((rates[k] - acts[k] / snn.thresholds[k]).abs().mean()) for k in acts}
    for k in acts:
        assert errs[200][k] < errs[20][k]
        assert errs[200][k] < 0.02


# -- channel-wise thresholds ----------------------------------------------------------------
def test_channel_thresholds_per_channel_at_most_max_and_silent_channels_get_one() -> None:
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(5 * 16, 7), nn.ReLU(), nn.Linear(7, 3))
    with torch.no_grad():
        ann[0].bias[3] = -100.0  # channel 3 never fires
    x = torch.rand(40, 2, 4, 4)
    mx = calibrate_thresholds(ann, x, "max", granularity="channel")
    pc = calibrate_thresholds(ann, x, "percentile", 90.0, granularity="channel")
    assert mx["1"].shape == (5,) and mx["4"].shape == (7,)
    with torch.no_grad():
        a1 = torch.relu(ann[0](x))
    torch.testing.assert_close(mx["1"][[0, 1, 2, 4]], a1.amax(dim=(0, 2, 3))[[0, 1, 2, 4]])
    assert float(mx["1"][3]) == 1.0 and float(pc["1"][3]) == 1.0
    for k in mx:
        assert bool((pc[k] <= mx[k] + 1e-6).all()) and bool((pc[k] > 0).all())
    layer = calibrate_thresholds(ann, x, "max")
    assert float(mx["1"][[0, 1, 2, 4]].max()) == pytest.approx(layer["1"], rel=1e-6)
    with pytest.raises(SpikeliteError, match="granularity"):
        calibrate_thresholds(ann, x, "max", granularity="neuron")  # type: ignore[arg-type]


def test_channel_wise_conversion_matches_the_ann() -> None:
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.AvgPool2d(2), nn.Conv2d(6, 8, 3), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8 * 2 * 2, 4))
    _randomize_bn(ann[1], torch.Generator().manual_seed(3))
    ann.eval()
    x = torch.rand(16, 2, 8, 8)
    snn = ann_to_snn(ann, x, threshold="max", granularity="channel", time_steps=400)
    neurons = [m for m in snn if isinstance(m, ConvertedIF)]
    assert [m.threshold.shape for m in neurons] == [(6,), (8,)]
    with torch.no_grad():
        ref = ann(x)
    err = (snn.simulate(x) - ref).abs().max() / ref.abs().max()
    assert err < 0.05


def test_channel_wise_thresholds_help_at_short_simulations(digits) -> None:  # type: ignore[no-untyped-def]
    ann, xtr, xte, yte = digits
    layer = ann_to_snn(ann, xtr, threshold="percentile")
    channel = ann_to_snn(ann, xtr, threshold="percentile", granularity="channel")
    acc = {T: (accuracy(layer.simulate(xte, T), yte), accuracy(channel.simulate(xte, T), yte))
           for T in (1, 2)}
    # measured (bench_digits.py, 20 epochs): T=1 44.06 → 83.90 %, T=2 96.78 → 98.19 %
    assert acc[1][1] > acc[1][0] + 10
    assert acc[2][1] >= acc[2][0]
    with torch.no_grad():
        ann_acc = accuracy(ann(xte), yte)
    assert abs(accuracy(channel.simulate(xte, 200), yte) - ann_acc) <= 1.0


def test_channel_wise_refuses_grouped_convs() -> None:
    ann = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(SpikeliteError, match="granularity='layer'"):
        ann_to_snn(ann, torch.rand(4, 2, 8, 8), granularity="channel")
