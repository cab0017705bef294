"""One entry point for uploads, shared by the web form and the REST API.

The sequence, in the order it runs:

1. :func:`refuse_before_body`: what the headers and the session already decide (the declared
   Content-Length, members' e-mail verification, the team's quota) is answered before a byte of
   the body is read;
2. the caller parses the body (the upload handler stops reading a file past the largest limit);
3. :func:`refuse_cut_upload`: the upload handler stopped a file that was over the limit;
4. :func:`receive_upload`: approval of members' team changes where the benchmark asks for it,
   the kind's own size limit, archive or container, and the uploaded file closed whatever happens.

Every step raises :class:`SubmissionRejected` (problems + HTTP status) or :class:`QuotaExceeded`;
the views only map these to HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest

from evaluator.problems import Problem
from leaderboard.accounts.eligibility import unapproved_changes, unverified_members
from leaderboard.accounts.models import Team
from leaderboard.testsets.models import TestSet
from leaderboard.testsets.services import default_benchmark

from .models import Submission, SubmissionKind
from .quota import quota_status
from .services import QuotaExceeded, SubmissionMeta, SubmissionRejected, submit_archive, submit_container_upload
from .uploads import declared_too_large, over_limit_problem


@dataclass(frozen=True)
class UploadRequest:
    """What a team asked to submit (the parsed form or API fields)."""

    kind: str
    meta: SubmissionMeta
    testset: TestSet | None
    file: UploadedFile | None = None
    image_reference: str = ""


def refuse_before_body(request: HttpRequest, *, team: Team) -> None:
    """Refuse what is known from the headers and the team alone; reads nothing of the body."""
    if declared_too_large(request):
        raise SubmissionRejected([over_limit_problem()], status=413)
    unverified = unverified_members(team)
    if unverified:
        raise SubmissionRejected([Problem(
            f"these members of the team have not verified their e-mail address yet: {', '.join(unverified)}",
            expected="each member opens the link mailed to them (the team page sends it again)")], status=403)
    status = quota_status(team)
    if status.remaining <= 0:  # advice only: re-checked under the team's lock when the submission is created
        raise QuotaExceeded(status)


def refuse_cut_upload(request: HttpRequest, *, kind: str) -> None:
    """The upload handler stopped reading a file that was over the largest limit (the body was left unread)."""
    if getattr(request, "upload_over_limit", None):
        raise SubmissionRejected([over_limit_problem(kind or SubmissionKind.ARCHIVE)], status=413)


def receive_upload(*, team: Team, user, upload: UploadRequest) -> Submission:
    """Store and queue a submission from a parsed upload; the uploaded file is closed in every case."""
    try:
        waiting = unapproved_changes(team, testset=upload.testset or default_benchmark())
        if waiting:
            raise SubmissionRejected([Problem(
                f"these members changed team and a maintainer has not approved it yet: {', '.join(waiting)}",
                expected="a maintainer's approval (this benchmark asks for it), or a team without them")],
                status=403)
        if upload.kind == SubmissionKind.CONTAINER:
            return submit_container_upload(team=team, user=user, upload=upload.file, meta=upload.meta,
                                           reference=upload.image_reference, testset=upload.testset)
        if upload.file is None:
            raise SubmissionRejected([Problem("no prediction archive was uploaded",
                                              expected="file=@predictions.zip (zip, tar.gz or tar)")])
        if (upload.file.size or 0) > settings.LEADERBOARD_MAX_UPLOAD_BYTES:
            raise SubmissionRejected([over_limit_problem()], status=413)
        return submit_archive(team=team, user=user, handle=upload.file.file,  # type: ignore[arg-type]
                              file_name=upload.file.name or "",
                              meta=upload.meta, testset=upload.testset)
    finally:
        if upload.file is not None:
            upload.file.close()
