"""Lung segmentation and the left/right split (Sec. 2.1, 4.2 and the notes).

1. A slice-wise 2D U-Net (the shared backbone, top 8-channel map → 1×1 conv → sigmoid) predicts one mask for both
   lungs on the 2 mm grid (uncropped); probabilities are resized back to the original grid and thresholded at 0.5.
2. k-means with two clusters (scikit-learn, fixed seed) is fitted on the coordinates of a subsample of lung
   voxels (about one in ``step``, 30 by default: a sub-grid of stride 3, at most 50,000 points) and every
   lung voxel is assigned to the nearest centre (the side of the centres' bisecting plane). Coordinates
   are in mm (voxel index × spacing) so that thick slices do not distort distances — the paper says "Euclidean
   distance between voxels" without units; with ``spacing=(1, 1, 1)`` they are voxel indices.
   Labels: along the axis where the two centres differ most, the cluster with the lower coordinate is 1 and the
   other 2. For an axial series that axis is x, so 1 is the lung with the lower x index (the patient's right in
   RAS orientation) and 2 the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits
from torch import nn

from reference_models.inference import (
    SLICE_BATCH,
    Prediction,
    evaluating,
    model_device,
    predict_slicewise,
)
from reference_models.networks.unet_backbone import PAPER_DEPTH, PAPER_WIDTH, UNetBackbone
from reference_models.preprocessing import preprocess, restore_mask

LUNG_THRESHOLD = 0.5
KMEANS_STEP = 30
KMEANS_SEED = 0
KMEANS_MAX_POINTS = 50_000  # cap on the fitted sample (after taking every KMEANS_STEP-th voxel)
_SLAB = 8  # slices per chunk when assigning voxels to the nearest centre


class LungSegmentationNet(nn.Module):
    """``(n, 1, x, y)`` slices → ``(n, 1, x, y)`` lung logits: U-Net backbone, then a 1×1 conv on the top map."""

    def __init__(self, *, width: int = PAPER_WIDTH, depth: int = PAPER_DEPTH) -> None:
        super().__init__()
        self.backbone = UNetBackbone(width=width, depth=depth)
        self.to_logits = nn.Conv2d(width, 1, kernel_size=1)

    def forward(self, slices: torch.Tensor) -> torch.Tensor:
        return self.to_logits(self.backbone(slices)[0])


def split_lungs(
    mask: np.ndarray,
    *,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    step: int = KMEANS_STEP,
    seed: int = KMEANS_SEED,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Split a binary lung mask into two lungs with k-means (k = 2); returns uint8 labels 0, 1, 2 (see module doc).

    Masks with fewer than two voxels get label 1 everywhere; small masks are fitted on all voxels. The fit runs on
    the host (scikit-learn, a subsample, one thread whatever the process's thread count, so that the split does
    not depend on it); labelling every voxel runs on ``device`` (default: the CPU).
    """
    mask = np.asarray(mask)
    mask = mask if mask.dtype == np.bool_ else mask != 0
    labels = np.zeros(mask.shape, dtype=np.uint8)
    total = int(np.count_nonzero(mask))
    if total < 2:
        labels[mask] = 1
        return labels
    # The fitted sample: the voxels of a regular sub-grid holding about one voxel in ``step`` (stride
    # round(step ** (1/3)) along each axis: 3 for 30), at most KMEANS_MAX_POINTS of them (a seeded subset).
    # Masks too small for that are fitted on all their voxels.
    stride = max(1, round(step ** (1 / 3)))
    scale = np.asarray(spacing[:3], dtype=np.float64)
    points = np.argwhere(mask[::stride, ::stride, ::stride]).astype(np.float64) * stride * scale
    if len(points) < 2 * 10:
        points = np.argwhere(mask).astype(np.float64) * scale
    if len(points) > KMEANS_MAX_POINTS:
        points = points[np.random.default_rng(seed).choice(len(points), KMEANS_MAX_POINTS, replace=False)]
    with threadpool_limits(1):  # scikit-learn's k-means sums in thread-sized chunks: one thread, one answer
        centres = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(points).cluster_centers_
    axis = int(np.argmax(np.abs(centres[0] - centres[1])))
    first = int(np.argmin(centres[:, axis]))  # the cluster that becomes label 1
    # Nearest of two centres = which side of their bisecting plane: (p − m)·d > 0 means centre 1 (ties go to
    # centre 0, as KMeans.predict's argmin does). Evaluated on the grid, without listing coordinates.
    direction = centres[1] - centres[0]
    offset = float(direction @ (centres[0] + centres[1]) / 2)
    voxels = torch.from_numpy(mask)
    voxels = voxels if device is None else voxels.to(device)
    steps = [torch.from_numpy((np.arange(n) * scale[i] * direction[i]).astype(np.float32)).to(voxels.device)
             for i, n in enumerate(mask.shape)]
    along_xy = steps[0][:, None, None] + steps[1][None, :, None]
    out = torch.empty(mask.shape, dtype=torch.uint8, device=voxels.device)
    for start in range(0, mask.shape[2], _SLAB):
        stop = min(start + _SLAB, mask.shape[2])
        nearest = along_xy + steps[2][None, None, start:stop] > offset  # False: centre 0 is nearer, True: centre 1
        out[:, :, start:stop] = ((nearest != bool(first)).to(torch.uint8) + 1) * voxels[:, :, start:stop]
    return out.cpu().numpy()


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
    device = model_device(model)
    prepared = preprocess(image_hu, spacing, device=device)
    with evaluating(model):
        probabilities = predict_slicewise(model, prepared.image, device=device, slice_batch=slice_batch)
    mask = restore_mask(probabilities, prepared.geometry, threshold=threshold, device=device)
    return Prediction(lungs=split_lungs(mask, spacing=spacing, seed=seed, device=device))
