"""What maintainers see of a test set's feedback: the active policy and, per team, its submissions (the
``manage.py feedback status`` command and the test set's admin page)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from leaderboard.submissions.models import Evaluation, Submission
from leaderboard.submissions.states import EvaluationState

from .models import TestSet


@dataclass(frozen=True)
class TeamCounts:
    team: str
    submissions: int  # all submissions to the test set
    counted: int  # counting toward the quota
    scored: int  # with a done evaluation on the current labels
    withheld: int  # of those, feedback withheld by the guard
    final_choices: int


def policy_line(testset: TestSet) -> str:
    return (f"{testset.slug}: policy {testset.feedback_policy}, guard {'on' if testset.feedback_guard else 'off'}, "
            f"phase {testset.phase}, split {testset.split_fraction:g}, η {testset.ladder_eta:g}, "
            f"final choices ≤ {testset.final_selections}")


def team_counts(testset: TestSet) -> list[TeamCounts]:
    """Per team (by name), counts of its submissions to ``testset`` and what feedback they got."""
    from leaderboard.feedback import Stage, release_many

    label_version = testset.current_label_version()
    withheld: dict[int, int] = {}
    if label_version is not None:
        for track in ("archive", "container"):
            team_ids = set(Evaluation.objects.filter(label_version=label_version, track=track,
                                                     state=EvaluationState.DONE)
                           .values_list("submission__team_id", flat=True))
            released = release_many(team_ids, label_version_id=label_version.pk, track=track, testset=testset)
            owners = dict(Evaluation.objects.filter(pk__in=released).values_list("pk", "submission__team_id"))
            for pk, shown in released.items():
                if shown.stage == Stage.WITHHELD:
                    withheld[owners[pk]] = withheld.get(owners[pk], 0) + 1
    rows = (Submission.objects.filter(testset=testset).values("team_id", "team__name")
            .annotate(total=Count("pk"), counted=Count("pk", filter=Q(counts_toward_quota=True)),
                      finals=Count("pk", filter=Q(is_final_choice=True)),
                      scored=Count("evaluations", filter=Q(evaluations__label_version=label_version,
                                                           evaluations__state=EvaluationState.DONE),
                                   distinct=True))
            .order_by("team__name"))
    return [TeamCounts(team=row["team__name"], submissions=row["total"], counted=row["counted"], scored=row["scored"],
                       withheld=withheld.get(row["team_id"], 0), final_choices=row["finals"]) for row in rows]
