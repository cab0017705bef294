"""Scan protocols: the voxel grid of each series of a set varies around the set's nominal grid, as in real data.

A set is written with a nominal ``shape`` and ``spacing``; the nominal slice spacing is the *thickest* a series
gets. :func:`scan_geometry` draws, from the case's seed, one series' grid with the same field of view:

* slice spacing: the nominal × 1/8, 1/4, 3/8, 5/8 or 1 (probabilities .10, .15, .20, .20, .35); with the default
  8 mm that is 1, 2, 3, 5 or 8 mm, the range of the paper's data (thin-slice CTs and MosMed's 8 mm);
* in-plane pixel: the nominal × 0.8–1.2 (the real data's 0.55–0.9 mm around 0.7 mm).

The shape follows: ``ceil(n × nominal / drawn)`` voxels per axis, so the field of view never shrinks.
"""

from __future__ import annotations

import math

import numpy as np

SLICE_FRACTIONS = (1 / 8, 1 / 4, 3 / 8, 5 / 8, 1.0)
SLICE_PROBABILITIES = (0.10, 0.15, 0.20, 0.20, 0.35)
IN_PLANE_FACTORS = (0.8, 1.2)
_STREAM = 0x5CA2


def scan_geometry(
    shape: tuple[int, int, int], spacing: tuple[float, float, float], *, seed: int
) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    """The ``(shape, spacing)`` of the series with phantom seed ``seed`` in a set of nominal ``shape``/``spacing``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _STREAM]))
    pixel = round(spacing[0] * float(rng.uniform(*IN_PLANE_FACTORS)), 3)
    pixel_y = round(pixel * spacing[1] / spacing[0], 3)
    fraction = SLICE_FRACTIONS[int(rng.choice(len(SLICE_FRACTIONS), p=SLICE_PROBABILITIES))]
    drawn = (pixel, pixel_y, round(spacing[2] * fraction, 3))
    sizes = tuple(max(8, math.ceil(n * s / d - 1e-6)) for n, s, d in zip(shape, spacing, drawn, strict=True))
    return sizes, drawn  # type: ignore[return-value]
