"""Charged-start neurons (core/converted.py) and the import paths they keep."""

from __future__ import annotations

import pytest
import torch

from spikelite.core.converted import ConvertedIF, PrechargedLIF
from spikelite.core.neurons import IF, LIF
from spikelite.errors import SpikeliteError


def test_convert_import_paths_still_give_the_core_neuron() -> None:
    import spikelite.convert
    import spikelite.convert.convert
    import spikelite.convert.graph

    assert spikelite.convert.ConvertedIF is ConvertedIF
    assert spikelite.convert.convert.ConvertedIF is ConvertedIF  # old pickles resolve
    assert spikelite.convert.graph.ConvertedIF is ConvertedIF
    assert issubclass(ConvertedIF, IF)


def test_precharged_lif_starts_at_rest_plus_v_init_theta() -> None:
    x = torch.zeros(1, 2, 3)
    n = PrechargedLIF(beta=0.9, threshold=2.0, v_init=0.25, reset="subtract")
    n(x)
    torch.testing.assert_close(n.mem, torch.full((2, 3), 0.9 * 0.5))  # v0 = 0.5, x = 0
    tau = PrechargedLIF(tau=2.0, threshold=1.0, v_reset=-1.0, v_init=0.5)
    tau(x)  # rest = v_reset = −1, v0 = −0.5; h = v + (0 − (v − v_reset))/τ = −0.75
    torch.testing.assert_close(tau.mem, torch.full((2, 3), -0.75))
    plain, still = LIF(beta=0.9), PrechargedLIF(beta=0.9)
    xs = torch.rand(5, 2, 3)
    assert torch.equal(plain(xs), still(xs))


def test_converted_if_keeps_its_start_and_range() -> None:
    n = ConvertedIF(torch.tensor([1.0, 2.0]), v_init=0.5)
    n(torch.zeros(1, 1, 2))
    torch.testing.assert_close(n.mem, torch.tensor([[0.5, 1.0]]))
    for bad in (-0.1, 1.0):
        with pytest.raises(SpikeliteError, match=r"\[0, 1\)"):
            PrechargedLIF(v_init=bad)
