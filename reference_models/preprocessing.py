"""Preprocessing shared by all methods (Sec. 4.1 and the notes), and its inverse for predictions.

Conventions: volumes are numpy arrays ``[x, y, z]`` in nibabel's order, ``z`` the axial slice axis; ``spacing`` is
the voxel size in mm along ``(x, y, z)``, e.g. ``image.header.get_zooms()[:3]`` or :func:`spacing_from_affine`.

Order (notes): in-plane linear resampling of every axial slice to 2 × 2 mm (the slice axis is not resampled) →
intensity window [-1000, 300] HU clipped and scaled to [0, 1] → crop to the bounding box of the lung mask.
Slices are processed ``slice_batch`` at a time, so memory stays bounded for long series.

The inverse (:func:`restore_probabilities`) pads a prediction made on the cropped 2 mm grid back to the resampled
extent (zeros outside the box) and resizes each slice linearly to the original in-plane size; masks are thresholded
only after that (:func:`restore_mask`).

Every resizing runs on a ``device`` given as a keyword (default: the CPU): the predictors pass their network's,
so on a GPU the full-resolution series is uploaded once and only small or boolean arrays come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch.nn import functional as F

TARGET_SPACING: tuple[float, float] = (2.0, 2.0)
"""In-plane pixel spacing (mm) all networks work at."""
HU_WINDOW: tuple[float, float] = (-1000.0, 300.0)
"""Intensity window (HU) mapped to [0, 1]."""
SLICE_BATCH = 32

Box = tuple[slice, slice, slice]


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size (mm) along the array axes: the norms of the affine's first three columns."""
    affine = np.asarray(affine, dtype=float)
    return tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))  # type: ignore[return-value]


def in_plane_shape(
    shape: Sequence[int], spacing: Sequence[float], *, target_spacing: Sequence[float] = TARGET_SPACING
) -> tuple[int, int]:
    """In-plane size after resampling to ``target_spacing``: ``round(n · spacing / target)``, at least 1."""
    return tuple(  # type: ignore[return-value]
        max(1, int(round(n * s / t))) for n, s, t in zip(shape[:2], spacing[:2], target_spacing, strict=True)
    )


def resize_tensor(
    volume: torch.Tensor, size: Sequence[int], *, slice_batch: int = SLICE_BATCH, threshold: float | None = None
) -> torch.Tensor:
    """:func:`resize_slices` on a tensor ``[x, y, z]`` (any dtype), on the tensor's own device.

    Returns float32 ``[x', y', z]``, or, with a ``threshold``, the boolean ``resized > threshold`` (each chunk is
    thresholded as it is resized: no float32 copy of the whole result).
    """
    if volume.ndim != 3:
        raise ValueError(f"expected a 3D volume [x, y, z], got shape {tuple(volume.shape)}")
    size = (int(size[0]), int(size[1]))
    out = torch.empty((*size, volume.shape[2]), dtype=torch.float32 if threshold is None else torch.bool,
                      device=volume.device)
    for start in range(0, volume.shape[2], slice_batch):
        stop = min(start + slice_batch, volume.shape[2])
        if tuple(volume.shape[:2]) == size:
            chunk = volume[:, :, start:stop].to(torch.float32)
        else:  # one copy per chunk into (n, x, y) float32, whatever the volume's layout (NIfTI data is F-ordered)
            slices = volume[:, :, start:stop].permute(2, 0, 1).to(torch.float32, memory_format=torch.contiguous_format)
            resized = F.interpolate(slices[:, None], size=size, mode="bilinear", align_corners=False)
            chunk = resized[:, 0].permute(1, 2, 0)
        out[:, :, start:stop] = chunk if threshold is None else chunk > threshold
    return out


def to_device(array: np.ndarray, device: torch.device | str | None) -> torch.Tensor:
    """A numpy array as a tensor on ``device`` (``None``: the CPU, sharing memory with the array where possible).

    Bool, uint8, int16 and float32 arrays keep their type (a CT in int16 crosses to a GPU at half the bytes of
    float32); other types become float32. The memory layout is kept (no transposing copy of a Fortran-ordered
    NIfTI volume); only views with negative strides (flipped axes) are copied, in their own layout.
    """
    array = np.asarray(array)
    if array.dtype not in (np.bool_, np.uint8, np.int16, np.float32):
        array = array.astype(np.float32, order="K")
    if any(stride < 0 for stride in array.strides):
        array = array.copy(order="K")
    tensor = torch.from_numpy(array)
    return tensor if device is None else tensor.to(device)


def resize_slices(
    volume: np.ndarray,
    size: Sequence[int],
    *,
    slice_batch: int = SLICE_BATCH,
    threshold: float | None = None,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Resize every axial slice of ``volume [x, y, z]`` to ``size = (x', y')`` by bilinear interpolation.

    Pixel centres are aligned as in ``align_corners=False`` (the image's edges map onto each other); the border is
    extended by its nearest value. Returns float32 ``[x', y', z]`` (the slice axis is untouched), or, with a
    ``threshold``, the boolean ``resized > threshold`` without a float32 copy of the whole result. The
    interpolation runs on ``device`` (default: the CPU); the result comes back as a numpy array.
    """
    if volume.ndim != 3:
        raise ValueError(f"expected a 3D volume [x, y, z], got shape {volume.shape}")
    resized = resize_tensor(to_device(volume, device), size, slice_batch=slice_batch, threshold=threshold)
    return resized.cpu().numpy()


def window(
    image_hu: np.ndarray, *, hu_window: Sequence[float] = HU_WINDOW, out: np.ndarray | None = None
) -> np.ndarray:
    """Clip to ``hu_window`` and scale linearly to [0, 1] (float32; pass ``out=image_hu`` to work in place)."""
    low, high = float(hu_window[0]), float(hu_window[1])
    if not high > low:
        raise ValueError(f"empty HU window {hu_window}")
    scaled = np.subtract(image_hu, low, out=out, dtype=np.float32)
    scaled /= high - low
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def bounding_box(mask: np.ndarray) -> Box | None:
    """Smallest box (one slice per axis) holding every nonzero voxel of ``mask``; ``None`` if it is empty."""
    boxes = ndimage.find_objects((np.asarray(mask) != 0).astype(np.uint8))
    return boxes[0] if boxes else None


@dataclass(frozen=True, slots=True)
class Geometry:
    """How a preprocessed array relates to the original grid.

    ``box`` is the crop in the resampled grid (``resampled_shape``); the cropped array has ``cropped_shape``.
    """

    original_shape: tuple[int, int, int]
    resampled_shape: tuple[int, int, int]
    box: Box

    @property
    def cropped_shape(self) -> tuple[int, int, int]:
        return tuple(s.stop - s.start for s in self.box)


@dataclass(frozen=True, slots=True)
class Preprocessed:
    """A series ready for a network: ``image`` float32 ``[x', y', z']`` (in [0, 1], or HU if not windowed),
    ``lungs`` the lung mask on the same grid (``None`` if none was given), and the ``geometry`` to map back."""

    image: np.ndarray
    lungs: np.ndarray | None
    geometry: Geometry


def preprocess(
    image_hu: np.ndarray,
    spacing: Sequence[float],
    *,
    lungs: np.ndarray | None = None,
    hu_window: Sequence[float] | None = HU_WINDOW,
    target_spacing: Sequence[float] = TARGET_SPACING,
    slice_batch: int = SLICE_BATCH,
    device: torch.device | str | None = None,
) -> Preprocessed:
    """Resample in-plane to ``target_spacing``, window (skipped if ``hu_window`` is None) and crop to the lungs.

    ``lungs`` (any nonzero voxel is lung) is resampled linearly and thresholded at 0.5 on the new grid; the crop is
    its bounding box, in all three axes. Without lungs, or with an empty lung mask, nothing is cropped. The
    resampling runs on ``device`` (default: the CPU), so the full-resolution series is only read once on the host.
    """
    if image_hu.ndim != 3 or len(spacing) < 3:
        raise ValueError(f"expected a 3D image [x, y, z] and 3 spacings, got {image_hu.shape} and {spacing}")
    if lungs is not None and lungs.shape != image_hu.shape:
        raise ValueError(f"lung mask shape {lungs.shape} differs from the image's {image_hu.shape}")
    size = in_plane_shape(image_hu.shape, spacing, target_spacing=target_spacing)
    image = resize_slices(image_hu, size, slice_batch=slice_batch, device=device)
    if hu_window is not None:
        window(image, hu_window=hu_window, out=image)
    resampled_lungs = None
    box: Box = tuple(slice(0, n) for n in image.shape)  # type: ignore[assignment]
    if lungs is not None:
        resampled_lungs = resize_slices(lungs != 0, size, slice_batch=slice_batch, threshold=0.5, device=device)
        box = bounding_box(resampled_lungs) or box
        resampled_lungs = resampled_lungs[box]
    geometry = Geometry(
        original_shape=tuple(image_hu.shape),
        resampled_shape=tuple(image.shape),
        box=box,
    )
    return Preprocessed(image=np.ascontiguousarray(image[box]), lungs=resampled_lungs, geometry=geometry)


def mask_to_grid(mask: np.ndarray, geometry: Geometry, *, slice_batch: int = SLICE_BATCH) -> np.ndarray:
    """A mask on the original grid (nonzero = inside; e.g. a lesion mask for training) → bool on the cropped
    2 mm grid of ``geometry``, resampled like the lung mask in :func:`preprocess` (linear, then > 0.5)."""
    if tuple(mask.shape) != geometry.original_shape:
        raise ValueError(f"mask shape {mask.shape} is not the original shape {geometry.original_shape}")
    resampled = resize_slices(mask != 0, geometry.resampled_shape[:2], slice_batch=slice_batch, threshold=0.5)
    return np.ascontiguousarray(resampled[geometry.box])


def restore_tensor(
    probabilities: np.ndarray | torch.Tensor,
    geometry: Geometry,
    *,
    threshold: float | None = None,
    slice_batch: int = SLICE_BATCH,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """:func:`restore_probabilities` as a tensor on ``device`` (default: the probabilities' own device, or the CPU
    for a numpy array), for callers that go on computing there (e.g. the severity)."""
    if tuple(probabilities.shape) != geometry.cropped_shape:
        raise ValueError(f"prediction shape {tuple(probabilities.shape)} is not the cropped shape "
                         f"{geometry.cropped_shape}")
    if isinstance(probabilities, np.ndarray):
        probabilities = to_device(probabilities.astype(np.float32, copy=False), device)
    elif device is not None:
        probabilities = probabilities.to(device)
    full = torch.zeros(geometry.resampled_shape, dtype=torch.float32, device=probabilities.device)
    full[geometry.box] = probabilities.to(torch.float32)
    return resize_tensor(full, geometry.original_shape[:2], slice_batch=slice_batch, threshold=threshold)


def restore_probabilities(
    probabilities: np.ndarray,
    geometry: Geometry,
    *,
    threshold: float | None = None,
    slice_batch: int = SLICE_BATCH,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Map a map predicted on the cropped 2 mm grid back to the original grid (float32, zeros outside the crop).

    With a ``threshold``, the result is the boolean mask ``restored > threshold`` (thresholded after resizing).
    The resizing runs on ``device`` (default: the CPU).
    """
    return restore_tensor(probabilities, geometry, threshold=threshold, slice_batch=slice_batch,
                          device=device).cpu().numpy()


def restore_mask(
    probabilities: np.ndarray,
    geometry: Geometry,
    *,
    threshold: float,
    slice_batch: int = SLICE_BATCH,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """:func:`restore_probabilities`, then ``> threshold``: a boolean mask on the original grid."""
    return restore_probabilities(probabilities, geometry, threshold=threshold, slice_batch=slice_batch, device=device)
