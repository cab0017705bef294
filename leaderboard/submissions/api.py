"""REST endpoints of submissions: upload (archive or container image), list the team's own, one submission,
its per-case results, the container limits of a benchmark."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluator.problems import Problem
from leaderboard.accounts.access import team_of
from leaderboard.testsets.services import default_benchmark

from . import container_config, intake
from .access import visible_submissions
from .models import ContainerRun, Evaluation, Submission
from .per_case import case_columns, case_rows
from .serializers import (
    ContainerLimitsSerializer,
    PerCaseSerializer,
    QuotaRejectionSerializer,
    RejectionSerializer,
    SubmissionCreateSerializer,
    SubmissionSerializer,
)
from .services import QuotaExceeded, SubmissionMeta, SubmissionRejected
from .states import EvaluationState


def _with_evaluations(queryset):
    return queryset.select_related("team", "testset").prefetch_related(
        Prefetch("evaluations", queryset=Evaluation.objects.select_related("label_version__testset", "submission")
                 .defer("result", "per_case").order_by("-pk")
                 .prefetch_related(Prefetch("container_runs", queryset=ContainerRun.objects.order_by("-pk")))))


def rejection(problems: list[Problem], *, code: int) -> Response:
    detail = f"{len(problems)} problem(s) with the submission; nothing was stored and nothing counts."
    return Response({"detail": detail, "problems": [p.to_dict() for p in problems]}, status=code)


class SubmissionListCreate(GenericAPIView):
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = SubmissionSerializer
    pagination_class = LimitOffsetPagination

    @extend_schema(summary="The team's submissions, newest first", responses=SubmissionSerializer(many=True))
    def get(self, request: Request) -> Response:
        queryset = _with_evaluations(visible_submissions(request.user)).order_by("-created_at")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(SubmissionSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        summary="Upload a prediction archive, or a container image (kind=container)",
        request={"multipart/form-data": SubmissionCreateSerializer},
        responses={201: SubmissionSerializer, 400: RejectionSerializer, 409: RejectionSerializer,
                   413: RejectionSerializer,
                   429: OpenApiResponse(QuotaRejectionSerializer, description="quota of the rolling window used")},
    )
    def post(self, request: Request) -> Response:
        """Token-authenticated uploads are refused (size, team, quota) before the body is read; the service
        (:mod:`.intake`) does the rest and this view only maps its outcome to HTTP."""
        team = team_of(request.user)
        if team is None:
            raise PermissionDenied("Only members of a team can submit; create or join a team first.")
        try:
            intake.refuse_before_body(request._request, team=team)
            serializer = SubmissionCreateSerializer(data=request.data)  # the body is read here
            data: Any = request.data  # a QueryDict (multipart) or a dict
            intake.refuse_cut_upload(request._request, kind=str(data.get("kind") or ""))
            if not serializer.is_valid():
                return rejection([Problem(f"{field}: {' '.join(str(m) for m in messages)}", expected=None)
                                  for field, messages in serializer.errors.items()], code=status.HTTP_400_BAD_REQUEST)
            data = serializer.validated_data
            testset = default_benchmark(data["testset"] or None)
            if testset is None and data["testset"]:
                return rejection([Problem(f"no benchmark called {data['testset']!r} is open for submissions")],
                                 code=status.HTTP_400_BAD_REQUEST)
            meta = SubmissionMeta(method_name=data["method_name"], description=data["description"],
                                  paper_url=data["paper_url"], code_url=data["code_url"], is_public=data["is_public"])
            submission = intake.receive_upload(team=team, user=request.user, upload=intake.UploadRequest(
                kind=data["kind"], meta=meta, testset=testset, file=data.get("file"),
                image_reference=data["image_reference"]))
        except SubmissionRejected as rejected:
            return rejection(rejected.problems, code=rejected.status)
        except QuotaExceeded as exceeded:
            quota = exceeded.status
            return Response({"detail": quota.explanation(), "limit": quota.limit, "used": quota.used,
                             "next_slot_at": quota.next_slot_at}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        fresh = _with_evaluations(Submission.objects.filter(pk=submission.pk)).get()
        return Response(SubmissionSerializer(fresh, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class SubmissionDetail(APIView):
    @extend_schema(summary="One submission: state, every problem found, metrics once done; for container "
                           "submissions each run's exit code, failure reason and the last part of stdout/stderr",
                   responses={200: SubmissionSerializer, 404: OpenApiResponse(description="not yours")})
    def get(self, request: Request, pk: int) -> Response:
        submission = get_object_or_404(_with_evaluations(visible_submissions(request.user)), pk=pk)
        return Response(SubmissionSerializer(submission, context={"request": request, "with_logs": True}).data)


class SubmissionPerCase(APIView):
    @extend_schema(summary="Per-case values of the latest done evaluation: the team sees its own predictions as "
                           "scored, maintainers also the label-derived columns",
                   responses={200: PerCaseSerializer, 404: OpenApiResponse(description="not yours, or not scored")})
    def get(self, request: Request, pk: int) -> Response:
        submission = get_object_or_404(visible_submissions(request.user), pk=pk)
        evaluation = (Evaluation.objects.filter(submission=submission, state=EvaluationState.DONE)
                      .order_by("-pk").only("pk", "per_case", "track").first())
        if evaluation is None:
            return Response({"detail": "not scored yet"}, status=status.HTTP_404_NOT_FOUND)
        columns = case_columns(request.user, track=evaluation.track)
        rows = case_rows(evaluation, columns)
        return Response({"evaluation": evaluation.pk, "columns": columns,
                         "per_case": [dict(zip(columns, row, strict=True)) for row in rows]})


class ContainerLimits(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(summary="The limits a container submission to a benchmark runs under",
                   responses={200: ContainerLimitsSerializer, 404: OpenApiResponse(description="no such benchmark")})
    def get(self, request: Request, slug: str) -> Response:
        testset = default_benchmark(slug)
        if testset is None:
            return Response({"detail": f"no benchmark called {slug!r}"}, status=status.HTTP_404_NOT_FOUND)
        return Response({"testset": testset.slug, "accepted": container_config.containers_enabled(),
                         "limits": container_config.limits_for(testset).describe(),
                         "uses_gpu": container_config.uses_gpu(testset),
                         "rows": [list(row) for row in container_config.limits_for_teams(testset)]})
