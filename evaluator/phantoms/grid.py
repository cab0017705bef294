"""Voxel grids of a phantom and the linear upsampling from the coarse grid to the output grid.

Conventions (all phantom code): arrays are indexed ``[x, y, z]``; the voxel index grows towards the
patient's left (x), posterior (y) and superior (z), as in axial CT converted from DICOM. Smooth fields
(organ boundaries as signed distances, lesion fields, the soft HU image) are computed on a *coarse* grid
whose samples coincide with every ``factor``-th output voxel, then linearly interpolated onto the output
grid slab by slab; only thin structures (vessels, airways, nodules) and noise are rendered at full
resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Coarse sample spacing aimed at (mm): in-plane, slice axis.
COARSE_TARGET_MM = (2.0, 2.0, 3.0)


@dataclass(frozen=True, slots=True)
class Grid:
    """The output voxel grid: ``shape`` voxels of ``spacing`` mm."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    @property
    def extent_mm(self) -> tuple[float, float, float]:
        """Distance between the centres of the first and the last voxel along each axis (mm)."""
        return tuple((n - 1) * s for n, s in zip(self.shape, self.spacing, strict=True))  # type: ignore[return-value]

    @property
    def voxel_size_mm(self) -> float:
        """Geometric mean of the spacing: the width of a partial-volume edge (mm)."""
        return float(np.prod(self.spacing) ** (1.0 / 3.0))


@dataclass(frozen=True, slots=True)
class CoarseGrid:
    """Samples at output voxels ``0, f, 2f, ...`` of each axis, one sample past the end when ``f > 1``."""

    fine: Grid
    factors: tuple[int, int, int]

    @classmethod
    def for_grid(cls, fine: Grid, target_mm: tuple[float, float, float] = COARSE_TARGET_MM) -> CoarseGrid:
        # At least 2 once the output is markedly finer than the target: the fields are smooth.
        factors = tuple(
            max(2 if s < 0.75 * t else 1, int(round(t / s))) for t, s in zip(target_mm, fine.spacing, strict=True)
        )
        return cls(fine=fine, factors=factors)  # type: ignore[arg-type]

    @property
    def shape(self) -> tuple[int, int, int]:
        sizes = (n if f == 1 else (n - 1) // f + 2 for n, f in zip(self.fine.shape, self.factors, strict=True))
        return tuple(sizes)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(f * s for f, s in zip(self.factors, self.fine.spacing, strict=True))  # type: ignore[return-value]

    @property
    def voxel_size_mm(self) -> float:
        return float(np.prod(self.spacing) ** (1.0 / 3.0))

    def axes_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions (mm from output voxel 0) of the coarse samples, shaped to broadcast as [x, y, z]."""
        x, y, z = (np.arange(n, dtype=np.float32) * np.float32(s)
                   for n, s in zip(self.shape, self.spacing, strict=True))
        return x[:, None, None], y[None, :, None], z[None, None, :]

    def coarse_box(self, box: tuple[slice, slice, slice]) -> tuple[slice, slice, slice]:
        """The coarse samples that the interpolation of the output voxels in ``box`` reads."""
        out = []
        for sl, f, n in zip(box, self.factors, self.shape, strict=True):
            if f == 1:
                out.append(slice(sl.start, sl.stop))
            else:
                out.append(slice(sl.start // f, min(n, (sl.stop - 1) // f + 2)))
        return tuple(out)  # type: ignore[return-value]

    def fine_box(self, cbox: tuple[slice, slice, slice]) -> tuple[slice, slice, slice]:
        """The output voxels covered by the coarse samples ``cbox`` (clipped to the output grid)."""
        return tuple(
            slice(sl.start * f, min(n, (sl.stop - 1) * f + 1))
            for sl, f, n in zip(cbox, self.factors, self.fine.shape, strict=True)
        )  # type: ignore[return-value]


def _interp_axis(arr: np.ndarray, axis: int, factor: int, start: int, stop: int, offset: int) -> np.ndarray:
    """Linear interpolation along one axis: output voxels ``[start, stop)``; ``arr`` starts at coarse ``offset``."""
    if factor == 1:
        index = [slice(None)] * 3
        index[axis] = slice(start - offset, stop - offset)
        return arr[tuple(index)]
    j0, j1 = start // factor, (stop - 1) // factor + 1
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis] = slice(j0 - offset, j1 - offset)
    hi[axis] = slice(j0 - offset + 1, j1 - offset + 1)
    low = arr[tuple(lo)]
    diff = arr[tuple(hi)] - low
    m = j1 - j0
    out_shape = list(arr.shape)
    out_shape[axis] = m * factor
    out = np.empty(out_shape, dtype=np.float32)
    view_shape = list(arr.shape)
    view_shape[axis : axis + 1] = [m, factor]
    view = out.reshape(view_shape)
    weight_shape = [1] * 4
    weight_shape[axis + 1] = factor
    weights = (np.arange(factor, dtype=np.float32) / np.float32(factor)).reshape(weight_shape)
    np.multiply(np.expand_dims(diff, axis + 1), weights, out=view)
    view += np.expand_dims(low, axis + 1)
    crop = [slice(None)] * 3
    crop[axis] = slice(start - j0 * factor, stop - j0 * factor)
    return out[tuple(crop)]


def upsample_linear(coarse: np.ndarray, grid: CoarseGrid, box: tuple[slice, slice, slice]) -> np.ndarray:
    """Values of the coarse field at the output voxels in ``box``, by trilinear interpolation (float32)."""
    cbox = grid.coarse_box(box)
    arr = np.asarray(coarse[cbox], dtype=np.float32)
    for axis in (2, 1, 0):
        arr = _interp_axis(arr, axis, grid.factors[axis], box[axis].start, box[axis].stop, cbox[axis].start)
    return arr


def upsample_nearest(coarse: np.ndarray, grid: CoarseGrid, box: tuple[slice, slice, slice]) -> np.ndarray:
    """Values of a coarse label field at the output voxels in ``box``, from the nearest coarse sample."""
    arr = coarse
    for axis, (sl, f, n) in enumerate(zip(box, grid.factors, grid.shape, strict=True)):
        index = np.minimum((np.arange(sl.start, sl.stop) + f // 2) // f, n - 1)
        arr = np.take(arr, index, axis=axis)
    return arr


def ras_affine(grid: Grid, *, origin_mm: tuple[float, float, float]) -> np.ndarray:
    """Diagonal voxel-to-RAS+ affine for the index conventions above: x → left, y → posterior, z → superior.

    ``origin_mm`` is the RAS+ position of voxel (0, 0, 0); the matrix is ``diag(-sx, -sy, sz)``.
    """
    sx, sy, sz = grid.spacing
    affine = np.diag([-sx, -sy, sz, 1.0]).astype(np.float64)
    affine[:3, 3] = origin_mm
    return affine
