"""Who may see a submission, its evaluations and per-case results: its team and the maintainers."""

from __future__ import annotations

from leaderboard.accounts.access import is_maintainer, team_of

from .models import Submission


def can_view_submission(user, submission: Submission) -> bool:
    """The submitting team (signed in or by API token) and maintainers; nobody else, public or not."""
    if is_maintainer(user):
        return True
    team = team_of(user)
    return team is not None and team.pk == submission.team_id


def visible_submissions(user):
    """Submissions ``user`` may see in full (maintainers see all; teams their own; others none)."""
    if is_maintainer(user):
        return Submission.objects.all()
    team = team_of(user)
    if team is None:
        return Submission.objects.none()
    return Submission.objects.filter(team=team)


def logs_visible(user, evaluation) -> bool:
    """Container logs of a run: maintainers always; teams only for runs on a sample set (public images and
    labels). A run on a benchmark saw the private images, so its logs never reach the team."""
    if is_maintainer(user):
        return True
    from leaderboard.testsets.models import TestSet

    return evaluation.label_version.testset.kind == TestSet.Kind.SAMPLE


def visible_problems(user, evaluation) -> list[dict]:
    """An evaluation's problems as ``user`` may see them. The output of a container run on a benchmark was
    written after seeing private images, so problems quoting it (case ids, values, file names) are replaced by
    their count for teams; the same image as a debug run on a sample set shows them in full."""
    problems = list(evaluation.problems or [])
    if evaluation.track != "container" or logs_visible(user, evaluation) or evaluation.failure_kind != "invalid":
        return problems
    return [{"message": f"{len(problems)} problem(s) in your container's /output. The details quote what the "
                        "container wrote after seeing private images, so they are not shown; submit the same image "
                        "as a debug run on the sample set to see them.", "file": None, "case_id": None,
             "expected": None}]
