"""Schaefer et al.'s isolation / cumulative / joint schedules on a toy problem."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikelite.compress import ScheduleConfig, run_schedule
from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.core.synaptic import weight_parametrizations
from spikelite.errors import SpikeliteError
from spikelite.prune import mask_of
from spikelite.quant import fake_quant_of
from spikelite.train import TrainConfig


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    p = torch.full((64, 8), 0.1)
    p[y == 0, :4] = 0.8
    p[y == 1, 4:] = 0.8
    return TensorDataset((torch.rand(64, 4, 8, generator=g) < p[:, None]).float(), y)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(Flatten(), TimeDistributed(nn.Linear(8, 32)), LIF(beta=0.8),
                         TimeDistributed(nn.Linear(32, 2)))


TCFG = TrainConfig(batch_size=16, lr=5e-3, epochs=1)


def test_joint_has_mask_after_quantizer_and_exact_sparsity():
    data = _data()
    model, rec = run_schedule(_model(), data, data,
                              ScheduleConfig("joint", "duq", 2, sparsity=0.5, epochs=2), TCFG)
    for layer in (model[1].module, model[3].module):
        plist = weight_parametrizations(layer)
        assert [type(p).__name__ for p in plist] == ["FakeQuant", "WeightMask"]
    assert rec.sparsity >= 0.5
    assert [s["stage"] for s in rec.stages] == ["pretrained", "joint fine-tune"]
    assert set(rec.quant) == {"1.module", "3.module"}


def test_cumulative_quantizes_after_pruned_fine_tuning():
    data = _data()
    model = _model()
    w0 = model[1].module.weight.detach().clone()
    model, rec = run_schedule(model, data, data,
                              ScheduleConfig("cumulative", "duq", 4, sparsity=0.75, epochs=3,
                                             prune_epochs=2, scope="layer"), TCFG)
    assert [s.get("epochs") for s in rec.stages[1:]] == [2, 1]
    layer = model[1].module
    assert [type(p).__name__ for p in weight_parametrizations(layer)] == ["FakeQuant",
                                                                          "WeightMask"]
    assert rec.sparsity == pytest.approx(0.75)
    # the mask came from the pretrained weights: the kept ones are the largest of w0
    keep = mask_of(layer).mask
    assert w0.abs()[keep].min() >= w0.abs()[~keep].max()
    # DuQ's a was initialised from the fine-tuned (latent) weights, not the pretrained ones
    fq = fake_quant_of(layer)
    latent = layer.parametrizations.weight.original.detach()
    assert fq is not None and fq.bits == 4
    assert not torch.equal(latent, w0)


def test_isolation_variants():
    data = _data()
    _, q_only = run_schedule(_model(), data, data,
                             ScheduleConfig("isolation", "duq", 2, sparsity=0.0, epochs=1), TCFG)
    assert q_only.sparsity == 0.0 and q_only.quant and q_only.zero_fraction > 0
    _, p_only = run_schedule(_model(), data, data,
                             ScheduleConfig("isolation", "duq", 8, sparsity=0.8, epochs=1), TCFG)
    assert p_only.sparsity >= 0.8
    with pytest.raises(SpikeliteError, match="isolation means one technique"):
        ScheduleConfig("isolation", "duq", 2, sparsity=0.8)


@pytest.mark.parametrize("kw,match", [({"schedule": "sequential"}, "unknown schedule"),
                                      ({"sparsity": 1.0}, "sparsity must be"),
                                      ({"schedule": "cumulative", "epochs": 2,
                                        "prune_epochs": 2}, "prune_epochs")])
def test_schedule_config_errors(kw, match):
    with pytest.raises(SpikeliteError, match=match):
        ScheduleConfig(**kw)
