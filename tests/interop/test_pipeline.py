"""A converted network through spikelite's own APIs: profile, quantize + prune, fine-tune,
bake, export (NIR) — unchanged: Norse's Lift (called once on the sequence); the other peers'
networks go through the same and back into the peer in test_acceptance.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikelite.data.base import FrameDataset
from spikelite.hardware.profiler import profile
from spikelite.interop import from_foreign
from spikelite.prune.unstructured import prune_unstructured_
from spikelite.quant import bake, quantize_
from spikelite.train import evaluate
from spikelite.train.config import TrainConfig
from spikelite.train.engine import fit

from .nets import IN_SHAPE, PEERS


def _data(n: int, seed: int) -> FrameDataset:
    g = torch.Generator().manual_seed(seed)
    frames = (torch.rand(n, 4, *IN_SHAPE, generator=g) < 0.4).to(torch.uint8)
    labels = np.arange(n) % 5
    return FrameDataset(frames, labels, classes=5, name="tiny")


@pytest.mark.parametrize("key", ["norse-lift"])  # the others: test_acceptance.py
def test_converted_model_through_spikelite(key: str, tmp_path) -> None:
    package, build = PEERS[key]
    pytest.importorskip(package)
    pytest.importorskip("nir")
    from spikelite.export import to_nir
    from spikelite.export.nir import write_nir

    torch.manual_seed(0)
    model = from_foreign(build(), input_shape=IN_SHAPE, time_steps=4)
    train, test = _data(16, 0), _data(8, 1)

    report = profile(model, test, limit=8, batch_size=8)
    assert report.samples == 8 and report.layers

    quantize_(model, "rescaw", 4)
    prune_unstructured_(model, 0.5)
    res = fit(model, train, test, TrainConfig(epochs=1, batch_size=8, lr=1e-3),
              device="cpu", progress=False)
    assert res.history
    acc = evaluate(model, test, device="cpu")["accuracy"]
    assert 0.0 <= acc <= 1.0

    plain, sidecars = bake(model)
    assert sidecars and all(s.bits == 4 for s in sidecars.values() if s.bits is not None)
    weights = [m.weight for m in plain.modules() if isinstance(m, (torch.nn.Conv2d,
                                                                    torch.nn.Linear))]
    assert sum(int((w == 0).sum()) for w in weights) >= 0.45 * sum(w.numel() for w in weights)
    path = write_nir(to_nir(plain.eval(), sidecars=sidecars), tmp_path / "net.nir")
    assert path.stat().st_size > 0
