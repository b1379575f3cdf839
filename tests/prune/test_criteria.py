"""Channel criteria: SVS against a direct SVD, SCA against a hand-written LIF, l1, random,
QP-SNN's Eq. 15 batch stability, data handling and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from spikelite.errors import SpikeliteError
from spikelite.models import create
from spikelite.prune.criteria import (
    CRITERIA,
    batch_stability,
    channel_scores,
    get_criterion,
    membrane_l1,
    pairwise_cosine,
    svs_ranks,
)
from spikelite.quant import quantize_


def test_svs_ranks_equal_direct_svd_on_hand_made_spikes():
    T, h, w = 4, 5, 6
    s = torch.zeros(T, 2, 4, h, w)
    s[:, 0, 1, 2, 3] = 1  # one pixel, every step: rank 1
    s[0, 0, 2] = torch.eye(h, w)  # identity at t = 0, a column at t = 1: rank 5
    s[1, 0, 2, :, 0] = 1
    s[:, 0, 3, 1, :] = 1  # one full row at all times and another one at half the steps
    s[:2, 0, 3, 4, :] = 1  # (rows proportional: rank 1)
    g = torch.Generator().manual_seed(0)
    s[:, 1] = (torch.rand(T, 4, h, w, generator=g) < 0.5).float()  # random maps
    ranks = svs_ranks(s)
    assert ranks[0].tolist() == [0, 1, 5, 1]
    avg = s.mean(0).numpy().astype(np.float64)
    direct = [[int((np.linalg.svd(avg[b, c], compute_uv=False) > 1e-6).sum()) for c in range(4)]
              for b in range(2)]
    assert ranks.tolist() == direct
    assert ranks.dtype == torch.float32 and ranks.shape == (2, 4)
    with pytest.raises(SpikeliteError, match="2-D spike maps"):
        svs_ranks(torch.zeros(3, 2, 4, 5))


class Frames(Dataset):
    """n samples ``x [T, 2, 8, 8]`` of random spikes, label 0."""

    def __init__(self, n: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = (torch.rand(n, 4, 2, 8, 8, generator=g) < 0.3).float()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], 0


def _record(model, name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(input current, output spikes) of neuron ``name`` for time-major ``x``."""
    got = {}
    h = getattr(model, name).register_forward_hook(
        lambda m, a, o: got.update(inp=a[0].clone(), out=o.clone()))
    with torch.no_grad():
        model.eval()(x)
    h.remove()
    return got["inp"], got["out"]


def test_svs_scores_average_ranks_over_samples_of_n_batches():
    torch.manual_seed(0)
    model = create("csnn", input_size=8)
    data = Frames(7)
    scores = channel_scores(model, "svs", DataLoader(data, batch_size=3), batches=2)
    assert set(scores) == {"conv1", "conv2"}
    x = data.x[:6].transpose(0, 1)  # the two batches: 6 samples (the 7th is not used)
    _, out = _record(model, "lif1", x)
    expected = svs_ranks(out).mean(0)
    assert torch.allclose(scores["conv1"], expected)
    # a Dataset is batched with batch_size; unequal batches are weighted by their samples
    by_ds = channel_scores(model, "svs", data, batches=5, batch_size=4)
    _, out = _record(model, "lif2", data.x.transpose(0, 1))
    assert torch.allclose(by_ds["conv2"], svs_ranks(out).mean(0))


def test_sca_is_the_l1_of_the_pre_reset_membrane():
    torch.manual_seed(1)
    model = create("csnn", input_size=8)  # β = 0.9, θ = 1, hard reset to 0
    data = Frames(4)
    scores = channel_scores(model, "sca", [(data.x, None)], batches=1)
    current, _ = _record(model, "lif1", data.x.transpose(0, 1))
    v = torch.zeros_like(current[0])
    total = torch.zeros(current.shape[1], current.shape[2])
    for xt in current:  # hand-written QP-SNN Eqs. 1–3 (β-form)
        u = 0.9 * v + xt
        total += u.abs().sum((-1, -2))
        v = u * (u < 1.0).float()
    expected = (total / current.shape[0]).mean(0)
    assert torch.allclose(scores["conv1"], expected, rtol=1e-5)
    assert torch.allclose(membrane_l1(model.lif1, current).mean(0), expected, rtol=1e-5)


def test_l1_uses_the_effective_quantized_weight_and_random_is_seeded():
    model = create("csnn", input_size=8)
    quantize_(model, "duq", 2)
    l1 = channel_scores(model, "l1")
    w = model.conv2.module.weight.detach()  # the fake-quantized weight
    assert torch.allclose(l1["conv2"], w.abs().sum((1, 2, 3)))
    r0, r0b, r1 = (channel_scores(model, "random", seed=s) for s in (0, 0, 1))
    assert torch.equal(r0["conv1"], r0b["conv1"]) and not torch.equal(r0["conv1"], r1["conv1"])


def test_pairwise_cosine_is_eq_15():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert math.isclose(pairwise_cosine(v), (0 + 2 / math.sqrt(2)) / 3)
    assert pairwise_cosine(torch.tensor([[1.0, 2.0], [2.0, 4.0]])) == pytest.approx(1.0)
    with pytest.raises(SpikeliteError, match="at least 2"):
        pairwise_cosine(torch.ones(1, 3))


def test_batch_stability_of_every_criterion():
    torch.manual_seed(2)
    model = create("csnn", input_size=8)
    loader = DataLoader(Frames(8), batch_size=2)
    for name in CRITERIA:
        stab = batch_stability(model, name, loader, batches=3)
        assert set(stab) == {"conv1", "conv2"}
        assert all(-1.0 <= v <= 1.0 + 1e-9 for v in stab.values()), name
    assert batch_stability(model, "l1", batches=3)["conv1"] == pytest.approx(1.0)
    assert batch_stability(model, "random", batches=5)["conv2"] < 0.95


def test_registry_and_errors():
    assert CRITERIA.names() == ["l1", "random", "sca", "svs"]
    assert get_criterion("svs", eps=1e-3).eps == 1e-3
    with pytest.raises(SpikeliteError, match="Valid pruning criterion names"):
        get_criterion("hrank")
    with pytest.raises(SpikeliteError, match="bad options"):
        get_criterion("svs", tol=1)
    model = create("csnn", input_size=8)
    with pytest.raises(SpikeliteError, match="needs data"):
        channel_scores(model, "svs")
    with pytest.raises(SpikeliteError, match="batches must be"):
        channel_scores(model, "svs", Frames(2), batches=0)
    with pytest.raises(SpikeliteError, match="no batch"):
        channel_scores(model, "sca", [])
    with pytest.raises(SpikeliteError, match="no conv"):
        channel_scores(create("mlp"), "l1")


def test_scoring_restores_the_training_mode():
    model = create("csnn", input_size=8).train()
    channel_scores(model, "svs", Frames(2), batches=1)
    assert model.training and model.lif1.mem is None
