"""Fixed-point membrane state: saturation, levels, gradient mask."""

from __future__ import annotations

import pytest
import torch

from spikelite.core import LIF
from spikelite.core.state_quant import quantize_state
from spikelite.errors import SpikeliteError


def test_levels_and_saturation():
    v = torch.tensor([-5.0, -2.0, -0.26, 0.0, 0.1, 0.13, 1.74, 1.9, 3.0], requires_grad=True)
    q = quantize_state(v, 4, 2.0)  # step 0.25, codes −8..7 → [−2, 1.75]
    assert q.tolist() == [-2.0, -2.0, -0.25, 0.0, 0.0, 0.25, 1.75, 1.75, 1.75]
    q.sum().backward()
    assert v.grad.tolist() == [0, 1, 1, 1, 1, 1, 1, 0, 0]


def test_lif_with_state_bits_matches_manual_loop():
    x = torch.rand(6, 2, 5, generator=torch.Generator().manual_seed(0))
    lif = LIF(beta=0.9, state_bits=3, state_max=2.0)
    out = lif(x)
    v = torch.zeros(2, 5)
    ref = []
    for t in range(6):
        h = 0.9 * v + x[t]
        s = (h >= 1.0).float()
        v = quantize_state(h * (1 - s), 3, 2.0)
        ref.append(s)
    assert torch.equal(out, torch.stack(ref))
    assert torch.equal(lif.mem, v)


@pytest.mark.parametrize("bits,vmax", [(1, 2.0), (40, 2.0), (4, 0.0), (4, float("inf"))])
def test_bad_state_quant(bits, vmax):
    with pytest.raises(SpikeliteError):
        LIF(state_bits=bits, state_max=vmax)
