"""Helpers shared by the site's tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import User

from leaderboard.accounts.models import Team
from leaderboard.submissions import archive_job
from leaderboard.submissions.models import Evaluation, Submission
from leaderboard.submissions.services import SubmissionMeta, submit_archive


@dataclass
class TeamHandle:
    team: Team
    user: User
    token: str

    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Token {self.token}"}


def submit(handle: TeamHandle, archive: Path, *, method: str = "method", public: bool = True,
           **kwargs) -> Submission:
    with open(archive, "rb") as stream:
        return submit_archive(team=handle.team, user=handle.user, handle=stream, file_name=archive.name,
                              meta=SubmissionMeta(method_name=method, is_public=public), **kwargs)


def score(submission: Submission) -> Evaluation:
    """Run the worker's task body for the submission's newest evaluation, in this process."""
    evaluation = submission.evaluations.order_by("-pk").first()
    archive_job.run(evaluation.pk, worker="test-worker")
    evaluation.refresh_from_db()
    return evaluation


def submit_and_score(handle: TeamHandle, archive: Path, **kwargs) -> Evaluation:
    return score(submit(handle, archive, **kwargs))
