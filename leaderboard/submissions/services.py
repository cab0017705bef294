"""Business actions on submissions: submit (with the atomic quota), queue evaluations, re-score."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.db import transaction

import evaluator
from covid_triage.containers.image_tarball import compression_of
from evaluator.problems import InvalidInput, Problem
from leaderboard.accounts.models import Team
from leaderboard.containers import inspect_image_tarball, reference_problems
from leaderboard.storage import STORAGE_ERRORS, private_storage
from leaderboard.testsets.models import LabelVersion, Phase, ReportedResult, TestSet
from leaderboard.testsets.services import default_benchmark

from . import container_config, dispatch, events
from .models import Evaluation, Submission, SubmissionKind, Track, storage_name
from .quota import QuotaStatus, quota_status
from .states import EvaluationState
from .uploads import over_limit_problem, quick_check, sha256_and_size

log = logging.getLogger(__name__)


class SubmissionRejected(Exception):
    """The upload was refused at once; nothing was stored and nothing counts."""

    def __init__(self, problems: list[Problem], *, status: int = 400) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems
        self.status = status


class QuotaExceeded(Exception):
    def __init__(self, status: QuotaStatus) -> None:
        super().__init__(status.explanation())
        self.status = status


@dataclass(frozen=True)
class SubmissionMeta:
    method_name: str
    description: str = ""
    paper_url: str = ""
    code_url: str = ""
    is_public: bool = False


def _evaluation(submission: Submission, label_version: LabelVersion, *, reason: str, initial: bool,
                requested_by: str = "") -> Evaluation:
    evaluation = Evaluation.objects.create(
        submission=submission, label_version=label_version, scorer_version=evaluator.SCORER_VERSION,
        track=submission.track, reason=reason, is_initial=initial, requested_by=requested_by,
    )
    events.created(evaluation, message=f"queued ({evaluation.get_reason_display().lower()}) on labels "
                                       f"{label_version.testset.name} v{label_version.version}")
    dispatch.send_on_commit(evaluation.pk)
    return evaluation


def _open_label_version(testset: TestSet | None) -> tuple[TestSet, LabelVersion]:
    testset = testset or default_benchmark()
    label_version = testset.current_label_version() if testset is not None else None
    if testset is None or label_version is None:
        raise SubmissionRejected([Problem("no benchmark test set is open for submissions yet",
                                          expected="a maintainer to import one (manage.py import_testset)")],
                                 status=409)
    if testset.kind == TestSet.Kind.BENCHMARK and testset.phase != Phase.OPEN:
        raise SubmissionRejected([Problem(f"{testset.name} is in its {testset.phase} phase: it takes no new "
                                          "submissions", expected="submissions while the phase is open")],
                                 status=409)
    return testset, label_version


def _check_quota_early(team: Team, *, counts: bool) -> None:
    if counts and quota_status(team).remaining <= 0:  # fail fast; re-checked under the team's lock
        raise QuotaExceeded(quota_status(team))


def _store(name: str, content: File) -> str:
    """Save an upload to the private storage. A store that cannot take it (object store unreachable, disk
    full) refuses the upload with 503: nothing is stored, nothing counts, the team may send it again."""
    try:
        return private_storage().save(name, content)
    except STORAGE_ERRORS as error:
        log.error("upload refused: the private storage failed: %s: %s", type(error).__name__, error)
        raise SubmissionRejected([Problem(
            "the file store is unavailable right now, so the upload was not stored (it does not count)",
            expected="the same upload again in a few minutes")], status=503) from None


def _create_and_queue(*, team: Team, label_version: LabelVersion, stored: str, counts: bool,
                      **fields) -> Submission:
    """Create the submission and its first evaluation under the team's row lock (the quota's real check);
    the stored file is deleted again if anything fails before the commit. From the commit on the rows may exist
    (a connection lost during COMMIT leaves that unknown), so the file is kept: an orphaned object is harmless, a
    submission without its file is not."""
    committing = False
    try:
        with transaction.atomic():
            Team.objects.select_for_update().only("pk").get(pk=team.pk)  # serialises this team's uploads
            if counts:
                status = quota_status(team)
                if status.remaining <= 0:
                    raise QuotaExceeded(status)
            submission = Submission.objects.create(team=team, file=stored, counts_toward_quota=counts, **fields)
            _evaluation(submission, label_version, reason=Evaluation.Reason.UPLOAD, initial=True)
            committing = True
    except BaseException:
        if stored and not committing:
            private_storage().delete(stored)
        elif stored:
            log.error("upload stored as %s; the commit of its submission may have failed", stored)
        raise
    return submission


def _meta_fields(meta: SubmissionMeta, user) -> dict:
    return dict(submitted_by=user if getattr(user, "pk", None) else None, method_name=meta.method_name,
                description=meta.description, paper_url=meta.paper_url, code_url=meta.code_url,
                is_public=meta.is_public)


def submit_archive(*, team: Team, user, handle: BinaryIO, file_name: str, meta: SubmissionMeta,
                   testset: TestSet | None = None, track: str = Track.ARCHIVE, reference: ReportedResult | None = None,
                   is_reference: bool = False) -> Submission:
    """Store an uploaded prediction archive and queue its evaluation.

    ``handle``: the uploaded file (read in chunks, never whole). Raises
    :class:`SubmissionRejected` for what quick checks find and :class:`QuotaExceeded`;
    reference entries (maintainers) do not count toward the quota.
    """
    testset, label_version = _open_label_version(testset)
    check = quick_check(handle, file_name=file_name)
    if check.problems:
        raise SubmissionRejected(check.problems)
    counts = not is_reference
    _check_quota_early(team, counts=counts)
    sha256, size = sha256_and_size(handle)
    stored = _store(storage_name(team_id=team.pk, extension=check.extension), File(handle, name=file_name))
    submission = _create_and_queue(
        team=team, label_version=label_version, stored=stored, counts=counts, testset=testset,
        kind=SubmissionKind.ARCHIVE, track=track, original_filename=file_name[:255], size_bytes=size, sha256=sha256,
        is_reference=is_reference, reported_result=reference, **_meta_fields(meta, user),
    )
    log.info("submission %s stored (%s bytes) for team %s", submission.pk, size, team.pk)
    return submission


def container_problems(*, tarball: Path | None, file_name: str, reference: str) -> tuple[list[Problem], int]:
    """Why a container submission cannot be queued (every problem), with the HTTP status to answer."""
    if not container_config.containers_enabled():
        return [Problem("this server does not run container submissions",
                        expected="a prediction archive (kind=archive)")], 409
    if (tarball is None) == (not reference.strip()):
        return [Problem("give either an image tarball (file) or an image reference, not both and not neither",
                        expected="file=@model.tar.gz (docker save) or image_reference=registry/name@sha256:…")], 400
    if reference.strip():
        problems = reference_problems(reference)
        registries = settings.LEADERBOARD_CONTAINER_REGISTRIES
        if not registries:
            problems.append(Problem("this server pulls no images from registries",
                                    expected="an uploaded `docker save` tarball (.tar or .tar.gz)"))
        elif not problems and container_config.registry_of(reference) not in registries:
            problems.append(Problem(f"registry {container_config.registry_of(reference)!r} is not one this "
                                    "server pulls from", expected=f"one of {', '.join(registries)}"))
        return problems, 400
    assert tarball is not None
    limit = settings.LEADERBOARD_MAX_IMAGE_UPLOAD_BYTES
    if tarball.stat().st_size > limit:
        return [over_limit_problem("container")], 413
    return [], 200


def submit_container(*, team: Team, user, meta: SubmissionMeta, testset: TestSet | None = None,
                     tarball: Path | None = None, file_name: str = "", reference: str = "",
                     reported: ReportedResult | None = None, is_reference: bool = False) -> Submission:
    """Check a container image (an uploaded ``docker save`` tarball at ``tarball``, or a digest-pinned
    ``reference`` in a configured registry), store it and queue its evaluation on the container track.

    The tarball is checked completely before anything is stored: one image, linux/amd64, a
    non-root ``User``, an entrypoint, sizes (:func:`~leaderboard.containers.inspect_image_tarball`);
    every problem is reported at once (:class:`SubmissionRejected`). A reference is checked
    for its form and registry here, and as an image by the GPU worker after the pull.
    """
    problems, code = container_problems(tarball=tarball, file_name=file_name, reference=reference)
    if problems:
        raise SubmissionRejected(problems, status=code)
    testset, label_version = _open_label_version(testset)
    counts = not is_reference
    _check_quota_early(team, counts=counts)
    fields = dict(testset=testset, kind=SubmissionKind.CONTAINER, track=Track.CONTAINER, is_reference=is_reference,
                  reported_result=reported, **_meta_fields(meta, user))
    if reference.strip():
        reference = reference.strip()
        submission = _create_and_queue(team=team, label_version=label_version, stored="", counts=counts,
                                       original_filename=reference[:255], size_bytes=0,
                                       sha256=reference.rsplit("@sha256:", 1)[1], image_reference=reference,
                                       **fields)
        log.info("submission %s: image reference %s for team %s", submission.pk, reference, team.pk)
        return submission
    assert tarball is not None
    display = file_name or tarball.name
    try:
        info = inspect_image_tarball(tarball, limits=container_config.image_limits(), display_name=display)
    except InvalidInput as invalid:
        raise SubmissionRejected(invalid.problems) from None
    with open(tarball, "rb") as handle:
        sha256, size = sha256_and_size(handle)
        extension = ".tar.gz" if compression_of(tarball) == "gzip" else ".tar"
        stored = _store(storage_name(team_id=team.pk, extension=extension), File(handle, name=display))
    submission = _create_and_queue(team=team, label_version=label_version, stored=stored, counts=counts,
                                   original_filename=display[:255], size_bytes=size, sha256=sha256,
                                   image_id=info.image_id, **fields)
    log.info("submission %s: image %s (%s bytes) stored for team %s", submission.pk, info.image_id, size, team.pk)
    return submission


def spooled_path(upload) -> tuple[Path, bool]:
    """A path of the uploaded file on disk, and whether it is a copy to delete afterwards (the upload handler
    always spools to disk, so a copy is made only for other handlers)."""
    if hasattr(upload, "temporary_file_path"):
        return Path(upload.temporary_file_path()), False
    handle = tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR, delete=False)
    with handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    return Path(handle.name), True


def submit_container_upload(*, team, user, upload, reference: str, meta: SubmissionMeta, testset) -> Submission:
    """Container submission from a request's (optional) uploaded tarball or image reference."""
    if upload is None:
        return submit_container(team=team, user=user, meta=meta, testset=testset, reference=reference)
    path, copied = spooled_path(upload)
    try:
        return submit_container(team=team, user=user, meta=meta, testset=testset, tarball=path,
                                file_name=upload.name, reference=reference)
    finally:
        if copied:
            path.unlink(missing_ok=True)


@dataclass
class RescoreReport:
    created: list[Evaluation] = field(default_factory=list)
    requeued: list[Evaluation] = field(default_factory=list)
    skipped: list[tuple[Submission, str]] = field(default_factory=list)


def request_rescore(submissions: Iterable[Submission], *, label_version: LabelVersion | None = None,
                    requested_by: str = "") -> RescoreReport:
    """Queue an evaluation of each submission with the current scorer on ``label_version`` (default: the
    submission's test set's current labels). Failed evaluations are re-queued; done or pending ones are kept."""
    report = RescoreReport()
    for submission in submissions:
        target = label_version or submission.testset.current_label_version()
        if target is None or target.testset_id != submission.testset_id:
            report.skipped.append((submission, "the label version belongs to another test set"
                                   if target else "its test set has no current label version"))
            continue
        with transaction.atomic():
            existing = (Evaluation.objects.select_for_update()
                        .filter(submission=submission, label_version=target,
                                scorer_version=evaluator.SCORER_VERSION).first())
            if existing is None:
                report.created.append(_evaluation(submission, target, reason=Evaluation.Reason.RESCORE,
                                                  initial=False, requested_by=requested_by))
            elif existing.state == EvaluationState.FAILED:
                requeue_failed(existing, by=requested_by)
                report.requeued.append(existing)
            else:
                report.skipped.append((submission, f"already {existing.state} with scorer "
                                                   f"{existing.scorer_version} on these labels"))
    return report


def requeue_failed(evaluation: Evaluation, *, by: str) -> None:
    """A maintainer's second chance for a failed evaluation (e.g. after a server fault was fixed)."""
    with transaction.atomic():
        locked = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
        if locked.state != EvaluationState.FAILED:
            return
        locked.attempts, locked.claim_token, locked.failure_kind, locked.problems = 0, None, "", []
        locked.finished_at = None
        events.transition(locked, EvaluationState.QUEUED, message=f"re-queued by {by or 'a maintainer'}",
                          fields=("attempts", "claim_token", "failure_kind", "problems", "finished_at"))
        dispatch.send_on_commit(locked.pk)
    evaluation.refresh_from_db()

