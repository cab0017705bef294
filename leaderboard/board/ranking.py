"""Ordering board entries: pure functions over plain rows (no Django).

Conventions: every metric is "higher is better"; a missing value (N/A) always sorts after
every number, whichever the direction; values are compared after rounding to ``TIE_DECIMALS``
decimals (1e-9), so float noise (0.8990778688524591 vs 0.899077868852459) is a tie, and ties keep
the earlier submission first. Ranks are
competition ranks (1, 2, 2, 4) and N/A has no rank. The mean rank averages, over the six
metrics, each entry's rank among the shown entries, ties sharing the mean of their
positions and all N/A entries of a metric sharing the mean of the positions below the
numbers (so leaving a metric out never helps).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy.stats import rankdata

#: Metric values equal to this many decimals are ties (float noise of the same computation is not a difference).
TIE_DECIMALS = 9


def comparable(value: float) -> float:
    """``value`` as ranking compares it."""
    return round(float(value), TIE_DECIMALS)


@dataclass(frozen=True, slots=True)
class Row:
    key: Hashable  # identifies the entry
    group: Hashable | None  # the team; None = never collapsed (reference entries)
    metrics: Mapping[str, float | None]
    created_at: datetime


def sort_rows(rows: Sequence[Row], *, metric: str, descending: bool = True) -> list[Row]:
    """Rows by ``metric`` (N/A last in both directions), ties by submission time."""
    def key(row: Row):
        value = row.metrics.get(metric)
        if value is None:
            return (1, 0.0, row.created_at)
        return (0, -comparable(value) if descending else comparable(value), row.created_at)

    return sorted(rows, key=key)


def competition_ranks(values: Sequence[float | None]) -> list[int | None]:
    """Ranks of already sorted values: equal values share a rank (1, 2, 2, 4); N/A gets none."""
    ranks: list[int | None] = []
    for position, value in enumerate(values, start=1):
        if value is None:
            ranks.append(None)
        elif (position > 1 and ranks[-1] is not None and values[position - 2] is not None
              and comparable(values[position - 2]) == comparable(value)):  # type: ignore[arg-type]
            ranks.append(ranks[-1])
        else:
            ranks.append(position)
    return ranks


def metric_ranks(values: Sequence[float | None]) -> np.ndarray:
    """Average ranks (1 = best = highest) with all N/A tied below every number."""
    present = np.array([v is not None for v in values], dtype=bool)
    ranks = np.empty(len(values), dtype=float)
    n_present = int(present.sum())
    if n_present:
        scores = np.array([comparable(v) for v in values if v is not None], dtype=float)
        ranks[present] = rankdata(-scores, method="average")
    if n_present < len(values):
        ranks[~present] = n_present + (len(values) - n_present + 1) / 2.0
    return ranks


def mean_ranks(rows: Sequence[Row], *, metrics: Sequence[str]) -> dict[Hashable, float]:
    """Mean over ``metrics`` of each row's average rank among ``rows``."""
    if not rows:
        return {}
    table = np.vstack([metric_ranks([row.metrics.get(m) for row in rows]) for m in metrics])
    return {row.key: float(value) for row, value in zip(rows, table.mean(axis=0), strict=True)}


def sort_by_mean_rank(rows: Sequence[Row], means: Mapping[Hashable, float]) -> list[Row]:
    return sorted(rows, key=lambda row: (means[row.key], row.created_at))


def best_per_group(ordered: Sequence[Row]) -> list[Row]:
    """The first row of each group in ``ordered``; rows without a group are all kept."""
    seen: set[Hashable] = set()
    kept = []
    for row in ordered:
        if row.group is None:
            kept.append(row)
        elif row.group not in seen:
            seen.add(row.group)
            kept.append(row)
    return kept


def quality_ranks(rows: Sequence[Row], *, metric: str) -> dict[Hashable, int | None]:
    """Competition rank of each row by ``metric``, best (highest) = 1, whatever order the rows are shown in."""
    ordered = sort_rows(rows, metric=metric, descending=True)
    ranks = competition_ranks([row.metrics.get(metric) for row in ordered])
    return {row.key: rank for row, rank in zip(ordered, ranks, strict=True)}


def mean_rank_positions(means: Mapping[Hashable, float]) -> dict[Hashable, int | None]:
    """Competition ranks by mean rank (lower is better; equal means share a rank)."""
    ordered = sorted(means.values())
    first: dict[float, int | None] = {}
    for value, rank in zip(ordered, competition_ranks(ordered), strict=True):
        first.setdefault(value, rank)
    return {key: first[value] for key, value in means.items()}
