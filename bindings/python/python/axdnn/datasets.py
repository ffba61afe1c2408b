"""The datasets axdnn reads (MNIST IDX files, CIFAR-10 binaries or image folders) as NumPy arrays."""

from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np

from ._axdnn import load_dataset

NAMES = ("mnist", "cifar10")


def load(
    name: str,
    split: str = "test",
    n: Optional[int] = None,
    data: Optional[str | os.PathLike] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Images and labels of a dataset split.

    Args:
        name: ``"mnist"`` or ``"cifar10"``.
        split: ``"test"`` or ``"train"``.
        n: keep the first ``n`` images (all when None).
        data: dataset folder (default: ``$AXDNN_DATA``, else ``../shared/data`` when present).

    Returns:
        ``(x, y)``: ``x`` float32 ``(N, C, H, W)`` in [0, 1], ``y`` int64 ``(N,)``.
    """
    return load_dataset(name, split, n, None if data is None else os.fspath(data))
