"""Spike encoders for static inputs."""

from __future__ import annotations

import pytest
import torch

from spikelite.data import ENCODERS, direct, encode, latency, rate
from spikelite.errors import SpikeliteError


@pytest.mark.parametrize("name", ENCODERS.names())
def test_every_encoder_is_time_major(name: str) -> None:
    x = torch.rand(2, 3, 4)
    out = encode(x, 5, name, generator=torch.Generator().manual_seed(0))
    assert out.shape == (5, 2, 3, 4) and out.dtype == torch.float32


def test_direct_repeats_exactly() -> None:
    x = torch.tensor([[0.0, 0.25], [0.5, 1.0]])
    out = direct(x, 3)
    assert all(torch.equal(out[t], x) for t in range(3))
    out[0, 0, 0] = 9.0  # a real copy, not a view of x
    assert x[0, 0] == 0.0


def test_rate_mean_matches_probability_and_is_seeded() -> None:
    x = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0]).repeat(2000)
    out = rate(x, 20, generator=torch.Generator().manual_seed(3))
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    means = out.mean(dim=0).view(2000, 5).mean(dim=0)
    torch.testing.assert_close(means, torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0]), atol=0.01, rtol=0)
    again = rate(x, 20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, again)


def test_latency_spike_times() -> None:
    # T = 5: t = floor((1 - x) * 4 + 0.5)
    x = torch.tensor([1.0, 0.5, 0.25, 0.0, 0.9, 0.125])
    out = latency(x, 5)
    assert out.sum(dim=0).tolist() == [1, 1, 1, 0, 1, 1]
    times = out.argmax(dim=0).tolist()
    assert [times[i] for i in (0, 1, 2, 4, 5)] == [0, 2, 3, 0, 4]  # 0.125 → 3.5 → 4 (half up)


def test_latency_threshold() -> None:
    out = latency(torch.tensor([0.2, 0.6]), 4, threshold=0.5)
    assert out.sum(dim=0).tolist() == [0, 1]


def test_validation() -> None:
    with pytest.raises(SpikeliteError, match=r"\[0, 1\]"):
        rate(torch.tensor([1.5]), 3)
    with pytest.raises(SpikeliteError, match="time_steps"):
        direct(torch.tensor([0.5]), 0)
    with pytest.raises(SpikeliteError, match="direct, latency, rate"):
        encode(torch.tensor([0.5]), 3, "poisson")
