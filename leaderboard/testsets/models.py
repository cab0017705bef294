"""Test sets, their label versions, and the paper's reported results (never scores of this site)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from evaluator.worklist import WorklistParameters
from leaderboard.frozen import FrozenFieldsModel
from leaderboard.metric_defs import METRICS


class TestSet(models.Model):
    class Kind(models.TextChoices):
        BENCHMARK = "benchmark", "Benchmark (hidden labels, has a board)"
        SAMPLE = "sample", "Sample set (labels public, for trying the scorer)"

    slug = models.SlugField(max_length=80, unique=True, help_text="From the name in testset.json.")
    name = models.CharField(max_length=120, help_text="The 'name' of testset.json.")
    description = models.TextField(blank=True, help_text="Shown above the board.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.BENCHMARK,
                            help_text="Benchmarks keep their labels private; sample sets can be downloaded whole.")
    created_at = models.DateTimeField(default=timezone.now, help_text="First import.")
    worklist_parameters = models.JSONField(
        default=dict, blank=True,
        help_text="The department the triage impact simulates, e.g. {\"arrivals_per_hour\": 6, \"reading_minutes\": "
                  "16, \"readers\": 2, \"day_hours\": 12}; keys left out take the defaults (docs/metrics.md). "
                  "Applies to evaluations scored from now on.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.worklist_parameters, dict):
            raise ValidationError({"worklist_parameters": "must be a JSON object of parameter names and values"})
        try:
            WorklistParameters.from_dict(self.worklist_parameters)
        except ValueError as problems:
            raise ValidationError({"worklist_parameters": str(problems)}) from None

    def worklist(self) -> WorklistParameters:
        """The worklist simulation's parameters for this test set (defaults where none are set)."""
        return WorklistParameters.from_dict(self.worklist_parameters)

    def current_label_version(self) -> LabelVersion | None:
        return self.label_versions.filter(is_current=True).first()


class LabelVersion(FrozenFieldsModel):
    """One imported state of a test set's labels; evaluations are tagged with it for good."""

    frozen_fields = ("testset", "version", "labels_digest", "storage_prefix", "manifest", "n_cases",
                     "n_public_cases", "n_private_cases", "group_sizes", "imported_at")

    testset = models.ForeignKey(TestSet, on_delete=models.PROTECT, related_name="label_versions",
                                help_text="The test set these labels belong to.")
    version = models.CharField(max_length=64, help_text="The 'version' of testset.json.")
    labels_digest = models.CharField(max_length=64, unique=True,
                                     help_text="SHA-256 over cases.csv and every lung and lesion file (the scorer's "
                                               "identity of these labels).")
    storage_prefix = models.CharField(max_length=200, help_text="Folder of the test-set files in private storage.")
    manifest = models.JSONField(help_text="Relative path and size of every file of the test set.")
    n_cases = models.PositiveIntegerField(help_text="All cases (container track).")
    n_public_cases = models.PositiveIntegerField(help_text="Cases with public images (archive track).")
    n_private_cases = models.PositiveIntegerField(help_text="Cases only containers see.")
    group_sizes = models.JSONField(help_text="Cases per group, all cases.")
    public_images_bundle = models.CharField(max_length=200, blank=True,
                                            help_text="Private-storage name of the zip of public images (inputs "
                                                      "only), served to registered teams.")
    sample_bundle = models.CharField(max_length=200, blank=True,
                                     help_text="Public-storage name of the whole sample set as a zip (sample sets).")
    is_current = models.BooleanField(default=False, help_text="The version new submissions are scored on and the "
                                                              "board shows by default (one per test set).")
    imported_at = models.DateTimeField(default=timezone.now, help_text="When it was imported.")
    imported_by = models.CharField(max_length=150, blank=True, help_text="Who ran the import.")
    notes = models.TextField(blank=True, help_text="What changed compared with the previous version.")

    class Meta:
        ordering = ["testset", "-imported_at"]
        constraints = [
            models.UniqueConstraint(fields=["testset", "version"], name="unique_version_per_testset"),
            models.UniqueConstraint(fields=["testset"], condition=Q(is_current=True),
                                    name="one_current_label_version"),
        ]

    def __str__(self) -> str:
        return f"{self.testset.name} v{self.version} ({self.labels_digest[:12]})"

    @property
    def short_digest(self) -> str:
        return self.labels_digest[:12]


class ReportedResult(models.Model):
    """A row of the paper's Table 2 as published: mean ± std over training seeds, never re-computed here."""

    method = models.CharField(max_length=80, unique=True, help_text="Method name as in the paper.")
    source = models.CharField(max_length=200, help_text="Where the numbers come from.")
    note = models.TextField(blank=True, help_text="How to read them.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Row order in the source table.")
    roc_auc_all_mean = models.FloatField(null=True, blank=True,
                                         help_text="ROC-AUC vs all others: mean (empty = N/A).")
    roc_auc_all_std = models.FloatField(null=True, blank=True,
                                        help_text="ROC-AUC vs all others: standard deviation.")
    roc_auc_normal_mean = models.FloatField(null=True, blank=True,
                                            help_text="ROC-AUC vs normal: mean (empty = N/A).")
    roc_auc_normal_std = models.FloatField(null=True, blank=True,
                                           help_text="ROC-AUC vs normal: standard deviation.")
    roc_auc_bacterial_pneumonia_mean = models.FloatField(null=True, blank=True,
                                                         help_text="ROC-AUC vs bact. pneumonia: mean (empty = N/A).")
    roc_auc_bacterial_pneumonia_std = models.FloatField(null=True, blank=True,
                                                        help_text="ROC-AUC vs bact. pneumonia: standard deviation.")
    roc_auc_nodules_mean = models.FloatField(null=True, blank=True,
                                             help_text="ROC-AUC vs nodules: mean (empty = N/A).")
    roc_auc_nodules_std = models.FloatField(null=True, blank=True,
                                            help_text="ROC-AUC vs nodules: standard deviation.")
    spearman_rho_mean = models.FloatField(null=True, blank=True,
                                          help_text="Spearman's rho: mean (empty = N/A).")
    spearman_rho_std = models.FloatField(null=True, blank=True,
                                         help_text="Spearman's rho: standard deviation.")
    mean_dice_mean = models.FloatField(null=True, blank=True,
                                       help_text="Dice score: mean (empty = N/A).")
    mean_dice_std = models.FloatField(null=True, blank=True,
                                      help_text="Dice score: standard deviation.")

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"{self.method} (reported)"

    def values(self) -> dict[str, tuple[float | None, float | None]]:
        return {m.key: (getattr(self, f"{m.key}_mean"), getattr(self, f"{m.key}_std")) for m in METRICS}
