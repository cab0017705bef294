"""Helpers every method's ``predict_*`` function uses, and the :class:`Prediction` they all return.

Networks run on whatever device their parameters are on (move the model with ``model.to(device)`` first); inputs
are sent there and results come back as numpy arrays. Prediction runs under ``torch.no_grad`` with the model in
eval mode; its previous train/eval mode is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reference_models.preprocessing import Geometry, restore_probabilities, restore_tensor, to_device
from reference_models.severity import severity as severity_score

SLICE_BATCH = 16
"""Axial slices per network call at inference (bounds memory for long series)."""


def slice_step(n_slices: int, at_most: int | None) -> int:
    """k of "every k-th slice" so that at most ``at_most`` of ``n_slices`` remain (1: all; ``None``: no limit)."""
    return 1 if at_most is None or n_slices <= at_most else -(-n_slices // at_most)


def every_kth_slice(n_slices: int, at_most: int | None, *, offset: int | None = None) -> slice:
    """Every k-th slice (:func:`slice_step`) from ``offset`` (default the middle one, ``(k - 1) // 2``), at most
    ``at_most`` of them, as a ``slice`` (a view of numpy arrays and tensors, no copy): the classifiers' training
    crop along z, and, at the CPU scales, the slices their classification head sees at inference
    (``classifier_slices``)."""
    step = slice_step(n_slices, at_most)
    start = (step - 1) // 2 if offset is None else offset
    return slice(start, None if at_most is None else start + step * at_most, step)


@dataclass(frozen=True, slots=True, eq=False)
class Prediction:
    """What one method predicts for one series; every array is on the original ``[x, y, z]`` grid.

    ``probability``: COVID-19 probability (classifiers). ``lesions`` (bool): lesion segmentation, and
    :attr:`lesion_probabilities` (float32) the map it was thresholded from, restored on demand from
    ``cropped_probabilities`` (the network's output on the cropped 2 mm grid) and its ``geometry``.
    ``lungs``: uint8, 0 background, 1 the lung with the lower x index, 2 the other. ``severity``: max over the
    two lungs of the lesion fraction of the lung.
    """

    probability: float | None = None
    lesions: np.ndarray | None = None
    lungs: np.ndarray | None = None
    severity: float | None = None
    cropped_probabilities: np.ndarray | None = None
    geometry: Geometry | None = None

    @property
    def lesion_probabilities(self) -> np.ndarray | None:
        """Lesion probabilities on the original grid (computed when asked: 4 bytes a voxel)."""
        if self.cropped_probabilities is None or self.geometry is None:
            return None
        return restore_probabilities(self.cropped_probabilities, self.geometry)

    @property
    def identification_score(self) -> float | None:
        """The score ranked for identification: the probability if the method has one, else the severity."""
        return self.probability if self.probability is not None else self.severity


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a parameter-free model)."""
    return next(model.parameters(), torch.empty(0)).device


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no gradients inside the block; the model's previous mode is restored after it."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def slices_to_tensor(volume: np.ndarray, *, device: torch.device) -> torch.Tensor:
    """``[x, y, z]`` numpy volume → ``(z, 1, x, y)`` float32 tensor of axial slices on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))
    return tensor.permute(2, 0, 1).unsqueeze(1).to(device)


def volume_to_tensor(volume: np.ndarray, *, device: torch.device) -> torch.Tensor:
    """``[x, y, z]`` numpy volume → ``(1, 1, x, y, z)`` float32 tensor on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))
    return tensor[None, None].to(device)


def predict_slicewise(
    slice_logits: Callable[[torch.Tensor], torch.Tensor],
    volume: np.ndarray,
    *,
    device: torch.device,
    slice_batch: int = SLICE_BATCH,
) -> np.ndarray:
    """Sigmoid of ``slice_logits`` (``(n, 1, x, y) → (n, 1, x, y)``) over all axial slices, ``slice_batch`` at a time.

    Returns float32 probabilities ``[x, y, z]``. Call it inside :func:`evaluating`.
    """
    out = np.empty(volume.shape, dtype=np.float32)
    for start in range(0, volume.shape[2], slice_batch):
        stop = min(start + slice_batch, volume.shape[2])
        logits = slice_logits(slices_to_tensor(volume[:, :, start:stop], device=device))
        out[:, :, start:stop] = torch.sigmoid(logits)[:, 0].permute(1, 2, 0).float().cpu().numpy()
    return out


def lesion_prediction(
    probabilities: np.ndarray,
    geometry: Geometry,
    *,
    lungs: np.ndarray,
    threshold: float,
    probability: float | None = None,
    device: torch.device | str | None = None,
) -> Prediction:
    """Restore cropped 2 mm lesion probabilities to the original grid, threshold them and compute the severity.

    The three run on ``device`` (the network's; default the CPU): only the boolean lesion mask comes back.
    """
    lesions = restore_tensor(probabilities, geometry, threshold=threshold, device=device)
    severity = severity_score(lesions, to_device(np.asarray(lungs, dtype=np.uint8), lesions.device))
    return Prediction(
        probability=probability,
        lesions=lesions.cpu().numpy(),
        lungs=lungs,
        severity=severity,
        cropped_probabilities=probabilities,
        geometry=geometry,
    )
