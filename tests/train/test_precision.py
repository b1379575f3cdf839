"""Mixed precision: bf16 autocast training, float32 membranes, exact fp32 default."""

from __future__ import annotations

import json

import pytest
import torch

from spikelite.core import IF, LIF
from spikelite.errors import SpikeliteError
from spikelite.train import TrainConfig, fit
from spikelite.train.precision import check_precision

from .test_engine import _toy_data, _toy_model

CFG = dict(epochs=2, batch_size=16, lr=1e-2, seed=3)


def test_bf16_membrane_integrates_in_float32():
    # a small current onto a large membrane: bf16 has 8 significant bits, so from h ≈ 1 on
    # a bf16 membrane grows by 2⁻⁷ (not 0.01) per step and fires at other steps
    T = 300
    x = torch.full((T, 1, 3), 0.01, dtype=torch.bfloat16)
    x[:, 0, 1] = 0.3
    x[:, 0, 2] = 0.0051
    ref_in = x.float()
    neuron = IF(threshold=2.0, reset="subtract")
    ref = neuron(ref_in)
    neuron.reset()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spikes = neuron(x)
    assert neuron.mem is not None and neuron.mem.dtype == torch.float32
    assert spikes.dtype == torch.float32 and torch.equal(spikes, ref)
    # without the cast the membrane would be bf16, and the spikes would differ
    low = IF(threshold=2.0, reset="subtract").to(torch.bfloat16)
    assert not torch.equal(low(x).float(), ref)


def test_lif_outside_autocast_keeps_its_dtype():
    x = torch.rand(5, 2, 4, dtype=torch.float64)
    assert LIF(beta=0.9)(x).dtype == torch.float64  # no autocast: nothing is cast


def test_bf16_training_learns_and_fp32_checkpoints_unchanged(tmp_path):
    data = _toy_data()
    m32, m16 = _toy_model(), _toy_model()
    r32 = fit(m32, data, data, TrainConfig(**CFG), device="cpu", progress=False,
              out_dir=tmp_path / "fp32")
    r16 = fit(m16, data, data, TrainConfig(**CFG, precision="bf16"), device="cpu",
              progress=False, out_dir=tmp_path / "bf16")
    assert r16.final_accuracy >= 0.9 and r32.final_accuracy >= 0.9
    assert r16.history[-1]["train_loss"] < r16.history[0]["train_loss"]
    for p in m16.parameters():  # weights and optimizer stay float32
        assert p.dtype == torch.float32
    w32, w16 = m32.state_dict(), m16.state_dict()
    assert any(not torch.equal(w32[k], w16[k]) for k in w32)  # not bit-identical
    # the fp32 default is stored as before mixed precision existed; bf16 is recorded
    train32 = json.loads((tmp_path / "fp32" / "last" / "config.json").read_text())["train"]
    train16 = json.loads((tmp_path / "bf16" / "last" / "config.json").read_text())["train"]
    assert "precision" not in train32 and train16["precision"] == "bf16"


def test_explicit_fp32_is_bit_identical_to_the_default():
    data = _toy_data()
    a, b = _toy_model(), _toy_model()
    fit(a, data, None, TrainConfig(**CFG), device="cpu", progress=False)
    fit(b, data, None, TrainConfig(**CFG, precision="fp32"), device="cpu", progress=False)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_fp16_path_with_grad_scaler(monkeypatch):
    # fp16 needs CUDA in spikelite; the scaler path itself runs on CPU when allowed
    import spikelite.train.engine as engine

    monkeypatch.setattr(engine, "check_precision", lambda precision, device: None)
    data = _toy_data()
    m = _toy_model()
    res = fit(m, data, data, TrainConfig(**CFG, precision="fp16"), device="cpu",
              progress=False)
    assert res.final_accuracy >= 0.9
    assert all(torch.isfinite(p).all() for p in m.parameters())


def test_bad_precision_is_one_line():
    with pytest.raises(SpikeliteError, match="fp16 needs CUDA"):
        fit(_toy_model(), _toy_data(), None, TrainConfig(**CFG, precision="fp16"),
            device="cpu", progress=False)
    with pytest.raises(SpikeliteError, match="unknown precision 'fp8'"):
        check_precision("fp8")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="half")
    with pytest.raises(SpikeliteError, match="float32 model"):
        fit(_toy_model().double(), _toy_data(), None, TrainConfig(**CFG, precision="bf16"),
            device="cpu", progress=False)
