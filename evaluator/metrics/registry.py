"""The six leaderboard metrics (paper Sec. 2.5, Table 2): the one registry of their keys, labels and direction.

Everything else derives from it: the result document's ``metrics`` and ``intervals`` keys (:mod:`.bootstrap`),
the command line's report (:mod:`evaluator.cli`), and the site's columns, headings and ranking
(``leaderboard.metric_defs``). All six are "higher is better"; a missing value (N/A) always ranks below every
number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Metric:
    key: str  # key in the result document and the site's column name
    label: str  # full name for headings, tooltips and the command line's report
    short: str  # column heading
    higher_is_better: bool = True


METRICS: tuple[Metric, ...] = (
    Metric("roc_auc_all", "ROC-AUC, COVID-19 vs all others", "AUC vs all"),
    Metric("roc_auc_normal", "ROC-AUC, COVID-19 vs normal", "AUC vs normal"),
    Metric("roc_auc_bacterial_pneumonia", "ROC-AUC, COVID-19 vs bacterial pneumonia", "AUC vs bact. pneum."),
    Metric("roc_auc_nodules", "ROC-AUC, COVID-19 vs nodules", "AUC vs nodules"),
    Metric("spearman_rho", "Spearman's ρ of severity (COVID-19 cases)", "Spearman ρ"),
    Metric("mean_dice", "Mean Dice score of lesion masks (COVID-19 cases)", "Dice"),
)
METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)
METRIC_BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}
DEFAULT_METRIC = "roc_auc_all"
