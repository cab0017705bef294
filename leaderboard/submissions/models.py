"""Submissions (what a team uploaded) and evaluations (one scoring of it on one label version)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from covid_triage.containers.sandbox import REASON_TEXT, FailureReason
from evaluator.metrics.registry import METRICS
from leaderboard.accounts.models import Team
from leaderboard.frozen import FrozenFieldsModel
from leaderboard.storage import private_storage
from leaderboard.testsets.models import LabelVersion, ReportedResult, TestSet

from .states import PENDING_STATES, EvaluationState, FailureKind


class SubmissionKind(models.TextChoices):
    ARCHIVE = "archive", "Prediction archive"
    CONTAINER = "container", "Container image"


class Track(models.TextChoices):
    ARCHIVE = "archive", "Archive track (public cases)"
    CONTAINER = "container", "Container track (all cases)"


def storage_name(*, team_id: int, extension: str) -> str:
    """Private-storage name of an upload: never derived from what the participant called the file."""
    return f"submissions/team-{team_id}/{uuid.uuid4().hex}{extension}"


def submission_file_name(instance: Submission, filename: str) -> str:
    extension = ".tar.gz" if filename.endswith(".tar.gz") else ("." + filename.rsplit(".", 1)[1]
                                                                if "." in filename else "")
    return storage_name(team_id=instance.team_id, extension=extension[:10])


class Submission(FrozenFieldsModel):
    frozen_fields = ("team", "submitted_by", "testset", "kind", "track", "file", "original_filename", "size_bytes",
                     "sha256", "image_reference", "image_id", "created_at")

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="submissions",
                             help_text="The team that submitted.")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", help_text="Account that uploaded (empty: the team's API "
                                                                 "token or the command line).")
    testset = models.ForeignKey(TestSet, on_delete=models.PROTECT, related_name="submissions",
                                help_text="The benchmark this submission competes on.")
    kind = models.CharField(max_length=10, choices=SubmissionKind.choices, default=SubmissionKind.ARCHIVE,
                            help_text="What was uploaded.")
    track = models.CharField(max_length=10, choices=Track.choices, default=Track.ARCHIVE,
                             help_text="Which cases it is scored on: archive = public cases, container = all.")
    file = models.FileField(storage=private_storage, upload_to=submission_file_name, max_length=300, blank=True,
                            help_text="The uploaded file (archive or image tarball), in private storage (no URL "
                                      "exists for it); empty for an image reference.")
    original_filename = models.CharField(max_length=255, help_text="The file name the team uploaded (or the image "
                                                                   "reference).")
    size_bytes = models.BigIntegerField(help_text="Size of the uploaded file (0 for an image reference).")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the uploaded file (of an image reference: its "
                                                       "digest).")
    image_reference = models.CharField(max_length=400, blank=True,
                                       help_text="Container image pulled from a registry, pinned by digest "
                                                 "(registry/name@sha256:…); empty for uploads.")
    image_id = models.CharField(max_length=71, blank=True,
                                help_text="Id of the checked image of an uploaded tarball (sha256: + config "
                                          "digest); the engine runs exactly this image.")
    method_name = models.CharField(max_length=100, help_text="Name of the method, shown on the board.")
    description = models.TextField(max_length=2000, blank=True, help_text="A short description of the method.")
    paper_url = models.URLField(max_length=500, blank=True, help_text="Paper or preprint describing the method.")
    code_url = models.URLField(max_length=500, blank=True, help_text="Source code of the method.")
    is_public = models.BooleanField(default=False, help_text="Show this entry on the public board once scored.")
    is_reference = models.BooleanField(default=False, help_text="A maintainers' re-scoring of a method of the "
                                                                "paper (badged on the board).")
    reported_result = models.ForeignKey(ReportedResult, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="reference_submissions",
                                        help_text="For reference entries: the paper's reported row to show beside "
                                                  "it.")
    is_final_choice = models.BooleanField(default=False, help_text="Chosen by the team for the final ranking "
                                                                   "(test sets with a leaderboard split).")
    counts_toward_quota = models.BooleanField(default=True, help_text="False while its first evaluation is failed "
                                                                      "(invalid, server fault, time limit) and "
                                                                      "for reference entries.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True, help_text="Upload time.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "created_at"], name="submission_team_created")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.method_name} ({self.team})"


def _metric_columns() -> type[models.Model]:
    """An abstract model with one nullable float column per metric of the registry (N/A = NULL), so that the
    board can sort and filter in SQL; the values are copied from the result document."""
    fields: dict[str, object] = {
        metric.key: models.FloatField(null=True, blank=True, help_text=f"{metric.label}; N/A = empty.")
        for metric in METRICS}
    return type("MetricColumns", (models.Model,),
                {"__module__": __name__, "Meta": type("Meta", (), {"abstract": True}), **fields})


MetricColumns = _metric_columns()


class Evaluation(FrozenFieldsModel, MetricColumns):  # type: ignore[misc,valid-type]
    """One scoring of a submission: submission × label version × scorer version."""

    frozen_fields = ("submission", "label_version", "scorer_version", "track", "created_at")

    class Reason(models.TextChoices):
        UPLOAD = "upload", "Uploaded"
        RESCORE = "rescore", "Re-scored by a maintainer"

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="evaluations",
                                   help_text="What is scored.")
    label_version = models.ForeignKey(LabelVersion, on_delete=models.PROTECT, related_name="evaluations",
                                      help_text="The labels it is scored against.")
    scorer_version = models.CharField(max_length=32, help_text="evaluator.SCORER_VERSION that scores it.")
    track = models.CharField(max_length=10, choices=Track.choices, help_text="Copied from the submission.")
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.UPLOAD,
                              help_text="Why it was created.")
    is_initial = models.BooleanField(default=False, help_text="The evaluation made at upload: its outcome decides "
                                                              "whether the submission counts toward the quota.")
    state = models.CharField(max_length=12, choices=EvaluationState.choices, default=EvaluationState.QUEUED,
                             db_index=True, help_text="queued → [loading | pulling → running →] validating → "
                                                      "scoring → done | failed.")
    failure_kind = models.CharField(max_length=10, choices=FailureKind.choices, blank=True,
                                    help_text="Why it failed (failed evaluations never count toward the quota).")
    problems = models.JSONField(default=list, blank=True, help_text="Every problem found, in words the team can "
                                                                    "act on (file, case, what was expected).")
    result = models.JSONField(null=True, blank=True, help_text="The scorer's result document without per-case "
                                                               "values (public part).")
    per_case = models.JSONField(null=True, blank=True, help_text="The private part of the result document: "
                                                                 "per-case values, for the team and maintainers.")
    feedback = models.JSONField(null=True, blank=True, help_text="Derived once by leaderboard.feedback: the "
                                                                 "scorer's documents of the leaderboard split and "
                                                                 "of the held-out cases, and the guard's verdict.")
    intervals = models.JSONField(null=True, blank=True, help_text="Compact 95% intervals per metric: [low, high] "
                                                                  "or null (copied from the result).")
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker started it.")
    claim_token = models.UUIDField(null=True, blank=True, help_text="Identifies the worker attempt that may write "
                                                                    "the result (stale attempts cannot).")
    worker = models.CharField(max_length=200, blank=True, help_text="Worker of the latest attempt.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the active worker.")
    dispatch_count = models.PositiveIntegerField(default=0, help_text="Task messages sent for it.")
    last_dispatched_at = models.DateTimeField(null=True, blank=True, help_text="When a task message was last sent.")
    requested_by = models.CharField(max_length=150, blank=True, help_text="Who asked for it (re-scores).")
    created_at = models.DateTimeField(default=timezone.now, help_text="When it was queued first.")
    state_changed_at = models.DateTimeField(default=timezone.now, help_text="Entered its current state.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="Latest attempt started.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="Reached done or failed.")
    notified_at = models.DateTimeField(null=True, blank=True,
                                       help_text="When the submitter was e-mailed that it ended (notifications.py).")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "label_version", "scorer_version"],
                                    name="one_evaluation_per_submission_labels_scorer"),
        ]
        indexes = [models.Index(fields=["label_version", "track", "state"], name="evaluation_board")]

    def __str__(self) -> str:
        return f"evaluation {self.pk} of submission {self.submission_id} ({self.state})"

    @property
    def is_pending(self) -> bool:
        return self.state in PENDING_STATES


class EvaluationEvent(models.Model):
    """Audit trail: every state change of an evaluation, with who made it and why."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="events",
                                   help_text="The evaluation that changed.")
    at = models.DateTimeField(default=timezone.now, help_text="When.")
    from_state = models.CharField(max_length=12, blank=True, help_text="State before (empty: created).")
    to_state = models.CharField(max_length=12, help_text="State after.")
    message = models.TextField(blank=True, help_text="Why.")
    worker = models.CharField(max_length=200, blank=True, help_text="Worker or process that made the change.")

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state} at {self.at:%Y-%m-%d %H:%M:%S}"


class ContainerPolicy(models.Model):
    """The limits a container submission to one test set runs under, shown to teams before they submit.

    An empty field takes the site's default (``LEADERBOARD_CONTAINER_LIMITS``, else the
    defaults of :class:`leaderboard.containers.ContainerLimits`); see
    :func:`leaderboard.submissions.container_config.limits_for`.
    """

    testset = models.OneToOneField(TestSet, on_delete=models.CASCADE, related_name="container_policy",
                                   help_text="The benchmark these limits apply to.")
    memory_mib = models.PositiveIntegerField(null=True, blank=True, help_text="Memory = memory + swap, MiB "
                                                                              "(files in /output, /tmp count too).")
    cpus = models.FloatField(null=True, blank=True, help_text="CPU quota, in CPUs.")
    pids = models.PositiveIntegerField(null=True, blank=True, help_text="Processes and threads.")
    wall_clock_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Wall-clock limit of one run.")
    output_mib = models.PositiveIntegerField(null=True, blank=True, help_text="Bytes written to /output, MiB.")
    output_files = models.PositiveIntegerField(null=True, blank=True, help_text="Files and folders in /output.")
    tmp_mib = models.PositiveIntegerField(null=True, blank=True, help_text="Size of the /tmp tmpfs, MiB.")
    shm_mib = models.PositiveIntegerField(null=True, blank=True, help_text="Size of /dev/shm, MiB.")
    log_kib = models.PositiveIntegerField(null=True, blank=True, help_text="stdout and stderr kept for the team "
                                                                           "(each, the last part), KiB.")
    use_gpu = models.BooleanField(null=True, blank=True, help_text="Give the container the worker's GPUs "
                                                                   "(empty: the site default).")
    notes = models.TextField(blank=True, help_text="Shown to teams with the limits (e.g. the GPU model).")

    class Meta:
        verbose_name = "container policy"
        verbose_name_plural = "container policies"

    def __str__(self) -> str:
        return f"container limits of {self.testset}"


class ContainerRun(models.Model):
    """One run of a submission's container (one per attempt): what the team sees of it and what it used."""

    INTERRUPTED = "interrupted"

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="container_runs",
                                   help_text="The evaluation this run produces the output of.")
    attempt = models.PositiveIntegerField(help_text="The evaluation's attempt that started it.")
    worker = models.CharField(max_length=200, blank=True, help_text="GPU worker that ran it.")
    image_id = models.CharField(max_length=71, blank=True, help_text="The image run (sha256:…).")
    limits = models.JSONField(default=dict, help_text="The limits applied (ContainerLimits.describe()).")
    started_at = models.DateTimeField(default=timezone.now, help_text="When the worker started this run.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When the container's outcome was known.")
    reason = models.CharField(max_length=20, blank=True,
                              help_text="Why it failed (leaderboard.containers.FailureReason, or 'interrupted' "
                                        "when the worker stopped); empty when it succeeded or is running.")
    message = models.TextField(blank=True, help_text="The outcome in words, for the team.")
    exit_code = models.IntegerField(null=True, blank=True, help_text="The container's exit code.")
    stdout = models.TextField(blank=True, help_text="The last part of stdout (the policy's log limit).")
    stderr = models.TextField(blank=True, help_text="The last part of stderr (the policy's log limit).")
    logs_truncated = models.BooleanField(default=False, help_text="Older output was dropped.")
    output_bytes = models.BigIntegerField(default=0, help_text="Bytes the container wrote to /output.")
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds: load, setup, start, run, collect, "
                                                                   "cleanup, total, model, overhead.")

    class Meta:
        ordering = ["evaluation", "attempt", "pk"]

    def __str__(self) -> str:
        return f"container run of evaluation {self.evaluation_id}, attempt {self.attempt}"

    @property
    def succeeded(self) -> bool:
        return self.finished_at is not None and not self.reason

    @property
    def reason_text(self) -> str | None:
        """The failure reason in words (``None`` when it succeeded or is still running)."""
        if not self.reason:
            return None
        if self.reason == self.INTERRUPTED:
            return "interrupted (the worker stopped; not your model's fault)"
        try:
            return REASON_TEXT[FailureReason(self.reason)]
        except ValueError:
            return self.reason
