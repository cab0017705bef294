"""Team pages for submissions: upload (archive or container image), list, follow the state (and a container's
exit code, failure reason and logs), per-case results, download the uploaded file."""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from evaluator.problems import Problem
from leaderboard.accounts.access import is_maintainer, team_of
from leaderboard.site.csv_cells import safe_row
from leaderboard.storage import private_storage
from leaderboard.testsets.services import default_benchmark

from . import container_config, intake
from .access import visible_submissions
from .forms import SubmissionEditForm, SubmissionForm
from .models import ContainerRun, Evaluation, EvaluationEvent
from .per_case import case_columns, case_rows
from .quota import quota_status
from .services import QuotaExceeded, SubmissionMeta, SubmissionRejected
from .states import PENDING_STATES, EvaluationState

REFRESH_SECONDS = 5


def _evaluations(*, runs: bool = False):
    queryset = Evaluation.objects.select_related("label_version__testset").defer("result", "per_case").order_by("-pk")
    if runs:
        queryset = queryset.prefetch_related(Prefetch("container_runs", queryset=ContainerRun.objects.order_by("-pk")))
    return Prefetch("evaluations", queryset=queryset)


@login_required
def submission_list(request: HttpRequest) -> HttpResponse:
    team = team_of(request.user)
    submissions = visible_submissions(request.user).select_related("team", "testset").prefetch_related(
        _evaluations()).order_by("-created_at")[:200]
    context = {"submissions": submissions, "team": team, "quota": quota_status(team) if team else None,
               "show_team": is_maintainer(request.user)}
    return render(request, "submissions/list.html", context)


def _form_options() -> dict:
    enabled = container_config.containers_enabled()
    return {"max_bytes": settings.LEADERBOARD_MAX_UPLOAD_BYTES,
            "image_max_bytes": settings.LEADERBOARD_MAX_IMAGE_UPLOAD_BYTES if enabled else None,
            "registries": settings.LEADERBOARD_CONTAINER_REGISTRIES}


def _new_page(request: HttpRequest, team, *, form: SubmissionForm, problems: list[Problem],
              code: int) -> HttpResponse:
    benchmark = default_benchmark()
    enabled = container_config.containers_enabled()
    context = {"form": form, "problems": problems, "quota": quota_status(team), "team": team,
               "container_limits": container_config.limits_for_teams(benchmark) if enabled and benchmark else None,
               "benchmark": benchmark}
    return render(request, "submissions/new.html", context, status=code)


@csrf_exempt  # the CSRF check reads the form; refusals that need no body come first (see _upload)
@login_required
def submission_new(request: HttpRequest) -> HttpResponse:
    team = team_of(request.user)
    if team is None:
        messages.info(request, "Create a team or accept an invitation before submitting.")
        return redirect("team")
    if request.method == "POST":
        try:
            intake.refuse_before_body(request, team=team)
        except SubmissionRejected as rejected:  # nothing is done, so answering needs no CSRF token
            return _new_page(request, team, form=SubmissionForm(**_form_options()), problems=rejected.problems,
                             code=rejected.status)
        except QuotaExceeded as exceeded:
            return _new_page(request, team, form=SubmissionForm(**_form_options()),
                             problems=[Problem(exceeded.status.explanation())], code=429)
        return _upload(request, team)
    return _new_page(request, team, form=SubmissionForm(**_form_options()), problems=[], code=200)


@csrf_protect
def _upload(request: HttpRequest, team) -> HttpResponse:
    """The upload after the checks from headers: CSRF-checked, parsed, handed to :mod:`.intake`."""
    form = SubmissionForm(request.POST, request.FILES, **_form_options())
    try:
        intake.refuse_cut_upload(request, kind=request.POST.get("kind") or "")
        if not form.is_valid():
            return _new_page(request, team, form=form, problems=[], code=400)
        data = form.cleaned_data
        meta = SubmissionMeta(method_name=data["method_name"], description=data["description"],
                              paper_url=data["paper_url"], code_url=data["code_url"], is_public=data["is_public"])
        submission = intake.receive_upload(team=team, user=request.user, upload=intake.UploadRequest(
            kind=data["kind"], meta=meta, testset=data["testset"] or default_benchmark(), file=data["file"],
            image_reference=data.get("image_reference", "")))
    except SubmissionRejected as rejected:
        return _new_page(request, team, form=form, problems=rejected.problems, code=rejected.status)
    except QuotaExceeded as exceeded:
        return _new_page(request, team, form=form, problems=[Problem(exceeded.status.explanation())], code=429)
    messages.success(request, "Uploaded. Scoring starts shortly; this page follows its progress.")
    return redirect("submission-detail", pk=submission.pk)


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    submission = get_object_or_404(visible_submissions(request.user).select_related("team", "testset")
                                   .prefetch_related(_evaluations(runs=True)), pk=pk)
    evaluations = list(submission.evaluations.all())
    events = EvaluationEvent.objects.filter(evaluation__submission=submission).order_by("at", "pk")
    pending = any(e.state in PENDING_STATES for e in evaluations)
    context = {"submission": submission, "evaluations": evaluations, "events": events,
               "refresh": REFRESH_SECONDS if pending else None,
               "edit_form": SubmissionEditForm(instance=submission)}
    return render(request, "submissions/detail.html", context)


@login_required
@require_POST
def submission_edit(request: HttpRequest, pk: int) -> HttpResponse:
    submission = get_object_or_404(visible_submissions(request.user), pk=pk)
    form = SubmissionEditForm(request.POST, instance=submission)
    if form.is_valid():
        form.save()
        messages.success(request, "Saved.")
    else:
        errors = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())
        messages.error(request, "Not saved: " + errors)
    return redirect("submission-detail", pk=pk)


@login_required
def submission_archive(request: HttpRequest, pk: int) -> FileResponse:
    """The team's own uploaded archive, streamed from private storage (no URL exists for it)."""
    submission = get_object_or_404(visible_submissions(request.user), pk=pk)
    if not submission.file:
        raise Http404("an image reference has no file")
    handle = private_storage().open(submission.file.name, "rb")
    return FileResponse(handle, as_attachment=True, filename=submission.original_filename)


def _own_evaluation(request: HttpRequest, pk: int) -> Evaluation:
    evaluation = (Evaluation.objects.select_related("submission__team", "label_version__testset")
                  .filter(pk=pk, state=EvaluationState.DONE, submission__in=visible_submissions(request.user))
                  .first())
    if evaluation is None:
        raise Http404("no such evaluation")
    return evaluation




@login_required
def evaluation_cases(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = _own_evaluation(request, pk)
    columns = case_columns(request.user, track=evaluation.track)
    return render(request, "submissions/cases.html", {"evaluation": evaluation, "columns": columns,
                                                      "rows": case_rows(evaluation, columns),
                                                      "full": is_maintainer(request.user)})


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def evaluation_cases_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    evaluation = _own_evaluation(request, pk)
    columns = case_columns(request.user, track=evaluation.track)
    writer = csv.writer(_Echo(), lineterminator="\n")
    rows = [columns] + [safe_row(row) for row in case_rows(evaluation, columns)]
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="evaluation-{evaluation.pk}-per-case.csv"'
    return response
