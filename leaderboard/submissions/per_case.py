"""Per-case values of an evaluation, as shown to the submitting team or to maintainers."""

from __future__ import annotations

from leaderboard.accounts.access import is_maintainer

from .models import Evaluation

#: What a team sees per case: its own predictions as the scorer read them. Columns derived from the hidden
#: labels (group, true severity, per-case Dice, which reveals the COVID-19 cases) are for maintainers only.
TEAM_CASE_COLUMNS = ["case_id", "covid_probability", "predicted_severity", "mask_severity", "predicted_voxels"]
MAINTAINER_CASE_COLUMNS = ["case_id", "group", "covid_probability", "predicted_severity", "mask_severity",
                           "true_severity", "dice", "predicted_voxels"]


#: Container track: the team never saw the private cases' images, so even the severity of its own mask, which is
#: measured against the hidden lung masks, is not shown to it.
TEAM_CONTAINER_CASE_COLUMNS = [column for column in TEAM_CASE_COLUMNS if column != "mask_severity"]


def case_columns(user, *, track: str = "archive") -> list[str]:
    if is_maintainer(user):
        return MAINTAINER_CASE_COLUMNS
    return TEAM_CONTAINER_CASE_COLUMNS if track == "container" else TEAM_CASE_COLUMNS


def case_rows(evaluation: Evaluation, columns: list[str]) -> list[list]:
    cases = (evaluation.per_case or {}).get("per_case", [])
    return [[case.get(column) for column in columns] for case in cases]
