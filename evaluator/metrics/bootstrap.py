"""Stratified percentile-bootstrap confidence intervals for every leaderboard metric.

Method: cases are resampled with replacement *within each group* (COVID-19, normal,
bacterial pneumonia, nodules), each group keeping its size, so every resample has the
test set's composition. The same resamples serve all metrics. Each metric is recomputed
on every resample; resamples where it is undefined (e.g. constant true severity, so ρ has
no value) are dropped and their number reported. The interval is the percentile interval
(numpy's linear interpolation) of the remaining values. Defaults: 2,000 resamples, seed 0,
95 %. The same inputs (in the same order) and seed always give the same intervals.
:func:`draw_resamples` and :func:`resampled_metrics` let many submissions share one draw (the
board's paired comparisons and rank intervals, :mod:`evaluator.ranking`).

Speed: AUCs of all resamples come from one matrix product over bootstrap counts (the
Mann–Whitney form of the AUC, ties ½, equal to scikit-learn's), ρ from row-wise mid-ranks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from evaluator.groups import ROC_SUBSETS, Group
from evaluator.metrics._arrays import float_array, group_array, optional_values, same_length
from evaluator.metrics.correlation import spearman_rho, spearman_rho_rows
from evaluator.metrics.dice import mean_dice
from evaluator.metrics.roc import pairwise_wins, roc_auc, subset_selection, weighted_auc

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95



@dataclass(frozen=True, slots=True)
class Interval:
    """A bootstrap confidence interval and the number of resamples it rests on."""

    low: float
    high: float
    n_valid: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def stratified_resamples(
    groups: Iterable[Group | str], *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Case indices of ``n_resamples`` stratified bootstrap resamples, shape ``(n_resamples, N)``.

    Row ``b`` lists, for each case position, the case drawn there; positions of a group are
    only ever filled with cases of the same group (drawn with replacement), so group sizes
    are kept. Groups are drawn in :class:`Group` order from ``numpy.random.default_rng(seed)``.
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    group_values = group_array(groups)
    rng = np.random.default_rng(seed)
    indices = np.empty((n_resamples, group_values.size), dtype=np.intp)
    for group in Group:
        members = np.flatnonzero(group_values == group)
        if members.size:
            indices[:, members] = members[rng.integers(0, members.size, size=(n_resamples, members.size))]
    return indices


@dataclass(frozen=True, slots=True)
class Resamples:
    """Stratified bootstrap resamples of one case list, drawn once and shared by every submission scored on them.

    ``indices``: :func:`stratified_resamples`, ``(B, N)``; ``counts``: how often each case occurs in
    each resample, ``(B, N)``; ``covid_draws``: for each resample, the positions *within the COVID-19
    cases* (0 … n_covid − 1) drawn at the COVID-19 positions, ``(B, n_covid)``.
    """

    groups: np.ndarray
    is_covid: np.ndarray
    indices: np.ndarray
    counts: np.ndarray
    covid_draws: np.ndarray

    @property
    def n_resamples(self) -> int:
        return int(self.indices.shape[0])


def draw_resamples(
    groups: Iterable[Group | str], *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> Resamples:
    """Draw :func:`stratified_resamples` once and precompute what every metric needs from them."""
    group_values = group_array(groups)
    indices = stratified_resamples(group_values, n_resamples=n_resamples, seed=seed)
    is_covid = group_values == Group.COVID
    covid_position = np.cumsum(is_covid) - 1  # COVID positions always hold COVID cases
    return Resamples(
        groups=group_values,
        is_covid=is_covid,
        indices=indices,
        counts=_occurrences(indices),
        covid_draws=covid_position[indices[:, is_covid]],
    )


def _occurrences(indices: np.ndarray) -> np.ndarray:
    """How often each case occurs in each resample: ``(B, N)`` counts from ``(B, N)`` indices."""
    n_resamples, n_cases = indices.shape
    offsets = (np.arange(n_resamples) * n_cases)[:, None]
    return np.bincount((indices + offsets).ravel(), minlength=n_resamples * n_cases).reshape(n_resamples, n_cases)


def _covid_values(
    values: ArrayLike | Sequence[float | None] | None, *, name: str, is_covid: np.ndarray
) -> np.ndarray | None:
    """Per-COVID-case values from either one value per case (others ignored) or one per COVID case.

    ``None`` when no value is given (N/A); some-but-not-all missing raise ``ValueError``.
    """
    if values is None:
        return None
    raw = float_array(values, name=name)
    if raw.size == is_covid.size:
        raw = raw[is_covid]
    elif raw.size != is_covid.sum():
        raise ValueError(
            f"{name}: expected one value per case ({is_covid.size}) or per COVID-19 case ({int(is_covid.sum())}), "
            f"got {raw.size}"
        )
    return optional_values(raw, name=f"{name} (COVID-19 cases)")


def resampled_metrics(
    resamples: Resamples,
    *,
    scores: np.ndarray | None,
    true_severity: np.ndarray | None,
    pred_severity: np.ndarray | None,
    case_dice: np.ndarray | None,
) -> dict[str, np.ndarray | None]:
    """Every metric (keys: :data:`METRIC_KEYS`) on every resample, shape ``(B,)``; NaN where undefined.

    Inputs as validated arrays: ``scores`` one per case, the others one per COVID-19 case. A metric
    whose full-data value is N/A gets ``None``.
    """
    groups, is_covid, counts, draws = resamples.groups, resamples.is_covid, resamples.counts, resamples.covid_draws
    result: dict[str, np.ndarray | None] = {}
    for subset in ROC_SUBSETS:
        key = f"roc_auc_{subset}"
        selected = subset_selection(groups, subset)
        if scores is None or roc_auc(is_covid[selected], scores[selected]) is None:
            result[key] = None
            continue
        positives = np.flatnonzero(selected & is_covid)
        negatives = np.flatnonzero(selected & ~is_covid)
        wins = pairwise_wins(scores[positives], scores[negatives])
        result[key] = weighted_auc(wins, positive_weights=counts[:, positives], negative_weights=counts[:, negatives])
    if true_severity is None or pred_severity is None or spearman_rho(true_severity, pred_severity) is None:
        result["spearman_rho"] = None
    else:
        result["spearman_rho"] = spearman_rho_rows(true_severity[draws], pred_severity[draws])
    if case_dice is None or mean_dice(case_dice) is None:
        result["mean_dice"] = None
    else:
        result["mean_dice"] = case_dice[draws].mean(axis=1)
    return result


def _interval(samples: np.ndarray, confidence: float) -> Interval | None:
    valid = samples[np.isfinite(samples)]
    if valid.size == 0:
        return None
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(valid, [tail, 100.0 - tail])
    return Interval(low=float(low), high=float(high), n_valid=int(valid.size))


def bootstrap_intervals(
    *,
    groups: Iterable[Group | str],
    scores: ArrayLike | Sequence[float | None] | None,
    true_severity: ArrayLike | Sequence[float | None] | None,
    pred_severity: ArrayLike | Sequence[float | None] | None,
    case_dice: ArrayLike | Sequence[float | None] | None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Interval | None]:
    """Stratified percentile-bootstrap intervals of all metrics (keys: :data:`evaluator.metrics.registry.METRIC_KEYS`).

    ``scores`` has one value per case. ``true_severity``, ``pred_severity`` and ``case_dice``
    have one value per case (non-COVID entries are ignored and may be ``None``) or one per
    COVID-19 case, in case order. A metric whose point estimate is N/A (see the metric
    functions) or that is undefined on every resample gets ``None``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    group_values = group_array(groups)
    values = optional_values(scores, name="scores")
    same_length(groups=group_values, scores=values)
    is_covid = group_values == Group.COVID
    truth = _covid_values(true_severity, name="true_severity", is_covid=is_covid)
    predicted = _covid_values(pred_severity, name="pred_severity", is_covid=is_covid)
    dice = _covid_values(case_dice, name="case_dice", is_covid=is_covid)
    resamples = draw_resamples(group_values, n_resamples=n_resamples, seed=seed)
    samples = resampled_metrics(resamples, scores=values, true_severity=truth, pred_severity=predicted, case_dice=dice)
    return {key: None if drawn is None else _interval(drawn, confidence) for key, drawn in samples.items()}
