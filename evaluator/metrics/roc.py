"""ROC-AUC on the paper's four subsets (Sec. 2.5), ROC curve points, and a vectorised AUC.

Conventions: the positive class is COVID-19 and a *higher* score means "more likely
COVID-19". Tied scores count one half, exactly as ``sklearn.metrics.roc_auc_score``
(the authors' implementation) does. An AUC is ``None`` (N/A) when the submission has no
identification scores, or when the subset holds only one class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score, roc_curve

from evaluator.groups import ROC_SUBSETS, Group
from evaluator.metrics._arrays import binary_labels, group_array, optional_values, same_length

#: Most points kept per ROC curve for plots.
MAX_CURVE_POINTS = 200


def roc_auc(labels: ArrayLike, scores: ArrayLike | Sequence[float | None] | None) -> float | None:
    """Area under the ROC curve of ``scores`` for ``labels`` (True/1 = positive).

    ``None`` when there are no scores (``None`` or all missing) or only one class; ties
    count one half (as scikit-learn). Some-but-not-all missing scores raise ``ValueError``.
    """
    positive = binary_labels(labels)
    values = optional_values(scores, name="scores")
    if values is None:
        return None
    same_length(labels=positive, scores=values)
    if positive.all() or not positive.any():
        return None
    return float(roc_auc_score(positive, values))


def subset_selection(groups: np.ndarray, subset: str) -> np.ndarray:
    """Boolean mask of the cases in one of :data:`evaluator.groups.ROC_SUBSETS` (COVID-19 + its negatives)."""
    negatives = ROC_SUBSETS[subset]
    return np.array([group == Group.COVID or group in negatives for group in groups], dtype=bool)


def subset_roc_aucs(
    groups: Iterable[Group | str], scores: ArrayLike | Sequence[float | None] | None
) -> dict[str, float | None]:
    """ROC-AUC of COVID-19 against each subset of ``ROC_SUBSETS`` (keys as there: all, normal, ...).

    Each value is ``None`` when it is N/A (no scores, or no case of one class in the subset).
    """
    group_values = group_array(groups)
    values = optional_values(scores, name="scores")
    same_length(groups=group_values, scores=values)
    is_covid = group_values == Group.COVID
    result: dict[str, float | None] = {}
    for subset in ROC_SUBSETS:
        selected = subset_selection(group_values, subset)
        result[subset] = None if values is None else roc_auc(is_covid[selected], values[selected])
    return result


@dataclass(frozen=True, slots=True)
class RocCurve:
    """Points of one ROC curve, in order of decreasing threshold.

    A case counts as positive when ``score >= threshold``. The first point is (0, 0) with
    threshold ``+inf`` (as scikit-learn); :meth:`to_dict` writes non-finite thresholds as ``None``.
    """

    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    thresholds: tuple[float, ...]

    def to_dict(self) -> dict[str, list[float | None]]:
        return {
            "fpr": list(self.fpr),
            "tpr": list(self.tpr),
            "thresholds": [value if np.isfinite(value) else None for value in self.thresholds],
        }


def _thin(count: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spread indices into ``count`` points, first and last included."""
    if count <= max_points:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, max_points)).astype(int))


def roc_points(
    groups: Iterable[Group | str],
    scores: ArrayLike | Sequence[float | None] | None,
    *,
    max_points: int = MAX_CURVE_POINTS,
) -> dict[str, RocCurve | None]:
    """ROC curve of each subset of ``ROC_SUBSETS`` for plots (``None`` where the AUC is N/A).

    Collinear points are dropped (scikit-learn's ``drop_intermediate``); a curve that still
    has more than ``max_points`` points is thinned to evenly spread ones, ends kept.
    """
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    group_values = group_array(groups)
    values = optional_values(scores, name="scores")
    same_length(groups=group_values, scores=values)
    is_covid = group_values == Group.COVID
    curves: dict[str, RocCurve | None] = {}
    for subset in ROC_SUBSETS:
        selected = subset_selection(group_values, subset)
        labels = is_covid[selected]
        if values is None or labels.all() or not labels.any():
            curves[subset] = None
            continue
        fpr, tpr, thresholds = roc_curve(labels, values[selected], drop_intermediate=True)
        keep = _thin(len(fpr), max_points)
        curves[subset] = RocCurve(
            fpr=tuple(float(v) for v in fpr[keep]),
            tpr=tuple(float(v) for v in tpr[keep]),
            thresholds=tuple(float(v) for v in thresholds[keep]),
        )
    return curves


def pairwise_wins(positive_scores: np.ndarray, negative_scores: np.ndarray) -> np.ndarray:
    """Mann–Whitney kernel: 1 where a positive outscores a negative, 1/2 for a tie, else 0."""
    positive = np.asarray(positive_scores, dtype=float)[:, None]
    negative = np.asarray(negative_scores, dtype=float)[None, :]
    return (positive > negative) + 0.5 * (positive == negative)


def weighted_auc(wins: np.ndarray, *, positive_weights: np.ndarray, negative_weights: np.ndarray) -> np.ndarray:
    """AUCs of many samples drawn from the same cases, in one matrix product.

    ``wins`` is :func:`pairwise_wins` of the distinct cases; row ``b`` of ``positive_weights``
    (shape ``(B, n_pos)``) and ``negative_weights`` (``(B, n_neg)``) says how often each case
    occurs in sample ``b`` (bootstrap counts). The result is the Mann–Whitney AUC of each
    sample, ties one half — identical to ``roc_auc_score`` on the expanded sample. Samples
    without a positive or a negative give NaN.
    """
    positive_weights = np.atleast_2d(np.asarray(positive_weights, dtype=float))
    negative_weights = np.atleast_2d(np.asarray(negative_weights, dtype=float))
    pairs = positive_weights.sum(axis=1) * negative_weights.sum(axis=1)
    wins_per_sample = ((positive_weights @ wins) * negative_weights).sum(axis=1)
    return np.where(pairs > 0, wins_per_sample / np.where(pairs > 0, pairs, 1.0), np.nan)
