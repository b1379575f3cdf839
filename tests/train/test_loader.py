"""DataLoader workers: the same batches and weights for any worker count (train.loader)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from spikelite.data.cifar import CifarDataset
from spikelite.errors import SpikeliteError
from spikelite.models.common import TimeDropout
from spikelite.train.config import TrainConfig
from spikelite.train.engine import fit
from spikelite.train.loader import EpochShuffle, LoaderOptions, make_loader


def _data(n: int = 24) -> tuple[CifarDataset, CifarDataset]:
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)
    labels = rng.integers(0, 3, n)
    kw = dict(encoding="rate", time_steps=2, seed=5, normalize=False, classes=3)
    train = CifarDataset(imgs, labels, "t", augment="crop-flip", **kw)
    test = CifarDataset(imgs[:8], labels[:8], "v", **kw)
    return train, test


class _Net(nn.Module):
    """Dropout draws from the global RNG in the main process: it must not be disturbed."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = TimeDropout(0.3)
        self.fc = nn.Linear(192, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(x.flatten(2)))


def _weights(**loading: object) -> dict[str, torch.Tensor]:
    train, test = _data()
    torch.manual_seed(0)
    model = _Net()
    cfg = TrainConfig(epochs=2, batch_size=5, **loading)
    fit(model, train, test, cfg, progress=False, device="cpu")
    return model.state_dict()


def test_zero_and_two_workers_train_identical_weights() -> None:
    ref = _weights()
    for loading in ({"num_workers": 2}, {"num_workers": 2, "persistent_workers": False,
                                         "prefetch_factor": 3}):
        got = _weights(**loading)
        assert all(torch.equal(ref[k], got[k]) for k in ref), loading


def test_batches_match_per_epoch_across_worker_counts() -> None:
    train, _ = _data(13)
    loaders = [make_loader(train, 4, shuffle=True, seed=7,
                           options=LoaderOptions(num_workers=w)) for w in (0, 2)]
    for epoch in (0, 1, 2):  # persistent workers must see the new epoch's draws
        batches = []
        for loader in loaders:
            loader.set_epoch(epoch)
            batches.append(list(loader))
        assert len(batches[0]) == len(batches[1]) == 4
        for (x0, y0), (x2, y2) in zip(*batches, strict=True):
            assert torch.equal(x0, x2) and torch.equal(y0, y2)
    # and the epochs differ (new augmentation / rate draws and a new order)
    loaders[0].set_epoch(0)
    first = next(iter(loaders[0]))[0]
    loaders[0].set_epoch(1)
    assert not torch.equal(first, next(iter(loaders[0]))[0])


def test_shuffle_order_is_the_former_dataloader_order() -> None:
    for seed, epoch, n in ((0, 0, 10), (3, 4, 37), (11, 1, 1)):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        old = [int(i) for b in DataLoader(list(range(n)), batch_size=3, shuffle=True,
                                          generator=gen) for i in b]
        sampler = EpochShuffle(n, seed)
        sampler.set_epoch(epoch)
        assert list(sampler) == old


def test_loader_options_are_checked() -> None:
    with pytest.raises(SpikeliteError, match="need worker processes"):
        TrainConfig(persistent_workers=True)
    with pytest.raises(SpikeliteError, match="num_workers"):
        TrainConfig(num_workers=-1)
    with pytest.raises(SpikeliteError, match="prefetch_factor"):
        TrainConfig(num_workers=1, prefetch_factor=0)
    kw = LoaderOptions(num_workers=1).resolved("cpu")
    assert kw["pin_memory"] is False and kw["persistent_workers"] is True
    assert LoaderOptions().resolved(torch.device("cuda"))["pin_memory"] is True
    assert LoaderOptions(pin_memory=False).resolved("cuda")["pin_memory"] is False


def test_loader_fields_stay_out_of_sweep_run_keys() -> None:
    from spikelite.sweep.recipe import Recipe, run_key

    base = Recipe(points=[{"name": "p", "method": "magnitude", "sparsity": 0.5}])
    other = Recipe(points=[{"name": "p", "method": "magnitude", "sparsity": 0.5}],
                   finetune={"epochs": 2, "num_workers": 3, "pin_memory": True},
                   baseline={"train": {"num_workers": 2}})
    assert run_key(base, base.expand()[0]) == run_key(other, other.expand()[0])
