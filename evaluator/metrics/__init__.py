"""Metrics of the leaderboard (paper Sec. 2.5, Table 2), as pure functions over per-case arrays.

Conventions shared by all functions: a value of ``None`` means *not applicable* (the
submission does not provide what the metric needs, or the test set makes it undefined),
never zero; per-case inputs with some but not all values missing raise ``ValueError``.
See docs/metrics.md for the definitions written for participants.
"""

from evaluator.metrics.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Interval,
    Resamples,
    bootstrap_intervals,
    draw_resamples,
    resampled_metrics,
    stratified_resamples,
)
from evaluator.metrics.categories import (
    CATEGORY_BOUNDS,
    CATEGORY_LABELS,
    category_agreement,
    severity_categories,
    severity_category,
)
from evaluator.metrics.correlation import MIN_CASES, spearman_rho, spearman_rho_rows
from evaluator.metrics.delong import DeLongResult, delong_covariance, delong_differences, delong_test
from evaluator.metrics.dice import DiceCounts, case_dice, dice_from_counts, mean_dice
from evaluator.metrics.holm import holm_adjust
from evaluator.metrics.registry import DEFAULT_METRIC, METRIC_BY_KEY, METRIC_KEYS, METRICS, Metric
from evaluator.metrics.roc import (
    MAX_CURVE_POINTS,
    RocCurve,
    pairwise_wins,
    roc_auc,
    roc_points,
    subset_roc_aucs,
    subset_selection,
    weighted_auc,
)
from evaluator.metrics.triage import RankedCase, confusion_at_threshold, ranked_severity_chart

__all__ = [
    "CATEGORY_BOUNDS",
    "CATEGORY_LABELS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_METRIC",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "MAX_CURVE_POINTS",
    "METRICS",
    "METRIC_BY_KEY",
    "METRIC_KEYS",
    "MIN_CASES",
    "Metric",
    "DeLongResult",
    "DiceCounts",
    "Interval",
    "RankedCase",
    "Resamples",
    "RocCurve",
    "bootstrap_intervals",
    "case_dice",
    "category_agreement",
    "confusion_at_threshold",
    "delong_covariance",
    "delong_differences",
    "delong_test",
    "dice_from_counts",
    "draw_resamples",
    "holm_adjust",
    "mean_dice",
    "pairwise_wins",
    "ranked_severity_chart",
    "resampled_metrics",
    "roc_auc",
    "roc_points",
    "severity_categories",
    "severity_category",
    "spearman_rho",
    "spearman_rho_rows",
    "stratified_resamples",
    "subset_roc_aucs",
    "subset_selection",
    "weighted_auc",
]
