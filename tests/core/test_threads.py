"""core.threads: the LIF time loops on one thread give the same spikes and gradients."""

from __future__ import annotations

import pytest
import torch

from spikelite.core import LIF
from spikelite.core.threads import intra_op_threads
from spikelite.errors import SpikeliteError


def test_scope_restores_thread_count() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with intra_op_threads(1, torch.device("cpu")):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), intra_op_threads(1, torch.device("cpu")):
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
        with intra_op_threads(None, torch.device("cpu")):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("kw", [dict(detach_reset=True), dict(reset="subtract"),
                                dict(tau=2.0, learn_leak=True, channels=3)])
def test_one_thread_loop_is_bit_identical(kw: dict) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        x = (torch.randn(6, 4, 3, 40, 40, generator=g) * 1.5)
        x[:, :, :, 0, 0] = 1.0  # exactly at the threshold
        gy = torch.randn(6, 4, 3, 40, 40, generator=g)
        outs = []
        for threads in (1, None):
            lif = LIF(strict=True, loop_threads=threads, **kw)
            xi = x.clone().requires_grad_()
            s = lif(xi)
            s.backward(gy)
            outs.append((s.detach(), xi.grad, lif.mem))
            assert torch.get_num_threads() == 2
        for a, b in zip(*outs, strict=True):
            assert torch.equal(a, b)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1"])
def test_bad_loop_threads_refused(bad: object) -> None:
    with pytest.raises(SpikeliteError, match="loop_threads"):
        LIF(loop_threads=bad)  # type: ignore[arg-type]
