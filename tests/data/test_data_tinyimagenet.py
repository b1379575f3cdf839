"""Tiny-ImageNet-200 as the official zip unpacks: class order, val = test, grayscale JPEGs,
the memory-mapped decode cache, errors naming the expected layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikelite.data import list_tiny_imagenet, load, load_tiny_imagenet, read_jpeg, write_jpeg
from spikelite.data.cifar import TINY_IMAGENET_MEAN, TINY_IMAGENET_STD
from spikelite.data.formats.tiny_imagenet import read_class_names
from spikelite.errors import SpikeliteError

WNIDS = ["n09999999", "n01443537", "n02124075"]  # wnids.txt order; labels follow sorted()


def flat(value: int, gray: bool = False) -> np.ndarray:
    """A flat image (JPEG keeps flat colours within ±1)."""
    if gray:
        return np.full((64, 64), value, np.uint8)
    return np.stack([np.full((64, 64), v, np.uint8) for v in (value, 255 - value, 128)])


def write_tiny_imagenet(base: Path, per_class: int = 2) -> Path:
    """A Tiny-ImageNet-200 tree with ``per_class`` train images per class, 2 val images per
    class (one grayscale), words.txt, boxes files and an unlabelled test/ folder."""
    root = base / "tiny-imagenet-200"
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (root / "words.txt").write_text(
        "n01443537\tgoldfish, Carassius auratus\nn02124075\tEgyptian cat\n"
        "n00000001\tunused\n"
    )
    for k, w in enumerate(WNIDS):
        for i in range(per_class):
            write_jpeg(root / "train" / w / "images" / f"{w}_{i}.JPEG", flat(20 * k + 5 * i))
        (root / "train" / w / f"{w}_boxes.txt").write_text(
            "".join(f"{w}_{i}.JPEG\t0\t0\t63\t63\n" for i in range(per_class))
        )
    lines = []
    for j in range(2 * len(WNIDS)):
        w = WNIDS[j % len(WNIDS)]
        write_jpeg(root / "val" / "images" / f"val_{j}.JPEG", flat(200 - 10 * j, gray=j == 1))
        lines.append(f"val_{j}.JPEG\t{w}\t1\t2\t60\t61")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    write_jpeg(root / "test" / "images" / "test_0.JPEG", flat(0))
    return base


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_tiny_imagenet(tmp_path / "data")


def test_listing_order_and_labels(root: Path) -> None:
    files, labels = list_tiny_imagenet(root, "train")
    # sorted wnids: n01443537 → 0, n02124075 → 1, n09999999 → 2
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert [f.name for f in files[:2]] == ["n01443537_0.JPEG", "n01443537_1.JPEG"]
    vfiles, vlabels = list_tiny_imagenet(root / "tiny-imagenet-200", "test")
    assert [f.name for f in vfiles] == [f"val_{j}.JPEG" for j in range(6)]
    assert vlabels.tolist() == [2, 0, 1, 2, 0, 1]
    names = read_class_names(root / "tiny-imagenet-200", sorted(WNIDS))
    assert names == ["goldfish, Carassius auratus", "Egyptian cat", "n09999999"]


def test_jpeg_decoding_and_grayscale(root: Path) -> None:
    folder = root / "tiny-imagenet-200"
    rgb = read_jpeg(folder / "train" / "n01443537" / "images" / "n01443537_1.JPEG")
    assert rgb.shape == (3, 64, 64) and rgb.dtype == np.uint8  # class index 1 in wnids.txt
    assert np.abs(rgb.astype(int) - flat(25).astype(int)).max() <= 2
    gray = read_jpeg(folder / "val" / "images" / "val_1.JPEG")
    assert gray.shape == (3, 64, 64) and (gray[0] == gray[1]).all() and (gray[1] == gray[2]).all()
    assert abs(int(gray[0, 10, 10]) - 190) <= 2


def test_load_direct_normalised_and_cache_is_memory_mapped(root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache-here"
    train, test = load("tiny-imagenet", root=root, time_steps=2, encoding="direct",
                       cache_dir=cache)
    assert (len(train), len(test)) == (6, 6) and train.classes == test.classes == 200
    assert train.input_shape == (3, 64, 64) and test.labels.tolist() == [2, 0, 1, 2, 0, 1]
    x, y = train[3]
    assert y == 1 and x.shape == (2, 3, 64, 64) and torch.equal(x[0], x[1])
    raw = torch.from_numpy(flat(20 * 2 + 5).astype(np.float32)) / 255  # n02124075_1
    mean = torch.tensor(TINY_IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(TINY_IMAGENET_STD).view(3, 1, 1)
    assert torch.allclose(x[0], (raw - mean) / std, atol=3 / 255 / 0.22)
    entries = sorted(cache.glob("tiny-imagenet-*"))
    assert len(entries) == 2 and {p.name for e in entries for p in e.glob("*.npy")} == {
        "train.npy", "train-labels.npy", "test.npy", "test-labels.npy"}
    images, labels = load_tiny_imagenet(root, "train", cache)  # second load: memory-mapped
    assert isinstance(images, np.memmap) and labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert torch.equal(torch.from_numpy(np.array(images)), train.images)
    # a changed copy (one more file) is decoded afresh, not served from the stale entry
    write_jpeg(root / "tiny-imagenet-200" / "train" / "n01443537" / "images" / "x.JPEG", flat(9))
    images, labels = load_tiny_imagenet(root, "train", cache)
    assert len(images) == 7 and len(sorted(cache.glob("tiny-imagenet-*"))) == 3


def test_limit_decodes_only_the_kept_files_and_augment(root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "untouched"
    train, test = load("tiny-imagenet", root=root, limit=3, encoding="direct", augment=True,
                       cache_dir=cache)
    assert len(train) == 3 and len(test) == 3 and not cache.exists()
    assert sorted(train.labels.tolist()) == [0, 1, 2] and train.augment and not test.augment
    draws = []
    for epoch in range(6):
        train.set_epoch(epoch)
        draws.append(train[0][0])
    assert draws[0].shape == (10, 3, 64, 64)
    assert any(not torch.equal(d, draws[0]) for d in draws)  # crops/flips vary per epoch


def test_errors_name_the_layout(root: Path, tmp_path: Path) -> None:
    with pytest.raises(SpikeliteError, match="needs root=.*tiny-imagenet-200.zip"):
        load("tiny-imagenet")
    (tmp_path / "empty").mkdir()  # an existing folder without the layout
    with pytest.raises(SpikeliteError, match="no Tiny-ImageNet-200 \\(wnids.txt\\).*val_annot"):
        load("tiny-imagenet", root=tmp_path / "empty")
    with pytest.raises(SpikeliteError, match="does not accept.*labels"):
        load("tiny-imagenet", root=root, labels="fine")
    folder = root / "tiny-imagenet-200"
    ann = folder / "val" / "val_annotations.txt"
    good = ann.read_text()
    ann.write_text(good + "val_9.JPEG\tn00000001\t0\t0\t1\t1\n")
    with pytest.raises(SpikeliteError, match="val_annotations.txt:7: expected.*wnids.txt"):
        list_tiny_imagenet(root, "test")
    ann.write_text(good + "val_9.JPEG\tn01443537\t0\t0\t1\t1\n")
    with pytest.raises(SpikeliteError, match="val_9.JPEG does not exist"):
        list_tiny_imagenet(root, "test")
    ann.write_text(good)
    (folder / "train" / "n09999999" / "images" / "n09999999_0.JPEG").write_bytes(b"nope")
    with pytest.raises(SpikeliteError, match="n09999999_0.JPEG: not a readable JPEG"):
        load("tiny-imagenet", root=root, encoding="direct")
    write_jpeg(folder / "train" / "n09999999" / "images" / "n09999999_0.JPEG",
               np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(SpikeliteError, match="32×32, Tiny-ImageNet images are 64×64"):
        load("tiny-imagenet", root=root, encoding="direct", limit=6)
    for p in (folder / "train" / "n09999999" / "images").glob("*"):
        p.unlink()
    with pytest.raises(SpikeliteError, match="no \\*.JPEG for class n09999999"):
        list_tiny_imagenet(root, "train")
    ann.unlink()
    with pytest.raises(SpikeliteError, match="without val/val_annotations.txt"):
        list_tiny_imagenet(root, "train")
