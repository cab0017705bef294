"""Spearman's rank correlation between true and predicted severity (Sec. 2.5).

Computed over the COVID-19 cases only (the caller selects them). Conventions:

* no predicted severity at all (``None`` or every value missing) → ``None`` (N/A, never 0);
* fewer than :data:`MIN_CASES` cases → ``None``;
* constant ground truth → ``None`` (ρ is undefined and says nothing about the submission);
* constant predictions → ``0.0``: they carry no ranking information, like a random ranking;
* ties → mid-ranks (``scipy.stats.spearmanr``), i.e. Pearson's r of the mid-ranks.

The paper ranks in descending order; ρ is the same for ascending ranks (both flip).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata, spearmanr

from evaluator.metrics._arrays import optional_values, required_values, same_length

#: Fewest cases for which ρ is reported.
MIN_CASES = 3


def spearman_rho(true: ArrayLike | Sequence[float | None],
                 pred: ArrayLike | Sequence[float | None] | None) -> float | None:
    """Spearman's ρ of ``pred`` against ``true`` (one value per COVID-19 case); see the module conventions."""
    predicted = optional_values(pred, name="pred_severity")
    if predicted is None:
        return None
    truth = required_values(true, name="true_severity")
    same_length(true_severity=truth, pred_severity=predicted)
    if truth.size < MIN_CASES or np.all(truth == truth[0]):
        return None
    if np.all(predicted == predicted[0]):
        return 0.0
    return float(spearmanr(truth, predicted).statistic)


def spearman_rho_rows(true_rows: np.ndarray, pred_rows: np.ndarray) -> np.ndarray:
    """Spearman's ρ of each row pair of two ``(B, n)`` arrays (bootstrap samples), vectorised.

    Same conventions as :func:`spearman_rho`: NaN (undefined) where a ``true`` row is constant
    or ``n < MIN_CASES``, 0.0 where only the ``pred`` row is constant.
    """
    true_ranks = rankdata(np.atleast_2d(true_rows), axis=1)
    pred_ranks = rankdata(np.atleast_2d(pred_rows), axis=1)
    true_ranks -= true_ranks.mean(axis=1, keepdims=True)
    pred_ranks -= pred_ranks.mean(axis=1, keepdims=True)
    true_ss = (true_ranks**2).sum(axis=1)
    pred_ss = (pred_ranks**2).sum(axis=1)
    products = (true_ranks * pred_ranks).sum(axis=1)
    defined = true_ss > 0
    informative = defined & (pred_ss > 0)
    rho = np.full(true_ranks.shape[0], np.nan)
    rho[defined] = 0.0
    rho[informative] = products[informative] / np.sqrt(true_ss[informative] * pred_ss[informative])
    if true_ranks.shape[1] < MIN_CASES:
        rho[:] = np.nan
    return np.clip(rho, -1.0, 1.0)
