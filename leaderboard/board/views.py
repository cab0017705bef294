"""Public pages: the board and an entry's page."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode

from leaderboard.metric_defs import DEFAULT_METRIC, METRIC_BY_KEY, METRICS
from leaderboard.submissions.access import can_view_submission
from leaderboard.submissions.container_config import containers_enabled
from leaderboard.submissions.models import Track

from . import entry_data
from .boards import BoardNotFound, BoardOptions, board_for_request, shown_evaluations, visible_evaluation
from .cached import board_key, cached, hashed_key
from .revision import revision


def _link(options, **changes) -> str:
    query = options.query(**changes)
    return "?" + urlencode(query) if query else "?"


def board(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """The board. Its part below the site header is rendered once per board revision and options (the same for
    everybody); for visitors without a session or pending messages, the whole page is (it is the same for all)."""
    options = BoardOptions.from_query(request.GET)
    at = revision()
    variant = "containers" if containers_enabled() else "archives-only"  # the tabs depend on it
    try:
        part = cached(board_key("page", slug=slug, options=options, at_revision=at, variant=variant),
                      lambda: _board_part(board_for_request(request.GET, testset_slug=slug)))
    except BoardNotFound as missing:
        if slug:
            raise Http404(str(missing)) from None
        return render(request, "board/empty.html", status=200)
    if not _plain_visitor(request):
        return render(request, "board/board.html", part)
    content = cached(board_key("anonymous-page", slug=slug, options=options, at_revision=at, variant=variant),
                     lambda: render(request, "board/board.html", part).content)
    response = HttpResponse(content)
    patch_vary_headers(response, ("Cookie",))
    return response


def _plain_visitor(request: HttpRequest) -> bool:
    """No session (so anonymous) and no messages waiting: the page is the same as for every such visitor."""
    return settings.SESSION_COOKIE_NAME not in request.COOKIES and "messages" not in request.COOKIES


def _board_part(board) -> dict[str, str]:
    options = board.options
    columns = []
    for metric in METRICS:
        active = not options.mean_rank and options.sort == metric.key
        next_order = ("asc" if options.descending else "desc") if active else "desc"
        columns.append({"metric": metric, "active": active,
                        "aria_sort": ("descending" if options.descending else "ascending") if active else None,
                        "link": _link(options, sort=metric.key, order=next_order, rank="")})
    containers_open = containers_enabled()
    tracks = [{"value": t.value, "label": t.label, "active": options.track == t.value,
               "link": _link(options, track=t.value)} for t in Track
              if containers_open or t != Track.CONTAINER or options.track == t.value]
    api_query = {**options.query(), "testset": board.testset.slug}
    context = {
        "board": board, "options": options, "columns": columns, "tracks": tracks, "containers_open": containers_open,
        "mean_rank_link": _link(options, rank="" if options.mean_rank else "mean", order="desc"),
        "entries_link": _link(options, entries="" if options.all_entries else "all"),
        "labels_links": [{"version": v, "link": _link(options, labels="" if v.is_current else v.pk),
                          "active": v.pk == board.label_version.pk} for v in board.label_versions],
        "csv_link": reverse("api-leaderboard") + "?" + urlencode({**api_query, "format": "csv"}),
        "json_link": reverse("api-leaderboard") + "?" + urlencode({**api_query, "format": "json"}),
        "default_metric": DEFAULT_METRIC,
        "sort_label": METRIC_BY_KEY[options.sort].label,
    }
    return {"title": f"{board.testset.name} board", "body": render_to_string("board/board_part.html", context)}


def board_link(evaluation) -> str:
    query = {}
    if evaluation.track == Track.CONTAINER:
        query["track"] = Track.CONTAINER.value
    if not evaluation.label_version.is_current:
        query["labels"] = evaluation.label_version.pk
    url = reverse("board-testset", args=[evaluation.label_version.testset.slug])
    return url + ("?" + urlencode(query) if query else "")


def _leader(evaluation) -> dict | None:
    """The leader of the entry's board on ROC-AUC (COVID-19 vs all others): ``{"pk", "method_name"}``, found
    once per board revision."""
    def find() -> dict:
        row = (shown_evaluations(evaluation.label_version, evaluation.track).filter(roc_auc_all__isnull=False)
               .order_by("-roc_auc_all", "submission__created_at").values("pk", "submission__method_name").first())
        return {"pk": row["pk"], "method_name": row["submission__method_name"]} if row else {}

    return cached(hashed_key("leader", revision(), evaluation.label_version_id, evaluation.track), find) or None


def entry(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = visible_evaluation(pk, user=request.user)
    if evaluation is None:
        raise Http404("no such entry")
    submission = evaluation.submission
    result = evaluation.result or {}
    leader = _leader(evaluation)
    comparison = entry_data.compare_with_leader(evaluation.pk, leader["pk"]) if leader else None
    intervals = evaluation.intervals or {}
    reported = submission.reported_result.values() if submission.reported_result else {}
    metrics = [{"metric": m, "value": getattr(evaluation, m.key), "interval": intervals.get(m.key),
                "reported": reported.get(m.key)} for m in METRICS]
    extras = result.get("extras") or {}
    context = {
        "evaluation": evaluation, "submission": submission, "result": result, "metrics": metrics,
        "charts": entry_data.chart_markup(evaluation), "leader": leader, "comparison": comparison,
        "confusion": extras.get("confusion"), "categories": extras.get("severity_categories"),
        "can_see_cases": can_view_submission(request.user, submission),
        "board_link": board_link(evaluation),
    }
    return render(request, "board/entry.html", context)
