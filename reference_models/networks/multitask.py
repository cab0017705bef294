"""The multitask models: Multitask-Latent, Multitask-Spatial-l (Sec. 2.4, 4.4 and the notes).

One slice-wise 2D U-Net (the shared backbone) with two heads:

* segmentation: on the top decoder map, residual block → 1×1 conv → 1 lesion logit per pixel;
* classification: the feature maps of one level for all slices are stacked into a 3D map ``(C, x_l, y_l, z)``,
  3D pyramid max-pooled (1, 2, 4, 8 bins per axis → 585 cells × C features), then dropout 0.5 → linear → 1,024 →
  ReLU → dropout 0.5 → linear → 1 COVID-19 logit.

The level is what distinguishes the models: **Multitask-Spatial-l** taps the decoder map of level ``l`` (``l = 1``
is the top: 8 channels at full resolution → 4,680 features; ``l = 4``: 64 channels at 1/8 → 37,440 features);
**Multitask-Latent** taps the bottom (encoder) map (512 channels at 1/64 → 299,520 features, so its first linear
layer alone has 307 M weights). With our backbone the bottom map *is* level ``depth``, so Latent and
Spatial-7 coincide at the paper's size.

Small series: the pyramid pooling is adaptive (see :mod:`reference_models.networks.blocks`), so series with fewer than 8
slices or maps smaller than 8 × 8 work — bins then share voxels — where the authors' pooling needed ≥ 8 slices.

Both outputs are logits; apply ``torch.sigmoid`` for probabilities (inference thresholds lesions at 0.2, notes).
Loss (:func:`multitask_loss`): BCE(segmentation) over the cases that have a lesion mask + 0.1 · BCE(classification).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reference_models.inference import (
    SLICE_BATCH,
    Prediction,
    evaluating,
    every_kth_slice,
    lesion_prediction,
    model_device,
    slices_to_tensor,
)
from reference_models.networks.blocks import PYRAMID_BINS, PyramidMaxPool3d, classification_mlp
from reference_models.networks.lungs import ensure_split
from reference_models.networks.unet_backbone import PAPER_DEPTH, PAPER_WIDTH, SegmentationHead, UNetBackbone
from reference_models.preprocessing import preprocess

MULTITASK_LESION_THRESHOLD = 0.2
CLASSIFICATION_WEIGHT = 0.1


class MultitaskOutput(NamedTuple):
    segmentation: torch.Tensor
    """``(b, 1, x, y, z)`` lesion logits."""
    classification: torch.Tensor
    """``(b,)`` COVID-19 logits."""


class MultitaskNet(nn.Module):
    """``(b, 1, x, y, z)`` series → :class:`MultitaskOutput`; ``level`` = l of Spatial-l, ``None`` for Latent;
    ``head_slope``: the hidden unit's negative slope (0: the paper's ReLU)."""

    def __init__(
        self,
        *,
        level: int | None = 1,
        width: int = PAPER_WIDTH,
        depth: int = PAPER_DEPTH,
        bins: Sequence[int] = PYRAMID_BINS,
        hidden: int = 1024,
        dropout: float = 0.5,
        head_slope: float = 0.0,
    ) -> None:
        super().__init__()
        if level is not None and not 1 <= level <= depth:
            raise ValueError(f"level must be in 1..{depth} (or None for Latent), got {level}")
        self.backbone = UNetBackbone(width=width, depth=depth)
        self.tap = depth - 1 if level is None else level - 1
        self.segmentation_head = SegmentationHead(width)
        self.pool = PyramidMaxPool3d(bins)
        self.classifier = classification_mlp(
            self.pool.out_features(self.backbone.channels[self.tap]), hidden=hidden, dropout=dropout,
            negative_slope=head_slope,
        )

    def encode_slices(self, slices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n, 1, x, y)`` → lesion logits ``(n, 1, x, y)`` and the tapped features ``(n, C, x_l, y_l)``."""
        maps = self.backbone(slices)
        return self.segmentation_head(maps[0]), maps[self.tap]

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Stacked features ``(b, C, x_l, y_l, z)`` → ``(b,)`` logits."""
        return self.classifier(self.pool(features))[:, 0]

    def forward(self, series: torch.Tensor) -> MultitaskOutput:
        b, c, x, y, z = series.shape
        slices = series.permute(0, 4, 1, 2, 3).reshape(b * z, c, x, y)
        segmentation, features = self.encode_slices(slices)
        return MultitaskOutput(
            segmentation=_stack_slices(segmentation, batch=b),
            classification=self.classify(_stack_slices(features, batch=b)),
        )


def _stack_slices(maps: torch.Tensor, *, batch: int) -> torch.Tensor:
    """``(b · z, C, x, y)`` with slices of one series consecutive → ``(b, C, x, y, z)``."""
    n, c, x, y = maps.shape
    return maps.reshape(batch, n // batch, c, x, y).permute(0, 2, 3, 4, 1)


def multitask_latent(**scale: Any) -> MultitaskNet:
    """Multitask-Latent; ``scale``: ``width``/``depth`` of the backbone."""
    return MultitaskNet(level=None, **scale)


def multitask_spatial(level: int, **scale: Any) -> MultitaskNet:
    """Multitask-Spatial-``level``; ``scale``: ``width``/``depth`` of the backbone."""
    return MultitaskNet(level=level, **scale)


class MultitaskLoss(NamedTuple):
    total: torch.Tensor
    segmentation: torch.Tensor
    classification: torch.Tensor


def multitask_loss(
    output: MultitaskOutput,
    *,
    labels: torch.Tensor,
    masks: torch.Tensor | None,
    has_mask: torch.Tensor,
    classification_weight: float = CLASSIFICATION_WEIGHT,
) -> MultitaskLoss:
    """BCE(segmentation) + ``classification_weight`` · BCE(classification), both from logits.

    ``labels``: ``(b,)`` 1 for COVID-19. ``masks``: ``(b, 1, x, y, z)`` lesion masks, read only where ``has_mask``
    (``(b,)`` bool) is true; the segmentation BCE is the voxel mean over those cases, and 0 if there are none (the
    notes: only COVID-19 positives that have a mask count). ``masks`` may be ``None`` if no case has one.
    """
    classification = F.binary_cross_entropy_with_logits(output.classification, labels.to(output.classification))
    has_mask = has_mask.to(device=output.segmentation.device, dtype=torch.bool)
    if masks is not None and bool(has_mask.any()):
        segmentation = F.binary_cross_entropy_with_logits(
            output.segmentation[has_mask], masks[has_mask].to(output.segmentation)
        )
    else:
        segmentation = output.segmentation.new_zeros(())
    return MultitaskLoss(
        total=segmentation + classification_weight * classification,
        segmentation=segmentation,
        classification=classification,
    )


def predict_multitask(
    model: MultitaskNet,
    image_hu: np.ndarray,
    spacing: Sequence[float],
    *,
    lungs: np.ndarray,
    threshold: float = MULTITASK_LESION_THRESHOLD,
    slice_batch: int = SLICE_BATCH,
    classifier_slices: int | None = None,
) -> Prediction:
    """COVID-19 probability, lesions and severity of ``image_hu [x, y, z]`` (``lungs``: labels 1/2 or binary).

    The backbone runs ``slice_batch`` slices at a time; the classifier then sees the stacked map of all slices (the
    paper), or with ``classifier_slices`` of every k-th slice down to that many (the CPU scales' training crop,
    :func:`reference_models.inference.every_kth_slice`); the lesions always come from every slice.
    """
    labels = ensure_split(lungs, spacing=spacing)
    device = model_device(model)
    prepared = preprocess(image_hu, spacing, lungs=labels, device=device)
    segmentation, features = [], []
    with evaluating(model):
        for start in range(0, prepared.image.shape[2], slice_batch):
            slices = slices_to_tensor(prepared.image[:, :, start : start + slice_batch], device=device)
            lesion_logits, slice_features = model.encode_slices(slices)
            segmentation.append(torch.sigmoid(lesion_logits).float().cpu())
            features.append(slice_features)
        stacked = torch.cat(features)
        logit = model.classify(_stack_slices(stacked[every_kth_slice(len(stacked), classifier_slices)], batch=1))
    probabilities = _stack_slices(torch.cat(segmentation), batch=1)[0, 0].numpy()
    return lesion_prediction(
        probabilities,
        prepared.geometry,
        lungs=labels,
        threshold=threshold,
        probability=float(torch.sigmoid(logit).item()),
        device=device,
    )
