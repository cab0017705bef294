"""Admin: submissions' descriptive fields are editable; every score and state is read-only."""

from django.contrib import admin, messages
from django.db import models

from .models import ContainerPolicy, ContainerRun, Evaluation, EvaluationEvent, Submission
from .services import request_rescore, requeue_failed
from .states import EvaluationState


class EvaluationInline(admin.TabularInline):
    model = Evaluation
    fields = readonly_fields = ("label_version", "scorer_version", "state", "failure_kind", "roc_auc_all",
                                 "finished_at")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["pk", "method_name", "team", "track", "is_public", "is_reference", "counts_toward_quota",
                    "created_at"]
    list_filter = ["track", "is_public", "is_reference", "testset"]
    search_fields = ["method_name", "team__name"]
    readonly_fields = [f for f in Submission.frozen_fields if f != "file"] + ["stored_file", "counts_toward_quota"]
    fields = ["team", "testset", "kind", "track", "stored_file", "original_filename", "size_bytes", "sha256",
              "image_reference", "image_id", "submitted_by", "created_at", "method_name", "description", "paper_url",
              "code_url", "is_public", "is_reference", "reported_result", "counts_toward_quota"]
    inlines = [EvaluationInline]
    actions = ["rescore"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Stored file (private storage, no URL)")
    def stored_file(self, obj: Submission) -> str:
        return obj.file.name or ""

    def has_add_permission(self, request):
        return False  # uploads go through the site, the API or `manage.py submit_reference`

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Re-score on the current labels with the current scorer")
    def rescore(self, request, queryset):
        report = request_rescore(queryset.select_related("testset"), requested_by=request.user.get_username())
        self.message_user(request, f"queued {len(report.created)}, re-queued {len(report.requeued)}, skipped "
                                   f"{len(report.skipped)}", messages.SUCCESS)


class EvaluationEventInline(admin.TabularInline):
    model = EvaluationEvent
    fields = readonly_fields = ("at", "from_state", "to_state", "message", "worker")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ContainerRunInline(admin.StackedInline):
    model = ContainerRun
    fields = readonly_fields = ("attempt", "worker", "image_id", "started_at", "finished_at", "reason", "message",
                                 "exit_code", "stdout", "stderr", "logs_truncated", "output_bytes", "limits", "timings")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ContainerPolicy)
class ContainerPolicyAdmin(admin.ModelAdmin):
    """Limits of container runs per benchmark (empty = the site default); shown to teams on the upload page."""

    list_display = ["testset", "memory_mib", "cpus", "pids", "wall_clock_seconds", "output_mib", "use_gpu"]


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    """Read-only: results come only from the scorer. Failed evaluations can be re-queued."""

    list_display = ["pk", "submission", "label_version", "scorer_version", "track", "state", "failure_kind",
                    "roc_auc_all", "attempts", "state_changed_at"]
    list_filter = ["state", "track", "failure_kind", "scorer_version", "label_version"]
    search_fields = ["submission__method_name", "submission__team__name"]
    inlines = [EvaluationEventInline, ContainerRunInline]
    actions = ["requeue"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Evaluation._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Re-queue the selected failed evaluations")
    def requeue(self, request, queryset):
        failed = list(queryset.filter(state=EvaluationState.FAILED))
        for evaluation in failed:
            requeue_failed(evaluation, by=request.user.get_username())
        self.message_user(request, f"re-queued {len(failed)} failed evaluation(s)", messages.SUCCESS)
