"""Public pages: the board and an entry's page."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode

from leaderboard.feedback import Stage, release
from leaderboard.metric_defs import DEFAULT_METRIC, METRIC_BY_KEY, METRICS
from leaderboard.submissions.access import can_view_submission
from leaderboard.submissions.container_config import containers_enabled
from leaderboard.submissions.models import Evaluation, Track
from leaderboard.submissions.states import EvaluationState

from . import charts, entry_data, triage
from .boards import BoardNotFound, BoardOptions, board_for_request, cached_board, visible_evaluation
from .cached import board_keys, cached, revision_keys
from .revision import revision


def _link(options, **changes) -> str:
    """A link to the board with these options changed (back to the first page unless ``page`` is given)."""
    query = options.query(**{"page": 1, **changes})
    return "?" + urlencode(query) if query else "?"


def board(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """The board. Its part below the site header is rendered once per board revision and options (the same for
    everybody); for visitors without a session or pending messages, the whole page is (it is the same for all)."""
    options = BoardOptions.from_query(request.GET)
    at = revision()
    variant = "containers" if containers_enabled() else "archives-only"  # the tabs depend on it
    shared = not options.search  # a search's renderings stay in this process (any text makes a key)
    page_key, page_slot = board_keys("page", slug=slug, options=options, variant=variant, at_revision=at)

    def part(*, stale_allowed: bool) -> dict[str, str]:
        return cached(page_key, lambda: _board_part(board_for_request(testset_slug=slug, options=options)),
                      shared=shared, slot=page_slot if stale_allowed else None)

    try:
        if not _plain_visitor(request):
            return render(request, "board/board.html", part(stale_allowed=True))
        # the whole page is built from a part of the same revision (never a stale one cached under the new key)
        key, slot = board_keys("anonymous-page", slug=slug, options=options, variant=variant, at_revision=at)
        content = cached(key, lambda: render(request, "board/board.html", part(stale_allowed=False)).content,
                         shared=shared, slot=slot)
    except BoardNotFound as missing:
        if slug:
            raise Http404(str(missing)) from None
        return render(request, "board/empty.html", status=200)
    response = HttpResponse(content)
    patch_vary_headers(response, ("Cookie",))
    return response


def _plain_visitor(request: HttpRequest) -> bool:
    """No session (so anonymous) and no messages waiting: the page is the same as for every such visitor."""
    return settings.SESSION_COOKIE_NAME not in request.COOKIES and "messages" not in request.COOKIES


def _board_part(board) -> dict[str, str]:
    options = board.options
    def column(metric) -> dict:
        active = not options.mean_rank and options.sort == metric.key
        next_order = ("asc" if options.descending else "desc") if active else "desc"
        return {"metric": metric, "active": active,
                "aria_sort": ("descending" if options.descending else "ascending") if active else None,
                "link": _link(options, sort=metric.key, order=next_order, rank="")}

    columns = [column(metric) for metric in METRICS]
    containers_open = containers_enabled()
    tracks = [{"value": t.value, "label": t.label, "active": options.track == t.value,
               "link": _link(options, track=t.value)} for t in Track
              if containers_open or t != Track.CONTAINER or options.track == t.value]
    api_query = {**options.query(), "testset": board.testset.slug}
    context = {
        "board": board, "options": options, "columns": columns, "tracks": tracks, "containers_open": containers_open,
        "methods": (board.statistics or {}).get("methods", {}),  # the robustness panel's winners
        "triage_column": column(triage.TRIAGE_GAIN),
        "mean_rank_link": _link(options, rank="" if options.mean_rank else "mean", order="desc"),
        "entries_link": _link(options, entries="" if options.all_entries else "all"),
        "labels_links": [{"version": v, "link": _link(options, labels="" if v.is_current else v.pk),
                          "active": v.pk == board.label_version.pk} for v in board.label_versions],
        "csv_link": reverse("api-leaderboard") + "?" + urlencode({**api_query, "format": "csv"}),
        "json_link": reverse("api-leaderboard") + "?" + urlencode({**api_query, "format": "json"}),
        "default_metric": DEFAULT_METRIC,
        "pages": _pages(board),
        "search_hidden": {k: v for k, v in options.query().items() if k not in ("q", "page")},
        "clear_search_link": _link(options, q=""),
        "sort_label": (triage.TRIAGE_GAIN if options.sort == triage.TRIAGE_GAIN.key
                       else METRIC_BY_KEY[options.sort]).label,
    }
    return {"title": f"{board.testset.name} board", "body": render_to_string("board/board_part.html", context)}


def _pages(board) -> dict:
    """Links to the previous and next page of the board (``None`` where there is none)."""
    options, page = board.options, board.options.page
    return {"number": page, "count": board.n_pages,
            "previous": _link(options, page=page - 1) if page > 1 else None,
            "next": _link(options, page=page + 1) if 0 < page < board.n_pages else None}


def board_link(evaluation) -> str:
    query = {}
    if evaluation.track == Track.CONTAINER:
        query["track"] = Track.CONTAINER.value
    if not evaluation.label_version.is_current:
        query["labels"] = evaluation.label_version.pk
    url = reverse("board-testset", args=[evaluation.label_version.testset.slug])
    return url + ("?" + urlencode(query) if query else "")


def _entry_board(evaluation):
    """The first page of the entry's board on the released ROC-AUC (COVID-19 vs all others), from the cached
    build of that board (:func:`.boards.cached_board`: built once per board revision, through the feedback
    policy)."""
    lv = evaluation.label_version
    options = BoardOptions(track=evaluation.track, sort=DEFAULT_METRIC, label_version_id=lv.pk)
    return cached_board(testset_id=lv.testset_id, label_version_id=lv.pk, options=options)


def _leader(evaluation) -> dict | None:
    """The leader of the entry's board on the released ROC-AUC: ``{"pk", "method_name"}``."""
    top = [e for e in _entry_board(evaluation).entries if e.metrics.get("roc_auc_all") is not None]
    return {"pk": top[0].evaluation_id, "method_name": top[0].method_name} if top else None


def _rank_chart(evaluation, released) -> dict | None:
    """The entry's rank distribution ("blob") plot, when the statistics of its board are stored (only entries the
    feedback policy shows have one; ``previous``: they are an earlier revision's,
    :func:`.statistics.stored_statistics`)."""
    if not released.shown:
        return None
    board = _entry_board(evaluation)
    stats = board.statistics or {}
    mine = stats.get("entries", {}).get(str(evaluation.pk))
    if mine is None:
        return {"status": stats.get("status"), "svg": None, "previous": stats.get("previous")}
    svg = charts.rank_distribution(mine["rank_counts"], n_ranked=len(stats["entries"]), rank_low=mine["rank_low"],
                                   rank_high=mine["rank_high"], rank_median=mine["rank_median"])
    return {"status": stats.get("status"), "svg": svg, "rank": mine, "previous": stats.get("previous")}


def entry(request: HttpRequest, pk: int) -> HttpResponse:
    """An entry's page. For visitors without a session or pending messages it is the same for all, so a public
    entry's page is rendered once per evaluation, label version and board revision (which changes with a new
    result, new labels, the feedback policy, or a submission made private or withdrawn) and served from the
    caches; whether the entry is public is looked up once per revision in each process (a done evaluation stays
    done, and every change of a submission or deletion records a new revision)."""
    if _plain_visitor(request):
        at = revision()
        label_version_id = cached(revision_keys("entry-public", pk, at_revision=at)[0], lambda: (
            Evaluation.objects.filter(pk=pk, state=EvaluationState.DONE, submission__is_public=True)
            .values_list("label_version_id", flat=True).first() or 0), shared=False)  # 0: not public
        if label_version_id:
            def render_page() -> bytes:
                evaluation = visible_evaluation(pk, user=request.user)
                if evaluation is None:  # changed meanwhile
                    raise Http404("no such entry")
                return _entry_page(request, evaluation).content

            key, slot = revision_keys("entry-page", pk, label_version_id, at_revision=at)
            response = HttpResponse(cached(key, render_page, slot=slot))
            patch_vary_headers(response, ("Cookie",))
            return response
    evaluation = visible_evaluation(pk, user=request.user)
    if evaluation is None:
        raise Http404("no such entry")
    return _entry_page(request, evaluation)


def _entry_page(request: HttpRequest, evaluation) -> HttpResponse:
    submission = evaluation.submission
    released = release(evaluation, viewer=request.user)
    result = released.document or {}
    leader = _leader(evaluation)
    comparison = None
    if leader and released.shown:
        leading = visible_evaluation(leader["pk"], user=request.user)
        other = release(leading, viewer=request.user) if leading else None
        if other is not None and other.shown:
            cases = released.cases if released.cases == other.cases else None
            if released.source_id is not None and other.source_id is not None and (
                    cases is not None or (released.cases is None and other.cases is None)):
                comparison = entry_data.compare_with_leader(released.source_id, other.source_id, cases=cases)
    intervals = released.intervals or {}
    reported = submission.reported_result.values() if submission.reported_result else {}
    metrics = [{"metric": m, "value": released.metrics.get(m.key), "interval": intervals.get(m.key),
                "reported": reported.get(m.key)} for m in METRICS]
    extras = result.get("extras") or {}
    triage_result = result.get("triage") or {}
    context = {
        "evaluation": evaluation, "submission": submission, "result": result, "metrics": metrics,
        "released": released, "policy": evaluation.label_version.testset,
        "charts": entry_data.chart_markup(released), "leader": leader, "comparison": comparison,
        "confusion": extras.get("confusion"), "categories": extras.get("severity_categories"),
        "tables_held_back": released.stage == Stage.OPEN,
        "can_see_cases": can_view_submission(request.user, submission),
        "board_link": board_link(evaluation),
        "triage": triage_result, "triage_rows": triage.measure_rows(triage_result),
        "rank_chart": _rank_chart(evaluation, released),
    }
    return render(request, "board/entry.html", context)
