"""Per-case values of an evaluation, as shown to the submitting team or to maintainers.

A team sees per case only what it sent, as the scorer read it: nothing measured against the hidden labels or
masks (no group, true severity, per-case Dice, and no severity the scorer derived from the team's mask and the
hidden lung masks, which crafted masks would turn into a probe of the lung masks). On the container track the
team never saw the private cases, so it sees its container's outputs on the public cases only.
"""

from __future__ import annotations

from leaderboard.accounts.access import is_maintainer

from .access import logs_visible
from .models import Evaluation

TEAM_CASE_COLUMNS = ["case_id", "covid_probability", "predicted_severity", "predicted_voxels"]
MAINTAINER_CASE_COLUMNS = ["case_id", "group", "covid_probability", "predicted_severity", "mask_severity",
                           "true_severity", "dice", "predicted_voxels"]


def case_columns(user, evaluation: Evaluation) -> list[str]:
    """The columns ``user`` may see: all for maintainers; for the team, its own values (``predicted_severity``
    only when it sent a severity column: otherwise the scorer derived it from the hidden lung masks)."""
    if is_maintainer(user):
        return MAINTAINER_CASE_COLUMNS
    inputs = (evaluation.result or {}).get("inputs") or {}
    return [c for c in TEAM_CASE_COLUMNS if c != "predicted_severity" or inputs.get("severity") == "column"]


def case_rows(evaluation: Evaluation, columns: list[str], *, user) -> list[list]:
    """One row per case the viewer may see (container track, teams: the public cases only)."""
    cases = (evaluation.per_case or {}).get("per_case", [])
    if evaluation.track == "container" and not logs_visible(user, evaluation):
        cases = [case for case in cases if case.get("distribution") == "public"]
    return [[case.get(column) for column in columns] for case in cases]
