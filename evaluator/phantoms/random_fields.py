"""Smooth random fields: white noise on a sparse lattice, blurred and linearly interpolated."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from evaluator.phantoms.grid import CoarseGrid, Grid, upsample_linear


def smooth_noise(
    rng: np.random.Generator,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    *,
    scale_mm: float,
) -> np.ndarray:
    """A zero-mean, unit-variance random field on a grid of ``shape``/``spacing``, correlated over ~``scale_mm``."""
    grid = Grid(shape=shape, spacing=spacing)
    lattice = CoarseGrid.for_grid(grid, target_mm=(scale_mm / 2.0,) * 3)
    white = rng.standard_normal(lattice.shape).astype(np.float32)
    blurred = ndimage.gaussian_filter(white, sigma=1.0, mode="wrap")
    blurred -= blurred.mean()
    blurred /= max(float(blurred.std()), 1e-6)
    box = tuple(slice(0, n) for n in shape)
    return np.ascontiguousarray(upsample_linear(blurred, lattice, box))  # type: ignore[arg-type]
