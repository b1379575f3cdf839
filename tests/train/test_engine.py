"""Training engine: learning, determinism, resume, checkpoints, schedules, losses."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.train import LOSSES, TrainConfig, evaluate, fit, lr_factor, save_checkpoint
from spikelite.train.checkpoint import load_trainer_state, load_weights, read_config


def _toy_data(n: int = 96, T: int = 4, seed: int = 0) -> TensorDataset:
    """Two classes of rate-coded 6-d inputs: class k drives neurons 3k..3k+2 harder."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    p = torch.full((n, 6), 0.1)
    for k in (0, 1):
        p[y == k, 3 * k : 3 * k + 3] = 0.8
    x = (torch.rand(n, T, 6, generator=g) < p[:, None, :]).float()
    return TensorDataset(x, y)


def _toy_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        Flatten(), TimeDistributed(nn.Linear(6, 16)), LIF(beta=0.8),
        TimeDistributed(nn.Linear(16, 2)),
    )


CFG = TrainConfig(epochs=3, batch_size=16, lr=1e-2, seed=3)


def test_fit_learns_toy_problem():
    data = _toy_data()
    before = evaluate(_toy_model(), data, device="cpu")["accuracy"]
    model = _toy_model()
    res = fit(model, data, data, CFG, device="cpu", progress=False)
    assert len(res.history) == 3
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert before < 0.8 <= res.final_accuracy


def test_same_seed_same_weights():
    data = _toy_data()
    m1, m2 = _toy_model(), _toy_model()
    fit(m1, data, None, CFG, device="cpu", progress=False)
    fit(m2, data, None, CFG, device="cpu", progress=False)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_resume_equals_uninterrupted(tmp_path):
    data = _toy_data()
    full = _toy_model()
    fit(full, data, data, CFG, device="cpu", progress=False)
    with pytest.raises(_Interrupt):  # a crash after the second epoch
        fit(_toy_model(), data, data, CFG, out_dir=tmp_path, device="cpu", progress=False,
            on_epoch=lambda r: _stop_after(r, 2))
    resumed = _toy_model()
    res = fit(resumed, data, data, CFG, out_dir=tmp_path, resume=True, device="cpu",
              progress=False)
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


class _Interrupt(Exception):
    pass


def _stop_after(rec: dict, epoch: int) -> None:
    if rec["epoch"] == epoch:
        raise _Interrupt


def test_resume_after_interrupt_keeps_checkpoints(tmp_path):
    data = _toy_data()
    with pytest.raises(_Interrupt):
        fit(_toy_model(), data, data, CFG, out_dir=tmp_path, device="cpu", progress=False,
            on_epoch=lambda r: _stop_after(r, 1))
    state = load_trainer_state(tmp_path / "last")
    assert state is not None and state["epoch"] == 0
    assert read_config(tmp_path / "best")["train"]["epochs"] == 3


def test_checkpoint_roundtrip_and_no_unpickling(tmp_path):
    model = _toy_model()
    save_checkpoint(tmp_path / "ck", model, {"model": {"name": "x"}}, {"epoch": 1})
    other = _toy_model()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    load_weights(other, tmp_path / "ck")
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # a trainer state holding an arbitrary Python object must be refused, not executed
    (tmp_path / "ck" / "trainer.pt").write_bytes(pickle.dumps({"evil": _Interrupt()}))
    with pytest.raises(pickle.UnpicklingError):
        load_trainer_state(tmp_path / "ck")


def test_load_weights_shape_mismatch_is_clear(tmp_path):
    save_checkpoint(tmp_path / "ck", _toy_model(), {})
    wrong = nn.Sequential(Flatten(), TimeDistributed(nn.Linear(6, 8)))
    with pytest.raises(SpikeliteError, match="do not fit the model"):
        load_weights(wrong, tmp_path / "ck")


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(SpikeliteError, match="not a spikelite checkpoint"):
        read_config(tmp_path)


def test_lr_schedule_warmup_then_cosine():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, 10, "cosine") == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(50, 100, 0, "constant") == 1.0
    with pytest.raises(SpikeliteError, match="unknown schedule 'step'"):
        lr_factor(0, 10, 0, "step")


def test_losses_on_time_major_outputs():
    out = torch.randn(5, 4, 3)
    y = torch.tensor([0, 2, 1, 1])
    torch.testing.assert_close(LOSSES.get("ce")(out, y), F.cross_entropy(out.mean(0), y))
    rate = torch.rand(5, 4, 3)
    onehot = F.one_hot(y, 3).float()
    want = ((rate.mean(0) - onehot) ** 2).mean()
    torch.testing.assert_close(LOSSES.get("mse_rate")(rate, y), want)
    assert math.isfinite(float(LOSSES.get("ce")(out, y)))


@pytest.mark.parametrize(
    "kw,match",
    [({"epochs": 0}, "epochs must be >= 1"), ({"lr": 0.0}, "lr must be > 0"),
     ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
     ({"loss": "hinge"}, "unknown loss 'hinge'"),
     ({"warmup_epochs": 5, "epochs": 2}, "warmup_epochs must lie")],
)
def test_train_config_validation(kw, match):
    with pytest.raises(SpikeliteError, match=match):
        TrainConfig(**kw)


def test_batches_must_be_time_major():
    data = TensorDataset(torch.rand(8, 6), torch.zeros(8, dtype=torch.long))
    with pytest.raises(SpikeliteError, match="time-major"):
        fit(_toy_model(), data, None, TrainConfig(epochs=1), device="cpu", progress=False)
