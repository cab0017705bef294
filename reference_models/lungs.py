"""Lung segmentation and the left/right split (Sec. 2.1, 4.2 and the notes).

1. A slice-wise 2D U-Net (the shared backbone, top 8-channel map → 1×1 conv → sigmoid) predicts one mask for both
   lungs on the 2 mm grid (uncropped); probabilities are resized back to the original grid and thresholded at 0.5.
2. k-means with two clusters (scikit-learn, fixed seed) is fitted on the coordinates of a subsample of lung
   voxels (every ``step``-th, 30 by default) and every lung voxel is assigned to the nearest centre. Coordinates
   are in mm (voxel index × spacing) so that thick slices do not distort distances — the paper says "Euclidean
   distance between voxels" without units; with ``spacing=(1, 1, 1)`` they are voxel indices.
   Labels: along the axis where the two centres differ most, the cluster with the lower coordinate is 1 and the
   other 2. For an axial series that axis is x, so 1 is the lung with the lower x index (the patient's right in
   RAS orientation) and 2 the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import nn

from reference_models.inference import (
    SLICE_BATCH,
    Prediction,
    evaluating,
    model_device,
    predict_slicewise,
)
from reference_models.preprocessing import preprocess, restore_mask
from reference_models.unet2d import PAPER_DEPTH, PAPER_WIDTH, UNetBackbone

LUNG_THRESHOLD = 0.5
KMEANS_STEP = 30
KMEANS_SEED = 0
_SLAB = 8  # slices per chunk when listing lung voxel coordinates


class LungSegmentationNet(nn.Module):
    """``(n, 1, x, y)`` slices → ``(n, 1, x, y)`` lung logits: U-Net backbone, then a 1×1 conv on the top map."""

    def __init__(self, *, width: int = PAPER_WIDTH, depth: int = PAPER_DEPTH) -> None:
        super().__init__()
        self.backbone = UNetBackbone(width=width, depth=depth)
        self.to_logits = nn.Conv2d(width, 1, kernel_size=1)

    def forward(self, slices: torch.Tensor) -> torch.Tensor:
        return self.to_logits(self.backbone(slices)[0])


def _lung_coordinates(mask: np.ndarray, spacing: Sequence[float]) -> Iterator[np.ndarray]:
    """Coordinates (mm) of the mask's voxels, slab by slab along z, in C order within each slab."""
    scale = np.asarray(spacing[:3], dtype=np.float64)
    for start in range(0, mask.shape[2], _SLAB):
        indices = np.argwhere(mask[:, :, start : start + _SLAB]).astype(np.float64)
        indices[:, 2] += start
        yield indices * scale


def split_lungs(
    mask: np.ndarray,
    *,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    step: int = KMEANS_STEP,
    seed: int = KMEANS_SEED,
) -> np.ndarray:
    """Split a binary lung mask into two lungs with k-means (k = 2); returns uint8 labels 0, 1, 2 (see module doc).

    Masks with fewer than two voxels get label 1 everywhere; small masks are fitted on all voxels.
    """
    mask = np.asarray(mask) != 0
    labels = np.zeros(mask.shape, dtype=np.uint8)
    total = int(np.count_nonzero(mask))
    if total < 2:
        labels[mask] = 1
        return labels
    step = step if total >= 2 * step else 1
    sample, seen = [], 0
    for coords in _lung_coordinates(mask, spacing):
        # every step-th voxel of the whole mask, counting across slabs
        sample.append(coords[(-seen) % step :: step].copy())  # a copy: a view would keep the whole slab alive
        seen += len(coords)
    kmeans = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(np.concatenate(sample))
    centres = kmeans.cluster_centers_
    axis = int(np.argmax(np.abs(centres[0] - centres[1])))
    first = int(np.argmin(centres[:, axis]))  # the cluster that becomes label 1
    for start, coords in zip(range(0, mask.shape[2], _SLAB), _lung_coordinates(mask, spacing), strict=True):
        if len(coords):
            slab = labels[:, :, start : start + _SLAB]
            slab[mask[:, :, start : start + _SLAB]] = np.where(kmeans.predict(coords) == first, 1, 2)
    return labels


def ensure_split(lungs: np.ndarray, *, spacing: Sequence[float]) -> np.ndarray:
    """Lungs labelled 1/2 as :func:`split_lungs` returns them; a binary mask (max ≤ 1) is split first."""
    lungs = np.asarray(lungs)
    if lungs.size == 0:
        return np.zeros(lungs.shape, dtype=np.uint8)
    integral = lungs.dtype == bool or np.issubdtype(lungs.dtype, np.integer) or np.array_equal(lungs, np.rint(lungs))
    if lungs.min() < 0 or lungs.max() > 2 or not integral:
        raise ValueError("a split lung mask may only hold the labels 0, 1 and 2")
    if lungs.max() <= 1:
        return split_lungs(lungs, spacing=spacing)
    return lungs.astype(np.uint8, copy=False)


def predict_lungs(
    model: nn.Module,
    image_hu: np.ndarray,
    spacing: Sequence[float],
    *,
    threshold: float = LUNG_THRESHOLD,
    slice_batch: int = SLICE_BATCH,
    seed: int = KMEANS_SEED,
) -> Prediction:
    """Segment both lungs of ``image_hu [x, y, z]`` and split them; ``Prediction.lungs`` holds labels 0, 1, 2."""
    prepared = preprocess(image_hu, spacing)
    with evaluating(model):
        probabilities = predict_slicewise(model, prepared.image, device=model_device(model), slice_batch=slice_batch)
    mask = restore_mask(probabilities, prepared.geometry, threshold=threshold)
    return Prediction(lungs=split_lungs(mask, spacing=spacing, seed=seed))
