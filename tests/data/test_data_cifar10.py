"""CIFAR-10 binary version: record layout, loading, normalisation, encoding, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikelite.data import decode_cifar10_bin, encode_cifar10_bin, load, read_cifar10_bin
from spikelite.data.cifar import CIFAR10_MEAN, CIFAR10_STD
from spikelite.errors import SpikeliteError


def _images(n: int, offset: int) -> np.ndarray:
    """Distinct uint8 images: pixel (c, y, x) of image i = (offset + i + 7c + y + 3x) % 256."""
    i, c, y, x = np.ogrid[:n, :3, :32, :32]
    return ((offset + i + 7 * c + y + 3 * x) % 256).astype(np.uint8)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Five train batches of 2 images (labels 0..9) and a test batch of 3 images."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for b in range(5):
        data = encode_cifar10_bin(_images(2, 10 * b), np.array([2 * b, 2 * b + 1]))
        (folder / f"data_batch_{b + 1}.bin").write_bytes(data)
    (folder / "test_batch.bin").write_bytes(encode_cifar10_bin(_images(3, 100), [9, 0, 4]))
    (folder / "batches.meta.txt").write_text("airplane\nautomobile\n")
    return tmp_path


def test_record_layout_is_label_then_channel_planes() -> None:
    record = bytes([7]) + bytes([1] * 1024) + bytes([2] * 1024) + bytes(range(256)) * 4
    images, labels = decode_cifar10_bin(record * 2)
    assert labels.tolist() == [7, 7] and images.shape == (2, 3, 32, 32)
    assert images.dtype == np.uint8
    assert (images[:, 0] == 1).all() and (images[:, 1] == 2).all()
    assert images[0, 2, 0, :5].tolist() == [0, 1, 2, 3, 4]  # blue plane, row-major
    assert images[0, 2, 8, 0] == 0 and images[0, 2, 7, 31] == 255
    assert encode_cifar10_bin(images, labels) == record * 2


def test_decode_errors(tmp_path: Path) -> None:
    with pytest.raises(SpikeliteError, match="not a multiple of 3073"):
        decode_cifar10_bin(bytes(3072))
    with pytest.raises(SpikeliteError, match="label byte 10"):
        decode_cifar10_bin(bytes([10]) + bytes(3072))
    with pytest.raises(SpikeliteError, match="CIFAR-10 batch not found"):
        read_cifar10_bin(tmp_path / "x.bin")


def test_load_direct_normalised(root: Path) -> None:
    train, test = load("cifar10", root=root, time_steps=4, encoding="direct")
    assert (len(train), len(test)) == (10, 3)
    assert train.labels.tolist() == list(range(10)) and test.labels.tolist() == [9, 0, 4]
    assert train.classes == 10 and train.input_shape == (3, 32, 32) and train.time_steps == 4
    x, y = train[3]  # batch 2, second image: offset 10, i = 1
    assert y == 3 and x.shape == (4, 3, 32, 32) and x.dtype == torch.float32
    assert all(torch.equal(x[t], x[0]) for t in range(4))
    raw = torch.from_numpy(_images(2, 10)[1]).float() / 255
    mean = torch.tensor(CIFAR10_MEAN).view(3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(3, 1, 1)
    assert torch.allclose(x[0], (raw - mean) / std, atol=1e-6)
    # pixel (c=2, y=5, x=1) = (10 + 1 + 14 + 5 + 3) % 256 = 33
    assert x[0, 2, 5, 1].item() == pytest.approx((33 / 255 - 0.4465) / 0.2616, abs=1e-6)


def test_rate_and_latency_use_unit_range(root: Path) -> None:
    train, _ = load("cifar10", root=root, time_steps=5)  # encoding="rate" by default
    x, _ = train[0]
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(train[0][0], x)  # same seed and epoch → same draws
    train.set_epoch(1)
    assert not torch.equal(train[0][0], x)
    lat, _ = load("cifar10", root=root, time_steps=5, encoding="latency")
    assert lat[0][0].sum(0).max() == 1
    raw, _ = load("cifar10", root=root, time_steps=1, encoding="direct", normalize=False)
    assert torch.equal(raw[1][0][0], torch.from_numpy(_images(2, 0)[1]).float() / 255)
    with pytest.raises(SpikeliteError, match="needs intensities in \\[0, 1\\]"):
        load("cifar10", root=root, encoding="rate", normalize=True)


def test_augment_train_only_and_reproducible(root: Path) -> None:
    train, test = load("cifar10", root=root, time_steps=1, encoding="direct", augment=True)
    assert train.augment and not test.augment
    a, b = train[2][0], train[2][0]
    assert torch.equal(a, b) and a.shape == (1, 3, 32, 32)
    plain, _ = load("cifar10", root=root, time_steps=1, encoding="direct")
    draws = []
    for epoch in range(8):
        train.set_epoch(epoch)
        draws.append(train[2][0])
    assert any(not torch.equal(d, plain[2][0]) for d in draws)  # some crop/flip happened


def test_limit(root: Path) -> None:
    train, test = load("cifar10", root=root, limit=5, encoding="direct")
    assert len(train) == 5 and len(test) == 3


def test_root_may_be_the_batches_folder(root: Path) -> None:
    train, _ = load("cifar10", root=root / "cifar-10-batches-bin", encoding="direct")
    assert len(train) == 10


def test_errors_missing_and_python_version(tmp_path: Path, root: Path) -> None:
    with pytest.raises(SpikeliteError, match="needs root=.*cifar-10-binary.tar.gz"):
        load("cifar10")
    py = tmp_path / "py" / "cifar-10-batches-py"
    py.mkdir(parents=True)
    # never unpickled: bytes that are not even a valid pickle
    (py / "data_batch_1").write_bytes(b"not a pickle")
    for where in (py.parent, py):
        with pytest.raises(SpikeliteError, match="python version.*arbitrary code.*binary"):
            load("cifar10", root=where)
    (root / "cifar-10-batches-bin" / "test_batch.bin").unlink()
    with pytest.raises(SpikeliteError, match="no complete CIFAR-10 binary batches.*test_batch"):
        load("cifar10", root=root)
    with pytest.raises(SpikeliteError, match="does not accept"):
        load("cifar10", root=root, size=16)
    with pytest.raises(SpikeliteError, match="augment must be true or false"):
        load("cifar10", root=root, augment="yes")
