"""Low-bit fine-tuning: BN re-estimation, MSE quantizer ranges, progressive bits, early
stopping, extra epochs and option validation."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.quant import fake_quant_of, quantize_
from spikelite.quant.range_init import duq_mse_range, lsq_mse_step, mse_init_
from spikelite.quant.schemes.duq import duq_init
from spikelite.train import fit
from spikelite.train.bn import reestimate_bn_
from spikelite.train.config import FinetuneSpec
from spikelite.train.lowbit import LowBitFinetuner, split_epochs


def _data(n: int = 48) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    p = torch.full((n, 8), 0.1)
    p[y == 0, :4] = 0.8
    p[y == 1, 4:] = 0.8
    return TensorDataset((torch.rand(n, 4, 8, generator=g) < p[:, None]).float(), y)


def _model(bn: bool = False) -> nn.Module:
    torch.manual_seed(0)
    mid = [TimeDistributed(nn.BatchNorm1d(16))] if bn else []
    return nn.Sequential(Flatten(), TimeDistributed(nn.Linear(8, 16)), *mid, LIF(beta=0.8),
                         TimeDistributed(nn.Linear(16, 2)))


def test_bn_reestimation_is_the_average_of_the_batch_statistics() -> None:
    torch.manual_seed(3)
    x = torch.randn(40, 3, 4) * torch.tensor([1.0, 5.0, 0.1, 100.0]) + 7.0  # [N, T, C]
    data = TensorDataset(x, torch.zeros(40, dtype=torch.long))
    model = nn.Sequential(TimeDistributed(nn.BatchNorm1d(4)))
    model[0].module.running_mean.fill_(123.0)
    used = reestimate_bn_(model, data, batches=3, batch_size=8, seed=5)
    assert used == 3
    loader = DataLoader(data, batch_size=8, shuffle=True,
                        generator=torch.Generator().manual_seed(5))
    batches = [b.transpose(0, 1).reshape(-1, 4) for b, _ in list(loader)[:3]]
    mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    var = torch.stack([b.var(0, unbiased=True) for b in batches]).mean(0)
    bn = model[0].module
    torch.testing.assert_close(bn.running_mean, mean, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(bn.running_var, var, rtol=1e-5, atol=1e-3)
    assert bn.momentum == 0.1 and model.training  # restored
    assert reestimate_bn_(_model(), data) == 0  # no BatchNorm: nothing to do
    with pytest.raises(SpikeliteError, match="batches >= 1"):
        reestimate_bn_(model, data, batches=0)


def test_mse_ranges_beat_the_default_duq_init_at_two_bits() -> None:
    w = torch.randn(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    w[0] = 40.0  # an outlier: max|w| far above the bulk

    def duq_err(a: float, c: float) -> float:
        k = torch.round((w / a).clamp(-1, 1))
        return float((w - c * k).square().sum())

    a, c = duq_mse_range(w, 2)
    a0 = float(duq_init(w))
    assert duq_err(a, c) < duq_err(a0, a0)
    # c is the least-squares scale for the codes a gives
    k = torch.round((w / a).clamp(-1, 1))
    assert c == pytest.approx(float((w * k).sum() / (k * k).sum()), rel=1e-9)
    s = lsq_mse_step(w, 2)
    assert float((w - s * torch.round(w / s).clamp(-2, 1)).square().sum()) <= float(
        (w - 0.5 * torch.round(w / 0.5).clamp(-2, 1)).square().sum())
    assert duq_mse_range(torch.zeros(5), 2) == (1e-8, 1e-8)


def test_mse_init_sets_duq_and_lsq_layers_only() -> None:
    model = _model()
    quantize_(model, "duq", 2, overrides={"3.module": {"scheme": "lsq", "bits": 3}})
    names = mse_init_(model)
    assert names == ["1.module", "3.module"]
    fq = fake_quant_of(model[1].module)
    a, c = duq_mse_range(model[1].module.parametrizations.weight.original, 2)
    assert float(fq.a.detach()) == pytest.approx(a)
    assert float(fq.c.detach()) == pytest.approx(c)
    other = _model()
    quantize_(other, "rescaw", 2)
    assert mse_init_(other) == []


def test_plain_finetune_spec_is_exactly_fit() -> None:
    data = _data()
    a, b = _model(), _model()
    cfg = FinetuneSpec(epochs=1, batch_size=16, lr=1e-2)
    fit(a, data, data, cfg, progress=False, device="cpu")
    res = LowBitFinetuner()(b, data, data, cfg, progress=False, device="cpu")
    assert type(res).__name__ == "FitResult"
    for (_, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q)


def test_early_stopping_stops_at_patience() -> None:
    data = _data()
    cfg = FinetuneSpec(epochs=6, batch_size=16, lr=1e-9, patience=2)  # accuracy frozen
    res = LowBitFinetuner()(_model(), data, data, cfg, progress=False, device="cpu")
    assert res.epochs_run == 3 and res.stopped_early and len(res.history) == 3
    assert [h["epoch"] for h in res.history] == [1, 2, 3]


def test_extra_epochs_while_far_from_the_reference() -> None:
    data = _data()
    cfg = FinetuneSpec(epochs=1, batch_size=16, lr=1e-9, max_epochs=3)
    res = LowBitFinetuner(reference_accuracy=2.0)(_model(), data, data, cfg, progress=False,
                                                  device="cpu")
    assert res.epochs_run == 3 and res.extended == 2
    res = LowBitFinetuner(reference_accuracy=0.0)(_model(), data, data, cfg, progress=False,
                                                  device="cpu")
    assert res.epochs_run == 1 and res.extended == 0
    with pytest.raises(SpikeliteError, match="baseline accuracy"):
        LowBitFinetuner()(_model(), data, data, cfg, progress=False, device="cpu")


def test_progressive_bits_and_freezing_restore_the_target() -> None:
    data = _data()
    model = _model(bn=True)
    quantize_(model, "duq", 2)
    fq = fake_quant_of(model[1].module)
    seen: list[int] = []
    cfg = FinetuneSpec(epochs=3, batch_size=16, lr=1e-2, bit_schedule=[8, 4],
                       freeze_quantizers=0.5, quant_init="mse", bn_reestimate=True)
    res = LowBitFinetuner()(model, data, data, cfg, progress=False, device="cpu",
                            on_epoch=lambda r: seen.append(fq.bits))
    assert seen == [8, 4, 2] and fq.bits == 2
    assert [s["bits"] for s in res.segments] == [8, 4, 0]
    assert res.best_epoch == 3  # only target-width epochs count
    assert fq.a.requires_grad and fq.c.requires_grad


def test_options_are_validated_with_clear_errors() -> None:
    for bad, msg in [({"bit_schedule": [4, 8]}, "strictly decreasing"),
                     ({"bit_schedule": [1]}, "2–16"),
                     ({"freeze_quantizers": 1.0}, r"\(0, 1\)"),
                     ({"patience": 0}, "patience"),
                     ({"epochs": 3, "max_epochs": 2}, "max_epochs"),
                     ({"epochs": 2, "cycles": 3}, "cycles"),
                     ({"quant_init": "gauss"}, "mse"),
                     ({"bn_batches": 0}, "bn_batches")]:
        with pytest.raises((ValidationError, ValueError, SpikeliteError), match=msg):
            FinetuneSpec(**bad)
    with pytest.raises(SpikeliteError, match="progressive bit phase"):
        split_epochs(2, 3, 1)
    assert split_epochs(7, 3, 2) == [2, 2, 2, 1]
    with pytest.raises(SpikeliteError, match="teacher"):
        LowBitFinetuner()(_model(), _data(), None, FinetuneSpec(epochs=1, distill={}),
                          progress=False, device="cpu")


def test_exactly_extend_below_under_the_reference_is_not_extended() -> None:
    from spikelite.train.lowbit import far_below

    assert far_below(0.96, 0.9499, 1.0) and not far_below(0.96, 0.95, 1.0)
    assert (0.96 - 0.95) * 100 > 1.0  # the rounding the helper guards against
    data = _data()
    cfg = FinetuneSpec(epochs=1, batch_size=16, lr=1e-9, max_epochs=3)  # accuracy frozen
    acc = LowBitFinetuner(reference_accuracy=0.0)(_model(), data, data, cfg, progress=False,
                                                  device="cpu").best_accuracy
    res = LowBitFinetuner(reference_accuracy=acc + 0.01)(_model(), data, data, cfg,
                                                         progress=False, device="cpu")
    assert res.epochs_run == 1 and res.extended == 0
    res = LowBitFinetuner(reference_accuracy=acc + 0.0101)(_model(), data, data, cfg,
                                                           progress=False, device="cpu")
    assert res.extended == 2
