from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .feedback_report import team_counts
from .models import LabelVersion, Phase, ReportedResult, TestSet
from .phases import PhaseRefused, change_phase


class LabelVersionInline(admin.TabularInline):
    model = LabelVersion
    fields = readonly_fields = ("version", "labels_digest", "is_current", "n_cases", "imported_at")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TestSet)
class TestSetAdmin(admin.ModelAdmin):
    """Test sets come from `manage.py import_testset`; the description, the feedback policy and the triage impact's
    worklist parameters are edited here (also: `manage.py worklist_parameters`), the phase moves with the actions
    (as `manage.py feedback phase`)."""

    list_display = ["name", "slug", "kind", "feedback_policy", "feedback_guard", "phase", "created_at"]
    readonly_fields = ["slug", "name", "kind", "created_at", "phase", "submissions_per_team"]
    exclude = ["split_seed"]
    inlines = [LabelVersionInline]
    actions = ["to_final_phase", "close_and_score_final", "reopen"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Submissions per team (current labels)")
    def submissions_per_team(self, obj: TestSet) -> str:
        rows = team_counts(obj)
        if not rows:
            return "none"
        cells = "".join(format_html("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                                    r.team, r.submissions, r.counted, r.scored, r.withheld, r.final_choices)
                        for r in rows)
        return format_html("<table><tr><th>team</th><th>submitted</th><th>counted</th><th>scored</th>"
                           "<th>withheld</th><th>final choices</th></tr>{}</table>", mark_safe(cells))

    def _move(self, request, queryset, target: str) -> None:
        for testset in queryset:
            try:
                change_phase(testset, target)
            except PhaseRefused as refused:
                self.message_user(request, str(refused), level=messages.ERROR)
            else:
                self.message_user(request, f"{testset.slug}: {target}")

    @admin.action(description="Move to the final phase (no new submissions; teams choose finals)")
    def to_final_phase(self, request, queryset):
        self._move(request, queryset, Phase.FINAL)

    @admin.action(description="Close and score the final ranking on the held-out cases")
    def close_and_score_final(self, request, queryset):
        self._move(request, queryset, Phase.CLOSED)

    @admin.action(description="Reopen (from the final phase)")
    def reopen(self, request, queryset):
        self._move(request, queryset, Phase.OPEN)


@admin.register(LabelVersion)
class LabelVersionAdmin(admin.ModelAdmin):
    """Labels are imported, never edited; maintainers may add notes."""

    list_display = ["testset", "version", "short_digest", "is_current", "n_cases", "n_public_cases", "imported_at"]
    list_filter = ["testset", "is_current"]
    readonly_fields = [f.name for f in LabelVersion._meta.fields if f.name not in ("notes",)]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReportedResult)
class ReportedResultAdmin(admin.ModelAdmin):
    """The paper's published numbers: loaded from data/paper_table2.json, read-only."""

    list_display = ["method", "roc_auc_all_mean", "roc_auc_all_std", "spearman_rho_mean", "mean_dice_mean"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
