"""Dice score of lesion masks from voxel counts (Sec. 2.5).

Conventions (the authors'): two empty masks agree perfectly (Dice 1.0); with several
raters a case's Dice is the mean of its per-rater Dice scores; the reported score is the
mean over COVID-19 cases; ``None`` (N/A) when the submission has no masks.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from evaluator.metrics._arrays import optional_values


class DiceCounts(NamedTuple):
    """Voxel counts of one predicted mask against one rater's mask."""

    intersection: int
    pred_count: int
    true_count: int


def _count(value: object, name: str) -> int:
    """A voxel count: a non-negative whole number (``3`` or ``3.0``; not ``True``, not ``2.5``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number of voxels, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return int(float(value))


def dice_from_counts(*, intersection: int, pred_count: int, true_count: int) -> float:
    """``2·|P∩T| / (|P| + |T|)``; 1.0 when both masks are empty.

    Raises ``ValueError`` for negative or fractional counts and for an intersection larger
    than either mask.
    """
    both = _count(intersection, "intersection")
    pred = _count(pred_count, "pred_count")
    true = _count(true_count, "true_count")
    if both > min(pred, true):
        raise ValueError(
            f"intersection ({both}) cannot exceed either mask (pred_count {pred}, true_count {true})"
        )
    if pred + true == 0:
        return 1.0
    return 2.0 * both / (pred + true)


def case_dice(per_rater: Sequence[DiceCounts | tuple[int, int, int]]) -> float:
    """Dice of one case: the mean over raters of :func:`dice_from_counts`.

    ``per_rater`` holds one ``(intersection, pred_count, true_count)`` triple per rater (the
    same predicted mask against each rater's mask); at least one is needed.
    """
    if len(per_rater) == 0:
        raise ValueError("case_dice needs the counts of at least one rater")
    scores = [
        dice_from_counts(intersection=counts[0], pred_count=counts[1], true_count=counts[2])
        for counts in per_rater
    ]
    return float(np.mean(scores))


def mean_dice(case_values: ArrayLike | Sequence[float | None] | None) -> float | None:
    """Mean of per-case Dice scores (pass the COVID-19 cases); ``None`` when there are none at all.

    Some-but-not-all missing values raise ``ValueError``: a case without a predicted mask must
    be scored (with an empty predicted mask) by the caller, not left out. Values must lie in [0, 1].
    """
    values = optional_values(case_values, name="case_dice")
    if values is None:
        return None
    outside = (values < 0) | (values > 1)
    if outside.any():
        raise ValueError(f"case_dice: values must lie in [0, 1]; got {values[outside][:5].tolist()}")
    return float(values.mean())
