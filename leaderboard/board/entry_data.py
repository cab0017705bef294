"""What an entry page derives from result documents, cached per evaluation (documents never change once done).

- the charts (inline SVG, :mod:`.charts`), the triage impact's from aggregates only;
- DeLong's test of the entry's ROC-AUC (COVID-19 vs all others) against the board's leader,
  paired on the same cases, from both documents' private per-case identification scores
  (only the p-value and the AUC difference leave this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from evaluator.metrics import delong_test
from leaderboard.submissions.models import Evaluation

from . import charts

CACHE_VERSION = 2


def chart_markup(evaluation: Evaluation) -> dict[str, str | None]:
    """``{"roc", "severity", "waits"}`` (svg or ``None``) for a done evaluation (rendered once, then cached)."""
    def render() -> dict[str, str | None]:
        result = evaluation.result or {}
        extras = result.get("extras") or {}
        curves = extras.get("roc_curves") or {}
        ranked = extras.get("ranked_severity")
        metrics = result.get("metrics") or {}
        triage = result.get("triage") or {}
        waits = triage.get("distribution")
        return {
            "roc": charts.roc_panels(curves, metrics, chart_id=f"roc-{evaluation.pk}")
            if any(curves.values()) else None,
            "severity": charts.ranked_severity(ranked, chart_id=f"severity-{evaluation.pk}") if ranked else None,
            "waits": charts.waiting_times(waits, target_minutes=(triage.get("parameters") or {}).get("target_minutes"),
                                          chart_id=f"waits-{evaluation.pk}") if waits else None,
        }

    markup = cache.get_or_set(f"charts:{CACHE_VERSION}:{evaluation.pk}", render, timeout=None)
    assert markup is not None  # render() never returns None
    return markup


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


def compare_with_leader(entry_id: int, leader_id: int) -> Comparison | None:
    """DeLong's two-sided test on the paired cases of two evaluations of the same board; ``None`` if undefined."""
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
        cases = sorted(a)
        if any(a[c][0] != b[c][0] for c in cases):
            return {}
        try:
            test = delong_test([a[c][0] for c in cases], [a[c][1] for c in cases], [b[c][1] for c in cases])
        except ValueError:  # too few positives or negatives
            return {}
        return {"p_value": test.p_value, "difference": test.difference, "n_cases": len(cases)}

    value = cache.get_or_set(f"delong:{CACHE_VERSION}:{entry_id}:{leader_id}", compute, timeout=None)
    return Comparison(**value) if value else None
