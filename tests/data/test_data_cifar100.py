"""CIFAR-100 binary version: record layout (coarse, fine, pixels), fine/coarse labels,
normalisation, refusal of the python version, errors naming the layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikelite.data import decode_cifar100_bin, encode_cifar100_bin, load, read_cifar100_bin
from spikelite.data.cifar import CIFAR100_MEAN, CIFAR100_STD
from spikelite.data.formats.cifar100_bin import read_cifar100_names
from spikelite.errors import SpikeliteError


def _images(n: int, offset: int) -> np.ndarray:
    """Distinct uint8 images: pixel (c, y, x) of image i = (offset + i + 7c + y + 3x) % 256."""
    i, c, y, x = np.ogrid[:n, :3, :32, :32]
    return ((offset + i + 7 * c + y + 3 * x) % 256).astype(np.uint8)


TRAIN_FINE = np.array([0, 99, 5, 42, 5, 0])
TRAIN_COARSE = np.array([4, 19, 17, 3, 17, 4])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """train.bin: 6 images; test.bin: 2 images; both name files."""
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    (folder / "train.bin").write_bytes(encode_cifar100_bin(_images(6, 0), TRAIN_COARSE,
                                                           TRAIN_FINE))
    (folder / "test.bin").write_bytes(encode_cifar100_bin(_images(2, 50), [1, 0], [10, 98]))
    (folder / "fine_label_names.txt").write_text("apple\naquarium_fish\n\n")
    (folder / "coarse_label_names.txt").write_text("aquatic_mammals\nfish\n")
    return tmp_path


def test_record_layout_is_coarse_fine_then_channel_planes() -> None:
    record = bytes([3, 77]) + bytes([1] * 1024) + bytes([2] * 1024) + bytes(range(256)) * 4
    images, coarse, fine = decode_cifar100_bin(record * 2)
    assert coarse.tolist() == [3, 3] and fine.tolist() == [77, 77]
    assert images.shape == (2, 3, 32, 32) and images.dtype == np.uint8
    assert (images[:, 0] == 1).all() and (images[:, 1] == 2).all()
    assert images[0, 2, 0, :5].tolist() == [0, 1, 2, 3, 4] and images[0, 2, 7, 31] == 255
    assert encode_cifar100_bin(images, coarse, fine) == record * 2


def test_decode_errors(tmp_path: Path) -> None:
    with pytest.raises(SpikeliteError, match="not a multiple of 3074.*CIFAR-10 batch"):
        decode_cifar100_bin(bytes(3073 * 2))
    with pytest.raises(SpikeliteError, match="coarse label byte 20 > 19"):
        decode_cifar100_bin(bytes([20, 0]) + bytes(3072))
    with pytest.raises(SpikeliteError, match="fine label byte 100 > 99"):
        decode_cifar100_bin(bytes([0, 100]) + bytes(3072))
    with pytest.raises(SpikeliteError, match="CIFAR-100 file not found.*cifar-100-binary"):
        read_cifar100_bin(tmp_path / "train.bin")
    with pytest.raises(SpikeliteError, match="N coarse and N fine"):
        encode_cifar100_bin(_images(2, 0), [0, 1], [0])


def test_load_fine_direct_normalised(root: Path) -> None:
    train, test = load("cifar100", root=root, time_steps=3, encoding="direct")
    assert (len(train), len(test)) == (6, 2) and train.classes == test.classes == 100
    assert train.labels.tolist() == TRAIN_FINE.tolist() and test.labels.tolist() == [10, 98]
    assert train.input_shape == (3, 32, 32) and train.name == "cifar100/train"
    x, y = train[1]
    assert y == 99 and x.shape == (3, 3, 32, 32) and all(torch.equal(x[t], x[0]) for t in (1, 2))
    raw = torch.from_numpy(_images(6, 0)[1]).float() / 255
    mean = torch.tensor(CIFAR100_MEAN).view(3, 1, 1)
    std = torch.tensor(CIFAR100_STD).view(3, 1, 1)
    assert torch.allclose(x[0], (raw - mean) / std, atol=1e-6)
    plain, _ = load("cifar100", root=root, time_steps=1, encoding="direct", normalize=False)
    assert torch.equal(plain[1][0][0], raw)


def test_coarse_labels_and_names(root: Path) -> None:
    train, test = load("cifar100", root=root, encoding="direct", labels="coarse")
    assert train.classes == 20 and train.labels.tolist() == TRAIN_COARSE.tolist()
    assert test.labels.tolist() == [1, 0]
    assert read_cifar100_names(root) == ["apple", "aquarium_fish"]
    assert read_cifar100_names(root, "coarse") == ["aquatic_mammals", "fish"]
    with pytest.raises(SpikeliteError, match="labels must be 'fine' or 'coarse'"):
        load("cifar100", root=root, encoding="direct", labels="superclass")


def test_limit_augment_and_root_folder(root: Path) -> None:
    train, test = load("cifar100", root=root / "cifar-100-binary", limit=3, encoding="direct",
                       augment=True)
    assert len(train) == 3 and len(test) == 2 and train.augment and not test.augment
    assert train[0][0].shape == (10, 3, 32, 32)


def test_errors_missing_and_python_version(tmp_path: Path, root: Path) -> None:
    with pytest.raises(SpikeliteError, match="needs root=.*cifar-100-binary.tar.gz"):
        load("cifar100")
    py = tmp_path / "py" / "cifar-100-python"
    py.mkdir(parents=True)
    for f in ("train", "test", "meta"):  # never unpickled: not even valid pickles
        (py / f).write_bytes(b"not a pickle")
    for where in (py.parent, py):
        with pytest.raises(SpikeliteError, match="python version.*arbitrary code.*binary"):
            load("cifar100", root=where)
    (root / "cifar-100-binary" / "test.bin").unlink()
    with pytest.raises(SpikeliteError, match="no complete CIFAR-100 binary files.*test.bin"):
        load("cifar100", root=root)
    with pytest.raises(SpikeliteError, match="does not accept.*size"):
        load("cifar100", root=root, size=16)
    with pytest.raises(SpikeliteError, match="augment must be true or false"):
        load("cifar100", root=root, augment="yes")
    cifar10 = tmp_path / "c10" / "cifar-10-batches-bin"
    cifar10.mkdir(parents=True)
    with pytest.raises(SpikeliteError, match="no complete CIFAR-100"):
        load("cifar100", root=cifar10.parent)
