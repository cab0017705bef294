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
