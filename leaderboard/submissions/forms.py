"""Web forms for uploading and editing a submission's public details."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from leaderboard.testsets.models import TestSet

from .models import Submission, SubmissionKind
from .uploads import limit_text


class SubmissionForm(forms.Form):
    kind = forms.ChoiceField(choices=SubmissionKind.choices, initial=SubmissionKind.ARCHIVE, label="What you submit",
                             widget=forms.RadioSelect, required=False,
                             help_text="A prediction archive is scored on the public cases (archive track); a "
                                       "container image is run by the server on every case, public and private "
                                       "(container track).")
    file = forms.FileField(label="File", allow_empty_file=True, required=False,  # optional only beside a reference
                           help_text="Archive: a zip, tar.gz or tar with predictions.csv and, optionally, "
                                     "masks/<case_id>.nii.gz.")
    image_reference = forms.CharField(max_length=400, required=False, label="Image reference",
                                      help_text="Container only, instead of a file: registry/name@sha256:<digest>.")
    method_name = forms.CharField(max_length=100, label="Method name")
    description = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 4}),
                                  help_text="A few sentences: what the method does, what it was trained on.")
    paper_url = forms.URLField(max_length=500, required=False, label="Paper URL", assume_scheme="https")
    code_url = forms.URLField(max_length=500, required=False, label="Code URL", assume_scheme="https")
    is_public = forms.BooleanField(required=False, initial=False,  # as the API: private until chosen
                                   label="Show on the public board once scored")
    testset = forms.ModelChoiceField(queryset=TestSet.objects.none(), required=False, empty_label=None,
                                     to_field_name="slug", label="Benchmark")

    def __init__(self, *args, max_bytes: int, image_max_bytes: int | None = None, registries: Sequence[str] = (),
                 **kwargs) -> None:
        """``image_max_bytes``: the image tarball limit where containers are accepted (``None``: archives only);
        ``registries``: where image references may point (empty: references refused)."""
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text += f" At most {limit_text(max_bytes)}."
        if image_max_bytes is None:
            self.fields["kind"].widget = forms.HiddenInput()
            kind_field: Any = self.fields["kind"]  # a ChoiceField
            kind_field.choices = [(SubmissionKind.ARCHIVE, SubmissionKind.ARCHIVE.label)]
            del self.fields["image_reference"]
            self.fields["file"].required = True
        else:
            self.fields["kind"].required = True  # the radio buttons always send one
            self.fields["file"].help_text += (" Container: a `docker save` tarball (.tar or .tar.gz) of one "
                                              f"linux/amd64 image with a non-root USER, at most "
                                              f"{limit_text(image_max_bytes)}.")
            if registries:
                self.fields["image_reference"].help_text += f" Registries: {', '.join(registries)}."
            else:
                del self.fields["image_reference"]
                self.fields["file"].required = True
        benchmarks = TestSet.objects.filter(kind=TestSet.Kind.BENCHMARK, label_versions__is_current=True)
        testset_field: Any = self.fields["testset"]  # a ModelChoiceField
        testset_field.queryset = benchmarks
        samples = TestSet.objects.filter(kind=TestSet.Kind.SAMPLE, label_versions__is_current=True)
        if image_max_bytes is not None and samples.exists():  # container debug runs on a sample set
            testset_field.queryset = TestSet.objects.filter(pk__in=[*benchmarks.values_list("pk", flat=True),
                                                                    *samples.values_list("pk", flat=True)])
            testset_field.help_text = ("A sample set takes containers only: a debug run whose logs and "
                                                "per-case outputs you see (runs on a benchmark never show them).")
        elif benchmarks.count() <= 1:
            self.fields["testset"].widget = forms.HiddenInput()


    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["kind"] = kind = data.get("kind") or SubmissionKind.ARCHIVE
        upload, reference = data.get("file"), (data.get("image_reference") or "").strip()
        if kind == SubmissionKind.ARCHIVE and upload is None:
            self.add_error("file", "Choose the prediction archive to upload.")
        testset = data.get("testset")
        if kind == SubmissionKind.ARCHIVE and testset is not None and testset.kind == TestSet.Kind.SAMPLE:
            self.add_error("testset", "A sample set takes container debug runs only; score archives on it "
                                      "locally with `python -m evaluator` (its labels are public).")
        if kind == SubmissionKind.CONTAINER and (upload is None) == (not reference):
            self.add_error("file", "Choose an image tarball, or give an image reference (one of the two).")
        return data


class SubmissionEditForm(forms.ModelForm):
    paper_url = forms.URLField(max_length=500, required=False, label="Paper URL", assume_scheme="https")
    code_url = forms.URLField(max_length=500, required=False, label="Code URL", assume_scheme="https")

    class Meta:
        model = Submission
        fields = ["method_name", "description", "paper_url", "code_url", "is_public"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}
