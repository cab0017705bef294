"""Per-method training losses and validation metrics.

Losses (Sec. 4.2–4.4): BCE from logits for every network; the multitask models use
:func:`reference_models.networks.multitask.multitask_loss` (segmentation BCE over the cases that have a mask
+ 0.1 · classification BCE). Validation runs the networks as inference does (eval mode, all slices,
slices in batches) on the prepared validation series and reports the mean Dice of the thresholded masks
(lesions, or lungs for the lung network; two empty masks count 1) and the ROC-AUC of the probabilities
(``None`` while the validation series hold only one class).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.nn import functional as F

from reference_models.inference import (
    evaluating,
    every_kth_slice,
    model_device,
    predict_slicewise,
    slices_to_tensor,
)
from reference_models.networks.blocks import head_hidden_layer
from reference_models.networks.lungs import LUNG_THRESHOLD
from reference_models.networks.multitask import MULTITASK_LESION_THRESHOLD, MultitaskNet, multitask_loss
from reference_models.networks.unet import LESION_THRESHOLD, PATCH_OVERLAP, PATCH_SIZE, stitch_patches
from reference_models.training.batches import Batch, series_as_slices
from reference_models.training.config import CLASSIFIERS, MULTITASK, TrainConfig
from reference_models.training.prepare import PreparedSeries


def batch_loss(method: str, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of one batch (already on the model's device) and its parts for logging."""
    if method in MULTITASK:
        parts = multitask_loss(model(batch.images), labels=batch.labels, masks=batch.targets, has_mask=batch.has_mask)
        return parts.total, {"segmentation": float(parts.segmentation.detach()),
                             "classification": float(parts.classification.detach())}
    if method == "resnet50":
        loss = F.binary_cross_entropy_with_logits(model(batch.images), batch.labels)
        return loss, {}
    if batch.images.ndim == 5 and method != "unet3d":
        batch = series_as_slices(batch)
    if batch.targets is None or not bool(batch.has_mask.any()):
        raise ValueError(f"{method}: a training batch without any target mask")
    keep = batch.has_mask
    loss = F.binary_cross_entropy_with_logits(model(batch.images[keep]), batch.targets[keep])
    return loss, {}


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two boolean masks; 1 when both are empty."""
    total = int(np.count_nonzero(prediction)) + int(np.count_nonzero(truth))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(prediction & truth)) / total


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC-AUC, or ``None`` when only one class is present."""
    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def _series_map(slice_maps: torch.Tensor) -> torch.Tensor:
    """``(z, C, x, y)`` maps of one series' slices → ``(1, C, x, y, z)``."""
    return slice_maps.permute(1, 2, 3, 0)[None]


def series_probability(model: nn.Module, image: np.ndarray, *, slice_batch: int,
                       classifier_slices: int | None = None) -> tuple[float, np.ndarray | None]:
    """COVID-19 probability of one prepared series, and the multitask model's lesion probabilities; the
    classification sees every k-th slice down to ``classifier_slices`` (``None``: all), as at inference."""
    device = model_device(model)
    chosen = every_kth_slice(image.shape[2], classifier_slices)
    classifier: Any = model  # MultitaskNet or ResNet50Classifier: both encode slices and classify a series
    segmentation, features = [], []
    with evaluating(model):
        for start in range(0, image.shape[2], slice_batch):
            slices = slices_to_tensor(np.asarray(image[:, :, start : start + slice_batch]), device=device)
            if isinstance(model, MultitaskNet):
                lesion_logits, slice_features = classifier.encode_slices(slices)
                segmentation.append(torch.sigmoid(lesion_logits).float().cpu())
            else:
                slice_features = classifier.encode_slices(slices)
            features.append(slice_features)
        if isinstance(model, MultitaskNet):
            logit = classifier.classify(_series_map(torch.cat(features)[chosen]))
            lesions = _series_map(torch.cat(segmentation))[0, 0].numpy()
        else:
            logit = classifier.classify(torch.cat(features)[chosen].T[None])
            lesions = None
    return float(torch.sigmoid(logit).item()), lesions


def segmentation_probabilities(method: str, model: nn.Module, image: np.ndarray, *, config: TrainConfig) -> np.ndarray:
    """Lesion (or lung) probabilities of a segmentation network on one prepared series."""
    device = model_device(model)
    with evaluating(model):
        if method == "unet3d":
            options = config.predict_options

            def patch_probabilities(patch: np.ndarray) -> np.ndarray:
                tensor = torch.from_numpy(np.ascontiguousarray(patch, dtype=np.float32))[None, None].to(device)
                return torch.sigmoid(model(tensor))[0, 0].float().cpu().numpy()

            return stitch_patches(
                patch_probabilities,
                np.asarray(image, dtype=np.float32),
                patch_size=tuple(options.get("patch_size", (PATCH_SIZE,) * 3)),
                overlap=int(options.get("overlap", PATCH_OVERLAP)),
            )
        return predict_slicewise(model, np.asarray(image), device=device, slice_batch=config.slice_batch)


class LiveUnits:
    """Hidden units of a classification head that were active (> 0) on at least one input seen so far."""

    def __init__(self, units: int) -> None:
        self.active = torch.zeros(units, dtype=torch.bool)

    @property
    def count(self) -> int:
        return int(self.active.sum())


@contextmanager
def head_units(model: nn.Module) -> Iterator[LiveUnits]:
    """Count the live hidden units of ``model.classifier`` (:func:`~reference_models.networks.blocks.
    classification_mlp`'s ReLU, or leaky ReLU: units with a positive output) over the forward passes inside the
    block. A ReLU unit that no input activates gets no gradient and never recovers (a dead ReLU;
    docs/reference-models.md §12)."""
    linear = head_hidden_layer(model)
    if linear is None:
        raise ValueError(f"{type(model).__name__} has no classification head")
    relu = next(m for m in model.get_submodule("classifier").modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU)))
    live = LiveUnits(linear.out_features)

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        live.active |= (output.detach() > 0).reshape(-1, linear.out_features).any(dim=0).cpu()

    handle = relu.register_forward_hook(record)
    try:
        yield live
    finally:
        handle.remove()


def validate(model: nn.Module, items: Sequence[PreparedSeries], *, config: TrainConfig) -> dict[str, Any]:
    """Validation metrics of ``model`` on prepared ``items``: ``dice`` and/or ``roc_auc`` (``None`` if undefined)."""
    method = config.method
    result: dict[str, Any] = {"n": len(items)}
    dices: list[float] = []
    if method in CLASSIFIERS:
        labels, scores = [], []
        threshold = MULTITASK_LESION_THRESHOLD
        with head_units(model) as live:
            for item in items:
                probability, lesions = series_probability(
                    model, item.image, slice_batch=config.slice_batch,
                    classifier_slices=config.predict_options.get("classifier_slices"))
                if item.label is not None:
                    labels.append(int(item.label))
                    scores.append(probability)
                if lesions is not None and item.has_mask and item.target is not None:
                    dices.append(dice(lesions > threshold, np.asarray(item.target, dtype=bool)))
        result["roc_auc"] = roc_auc(labels, scores)
        result["live_head_units"] = live.count
    else:
        threshold = LUNG_THRESHOLD if method == "lungs" else LESION_THRESHOLD
        for item in items:
            if item.target is None:
                continue
            probabilities = segmentation_probabilities(method, model, item.image, config=config)
            dices.append(dice(probabilities > threshold, np.asarray(item.target, dtype=bool)))
    result["dice"] = float(np.mean(dices)) if dices else None
    return result
