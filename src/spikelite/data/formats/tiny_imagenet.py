"""Tiny-ImageNet-200 as the official ``tiny-imagenet-200.zip`` unpacks; JPEGs via Pillow.

Layout (Stanford CS231n, http://cs231n.stanford.edu/tiny-imagenet-200.zip)::

    tiny-imagenet-200/wnids.txt                  200 WordNet ids, one a line
    tiny-imagenet-200/words.txt                  "<wnid>\\t<names>" for all of WordNet
    tiny-imagenet-200/train/<wnid>/images/*.JPEG 500 per class (+ <wnid>_boxes.txt)
    tiny-imagenet-200/val/images/*.JPEG          10,000 (50 per class)
    tiny-imagenet-200/val/val_annotations.txt    "<file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>"
    tiny-imagenet-200/test/images/*.JPEG         no labels: not read

``val`` is the test split (the released ``test/`` has no labels), as in every paper that
reports Tiny-ImageNet accuracy. Class ``k`` is the ``k``-th wnid of ``sorted(wnids.txt)``
(torchvision ``ImageFolder`` order). Images are 64×64; grayscale (and CMYK) JPEGs are
converted to RGB. Decoding 110,000 JPEGs takes minutes, so :func:`load_tiny_imagenet`
caches the decoded arrays once as ``.npy`` and memory-maps them on later loads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from spikelite.data.cache import ensure_entry
from spikelite.errors import SpikeliteError

FOLDER = "tiny-imagenet-200"
SIZE = 64
SPLITS = ("train", "test")

TINY_IMAGENET_HELP = (
    "Expected Tiny-ImageNet-200 (http://cs231n.stanford.edu/tiny-imagenet-200.zip) unzipped "
    "so that <root>/tiny-imagenet-200/wnids.txt, train/<wnid>/images/*.JPEG, "
    "val/images/*.JPEG and val/val_annotations.txt exist (root may also be the "
    "tiny-imagenet-200 folder itself). spikelite never downloads data."
)


def find_tiny_imagenet(root: str | os.PathLike[str]) -> Path:
    """The ``tiny-imagenet-200`` folder under (or at) ``root``."""
    root = Path(root)
    for cand in (root, root / FOLDER):
        if (cand / "wnids.txt").is_file():
            missing = [
                p
                for p in ("train", "val/images", "val/val_annotations.txt")
                if not (cand / p).exists()
            ]
            if missing:
                raise SpikeliteError(
                    f"{cand}: Tiny-ImageNet folder without {', '.join(missing)}. "
                    f"{TINY_IMAGENET_HELP}"
                )
            return cand
    raise SpikeliteError(f"no Tiny-ImageNet-200 (wnids.txt) under {root}. {TINY_IMAGENET_HELP}")


def read_wnids(folder: Path) -> list[str]:
    """The class wnids in label order (sorted, as torchvision's ``ImageFolder``)."""
    wnids = [w.strip() for w in (folder / "wnids.txt").read_text().splitlines() if w.strip()]
    if len(set(wnids)) != len(wnids) or not wnids:
        raise SpikeliteError(f"{folder / 'wnids.txt'}: empty or with repeated wnids")
    return sorted(wnids)


def read_class_names(folder: Path, wnids: list[str]) -> list[str]:
    """Human-readable names of ``wnids`` from ``words.txt`` (the wnid itself if absent)."""
    words: dict[str, str] = {}
    path = folder / "words.txt"
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            wnid, _, names = line.partition("\t")
            words[wnid.strip()] = names.strip()
    return [words.get(w, w) for w in wnids]


def list_tiny_imagenet(
    root: str | os.PathLike[str], split: str
) -> tuple[list[Path], np.ndarray]:
    """``(JPEG paths, labels int64)`` of ``split`` (``"train"``: 100,000 files in class then
    file-name order; ``"test"``: the 10,000 ``val`` files in ``val_annotations.txt``
    order)."""
    if split not in SPLITS:
        raise SpikeliteError(f"split must be 'train' or 'test' (= val), got {split!r}")
    folder = find_tiny_imagenet(root)
    wnids = read_wnids(folder)
    index = {w: k for k, w in enumerate(wnids)}
    files: list[Path] = []
    labels: list[int] = []
    if split == "train":
        for w in wnids:
            images = folder / "train" / w / "images"
            found = sorted(images.glob("*.JPEG")) if images.is_dir() else []
            if not found:
                raise SpikeliteError(
                    f"{images}: no *.JPEG for class {w} of wnids.txt. {TINY_IMAGENET_HELP}"
                )
            files += found
            labels += [index[w]] * len(found)
    else:
        ann = folder / "val" / "val_annotations.txt"
        for n, line in enumerate(ann.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2 or parts[1].strip() not in index:
                raise SpikeliteError(
                    f"{ann}:{n}: expected '<file>\\t<wnid>\\t<box>' with a wnid of "
                    f"wnids.txt, got {line.strip()!r}"
                )
            path = folder / "val" / "images" / parts[0].strip()
            if not path.is_file():
                raise SpikeliteError(f"{ann}:{n}: {path} does not exist. {TINY_IMAGENET_HELP}")
            files.append(path)
            labels.append(index[parts[1].strip()])
        if not files:
            raise SpikeliteError(f"{ann}: no annotations. {TINY_IMAGENET_HELP}")
    return files, np.asarray(labels, dtype=np.int64)


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow comes with matplotlib
        raise SpikeliteError(
            "reading Tiny-ImageNet JPEGs needs Pillow (pip install pillow; it is normally "
            "installed with matplotlib)"
        ) from exc
    return Image


def read_jpeg(path: str | os.PathLike[str]) -> np.ndarray:
    """One 64×64 JPEG → uint8 ``[3, 64, 64]`` (grayscale/CMYK converted to RGB)."""
    image_mod = _pil()
    try:
        with image_mod.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as exc:
        raise SpikeliteError(f"{path}: not a readable JPEG ({exc})") from exc
    if rgb.shape[:2] != (SIZE, SIZE):
        raise SpikeliteError(
            f"{path}: image is {rgb.shape[1]}×{rgb.shape[0]}, Tiny-ImageNet images are "
            f"{SIZE}×{SIZE}"
        )
    return rgb.transpose(2, 0, 1)


def decode_jpegs(files: list[Path], out: np.ndarray | None = None) -> np.ndarray:
    """Decode ``files`` into ``out`` (or a new array), uint8 ``[N, 3, 64, 64]``."""
    if out is None:
        out = np.empty((len(files), 3, SIZE, SIZE), np.uint8)
    for i, f in enumerate(files):
        out[i] = read_jpeg(f)
    return out


def _fingerprint(files: list[Path]) -> dict[str, Any]:
    sizes = [f.stat().st_size for f in files]
    return {"files": len(files), "bytes": int(sum(sizes))}


def load_tiny_imagenet(
    root: str | os.PathLike[str], split: str, cache_dir: Path
) -> tuple[np.ndarray, np.ndarray]:
    """All of ``split`` → ``(images uint8 [N, 3, 64, 64] memory-mapped, labels int64)``.

    The first call decodes every JPEG into ``<cache_dir>/tiny-imagenet-<hash>/<split>.npy``
    (the hash covers the resolved root, the split, the file count and their total size,
    so a changed copy is decoded afresh); later calls memory-map it (copy-on-write)."""
    files, labels = list_tiny_imagenet(root, split)
    params = {
        "root": str(find_tiny_imagenet(root).resolve()),
        "split": split,
        **_fingerprint(files),
    }

    def build(tmp: Path) -> dict[str, Any]:
        arr = np.lib.format.open_memmap(
            tmp / f"{split}.npy", mode="w+", dtype=np.uint8, shape=(len(files), 3, SIZE, SIZE)
        )
        decode_jpegs(files, arr)
        arr.flush()
        del arr
        np.save(tmp / f"{split}-labels.npy", labels)
        return {"count": len(files)}

    entry, _ = ensure_entry(cache_dir, "tiny-imagenet", params, build)
    images = np.load(entry / f"{split}.npy", mmap_mode="c")
    cached = np.load(entry / f"{split}-labels.npy")
    if images.shape != (len(files), 3, SIZE, SIZE) or not np.array_equal(cached, labels):
        raise SpikeliteError(
            f"{entry}: cached Tiny-ImageNet arrays do not match {root}; delete that folder "
            f"to decode again"
        )
    return images, labels


def write_jpeg(path: str | os.PathLike[str], image: np.ndarray, *, quality: int = 95) -> None:
    """Fixtures: uint8 ``[3, H, W]`` (or ``[H, W]`` grayscale) → a JPEG file."""
    image_mod = _pil()
    arr = np.asarray(image, dtype=np.uint8)
    img = image_mod.fromarray(arr if arr.ndim == 2 else arr.transpose(1, 2, 0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG", quality=quality)
