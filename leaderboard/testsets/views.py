"""Downloads: the sample set (anyone) and a benchmark's public images (registered teams, inputs only)."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from leaderboard.accounts.access import is_maintainer, team_of
from leaderboard.storage import private_storage, public_storage

from .models import LabelVersion, TestSet

log = logging.getLogger("leaderboard.downloads")


def downloads(request: HttpRequest) -> HttpResponse:
    versions = (LabelVersion.objects.filter(is_current=True).select_related("testset")
                .order_by("testset__kind", "testset__name"))
    context = {
        "samples": [v for v in versions if v.testset.kind == TestSet.Kind.SAMPLE and v.sample_bundle],
        "benchmarks": [v for v in versions if v.testset.kind == TestSet.Kind.BENCHMARK and v.public_images_bundle],
        "may_download_images": team_of(request.user) is not None or is_maintainer(request.user),
    }
    return render(request, "testsets/downloads.html", context)


def sample_download(request: HttpRequest, pk: int) -> FileResponse:
    version = get_object_or_404(LabelVersion, pk=pk, testset__kind=TestSet.Kind.SAMPLE)
    if not version.sample_bundle:
        raise Http404
    name = f"{version.testset.slug}-v{version.version}-sample.zip"
    return FileResponse(public_storage().open(version.sample_bundle, "rb"), as_attachment=True, filename=name)


@login_required
def public_images_download(request: HttpRequest, pk: int) -> HttpResponse | FileResponse:
    """Images of the public cases (no labels), for members of a team and maintainers; every download is logged."""
    version = get_object_or_404(LabelVersion, pk=pk, testset__kind=TestSet.Kind.BENCHMARK)
    team = team_of(request.user)
    if team is None and not is_maintainer(request.user):
        return render(request, "testsets/need_team.html", status=403)
    if not version.public_images_bundle:
        raise Http404
    log.info("public images of %s downloaded by %s (team %s)", version, request.user, team)
    name = f"{version.testset.slug}-v{version.version}-public-images.zip"
    return FileResponse(private_storage().open(version.public_images_bundle, "rb"), as_attachment=True,
                        filename=name)
