"""What an entry page derives from released result documents (:mod:`leaderboard.feedback`), cached per
released document (documents never change once done).

- the charts (inline SVG, :mod:`.charts`): the exact views only where the release allows them; the triage
  impact's waiting times from aggregates only;
- DeLong's test of the entry's ROC-AUC (COVID-19 vs all others) against the board's leader,
  paired on the released cases, from both documents' private per-case identification scores
  (only the p-value and the AUC difference leave this module).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from evaluator.metrics import delong_test
from leaderboard.feedback import Released
from leaderboard.submissions.models import Evaluation

from . import charts

CACHE_VERSION = 3


def chart_markup(released: Released) -> dict[str, str | None]:
    """``{"roc", "severity", "waits"}`` (svg or ``None``) of a released view (rendered once, then cached).

    Exact views (staircase ROC, ranked bars: the paper's Fig. 4 and 5) only when ``released.exact_charts``;
    otherwise bootstrap-averaged ROC curves and per-group severity summaries."""
    if not released.shown:
        return {"roc": None, "severity": None, "waits": None}
    pk = released.source_id

    def render() -> dict[str, str | None]:
        result = released.document or {}
        extras = result.get("extras") or {}
        metrics = result.get("metrics") or {}
        triage = result.get("triage") or {}
        distribution = triage.get("distribution")
        waits = (charts.waiting_times(distribution, target_minutes=(triage.get("parameters") or {}).get(
            "target_minutes"), chart_id=f"waits-{pk}") if distribution else None)
        if released.exact_charts:
            curves = extras.get("roc_curves") or {}
            ranked = extras.get("ranked_severity")
            return {
                "roc": charts.roc_panels(curves, metrics, chart_id=f"roc-{pk}") if any(curves.values()) else None,
                "severity": charts.ranked_severity(ranked, chart_id=f"severity-{pk}") if ranked else None,
                "waits": waits,
            }
        averaged = extras.get("roc_averaged") or {}
        summaries = extras.get("severity_summaries")
        return {
            "roc": charts.roc_panels(averaged, metrics, chart_id=f"roc-{pk}", averaged=True)
            if any(averaged.values()) else None,
            "severity": charts.severity_summary(summaries, chart_id=f"severity-{pk}")
            if summaries and any(summaries.values()) else None,
            "waits": waits,
        }

    key = f"charts:{CACHE_VERSION}:{pk}:{released.stage}:{int(released.exact_charts)}:{_cases_key(released.cases)}"
    markup = cache.get_or_set(key, render, timeout=None)
    assert markup is not None  # render() never returns None
    return markup


def _cases_key(cases: frozenset[str] | None) -> str:
    return "all" if cases is None else hashlib.sha256("|".join(sorted(cases)).encode()).hexdigest()[:16]


def identification_scores(result: dict[str, Any] | None, per_case: dict[str, Any] | None
                          ) -> dict[str, tuple[bool, float]] | None:
    """Per case: (is COVID-19, identification score) — the score the scorer used for the ROC-AUCs."""
    if not result or not per_case:
        return None
    source = (result.get("inputs") or {}).get("identification_score")
    column = {"covid_probability": "covid_probability", "severity": "predicted_severity",
              "mask": "predicted_severity"}.get(source or "")
    if column is None:
        return None
    scores = {}
    for case in per_case.get("per_case", []):
        if case.get(column) is None:
            return None
        scores[case["case_id"]] = (case["group"] == "covid", float(case[column]))
    return scores


@dataclass(frozen=True)
class Comparison:
    p_value: float
    difference: float  # AUC of the entry minus AUC of the leader
    n_cases: int


def compare_with_leader(entry_id: int, leader_id: int, *, cases: frozenset[str] | None = None
                        ) -> Comparison | None:
    """DeLong's two-sided test on the paired cases of two evaluations of the same board (only ``cases``, when
    given: the cases the feedback policy releases); ``None`` if undefined."""
    if entry_id == leader_id:
        return None

    def compute() -> dict[str, Any]:
        docs = {row["pk"]: row for row in Evaluation.objects.filter(pk__in=[entry_id, leader_id])
                .values("pk", "result", "per_case")}
        if len(docs) != 2:
            return {}
        a = identification_scores(docs[entry_id]["result"], docs[entry_id]["per_case"])
        b = identification_scores(docs[leader_id]["result"], docs[leader_id]["per_case"])
        if a is None or b is None or set(a) != set(b):
            return {}
        paired = sorted(a) if cases is None else sorted(set(a) & cases)
        if any(a[c][0] != b[c][0] for c in paired):
            return {}
        try:
            test = delong_test([a[c][0] for c in paired], [a[c][1] for c in paired], [b[c][1] for c in paired])
        except ValueError:  # too few positives or negatives
            return {}
        return {"p_value": test.p_value, "difference": test.difference, "n_cases": len(paired)}

    value = cache.get_or_set(f"delong:{CACHE_VERSION}:{entry_id}:{leader_id}:{_cases_key(cases)}", compute,
                             timeout=None)
    return Comparison(**value) if value else None
