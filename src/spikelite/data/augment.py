"""Image augmentations for the static RGB sets: AutoAugment's CIFAR-10 policy and Cutout.

* **AutoAugment** (Cubuk et al., CVPR 2019, "AutoAugment: Learning Augmentation Policies
  from Data"): the 25 sub-policies found on reduced CIFAR-10; each item draws one
  sub-policy uniformly and applies its two ``(operation, probability, level)`` steps, each
  with its probability. Levels 0…9 map uniformly onto the paper's magnitude ranges (Table
  of operations in its appendix): shear ±0.3, translate ±150/331 of the image side, rotate
  ±30°, solarize threshold 256…0, posterize 8…4 bits, contrast/color/brightness/sharpness
  factor 1 ± 0.9; signed operations pick their sign at random. Geometric operations fill
  with grey (128), close to the data mean, as the paper's code fills with the mean.
* **Cutout** (DeVries & Taylor 2017, "Improved Regularization of Convolutional Neural
  Networks with Cutout"): one square hole whose centre is uniform over the image, clipped
  at the borders, set to 0 after normalisation (= the channel mean).

Pillow is imported lazily (it ships with matplotlib). Every random draw comes from the
``torch.Generator`` the caller passes, so items are reproducible per ``(seed, epoch, index)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from spikelite.errors import SpikeliteError

LEVELS = 10
"""Magnitude levels 0…9, uniformly spaced over each operation's range (the paper's 10 values)."""
FILL = (128, 128, 128)
"""Fill colour of the geometric operations (grey, close to the CIFAR mean)."""

# (operation, probability, level) pairs: Cubuk et al. 2019, appendix, reduced CIFAR-10 policy.
CIFAR10_POLICY: tuple[tuple[tuple[str, float, int], tuple[str, float, int]], ...] = (
    (("Invert", 0.1, 7), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, 8), ("Equalize", 0.9, 2)),
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, 5), ("Equalize", 0.5, 1)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, 7), ("AutoContrast", 0.4, 8)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, 3)),
    (("Equalize", 0.2, 0), ("AutoContrast", 0.6, 0)),
    (("Equalize", 0.2, 8), ("Equalize", 0.8, 4)),
    (("Color", 0.9, 9), ("Equalize", 0.6, 6)),
    (("AutoContrast", 0.8, 4), ("Solarize", 0.2, 8)),
    (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, 3)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, 2), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, 8), ("Invert", 0.1, 3)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1)),
)

SIGNED = frozenset(
    {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
     "Contrast", "Color", "Brightness", "Sharpness"}
)
"""Operations whose magnitude gets a random sign."""


def magnitude(op: str, level: int, side: int = 32) -> float:
    """The unsigned magnitude of ``op`` at ``level`` (0…9) for an image ``side`` px wide."""
    if not 0 <= level < LEVELS:
        raise SpikeliteError(f"AutoAugment level must be in 0..{LEVELS - 1}, got {level}")
    t = level / (LEVELS - 1)
    if op in ("ShearX", "ShearY"):
        return 0.3 * t
    if op in ("TranslateX", "TranslateY"):
        return 150 / 331 * side * t
    if op == "Rotate":
        return 30.0 * t
    if op == "Solarize":
        return 256.0 * (1 - t)
    if op == "Posterize":
        return float(round(8 - 4 * t))
    if op in ("Contrast", "Color", "Brightness", "Sharpness"):
        return 0.9 * t
    if op in ("AutoContrast", "Equalize", "Invert"):
        return 0.0
    raise SpikeliteError(f"unknown AutoAugment operation {op!r}; known: {', '.join(OPERATIONS)}")


def _pil() -> Any:
    try:
        from PIL import Image, ImageEnhance, ImageOps
    except ImportError as err:  # pragma: no cover - Pillow ships with matplotlib
        raise SpikeliteError(
            "augment 'autoaugment' needs Pillow; install it with `pip install pillow`"
        ) from err
    return Image, ImageEnhance, ImageOps


def apply_op(img: Any, op: str, value: float) -> Any:
    """Apply ``op`` with signed magnitude ``value`` to the RGB PIL image ``img``."""
    image, enhance, ops = _pil()
    w, h = img.size
    if op in ("ShearX", "ShearY"):  # about the image centre (Pillow samples pixel centres)
        if op == "ShearX":
            coeffs = (1, value, -value * h / 2, 0, 1, 0)
        else:
            coeffs = (1, 0, 0, value, 1, -value * w / 2)
        return img.transform(img.size, image.Transform.AFFINE, coeffs, fillcolor=FILL)
    if op == "TranslateX":  # output (x, y) samples input (x - value, y): moves right by value
        return img.transform(img.size, image.Transform.AFFINE, (1, 0, -value, 0, 1, 0),
                             fillcolor=FILL)
    if op == "TranslateY":
        return img.transform(img.size, image.Transform.AFFINE, (1, 0, 0, 0, 1, -value),
                             fillcolor=FILL)
    if op == "Rotate":
        return img.rotate(value, fillcolor=FILL)
    if op == "AutoContrast":
        return ops.autocontrast(img)
    if op == "Equalize":
        return ops.equalize(img)
    if op == "Invert":
        return ops.invert(img)
    if op == "Solarize":
        return ops.solarize(img, int(value))
    if op == "Posterize":
        return ops.posterize(img, int(value))
    factor = 1.0 + value
    if op == "Contrast":
        return enhance.Contrast(img).enhance(factor)
    if op == "Color":
        return enhance.Color(img).enhance(factor)
    if op == "Brightness":
        return enhance.Brightness(img).enhance(factor)
    if op == "Sharpness":
        return enhance.Sharpness(img).enhance(factor)
    raise SpikeliteError(f"unknown AutoAugment operation {op!r}; known: {', '.join(OPERATIONS)}")


OPERATIONS = (
    "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "AutoContrast", "Invert",
    "Equalize", "Solarize", "Posterize", "Contrast", "Color", "Brightness", "Sharpness",
)


def _draw(generator: torch.Generator, n: int) -> int:
    return int(torch.randint(0, n, (1,), generator=generator))


def autoaugment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """AutoAugment (CIFAR-10 policy) of one uint8 ``[3, H, W]`` image → uint8 ``[3, H, W]``.

    Draws, in order: the sub-policy; then for each of its two steps whether it applies
    (``rand < p``) and, for a signed operation, the sign (drawn whether or not it applies,
    so the number of draws per item is fixed by the sub-policy).
    """
    if x.dtype != torch.uint8 or x.ndim != 3 or x.shape[0] != 3:
        raise SpikeliteError(
            f"AutoAugment needs a uint8 RGB image [3, H, W], got {x.dtype} {tuple(x.shape)}"
        )
    image, _, _ = _pil()
    sub = CIFAR10_POLICY[_draw(generator, len(CIFAR10_POLICY))]
    steps = []
    for op, p, level in sub:
        apply = float(torch.rand((), generator=generator)) < p
        sign = -1.0 if op in SIGNED and _draw(generator, 2) else 1.0
        steps.append((apply, op, sign * magnitude(op, level, x.shape[-1])))
    if not any(a for a, _, _ in steps):
        return x
    img = image.fromarray(x.permute(1, 2, 0).contiguous().numpy())
    for apply, op, value in steps:
        if apply:
            img = apply_op(img, op, value)
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Cutout: zero one ``size``×``size`` square of ``x [C, H, W]`` (a copy) whose centre is
    uniform over the image, clipped at the borders (DeVries & Taylor 2017)."""
    h, w = x.shape[-2:]
    cy, cx = _draw(generator, h), _draw(generator, w)
    y0, y1 = max(cy - size // 2, 0), min(cy + size - size // 2, h)
    x0, x1 = max(cx - size // 2, 0), min(cx + size - size // 2, w)
    out = x.clone()
    out[..., y0:y1, x0:x1] = 0
    return out


STEPS = ("autoaugment", "crop-flip", "cutout")
"""Augmentation steps, in the order they are applied: AutoAugment on the uint8 image, then
4-px pad + random crop + flip, then (after normalisation) Cutout — the AutoAugment paper's
CIFAR pipeline."""
PRESETS: dict[str, tuple[str, ...]] = {
    "none": (),
    "crop-flip": ("crop-flip",),
    "autoaugment": STEPS,
}
"""Named settings of the ``augment`` option: ``"autoaugment"`` is QP-SNN's CIFAR setup."""


def augment_steps(value: object, what: str = "augment") -> tuple[str, ...]:
    """Normalise an ``augment`` option to its steps, in :data:`STEPS` order.

    ``False``/``None``/``"none"`` → none; ``True``/``"crop-flip"`` → crop + flip (the default
    augmentation); ``"autoaugment"`` → AutoAugment + crop + flip + Cutout (QP-SNN); a list of
    step names picks steps (applied in :data:`STEPS` order, whatever the list order).
    """
    valid = (
        f"{what} must be true or false, one of {', '.join(repr(k) for k in PRESETS)}, "
        f"or a list of steps from {', '.join(repr(s) for s in STEPS)}"
    )
    if value is None or value is False:
        return ()
    if value is True:
        return ("crop-flip",)
    if isinstance(value, str):
        if value not in PRESETS:
            raise SpikeliteError(f"{valid}; got {value!r}")
        return PRESETS[value]
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        steps = list(value)
        bad = [s for s in steps if not isinstance(s, str) or s not in STEPS]
        if bad:
            raise SpikeliteError(f"{valid}; got unknown step(s) {bad!r}")
        if len(set(steps)) != len(steps):
            raise SpikeliteError(f"{valid}, each once; got {steps!r}")
        return tuple(s for s in STEPS if s in steps)
    raise SpikeliteError(f"{valid}; got {value!r}")

