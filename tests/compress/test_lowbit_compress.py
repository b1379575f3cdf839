"""Low-bit fine-tuning through the compression entry point, recipes, keys and the CLI."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikelite.cli.compress import _parse_distill
from spikelite.compress import CompressionSpec, compress_model
from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.sweep.recipe import _canonical
from spikelite.train import fit
from spikelite.train.config import FinetuneSpec


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(48) % 2
    p = torch.full((48, 8), 0.1)
    p[y == 0, :4] = 0.8
    p[y == 1, 4:] = 0.8
    return TensorDataset((torch.rand(48, 4, 8, generator=g) < p[:, None]).float(), y)


def _trained() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(Flatten(), TimeDistributed(nn.Linear(8, 16)), LIF(beta=0.8),
                      TimeDistributed(nn.Linear(16, 2)))
    fit(m, _data(), None, FinetuneSpec(epochs=1, batch_size=16, lr=5e-3), progress=False,
        device="cpu")
    return m


def test_joint_ternary_with_distillation_records_the_teacher_cost() -> None:
    data = _data()
    model = _trained()
    ft = FinetuneSpec(epochs=2, batch_size=16, lr=5e-3, distill={"temperature": 2},
                      quant_init="mse", bn_reestimate=True)
    spec = CompressionSpec(schedule="joint", scheme="duq", bits=2, method="magnitude",
                           sparsity=0.5)
    res = compress_model(model, data, data, spec, ft, seed=0, device="cpu")
    low = res.stages[-1]["lowbit"]
    assert low["epochs_run"] == 2 and low["teacher_seconds"] > 0
    assert low["teacher_calls"] == 2 * 3  # one teacher forward per step (48 / 16 per epoch)
    assert all(p.requires_grad for p in model.parameters())


def test_stage_epochs_must_fit_bit_schedule_and_cycles() -> None:
    spec = CompressionSpec(schedule="cumulative", scheme="duq", bits=2, method="magnitude",
                           sparsity=0.5)
    with pytest.raises(SpikeliteError, match="bit_schedule"):
        spec.check(FinetuneSpec(epochs=3, bit_schedule=[8, 4]))
    spec.check(FinetuneSpec(epochs=6, bit_schedule=[8, 4]))


def test_run_keys_of_existing_finetune_settings_do_not_change() -> None:
    ft = FinetuneSpec(epochs=2)
    old = {k: v for k, v in ft.model_dump().items()
           if k in ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "momentum",
                    "warmup_epochs", "lr_schedule", "loss", "seed", "grad_clip",
                    "eval_batch_size")}
    assert _canonical({"finetune": ft.model_dump()}) == _canonical({"finetune": old})
    kd = FinetuneSpec(epochs=2, distill={})
    assert _canonical({"finetune": kd.model_dump()}) != _canonical({"finetune": old})


def test_cli_distill_flag() -> None:
    assert _parse_distill("4:0.5") == {"temperature": 4.0, "alpha": 0.5}
    assert _parse_distill("2") == {"temperature": 2.0}
    assert _parse_distill(None) is None
    with pytest.raises(SpikeliteError, match="TEMPERATURE:ALPHA"):
        _parse_distill("hot")
