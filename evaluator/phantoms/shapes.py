"""Signed-distance primitives evaluated on broadcast coordinate axes (mm, float32; positive inside)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

Axes = tuple[np.ndarray, np.ndarray, np.ndarray]

#: "Very far outside": the value of a signed-distance field where a shape is absent.
FAR = np.float32(-1.0e4)


def soft(sd: np.ndarray, width: float | np.floating) -> np.ndarray:
    """Partial-volume occupancy from a signed distance: 0 outside, 1 inside, a linear ramp ``width`` mm wide."""
    out = np.multiply(sd, np.float32(1.0 / width), dtype=np.float32)
    out += np.float32(0.5)
    return np.clip(out, 0.0, 1.0, out=out)


def blend(base: np.ndarray, value: float | np.floating | np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``base`` replaced by ``value`` with occupancy ``alpha`` (in place when shapes allow)."""
    delta = np.subtract(value, base, dtype=np.float32)
    delta *= alpha
    if delta.shape == base.shape:
        base += delta
        return base
    return base + delta


def index_range(axis: np.ndarray, lo: float, hi: float) -> slice:
    """Indices of a sorted 1-D coordinate axis with ``lo <= value <= hi``."""
    flat = axis.ravel()
    return slice(int(np.searchsorted(flat, lo, "left")), int(np.searchsorted(flat, hi, "right")))


def capsule_sd(axes: Axes, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """Signed distance to a capsule (segment ``a``–``b`` thickened by ``radius``) on the full axes."""
    x, y, z = axes
    d = np.asarray(b, np.float32) - np.asarray(a, np.float32)
    length2 = max(float(d @ d), 1e-6)
    px, py, pz = x - np.float32(a[0]), y - np.float32(a[1]), z - np.float32(a[2])
    t = (px * d[0] + py * d[1] + pz * d[2]) * np.float32(1.0 / length2)
    np.clip(t, 0.0, 1.0, out=t)
    dist2 = (px - t * d[0]) ** 2
    dist2 += (py - t * d[1]) ** 2
    dist2 += (pz - t * d[2]) ** 2
    return np.float32(radius) - np.sqrt(dist2)


def union_capsule(target: np.ndarray, axes: Axes, a: ArrayLike, b: ArrayLike, radius: float, *,
                  margin: float) -> None:
    """``target = max(target, capsule_sd)`` evaluated only where the capsule is within ``margin`` mm."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    reach = radius + margin
    box = tuple(
        index_range(ax, min(a[i], b[i]) - reach, max(a[i], b[i]) + reach) for i, ax in enumerate(axes)
    )
    if any(sl.stop <= sl.start for sl in box):
        return
    sub_axes = (axes[0][box[0]], axes[1][:, box[1]], axes[2][:, :, box[2]])
    sub = target[box]
    np.maximum(sub, capsule_sd(sub_axes, a, b, radius), out=sub)


def ellipsoid_sd(axes: Axes, centre: Sequence[float], radii: Sequence[float]) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid (exact on its axes)."""
    x, y, z = axes
    g2 = ((x - np.float32(centre[0])) / np.float32(radii[0])) ** 2
    g2 = g2 + ((y - np.float32(centre[1])) / np.float32(radii[1])) ** 2
    g2 = g2 + ((z - np.float32(centre[2])) / np.float32(radii[2])) ** 2
    return (np.float32(1.0) - np.sqrt(g2)) * np.float32(min(radii))


def smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth cubic in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (np.float32(3.0) - np.float32(2.0) * x)
