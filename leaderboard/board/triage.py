"""The triage impact (evaluator/worklist.py) on the board and the entry page.

Read from the ``triage`` part of an evaluation's result document, where the scorer stores it next
to the metrics (aggregates over simulated studies only). It is shown beside the six metrics of
the paper, never mixed into them: it has its own board column and is not part of the mean rank.
Higher triage gain is better (more minutes saved per COVID-19 positive); N/A ranks last.
"""

from __future__ import annotations

from typing import Any

from leaderboard.metric_defs import MetricDef

TRIAGE_GAIN = MetricDef("triage_gain", "Triage gain: minutes saved per COVID-19 positive against first in, first "
                                       "out (simulated worklist)", "Triage gain, min")
#: Where the board reads the value and its interval in the stored result document.
VALUE_PATH = "result__triage__measures__triage_gain"
INTERVAL_PATH = "result__triage__intervals__triage_gain"


def compact_interval(interval: dict[str, Any] | None) -> list[float] | None:
    return [interval["low"], interval["high"]] if interval else None


#: Rows of the entry page's table: (what, entry's measure, first-in-first-out's measure, unit).
MEASURE_ROWS = (
    ("COVID-19 positives: median wait", "positive_wait_median", "positive_wait_median_fifo", "minutes"),
    ("COVID-19 positives: 90th-percentile wait", "positive_wait_p90", "positive_wait_p90_fifo", "minutes"),
    ("Severe positives: median wait", "severe_wait_median", "severe_wait_median_fifo", "minutes"),
    ("Severe positives: 90th-percentile wait", "severe_wait_p90", "severe_wait_p90_fifo", "minutes"),
    ("Severe positives read within the target", "severe_within_target", "severe_within_target_fifo", "share"),
)


def measure_rows(triage: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The entry page's table rows: ``{"label", "unit", "entry", "entry_interval", "fifo", "fifo_interval"}``."""
    if not triage or not triage.get("measures"):
        return []
    measures, intervals = triage["measures"], triage.get("intervals") or {}
    return [{"label": label, "unit": unit, "entry": measures.get(key), "entry_interval": intervals.get(key),
             "fifo": measures.get(fifo), "fifo_interval": intervals.get(fifo)}
            for label, key, fifo, unit in MEASURE_ROWS]


__all__ = ["INTERVAL_PATH", "MEASURE_ROWS", "TRIAGE_GAIN", "VALUE_PATH", "compact_interval", "measure_rows"]
