"""Synthetic chest-like volumes for the reference-model tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ellipsoid(shape: Sequence[int], centre: Sequence[float], radii: Sequence[float]) -> np.ndarray:
    """Boolean ellipsoid on a voxel grid (centre and radii in voxels)."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii, strict=True)) <= 1.0


def two_lungs(shape: Sequence[int]) -> np.ndarray:
    """Labels 1 (lower x) and 2: two ellipsoids side by side along x."""
    x, y, z = shape
    radii = (0.2 * x, 0.35 * y, 0.4 * z)
    labels = np.zeros(shape, dtype=np.uint8)
    labels[ellipsoid(shape, (0.27 * x, 0.5 * y, 0.5 * z), radii)] = 1
    labels[ellipsoid(shape, (0.73 * x, 0.5 * y, 0.5 * z), radii)] = 2
    return labels


def chest(shape: Sequence[int] = (64, 48, 16)) -> tuple[np.ndarray, np.ndarray]:
    """An int16 HU image (air, soft-tissue body, aerated lungs at -850 HU) and its two lungs (labels 1 and 2)."""
    lungs = two_lungs(shape)
    image = np.full(shape, -1000, dtype=np.int16)
    body = ellipsoid(shape, [n / 2 for n in shape[:2]] + [shape[2] / 2], (0.48 * shape[0], 0.48 * shape[1], shape[2]))
    image[body] = 40
    image[lungs > 0] = -850
    return image, lungs
