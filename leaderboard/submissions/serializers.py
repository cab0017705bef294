"""REST representations of submissions and evaluations (never the archive, never per-case values, never
anything derived from labels beyond the metrics)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from leaderboard.metric_defs import METRIC_KEYS

from .models import ContainerRun, Evaluation, Submission, SubmissionKind
from .states import EvaluationState


class ContainerRunSerializer(serializers.ModelSerializer):
    """What the team sees of a container run: outcome, exit code, the last part of stdout/stderr, the limits.

    Logs are included only where the context asks for them (``with_logs``: one submission's detail).
    """

    reason_text = serializers.CharField(allow_null=True)
    stdout = serializers.SerializerMethodField()
    stderr = serializers.SerializerMethodField()

    class Meta:
        model = ContainerRun
        fields = ["attempt", "started_at", "finished_at", "exit_code", "reason", "reason_text", "message", "stdout",
                  "stderr", "logs_truncated", "output_bytes", "limits", "timings"]
        read_only_fields = fields

    def get_stdout(self, run: ContainerRun) -> str | None:
        return run.stdout if self.context.get("with_logs") else None

    def get_stderr(self, run: ContainerRun) -> str | None:
        return run.stderr if self.context.get("with_logs") else None


class EvaluationSerializer(serializers.ModelSerializer):
    testset = serializers.CharField(source="label_version.testset.slug")
    label_version = serializers.CharField(source="label_version.version")
    labels_digest = serializers.CharField(source="label_version.labels_digest")
    metrics = serializers.SerializerMethodField()
    intervals = serializers.SerializerMethodField()
    entry_url = serializers.SerializerMethodField()
    counts_toward_quota = serializers.SerializerMethodField()
    container_runs = serializers.SerializerMethodField()

    class Meta:
        model = Evaluation
        fields = ["id", "testset", "label_version", "labels_digest", "scorer_version", "track", "state",
                  "failure_kind", "problems", "metrics", "intervals", "counts_toward_quota", "attempts",
                  "created_at", "state_changed_at", "finished_at", "entry_url", "container_runs"]
        read_only_fields = fields

    def get_container_runs(self, evaluation: Evaluation) -> list[dict]:
        if evaluation.submission.kind != SubmissionKind.CONTAINER:
            return []
        return list(ContainerRunSerializer(evaluation.container_runs.all(), many=True, context=self.context).data)

    def get_metrics(self, evaluation: Evaluation) -> dict[str, float | None] | None:
        if evaluation.state != EvaluationState.DONE:
            return None
        return {key: getattr(evaluation, key) for key in METRIC_KEYS}

    def get_intervals(self, evaluation: Evaluation) -> dict[str, list[float] | None] | None:
        return evaluation.intervals if evaluation.state == EvaluationState.DONE else None

    def get_entry_url(self, evaluation: Evaluation) -> str | None:
        if evaluation.state != EvaluationState.DONE:
            return None
        request = self.context.get("request")
        url = reverse("entry", args=[evaluation.pk])
        return request.build_absolute_uri(url) if request else url

    def get_counts_toward_quota(self, evaluation: Evaluation) -> bool | None:
        return evaluation.submission.counts_toward_quota if evaluation.is_initial else None


class SubmissionSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name")
    testset = serializers.CharField(source="testset.slug")
    state = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()
    evaluations = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = ["id", "team", "testset", "kind", "track", "method_name", "description", "paper_url", "code_url",
                  "is_public", "is_reference", "original_filename", "size_bytes", "sha256", "image_reference",
                  "image_id", "created_at", "counts_toward_quota", "state", "problems", "metrics", "evaluations"]
        read_only_fields = fields

    def _latest(self, submission: Submission) -> Evaluation | None:
        evaluations = list(submission.evaluations.all())  # prefetched, newest first
        return evaluations[0] if evaluations else None

    def get_state(self, submission: Submission) -> str | None:
        latest = self._latest(submission)
        return latest.state if latest else None

    def get_problems(self, submission: Submission) -> list[dict]:
        latest = self._latest(submission)
        return latest.problems if latest else []

    def get_metrics(self, submission: Submission) -> dict[str, float | None] | None:
        latest = self._latest(submission)
        if latest is None or latest.state != EvaluationState.DONE:
            return None
        return {key: getattr(latest, key) for key in METRIC_KEYS}

    def get_evaluations(self, submission: Submission) -> list[dict]:
        return list(EvaluationSerializer(submission.evaluations.all(), many=True, context=self.context).data)


class SubmissionCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SubmissionKind.choices, default=SubmissionKind.ARCHIVE,
                                   help_text="archive: a prediction archive (archive track, public cases); "
                                             "container: a model image the server runs on all cases (container "
                                             "track).")
    file = serializers.FileField(allow_empty_file=True, required=False,
                                 help_text="archive: the prediction archive (zip, tar.gz or tar) with predictions.csv "
                                           "and optionally masks/<case_id>.nii.gz. container: a `docker save` "
                                           "tarball (.tar or .tar.gz) of one linux/amd64 image with a non-root "
                                           "USER.")
    image_reference = serializers.CharField(max_length=400, required=False, allow_blank=True, default="",
                                            help_text="container only, instead of a file: "
                                                      "registry/name@sha256:<digest> in a registry this server "
                                                      "pulls from.")
    method_name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    paper_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    code_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    is_public = serializers.BooleanField(required=False, default=False,
                                         help_text="Show the entry on the public board once scored.")
    testset = serializers.SlugField(required=False, allow_blank=True, default="",
                                    help_text="Benchmark slug; default: the site's benchmark.")

    def validate(self, data: dict) -> dict:
        if data["kind"] == SubmissionKind.ARCHIVE:
            if data.get("file") is None:
                raise serializers.ValidationError({"file": "a prediction archive is required"})
            if data["image_reference"]:
                raise serializers.ValidationError({"image_reference": "only for kind=container"})
        return data


class ContainerLimitsSerializer(serializers.Serializer):
    testset = serializers.CharField()
    accepted = serializers.BooleanField(help_text="Whether this server runs container submissions at all.")
    limits = serializers.DictField(help_text="ContainerLimits.describe(): bytes, seconds, CPUs.")
    uses_gpu = serializers.BooleanField()
    rows = serializers.ListField(child=serializers.ListField(child=serializers.CharField()),
                                 help_text="The same limits in words, as the submission page shows them.")


class ProblemSerializer(serializers.Serializer):
    message = serializers.CharField()
    file = serializers.CharField(allow_null=True)
    case_id = serializers.CharField(allow_null=True)
    expected = serializers.CharField(allow_null=True)


class RejectionSerializer(serializers.Serializer):
    detail = serializers.CharField()
    problems = ProblemSerializer(many=True)


class QuotaRejectionSerializer(serializers.Serializer):
    detail = serializers.CharField()
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    next_slot_at = serializers.DateTimeField(allow_null=True)


class PerCaseSerializer(serializers.Serializer):
    evaluation = serializers.IntegerField()
    columns = serializers.ListField(child=serializers.CharField())
    per_case = serializers.ListField(child=serializers.DictField())
