"""``memory_format: channels_last``: conv nets train with NHWC feature maps, learn as well,
record the setting in their checkpoints and run keys, and leave the default untouched."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikelite.core import LIF, Flatten, MaxPool2d, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.train import TrainConfig, evaluate, fit
from spikelite.train.checkpoint import load_weights


def _bars(n: int = 96, T: int = 4) -> TensorDataset:
    """Two classes of 2×8×8 event frames: a vertical or a horizontal bar, plus noise."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = (torch.rand(n, T, 2, 8, 8, generator=g) < 0.05).float()
    x[y == 0, :, :, :, 3] = 1.0
    x[y == 1, :, :, 3, :] = 1.0
    return TensorDataset(x, y)


def _convnet() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 8, 3, padding=1)), TimeDistributed(nn.BatchNorm2d(8)),
        LIF(beta=0.8), TimeDistributed(MaxPool2d(2)), Flatten(),
        TimeDistributed(nn.Linear(8 * 4 * 4, 2)),
    )


CFG = dict(epochs=3, batch_size=16, lr=1e-2, seed=1)


def test_channels_last_training_learns_and_is_recorded(tmp_path):
    data = _bars()
    a, b = _convnet(), _convnet()
    ra = fit(a, data, data, TrainConfig(**CFG), device="cpu", progress=False,
             out_dir=tmp_path / "nchw")
    rb = fit(b, data, data, TrainConfig(**CFG, memory_format="channels_last"), device="cpu",
             progress=False, out_dir=tmp_path / "nhwc")
    assert ra.final_accuracy >= 0.9 and rb.final_accuracy >= 0.9
    assert b[0].module.weight.is_contiguous(memory_format=torch.channels_last)
    assert a[0].module.weight.is_contiguous()
    # recorded only when not the default, so contiguous checkpoints read as before
    ta = json.loads((tmp_path / "nchw" / "last" / "config.json").read_text())["train"]
    tb = json.loads((tmp_path / "nhwc" / "last" / "config.json").read_text())["train"]
    assert "memory_format" not in ta and tb["memory_format"] == "channels_last"
    # the checkpoint loads into a contiguous model and infers the same
    c = _convnet()
    load_weights(c, tmp_path / "nhwc" / "last")
    assert c[0].module.weight.is_contiguous()
    assert evaluate(c, data, device="cpu")["accuracy"] == evaluate(b, data, device="cpu")[
        "accuracy"]


def test_explicit_contiguous_is_bit_identical_to_the_default():
    data = _bars()
    a, b = _convnet(), _convnet()
    fit(a, data, None, TrainConfig(**CFG), device="cpu", progress=False)
    fit(b, data, None, TrainConfig(**CFG, memory_format="contiguous"), device="cpu",
        progress=False)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_unknown_memory_format_is_refused():
    with pytest.raises(SpikeliteError, match="memory_format: Input should be 'contiguous' or "
                       "'channels_last'"):
        TrainConfig(memory_format="nhwc")
