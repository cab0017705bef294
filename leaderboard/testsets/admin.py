from django.contrib import admin

from .models import LabelVersion, ReportedResult, TestSet


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
    """Test sets come from `manage.py import_testset`; the description and the triage impact's worklist parameters
    are edited here (also: `manage.py worklist_parameters`)."""

    list_display = ["name", "slug", "kind", "created_at"]
    readonly_fields = ["slug", "name", "kind", "created_at"]
    inlines = [LabelVersionInline]

    def has_add_permission(self, request):
        return False


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
