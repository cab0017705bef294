"""The six leaderboard metrics, as the site uses them: a view of :mod:`evaluator.metrics.registry` (their one
home). All six are "higher is better"; a missing value (N/A) always ranks below every number."""

from __future__ import annotations

from evaluator.metrics.registry import DEFAULT_METRIC, METRIC_BY_KEY, METRIC_KEYS, METRICS
from evaluator.metrics.registry import Metric as MetricDef

__all__ = ["DEFAULT_METRIC", "METRICS", "METRIC_BY_KEY", "METRIC_KEYS", "MetricDef"]
