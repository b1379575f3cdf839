"""AutoAugment (CIFAR-10 policy) and Cutout: each operation, the policy table, the
``augment`` option, reproducibility per (seed, epoch, index)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikelite.data import encode_cifar10_bin, load
from spikelite.data.augment import (
    CIFAR10_POLICY,
    FILL,
    LEVELS,
    OPERATIONS,
    STEPS,
    apply_op,
    augment_steps,
    autoaugment,
    cutout,
    magnitude,
)
from spikelite.data.cifar import CifarDataset
from spikelite.errors import SpikeliteError

Image = pytest.importorskip("PIL.Image")


def _rgb(a: np.ndarray) -> object:
    return Image.fromarray(np.ascontiguousarray(a, dtype=np.uint8))


def _arr(img: object) -> np.ndarray:
    return np.asarray(img, dtype=np.int64)


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def test_invert_posterize_solarize(noise: np.ndarray) -> None:
    assert (_arr(apply_op(_rgb(noise), "Invert", 0)) == 255 - noise.astype(np.int64)).all()
    kept = _arr(apply_op(_rgb(noise), "Posterize", 3))  # top 3 bits
    assert (kept == (noise & 0b11100000)).all()
    out = _arr(apply_op(_rgb(noise), "Solarize", 128))
    expect = np.where(noise >= 128, 255 - noise.astype(np.int64), noise)
    assert (out == expect).all()


def test_translate_moves_content_and_fills_grey(noise: np.ndarray) -> None:
    right = _arr(apply_op(_rgb(noise), "TranslateX", 5))
    assert (right[:, 5:] == noise[:, :-5]).all() and (right[:, :5] == FILL).all()
    up = _arr(apply_op(_rgb(noise), "TranslateY", -3))
    assert (up[:-3] == noise[3:]).all() and (up[-3:] == FILL).all()


def test_rotate_and_shear_geometry(noise: np.ndarray) -> None:
    assert (_arr(apply_op(_rgb(noise), "Rotate", 180)) == noise[::-1, ::-1]).all()
    assert (_arr(apply_op(_rgb(noise), "Rotate", 0)) == noise).all()
    rows = np.repeat((np.arange(32) * 8)[:, None, None], 32, 1).repeat(3, 2).astype(np.uint8)
    sheared = _arr(apply_op(_rgb(rows), "ShearX", 0.3))
    # ShearX moves pixels along their row only: a pixel is its row's value or the fill
    assert ((sheared == rows) | (sheared == FILL[0])).all()
    assert (sheared[15:17] == rows[15:17]).all()  # the centre rows do not move
    assert (sheared[0] == FILL[0]).any() and (sheared[-1] == FILL[0]).any()
    cols = rows.transpose(1, 0, 2)
    sheared_y = _arr(apply_op(_rgb(cols), "ShearY", -0.3))
    assert ((sheared_y == cols) | (sheared_y == FILL[0])).all()
    assert (sheared_y[:, 15:17] == cols[:, 15:17]).all()


def test_autocontrast_and_equalize_stretch_monotonically() -> None:
    ramp = np.repeat(np.linspace(50, 100, 32).astype(np.uint8)[None, :, None], 32, 0)
    ramp = ramp.repeat(3, 2)
    stretched = _arr(apply_op(_rgb(ramp), "AutoContrast", 0))
    assert stretched.min() == 0 and stretched.max() >= 250  # Pillow rounds the scale
    equalized = _arr(apply_op(_rgb(ramp), "Equalize", 0))
    assert equalized.max() - equalized.min() > 200
    for out in (stretched, equalized):  # order-preserving along the ramp
        assert (np.diff(out[0, :, 0]) >= 0).all()


def test_enhancers() -> None:
    grey = np.full((32, 32, 3), 100, np.uint8)
    assert (_arr(apply_op(_rgb(grey), "Brightness", 0.5)) == 150).all()
    assert (_arr(apply_op(_rgb(grey), "Sharpness", 0.9)) == 100).all()  # flat stays flat
    colour = np.zeros((32, 32, 3), np.uint8)
    colour[..., 0], colour[..., 1], colour[..., 2] = 200, 100, 0
    for op in ("Color", "Contrast", "Brightness", "Sharpness"):
        assert (_arr(apply_op(_rgb(colour), op, 0.0)) == colour).all()  # factor 1: identity
    faded = _arr(apply_op(_rgb(colour), "Color", -0.9))  # factor 0.1: nearly grey
    assert np.ptp(faded[0, 0]) < np.ptp(colour[0, 0]) / 5
    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[:, ::2] = 200
    flat = _arr(apply_op(_rgb(stripes), "Contrast", -0.9))
    assert flat.std() < stripes.std() / 5


def test_magnitudes_follow_the_paper_ranges() -> None:
    top = LEVELS - 1
    assert magnitude("ShearX", top) == pytest.approx(0.3)
    assert magnitude("TranslateY", top, 32) == pytest.approx(150 / 331 * 32)
    assert magnitude("Rotate", top) == pytest.approx(30)
    assert (magnitude("Solarize", 0), magnitude("Solarize", top)) == (256, 0)
    assert (magnitude("Posterize", 0), magnitude("Posterize", top)) == (8, 4)
    for op in ("Contrast", "Color", "Brightness", "Sharpness"):
        assert (magnitude(op, 0), magnitude(op, top)) == (0, pytest.approx(0.9))
    with pytest.raises(SpikeliteError, match="level must be in 0..9"):
        magnitude("Rotate", LEVELS)
    with pytest.raises(SpikeliteError, match="unknown AutoAugment operation 'Blur'"):
        magnitude("Blur", 1)


def test_policy_table() -> None:
    assert len(CIFAR10_POLICY) == 25
    for sub in CIFAR10_POLICY:
        assert len(sub) == 2
        for op, p, level in sub:
            assert op in OPERATIONS and 0.0 <= p <= 1.0 and 0 <= level < LEVELS
    assert CIFAR10_POLICY[0] == (("Invert", 0.1, 7), ("Contrast", 0.2, 6))
    assert CIFAR10_POLICY[-1] == (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1))


def test_autoaugment_keeps_shape_dtype_and_is_seeded(noise: np.ndarray) -> None:
    x = torch.from_numpy(noise).permute(2, 0, 1).contiguous()
    outs = [autoaugment(x, torch.Generator().manual_seed(s)) for s in range(30)]
    again = [autoaugment(x, torch.Generator().manual_seed(s)) for s in range(30)]
    assert all(o.shape == x.shape and o.dtype == torch.uint8 for o in outs)
    assert all(torch.equal(a, b) for a, b in zip(outs, again, strict=True))
    assert sum(not torch.equal(o, x) for o in outs) >= 10  # most draws change the image
    with pytest.raises(SpikeliteError, match="uint8 RGB image"):
        autoaugment(x.float(), torch.Generator())


def test_cutout_zeroes_one_clipped_square() -> None:
    clipped = 0
    for s in range(60):
        out = cutout(torch.ones(3, 32, 32), 16, torch.Generator().manual_seed(s))
        zero = out[0] == 0
        assert torch.equal(zero, out[1] == 0) and torch.equal(zero, out[2] == 0)
        ys, xs = torch.nonzero(zero, as_tuple=True)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        assert int(zero.sum()) == (y1 - y0) * (x1 - x0)  # one filled rectangle
        for lo, hi in ((y0, y1), (x0, x1)):
            assert hi - lo == 16 if (lo > 0 and hi < 32) else 0 < hi - lo <= 16
        clipped += (y1 - y0) * (x1 - x0) < 256
        assert ((out == 0) | (out == 1)).all()
    assert clipped > 0  # centres near the border are clipped


def _dataset(augment: object, seed: int = 0) -> CifarDataset:
    images = np.random.default_rng(1).integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)
    return CifarDataset(images, np.arange(12) % 10, "t", encoding="direct", time_steps=2,
                        seed=seed, normalize=True, augment=augment)


@pytest.mark.parametrize("augment", [True, "crop-flip", "autoaugment", ["cutout"],
                                     ["cutout", "autoaugment"]])
def test_dataset_items_reproducible_per_seed_and_epoch(augment: object) -> None:
    a, b = _dataset(augment), _dataset(augment)
    first = [a[i][0] for i in range(12)]
    assert all(torch.equal(x, b[i][0]) for i, x in enumerate(first))
    assert all(x.shape == (2, 3, 32, 32) and x.dtype == torch.float32 for x in first)
    a.set_epoch(1)
    assert any(not torch.equal(x, a[i][0]) for i, x in enumerate(first))
    other = _dataset(augment, seed=5)
    assert any(not torch.equal(x, other[i][0]) for i, x in enumerate(first))


def test_true_is_crop_flip_and_autoaugment_adds_policy_and_cutout() -> None:
    plain, crop = _dataset(True), _dataset("crop-flip")
    assert plain.augment == crop.augment == ("crop-flip",)
    assert all(torch.equal(plain[i][0], crop[i][0]) for i in range(12))
    full = _dataset("autoaugment")
    assert full.augment == STEPS and full.cutout_size == 16
    assert any(not torch.equal(full[i][0], crop[i][0]) for i in range(12))
    # Cutout sets a 16-px square (clipped) to 0 after normalisation
    assert all(int((full[i][0][0] == 0).all(0).sum()) >= 16 for i in range(12))
    assert _dataset(False).augment == _dataset("none").augment == ()


@pytest.mark.parametrize(
    ("value", "problem"),
    [("yes", "got 'yes'"), ("AutoAugment", "got 'AutoAugment'"),
     (["crop", "flip"], r"unknown step\(s\) \['crop', 'flip'\]"),
     (["cutout", "cutout"], "each once"), (3, "got 3"), ({"cutout": 1}, "got {")],
)
def test_bad_augment_values_name_the_valid_ones(value: object, problem: str) -> None:
    with pytest.raises(SpikeliteError, match=problem) as err:
        augment_steps(value, "cifar10 option augment")
    message = str(err.value)
    assert message.startswith("cifar10 option augment must be true or false")
    for name in ("'none'", "'crop-flip'", "'autoaugment'", "'cutout'"):
        assert name in message


def test_load_applies_autoaugment_to_train_only(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    images = np.random.default_rng(2).integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
    for b in range(5):
        data = encode_cifar10_bin(images, np.array([2 * b, 2 * b + 1]))
        (folder / f"data_batch_{b + 1}.bin").write_bytes(data)
    (folder / "test_batch.bin").write_bytes(encode_cifar10_bin(images, [0, 1]))
    train, test = load("cifar10", root=tmp_path, time_steps=1, encoding="direct",
                       augment="autoaugment")
    assert train.augment == STEPS and test.augment == ()
    assert train[0][0].shape == (1, 3, 32, 32)
    with pytest.raises(SpikeliteError, match="cifar10 option augment must be.*got 'auto'"):
        load("cifar10", root=tmp_path, augment="auto")
