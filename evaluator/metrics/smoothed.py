"""Chart data that cannot be inverted into per-case labels, for test sets whose labels are hidden.

An exact empirical ROC staircase or a ranked bar chart coloured by class gives away the class of
cases to anyone who knows the per-case scores (the team itself). These summaries replace them:

- :func:`averaged_roc` — each subset's ROC curve averaged over stratified bootstrap resamples and
  read off a fixed false-positive-rate grid (no vertex sits on the ``(i/N, j/P)`` lattice);
- :func:`severity_summaries` — per group, the bootstrap-averaged quartiles and mean of the predicted
  severity, only for groups of at least ``min_cases`` cases (no per-case marks).

Values are rounded to ``decimals`` places. Pure functions over per-case arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from evaluator.groups import ROC_SUBSETS, Group
from evaluator.metrics._arrays import group_array, optional_values, same_length
from evaluator.metrics.bootstrap import stratified_resamples
from evaluator.metrics.roc import subset_selection

FPR_GRID = tuple(round(i / 20, 2) for i in range(21))
SUMMARY_MIN_CASES = 5
SMOOTHING_RESAMPLES = 200


def _tpr_on_grid(labels: np.ndarray, scores: np.ndarray, grid: np.ndarray) -> np.ndarray | None:
    """The empirical ROC (ties as diagonal segments) interpolated at ``grid``; ``None`` if one class is missing."""
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores) != 0), sorted_scores.size - 1]
    tps = np.cumsum(sorted_labels)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    return np.interp(grid, fpr, tpr)


def averaged_roc(groups: Iterable[Group | str], scores: ArrayLike | Sequence[float | None] | None, *,
                 n_resamples: int = SMOOTHING_RESAMPLES, seed: int = 0, grid: Sequence[float] = FPR_GRID,
                 decimals: int = 2) -> dict[str, dict[str, list[float]] | None]:
    """Per ROC subset: ``{"fpr": grid, "tpr": mean TPR over resamples}`` (``None`` where the AUC is N/A)."""
    group_values = group_array(groups)
    values = optional_values(scores, name="scores")
    same_length(groups=group_values, scores=values)
    fpr_grid = np.asarray(grid, dtype=float)
    is_covid = group_values == Group.COVID
    result: dict[str, dict[str, list[float]] | None] = {subset: None for subset in ROC_SUBSETS}
    if values is None:
        return result
    resamples = stratified_resamples(group_values, n_resamples=n_resamples, seed=seed)
    for subset in ROC_SUBSETS:
        selected = subset_selection(group_values, subset)
        if not is_covid[selected].any() or is_covid[selected].all():
            continue
        curves = []
        for row in resamples:
            picked = row[selected[row]]
            curve = _tpr_on_grid(is_covid[picked], values[picked], fpr_grid)
            if curve is not None:
                curves.append(curve)
        if curves:
            mean = np.round(np.asarray(curves).mean(axis=0), decimals)
            result[subset] = {"fpr": [float(x) for x in fpr_grid], "tpr": [float(y) for y in np.atleast_1d(mean)]}
    return result


def severity_summaries(groups: Iterable[Group | str], pred_severity: ArrayLike | Sequence[float | None] | None, *,
                       min_cases: int = SUMMARY_MIN_CASES, n_resamples: int = SMOOTHING_RESAMPLES, seed: int = 0,
                       decimals: int = 3) -> dict[str, dict[str, float | int] | None] | None:
    """Per group: ``{"n", "mean", "q25", "median", "q75"}`` of the predicted severity, each averaged over
    bootstrap resamples of the group; ``None`` for a group of fewer than ``min_cases`` cases (groups without
    cases are left out); ``None`` overall without predicted severity."""
    group_values = group_array(groups)
    values = optional_values(pred_severity, name="pred_severity")
    if values is None:
        return None
    same_length(groups=group_values, pred_severity=values)
    rng = np.random.default_rng(seed)
    summaries: dict[str, dict[str, float | int] | None] = {}
    for group in Group:
        members = values[group_values == group]
        if not members.size:  # a group without cases here (e.g. private ones on the archive track)
            continue
        if members.size < min_cases:
            summaries[group.value] = None
            continue
        draws = members[rng.integers(0, members.size, size=(n_resamples, members.size))]
        quartiles = np.percentile(draws, [25, 50, 75], axis=1).mean(axis=1)
        summaries[group.value] = {
            "n": int(members.size), "mean": round(float(draws.mean()), decimals),
            "q25": round(float(quartiles[0]), decimals), "median": round(float(quartiles[1]), decimals),
            "q75": round(float(quartiles[2]), decimals),
        }
    return summaries
