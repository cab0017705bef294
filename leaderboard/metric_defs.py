"""The six leaderboard metrics (paper Sec. 2.5, Table 2): keys, labels and direction.

Keys are those of the scoring core's result document (``evaluator.metrics.METRIC_KEYS``).
All six are "higher is better"; a missing value (N/A) always ranks below every number.
"""

from __future__ import annotations

from dataclasses import dataclass

from evaluator.metrics import METRIC_KEYS as SCORER_METRIC_KEYS


@dataclass(frozen=True, slots=True)
class MetricDef:
    key: str
    label: str  # full name for headings and tooltips
    short: str  # column heading
    higher_is_better: bool = True


METRICS: tuple[MetricDef, ...] = (
    MetricDef("roc_auc_all", "ROC-AUC, COVID-19 vs all others", "AUC vs all"),
    MetricDef("roc_auc_normal", "ROC-AUC, COVID-19 vs normal", "AUC vs normal"),
    MetricDef("roc_auc_bacterial_pneumonia", "ROC-AUC, COVID-19 vs bacterial pneumonia", "AUC vs bact. pneum."),
    MetricDef("roc_auc_nodules", "ROC-AUC, COVID-19 vs nodules", "AUC vs nodules"),
    MetricDef("spearman_rho", "Spearman's ρ of severity (COVID-19 cases)", "Spearman ρ"),
    MetricDef("mean_dice", "Mean Dice score of lesion masks (COVID-19 cases)", "Dice"),
)
METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)
METRIC_BY_KEY = {m.key: m for m in METRICS}
DEFAULT_METRIC = "roc_auc_all"

if set(METRIC_KEYS) != set(SCORER_METRIC_KEYS):  # the site and the scorer must agree
    raise ImportError(f"metric keys differ from the scorer's: {METRIC_KEYS} vs {SCORER_METRIC_KEYS}")
