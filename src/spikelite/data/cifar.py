"""Static RGB images (CIFAR-10/100, Tiny-ImageNet) as spike-encoded ``[T, 3, H, W]`` items.

Images stay uint8 in memory (150 MB for the CIFAR training set; Tiny-ImageNet's is a
memory-mapped cache); each access optionally applies AutoAugment's CIFAR-10 policy to the
uint8 image, scales to [0, 1], optionally augments (4-px zero padding + random H×W crop +
horizontal flip, the usual CIFAR recipe), optionally normalises per channel
(``mean``/``std``, CIFAR-10's by default), optionally applies Cutout
(:mod:`spikelite.data.augment`), then applies a registered encoder (``direct`` = QP-SNN's
input coding: the analog image repeated T times).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from spikelite.data.augment import augment_steps, autoaugment, cutout
from spikelite.data.base import SpikeDataset
from spikelite.data.encoding import ENCODERS
from spikelite.errors import SpikeliteError

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
"""Per-channel mean and standard deviation of the 50,000 training images (pixels / 255)."""
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
"""The same for CIFAR-100's 50,000 training images (the commonly published values)."""
TINY_IMAGENET_MEAN = (0.4802, 0.4481, 0.3975)
TINY_IMAGENET_STD = (0.2302, 0.2265, 0.2262)
"""Tiny-ImageNet-200's commonly published training-set constants (not recomputed here)."""

PAD = 4


class CifarDataset(SpikeDataset):
    """uint8 images ``[N, 3, H, W]`` → ``(encoder(x) [T, 3, H, W] float32, label)``.

    Random draws (augmentation, ``rate`` coding) use a generator seeded with
    ``SeedSequence([seed, epoch, index])``, as :class:`~spikelite.data.EncodedDataset`:
    reproducible per seed, new per epoch only if the training loop calls :meth:`set_epoch`.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        name: str,
        *,
        encoding: str,
        time_steps: int,
        seed: int,
        normalize: bool,
        augment: bool | str | Sequence[str] = False,
        classes: int = 10,
        mean: tuple[float, ...] = CIFAR10_MEAN,
        std: tuple[float, ...] = CIFAR10_STD,
        cutout_size: int | None = None,
    ) -> None:
        if encoding in ("rate", "latency") and normalize:
            raise SpikeliteError(
                f"encoding '{encoding}' needs intensities in [0, 1]; normalize=True would "
                f"make them negative. Use encoding='direct' (QP-SNN) or normalize=False"
            )
        self.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8))
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = int(classes)
        self.name = name
        self.encoding = encoding
        self.encoder = ENCODERS.get(encoding)
        self.time_steps = int(time_steps)
        self.input_shape = tuple(int(s) for s in self.images.shape[1:])
        self.seed = int(seed)
        self.normalize = bool(normalize)
        self.augment = augment_steps(augment)
        """The augmentation steps (:data:`~spikelite.data.augment.STEPS`); empty = none."""
        self.cutout_size = (
            int(cutout_size) if cutout_size is not None else self.input_shape[-1] // 2
        )
        self.epoch = 0
        c = self.input_shape[0]
        self._mean = torch.tensor(tuple(mean)[:c]).view(c, 1, 1)
        self._std = torch.tensor(tuple(std)[:c]).view(c, 1, 1)

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of epoch ``epoch`` (augmentation and ``rate``)."""
        self.epoch = int(epoch)

    def image(self, index: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Item ``index`` as float32 ``[3, H, W]`` before encoding (augmented if enabled)."""
        x8 = self.images[self._index(index)]
        if self.augment and generator is None:
            raise SpikeliteError("augmentation needs a generator")
        if "autoaugment" in self.augment:
            x8 = autoaugment(x8, generator)
        x = x8.to(torch.float32) / 255.0
        if "crop-flip" in self.augment:
            h, w = x.shape[1:]
            padded = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
            dy, dx, flip = (
                int(v)
                for v in (
                    torch.randint(0, 2 * PAD + 1, (1,), generator=generator),
                    torch.randint(0, 2 * PAD + 1, (1,), generator=generator),
                    torch.randint(0, 2, (1,), generator=generator),
                )
            )
            x = padded[:, dy : dy + h, dx : dx + w]
            if flip:
                x = x.flip(-1)
        if self.normalize:
            x = (x - self._mean) / self._std
        if "cutout" in self.augment:
            x = cutout(x, self.cutout_size, generator)
        return x.contiguous()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = self._index(index)
        state = np.random.SeedSequence([self.seed, self.epoch, i]).generate_state(2, np.uint32)
        gen = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        x = self.encoder(self.image(i, gen), self.time_steps, generator=gen)
        return x, int(self.labels[i])
