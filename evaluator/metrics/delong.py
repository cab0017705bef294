"""DeLong's test for two correlated ROC-AUCs on the same cases.

DeLong, DeLong & Clarke-Pearson (1988), *Biometrics* 44:837, computed with the fast
mid-rank algorithm of Sun & Xu (2014), *IEEE Signal Processing Letters* 21:1389
(O(N log N) per score vector instead of O(m·n)). Validated against Hanley & McNeil's (1982)
published table and an exact rational implementation (tests/evaluator/test_metrics_delong.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata

from evaluator.metrics._arrays import binary_labels, required_values, same_length

#: Relative size below which the variance of the AUC difference counts as zero.
_ZERO_VARIANCE = 1e-12


def delong_covariance(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for ``K`` score vectors on the same cases.

    ``labels``: True/1 = positive; ``scores``: shape ``(K, N)`` (or ``(N,)`` for one vector),
    higher = more likely positive. Returns ``(aucs, covariance)`` of shapes ``(K,)`` and
    ``(K, K)``. Needs at least two positives and two negatives and finite scores.
    """
    positive = binary_labels(labels)
    matrix = np.atleast_2d(np.asarray(scores, dtype=float))
    for row, values in enumerate(matrix):
        required_values(values, name=f"scores[{row}]")
        same_length(labels=positive, scores=values)
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        raise ValueError(f"DeLong's variance needs at least 2 positive and 2 negative cases; got {m} and {n}")
    x, y = matrix[:, positive], matrix[:, ~positive]
    tx = rankdata(x, axis=1)
    ty = rankdata(y, axis=1)
    tz = rankdata(np.concatenate([x, y], axis=1), axis=1)
    aucs = tz[:, :m].sum(axis=1) / (m * n) - (m + 1.0) / (2.0 * n)
    v10 = (tz[:, :m] - tx) / n  # per positive: share of negatives it outranks (ties ½)
    v01 = 1.0 - (tz[:, m:] - ty) / m  # per negative: share of positives that outrank it
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


@dataclass(frozen=True, slots=True)
class DeLongResult:
    """Two-sided DeLong test of ``auc_a == auc_b``; the CI is the normal interval of the difference."""

    auc_a: float
    auc_b: float
    difference: float
    var_a: float
    var_b: float
    covariance: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    confidence: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def delong_test(
    labels: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike, *, confidence: float = 0.95
) -> DeLongResult:
    """Compare two submissions' ROC-AUCs on the same cases (paired), two-sided.

    ``z = (AUC_a − AUC_b) / sqrt(var_a + var_b − 2·cov)``, ``p = 2·(1 − Φ(|z|))``. When
    that variance is zero (e.g. identical scores) ``z`` is 0 with ``p = 1`` if the AUCs are
    equal, else ±inf with ``p = 0``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    a = required_values(scores_a, name="scores_a")
    b = required_values(scores_b, name="scores_b")
    same_length(scores_a=a, scores_b=b)
    aucs, cov = delong_covariance(labels, np.vstack([a, b]))
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    if variance <= _ZERO_VARIANCE * max(float(cov[0, 0] + cov[1, 1]), np.finfo(float).tiny):
        variance = 0.0
        if abs(difference) <= _ZERO_VARIANCE:
            z, p_value = 0.0, 1.0
        else:
            z, p_value = float(np.copysign(np.inf, difference)), 0.0
    else:
        z = difference / np.sqrt(variance)
        p_value = float(2.0 * norm.sf(abs(z)))
    half_width = float(norm.ppf(0.5 + confidence / 2.0) * np.sqrt(variance))
    return DeLongResult(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        difference=difference,
        var_a=float(cov[0, 0]),
        var_b=float(cov[1, 1]),
        covariance=float(cov[0, 1]),
        z=float(z),
        p_value=p_value,
        ci_low=difference - half_width,
        ci_high=difference + half_width,
        confidence=confidence,
    )


def delong_differences(
    aucs: np.ndarray, covariance: np.ndarray, first: ArrayLike, second: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """``z`` and variance of ``AUC_first[k] − AUC_second[k]`` for index arrays into :func:`delong_covariance`'s output.

    Same formula and zero-variance rule as :func:`delong_test` (``z`` 0 for equal AUCs, else ±inf), for
    many pairs at once. Two-sided ``p = 2·(1 − Φ(|z|))``; one-sided "first better" ``p = 1 − Φ(z)``.
    """
    aucs = np.asarray(aucs, dtype=float)
    covariance = np.atleast_2d(np.asarray(covariance, dtype=float))
    a, b = np.asarray(first, dtype=np.intp), np.asarray(second, dtype=np.intp)
    total = covariance[a, a] + covariance[b, b]
    variance = total - 2.0 * covariance[a, b]
    difference = aucs[a] - aucs[b]
    zero = variance <= _ZERO_VARIANCE * np.maximum(total, np.finfo(float).tiny)
    variance = np.where(zero, 0.0, variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = difference / np.sqrt(variance)
    degenerate = np.where(np.abs(difference) <= _ZERO_VARIANCE, 0.0, np.copysign(np.inf, difference))
    return np.where(zero, degenerate, z), variance

