"""``GET /api/leaderboard/``: the public board as JSON, or CSV with ``?format=csv`` (rendered once per board
revision, :mod:`.cached`)."""

from __future__ import annotations

import dataclasses

from django.http import Http404, HttpResponse, HttpResponseBase
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.metric_defs import METRIC_KEYS

from .boards import BoardNotFound, BoardOptions, board_for_request
from .cached import board_keys, cached
from .export import board_csv, board_document
from .triage import TRIAGE_GAIN


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not isinstance(data, dict) or "entries" not in data:  # an error document
            return str(data.get("detail", "") if isinstance(data, dict) else data)
        return board_csv(data)


BOARD_PARAMETERS = [
    OpenApiParameter("testset", str, description="benchmark slug (default: the site's benchmark)"),
    OpenApiParameter("track", str, enum=["archive", "container"], description="archive = public cases (default), "
                                                                            "container = all cases"),
    OpenApiParameter("sort", str, enum=[*METRIC_KEYS, TRIAGE_GAIN.key],
                     description="metric to rank by (default roc_auc_all); triage_gain: minutes saved per COVID-19 "
                                 "positive in the simulated worklist"),
    OpenApiParameter("order", str, enum=["desc", "asc"], description="N/A always last"),
    OpenApiParameter("rank", str, enum=["mean"], description="rank by the mean rank over the six metrics"),
    OpenApiParameter("entries", str, enum=["all"], description="all public entries instead of each team's best"),
    OpenApiParameter("labels", int, description="label version id (default: the current one)"),
    OpenApiParameter("q", str, description="only entries whose team or method contains this (ranks stay those of "
                                           "the whole board)"),
    OpenApiParameter("page", int, description="page of 50 entries, from 1 (default 1). The CSV always has every "
                                              "entry (matching q)"),
    OpenApiParameter("format", str, enum=["json", "csv"]),
]


class LeaderboardView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    renderer_classes = [JSONRenderer, CSVRenderer, BrowsableAPIRenderer]

    @extend_schema(summary="The public board", parameters=BOARD_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> HttpResponseBase:
        slug = request.query_params.get("testset")
        renderer = request.accepted_renderer
        if renderer.format not in ("json", "csv"):  # the browsable API: rendered per request
            return Response(self._document(request, slug)[0])
        complete = renderer.format == "csv"  # the export is complete: every entry, whatever page was asked for
        if not complete and request.query_params.get("page") == "0":
            return Response({"detail": "page counts from 1 (the JSON has 50 entries per page: see n_pages); the "
                                       "complete board is the CSV export, format=csv"}, status=400)
        options = BoardOptions.from_query(request.query_params)
        if complete:
            options = dataclasses.replace(options, page=1)
        variant = f"{request.build_absolute_uri('/')}|{request.accepted_media_type}"
        key, slot = board_keys(f"api-{renderer.format}", slug=slug, options=options, variant=variant)

        def render() -> tuple[str | bytes, str]:
            document, name = self._document(request, slug, options, every_entry=complete)
            return renderer.render(document, request.accepted_media_type, self.get_renderer_context()), name

        content, name = cached(key, render, shared=not options.search, slot=slot)
        media_type = renderer.media_type + (f"; charset={renderer.charset}" if renderer.charset else "")
        response = HttpResponse(content, content_type=media_type)
        if renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response

    @staticmethod
    def _document(request: Request, slug: str | None, options: BoardOptions | None = None, *,
                  every_entry: bool = False) -> tuple[dict, str]:
        try:
            board = board_for_request(request.query_params, testset_slug=slug, options=options,
                                      every_entry=every_entry)
        except BoardNotFound as missing:
            raise Http404(str(missing)) from None
        name = f"leaderboard-{board.testset.slug}-v{slugify(board.label_version.version)}-{board.options.track}"
        return board_document(board, absolute=request.build_absolute_uri), name
