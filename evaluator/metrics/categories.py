"""Severity categories of the Russian CT-0…CT-4 scale and agreement between them.

Severity is the affected fraction of the lungs, in [0, 1]. Categories in 25 % steps:
CT-0 = exactly 0, CT-1 = (0, 0.25], CT-2 = (0.25, 0.5], CT-3 = (0.5, 0.75], CT-4 = (0.75, 1].
A boundary value belongs to the lower category (25 % is CT-1).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from evaluator.metrics._arrays import optional_values, required_values, same_length

#: Upper bounds (inclusive) of CT-0 … CT-3; anything above the last is CT-4.
CATEGORY_BOUNDS = (0.0, 0.25, 0.5, 0.75)
#: Category names, index = category number.
CATEGORY_LABELS = ("CT-0", "CT-1", "CT-2", "CT-3", "CT-4")


def severity_categories(severity: ArrayLike) -> np.ndarray:
    """Category numbers 0…4 of an array of severities (fractions in [0, 1]); see the module."""
    values = required_values(np.atleast_1d(np.asarray(severity, dtype=float)), name="severity")
    outside = (values < 0) | (values > 1)
    if outside.any():
        raise ValueError(f"severity must be a fraction in [0, 1]; got {values[outside][:5].tolist()}")
    return np.digitize(values, CATEGORY_BOUNDS, right=True)


def severity_category(x: float) -> int:
    """Category number 0…4 (CT-0…CT-4) of one severity fraction ``x`` in [0, 1]."""
    return int(severity_categories([x])[0])


def category_agreement(
    true: ArrayLike, pred: ArrayLike | Sequence[float | None] | None
) -> dict[str, Any] | None:
    """Agreement of the CT categories of true and predicted severities (COVID-19 cases).

    Returns ``None`` when there is no predicted severity, else a dict with ``labels``
    (CT-0…CT-4), ``confusion`` (5×5 list, rows = true category, columns = predicted),
    ``n``, ``exact_agreement`` (fraction of cases in the same category) and
    ``linear_kappa`` (Cohen's κ with linear weights, scikit-learn; ``None`` when undefined,
    e.g. when both sides put every case into one and the same category).
    """
    predicted = optional_values(pred, name="pred_severity")
    if predicted is None:
        return None
    truth = required_values(true, name="true_severity")
    same_length(true_severity=truth, pred_severity=predicted)
    if truth.size == 0:
        return None
    true_categories = severity_categories(truth)
    pred_categories = severity_categories(predicted)
    labels = list(range(len(CATEGORY_LABELS)))
    confusion = confusion_matrix(true_categories, pred_categories, labels=labels)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = float(cohen_kappa_score(true_categories, pred_categories, labels=labels, weights="linear"))
    return {
        "labels": list(CATEGORY_LABELS),
        "confusion": confusion.tolist(),
        "n": int(truth.size),
        "exact_agreement": float(np.mean(true_categories == pred_categories)),
        "linear_kappa": kappa if np.isfinite(kappa) else None,
    }
