"""Lesion segmentation networks: 2D U-Net, 2D U-Net+ and 3D U-Net (Sec. 2.2, 4.3).

* **2D U-Net**: the shared slice-wise backbone with the lesion head (residual block → 1×1 conv → 1 logit) on the
  top decoder map — the same segmentation path as the multitask models, without their classifier.
* **2D U-Net+**: exactly the same architecture; only the training data differ (the 79 annotated COVID-19 series
  plus 402 NSCLC-Radiomics series with empty masks, batches balanced between positives and negatives).
* **3D U-Net**: the same U-Net design built from 3D residual blocks (2×2×2 max-pooling, trilinear upsampling,
  additive skips), applied to 160³ patches of the preprocessed series which are stitched back: patches overlap
  by ``overlap`` voxels and overlapping probabilities are averaged; an axis shorter than the patch is zero-padded
  (0 = −1000 HU after windowing) to the patch size. The paper gives neither its depth nor its width: we use the
  2D backbone's width 8 and 5 levels (8 … 128 channels; a 160-voxel axis ends at 10 voxels at the bottom).

Inputs are the preprocessed series (2 mm in-plane, windowed to [0, 1], cropped to the lungs); outputs are logits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from reference_models.inference import (
    SLICE_BATCH,
    Prediction,
    evaluating,
    lesion_prediction,
    model_device,
    predict_slicewise,
    volume_to_tensor,
)
from reference_models.networks.lungs import ensure_split
from reference_models.networks.unet_backbone import PAPER_DEPTH, PAPER_WIDTH, SegmentationHead, UNetBackbone
from reference_models.preprocessing import preprocess

LESION_THRESHOLD = 0.5
PATCH_SIZE = 160
PATCH_OVERLAP = 32
UNET3D_DEPTH = 5


class UNet2D(nn.Module):
    """``(n, 1, x, y)`` slices → ``(n, 1, x, y)`` lesion logits (2D U-Net and 2D U-Net+)."""

    def __init__(self, *, width: int = PAPER_WIDTH, depth: int = PAPER_DEPTH) -> None:
        super().__init__()
        self.backbone = UNetBackbone(width=width, depth=depth)
        self.head = SegmentationHead(width)

    def forward(self, slices: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(slices)[0])


class UNet3D(nn.Module):
    """``(n, 1, x, y, z)`` patches → ``(n, 1, x, y, z)`` lesion logits."""

    def __init__(self, *, width: int = PAPER_WIDTH, depth: int = UNET3D_DEPTH) -> None:
        super().__init__()
        self.backbone = UNetBackbone(width=width, depth=depth, spatial_dims=3)
        self.head = SegmentationHead(width, spatial_dims=3)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(patches)[0])


def patch_starts(size: int, *, patch: int, overlap: int) -> list[int]:
    """Start indices of patches covering ``[0, size)``, evenly spread, neighbours overlapping ≥ ``overlap``."""
    if not 0 <= overlap < patch:
        raise ValueError(f"overlap must be in [0, patch), got overlap={overlap}, patch={patch}")
    if size <= patch:
        return [0]
    count = math.ceil((size - patch) / (patch - overlap)) + 1
    return sorted({int(round(s)) for s in np.linspace(0, size - patch, count)})


def stitch_patches(
    patch_probabilities: Callable[[np.ndarray], np.ndarray],
    volume: np.ndarray,
    *,
    patch_size: int | Sequence[int] = PATCH_SIZE,
    overlap: int = PATCH_OVERLAP,
) -> np.ndarray:
    """Apply ``patch_probabilities`` (a ``patch_size`` array → same-shape map) over ``volume`` and average overlaps.

    Axes shorter than the patch are zero-padded at their end and the padding is cut off the result.
    """
    patch = (patch_size,) * volume.ndim if isinstance(patch_size, int) else tuple(patch_size)
    padded_shape = tuple(max(n, p) for n, p in zip(volume.shape, patch, strict=True))
    padded = np.zeros(padded_shape, dtype=np.float32)
    padded[tuple(slice(0, n) for n in volume.shape)] = volume
    total = np.zeros(padded_shape, dtype=np.float32)
    counts = np.zeros(padded_shape, dtype=np.float32)
    grids = [patch_starts(n, patch=p, overlap=overlap) for n, p in zip(padded_shape, patch, strict=True)]
    for corner in itertools.product(*grids):
        window = tuple(slice(c, c + p) for c, p in zip(corner, patch, strict=True))
        total[window] += patch_probabilities(padded[window])
        counts[window] += 1.0
    return (total / counts)[tuple(slice(0, n) for n in volume.shape)]


def predict_unet2d(
    model: nn.Module,
    image_hu: np.ndarray,
    spacing: Sequence[float],
    *,
    lungs: np.ndarray,
    threshold: float = LESION_THRESHOLD,
    slice_batch: int = SLICE_BATCH,
) -> Prediction:
    """Lesions and severity of ``image_hu [x, y, z]`` by 2D U-Net / 2D U-Net+ (``lungs``: labels 1/2 or binary)."""
    labels = ensure_split(lungs, spacing=spacing)
    device = model_device(model)
    prepared = preprocess(image_hu, spacing, lungs=labels, device=device)
    with evaluating(model):
        probabilities = predict_slicewise(model, prepared.image, device=device, slice_batch=slice_batch)
    return lesion_prediction(probabilities, prepared.geometry, lungs=labels, threshold=threshold, device=device)


def predict_unet3d(
    model: nn.Module,
    image_hu: np.ndarray,
    spacing: Sequence[float],
    *,
    lungs: np.ndarray,
    threshold: float = LESION_THRESHOLD,
    patch_size: int | Sequence[int] = PATCH_SIZE,
    overlap: int = PATCH_OVERLAP,
) -> Prediction:
    """Lesions and severity of ``image_hu [x, y, z]`` by 3D U-Net on stitched patches."""
    labels = ensure_split(lungs, spacing=spacing)
    device = model_device(model)
    prepared = preprocess(image_hu, spacing, lungs=labels, device=device)

    def patch_probabilities(patch: np.ndarray) -> np.ndarray:
        logits = model(volume_to_tensor(patch, device=device))
        return torch.sigmoid(logits)[0, 0].float().cpu().numpy()

    with evaluating(model):
        probabilities = stitch_patches(patch_probabilities, prepared.image, patch_size=patch_size, overlap=overlap)
    return lesion_prediction(probabilities, prepared.geometry, lungs=labels, threshold=threshold, device=device)
