"""Triage views of a submission (the paper's Fig. 5): a fixed-threshold table and a severity ranking."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from evaluator.groups import Group
from evaluator.metrics._arrays import group_array, optional_values, same_length


def confusion_at_threshold(
    groups: Iterable[Group | str],
    scores: ArrayLike | Sequence[float | None] | None,
    *,
    threshold: float = 0.5,
) -> dict[str, Any] | None:
    """Cases called positive (``score >= threshold``) or negative, per group (Fig. 5, left).

    Returns ``None`` when there are no scores, else ``{"threshold", "groups", "sensitivity",
    "specificity"}`` where ``groups`` maps every group name to ``{"negative": n, "positive": n}``
    (groups without cases get zeros), sensitivity = positives among COVID-19 cases and
    specificity = negatives among all other cases (each ``None`` without such cases).
    """
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    group_values = group_array(groups)
    values = optional_values(scores, name="scores")
    if values is None:
        return None
    same_length(groups=group_values, scores=values)
    called_positive = values >= threshold
    table: dict[str, dict[str, int]] = {}
    for group in Group:
        members = group_values == group
        positive = int(np.count_nonzero(called_positive & members))
        table[group.value] = {"negative": int(np.count_nonzero(members)) - positive, "positive": positive}
    is_covid = group_values == Group.COVID
    n_covid, n_other = int(is_covid.sum()), int((~is_covid).sum())
    return {
        "threshold": float(threshold),
        "groups": table,
        "sensitivity": table[Group.COVID.value]["positive"] / n_covid if n_covid else None,
        "specificity": int(np.count_nonzero(~called_positive & ~is_covid)) / n_other if n_other else None,
    }


class RankedCase(NamedTuple):
    """One bar of the severity ranking: rank 1 is the most severe prediction."""

    rank: int
    severity: float
    group: Group


def ranked_severity_chart(
    groups: Iterable[Group | str], pred_severity: ArrayLike | Sequence[float | None] | None
) -> list[RankedCase] | None:
    """All cases sorted by predicted severity, highest first (Fig. 5, right).

    Ties keep the input order (stable sort), so ranks are 1…n without gaps. ``None`` when
    there is no predicted severity.
    """
    group_values = group_array(groups)
    values = optional_values(pred_severity, name="pred_severity")
    if values is None:
        return None
    same_length(groups=group_values, pred_severity=values)
    order = np.argsort(-values, kind="stable")
    return [
        RankedCase(rank=rank, severity=float(values[index]), group=group_values[index])
        for rank, index in enumerate(order, start=1)
    ]
