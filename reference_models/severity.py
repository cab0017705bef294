"""Severity and identification scores (Sec. 2.2, 2.3, 2.5).

Severity = max over the two lungs of ``|lesions ∩ lung| / |lung|`` (a fraction in [0, 1]); a lung with no voxel
contributes 0. The identification score of a method is its classifier's probability, or, for segmentation-only
methods, this severity.
"""

from __future__ import annotations

import numpy as np
import torch

LUNG_LABELS: tuple[int, int] = (1, 2)
"""Labels of the two lungs in a split lung mask (1: lower x index, i.e. the patient's right in RAS; 2: the other)."""


def _count(mask: np.ndarray | torch.Tensor) -> int:
    return int(torch.count_nonzero(mask)) if isinstance(mask, torch.Tensor) else int(np.count_nonzero(mask))


def lung_involvement(
    lesions: np.ndarray | torch.Tensor, lungs: np.ndarray | torch.Tensor
) -> tuple[float, float]:
    """Fraction of each lung (labels 1 and 2 of ``lungs``) covered by ``lesions`` (nonzero = lesion).

    Both numpy arrays, or both tensors on one device (counted there: a GPU pipeline need not copy them back).
    """
    if tuple(lesions.shape) != tuple(lungs.shape):
        raise ValueError(f"lesion mask shape {tuple(lesions.shape)} differs from the lung mask's "
                         f"{tuple(lungs.shape)}")
    lesions = lesions != 0 if isinstance(lesions, torch.Tensor) else np.asarray(lesions) != 0
    fractions = []
    for label in LUNG_LABELS:
        lung = lungs == label
        volume = _count(lung)
        fractions.append(_count(lesions & lung) / volume if volume else 0.0)
    return fractions[0], fractions[1]


def severity(lesions: np.ndarray | torch.Tensor, lungs: np.ndarray | torch.Tensor) -> float:
    """Max over the two lungs of the fraction of the lung covered by lesions."""
    return float(max(lung_involvement(lesions, lungs)))


def identification_score(*, probability: float | None = None, severity: float | None = None) -> float:
    """COVID-19 identification score: the classifier ``probability`` if given, else the ``severity``."""
    if probability is not None:
        return float(probability)
    if severity is not None:
        return float(severity)
    raise ValueError("an identification score needs a probability or a severity")
