"""Data-parallel training (torch.distributed, Gloo on CPU): two processes train the same
weights as one with the same global batch."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.utils.data import TensorDataset

from spikelite.errors import SpikeliteError
from spikelite.train import TrainConfig, fit
from spikelite.train import distributed as ddp

from .test_engine import _toy_model

if not (dist.is_available() and dist.is_gloo_available()):
    pytest.skip("torch.distributed with the Gloo backend is not available in this PyTorch "
                "build", allow_module_level=True)

#: 91 samples in global batches of 15: shares 8/7, and a last batch of one sample (rank 1
#: gets nothing and takes part with weight 0)
N, BATCH = 91, 15


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    y = torch.arange(N) % 2
    p = torch.full((N, 6), 0.1)
    for k in (0, 1):
        p[y == k, 3 * k: 3 * k + 3] = 0.7
    x = (torch.rand(N, 4, 6, generator=g) < p[:, None, :]).float()
    return TensorDataset(x, y)


def _cfg(epochs: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=BATCH, lr=1e-2, seed=5, grad_clip=1.0)


class _Stop(Exception):
    """Stands for a crash after an epoch's checkpoint was written."""


def _stop_after(epoch: int):
    def on_epoch(rec: dict[str, float]) -> None:
        if rec["epoch"] == epoch:
            raise _Stop

    return on_epoch


def _rank_main(out: str, epochs: int) -> None:
    rank = ddp.setup("cpu")
    assert rank is not None and rank.world == 2
    torch.set_num_threads(1)
    try:
        kw = {"device": "cpu", "progress": False, "out_dir": Path(out) / "run"}
        with pytest.raises(_Stop):  # interrupted after epoch 2 (every rank at once) ...
            fit(_toy_model(), _data(), _data(), _cfg(epochs), on_epoch=_stop_after(2), **kw)
        model = _toy_model()  # ... and resumed from the checkpoint rank 0 wrote
        res = fit(model, _data(), _data(), _cfg(epochs), resume=True, **kw)
        if rank.main:
            torch.save({k: v.clone() for k, v in model.state_dict().items()},
                       Path(out) / "weights.pt")
            (Path(out) / "history.json").write_text(json.dumps(res.history))
    finally:
        ddp.teardown()


def _one_process(epochs: int) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    model = _toy_model()
    res = fit(model, _data(), _data(), _cfg(epochs), device="cpu", progress=False)
    return model.state_dict(), res.history


def _check_same(tmp: Path, ref: dict[str, torch.Tensor], hist: list[dict[str, float]]) -> None:
    got = torch.load(tmp / "weights.pt", weights_only=True)
    assert got.keys() == ref.keys()
    for k, v in ref.items():  # float32 all-reduce averaging: rounding only
        torch.testing.assert_close(got[k], v, rtol=1e-5, atol=1e-6, msg=k)
    dist_hist = json.loads((tmp / "history.json").read_text())
    assert len(dist_hist) == len(hist)
    for a, b in zip(dist_hist, hist, strict=True):
        assert a["test_accuracy"] == b["test_accuracy"]  # exact counts, all-reduced
        assert a["train_accuracy"] == pytest.approx(b["train_accuracy"], abs=1e-12)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


def test_two_processes_train_the_weights_of_one_and_resume(tmp_path):
    ref, hist = _one_process(3)
    assert any(not torch.equal(v, _toy_model().state_dict()[k]) for k, v in ref.items())
    # 2 of 3 epochs, interrupted, resumed under DDP: 3 uninterrupted epochs in one process
    ddp.launch(_rank_main, 2, str(tmp_path), 3)
    _check_same(tmp_path, ref, hist)
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["best", "last", "metrics.csv", "progress.json"]  # by rank 0 only


def test_shares_split_every_global_batch():
    for n in (1, 2, 7, 15):
        parts = [ddp.share(n, ddp.Rank(r, 3, r)) for r in range(3)]
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
        sizes = [b - a for a, b in parts]
        assert max(sizes) - min(sizes) <= 1


def test_launch_refuses_bad_nproc_and_a_rank_error_is_one_line():
    import torch.multiprocessing as tmp

    with pytest.raises(SpikeliteError, match="nproc must be an integer >= 1"):
        ddp.launch(_rank_main, 0)
    trace = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
             "spikelite.errors.SpikeliteError: cannot do this (a test)\n")
    err = ddp.rank_error(tmp.ProcessRaisedException(trace, 1, 123))
    assert str(err) == "rank 1: cannot do this (a test)"
    err = ddp.rank_error(tmp.ProcessExitedException("x", 0, 123, -9))
    assert "rank 0 exited with code -9" in str(err)


@pytest.mark.parametrize(("value", "calls"), [(None, 1), ("0", 0)])
def test_launched_ranks_retain_freed_memory_unless_switched_off(
        monkeypatch: pytest.MonkeyPatch, value: str | None, calls: int) -> None:
    """Each rank :func:`ddp.launch` spawns keeps freed memory, as the CLI and the sweep
    workers do (``SPIKELITE_RETAIN_MEMORY=0`` turns it off)."""
    from spikelite.core import memory

    for var in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                "MASTER_PORT"):  # restored after the test: _child sets them
        monkeypatch.setenv(var, "unset")
    if value is None:
        monkeypatch.delenv(memory.ENV, raising=False)
    else:
        monkeypatch.setenv(memory.ENV, value)
    seen: list[str] = []
    monkeypatch.setattr(memory, "retain_freed_memory", lambda: seen.append("retain") or True)
    ddp._child(1, 2, 12345, lambda tag: seen.append(tag), ("ran",))
    assert seen == ["retain"] * calls + ["ran"]
