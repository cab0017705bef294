"""Building a board: which evaluations it shows and in which order (shared by the page, JSON and CSV).

A board is one label version × one track. It shows, per public submission, its latest
``done`` evaluation on those labels (the latest scorer version); nothing else is ever mixed
in. The number of database queries does not depend on the number of entries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from leaderboard.feedback import Stage, board_basis, release_many
from leaderboard.metric_defs import DEFAULT_METRIC, METRIC_BY_KEY, METRIC_KEYS
from leaderboard.submissions.access import can_view_submission
from leaderboard.submissions.models import Evaluation, Track
from leaderboard.submissions.states import EvaluationState
from leaderboard.testsets.models import FeedbackPolicy, LabelVersion, Phase, ReportedResult, TestSet
from leaderboard.testsets.services import default_benchmark

from . import ranking
from .triage import TRIAGE_GAIN

PAGE_SIZE = 50  # entries per board page (page and JSON); the CSV export has every entry
MAX_SEARCH = 100  # characters of a search kept


class BoardNotFound(Exception):
    pass


@dataclass(frozen=True)
class BoardOptions:
    """What the reader asked for: query parameters ``track``, ``sort``, ``order``, ``rank``, ``entries``,
    ``labels``, ``q`` (entries whose team or method contains it, case-insensitive; ranks are those of the whole
    board) and ``page`` (``PAGE_SIZE`` entries per page, from 1; the CSV export has every entry instead)."""

    track: str = Track.ARCHIVE
    sort: str = DEFAULT_METRIC
    descending: bool = True
    mean_rank: bool = False
    all_entries: bool = False
    label_version_id: int | None = None
    search: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, query) -> BoardOptions:
        track = query.get("track", Track.ARCHIVE)
        sort = query.get("sort", DEFAULT_METRIC)
        labels = query.get("labels", "")
        return cls(track=track if track in Track.values else Track.ARCHIVE,
                   sort=sort if sort in METRIC_BY_KEY or sort == TRIAGE_GAIN.key else DEFAULT_METRIC,
                   descending=query.get("order", "desc") != "asc",
                   mean_rank=query.get("rank") == "mean",
                   all_entries=query.get("entries") == "all",
                   label_version_id=int(labels) if labels.isdigit() else None,
                   search=" ".join(str(query.get("q", "")).split())[:MAX_SEARCH],
                   page=max(1, min(int(page), 10**6)) if (page := str(query.get("page", "1"))).isdigit() else 1)

    def query(self, **changes: Any) -> dict[str, str]:
        """Query parameters of these options with ``changes`` (defaults left out)."""
        values = {"track": self.track, "sort": self.sort, "order": "desc" if self.descending else "asc",
                  "rank": "mean" if self.mean_rank else "", "entries": "all" if self.all_entries else "",
                  "labels": str(self.label_version_id or ""), "q": self.search, "page": str(self.page)}
        values.update({k: str(v) for k, v in changes.items()})
        defaults = {"track": Track.ARCHIVE, "sort": DEFAULT_METRIC, "order": "desc", "rank": "", "entries": "",
                    "labels": "", "q": "", "page": "1"}
        return {k: v for k, v in values.items() if v != defaults[k]}


@dataclass
class Entry:
    evaluation_id: int
    submission_id: int
    team_id: int
    team_name: str
    method_name: str
    description: str
    paper_url: str
    code_url: str
    is_reference: bool
    reported: ReportedResult | None
    created_at: datetime
    scorer_version: str
    metrics: dict[str, float | None]
    intervals: dict[str, list[float] | None]
    rank: int | None = None
    mean_rank: float | None = None
    triage_gain: float | None = None  # minutes saved per COVID-19 positive (board/triage.py); not a paper metric
    triage_interval: list[float] | None = None
    source_id: int | None = None  # the evaluation whose predictions the released numbers come from (Ladder)
    released_cases: frozenset[str] | None = None  # the cases they are computed on (None: all it scored)
    rank_statistics: dict[str, Any] | None = None  # this entry's honest rank for the sorted metric (.statistics)

    def row(self) -> ranking.Row:
        return ranking.Row(key=self.evaluation_id, group=None if self.is_reference else self.team_id,
                           metrics={**self.metrics, TRIAGE_GAIN.key: self.triage_gain}, created_at=self.created_at)


@dataclass
class Board:
    testset: TestSet
    label_version: LabelVersion
    label_versions: list[LabelVersion]
    options: BoardOptions
    entries: list[Entry]
    n_public_entries: int
    reported: list[ReportedResult]
    scorer_versions: list[str] = field(default_factory=list)
    feedback_basis: str = ""  # what the numbers are under the test set's feedback policy (leaderboard.feedback)
    statistics: dict[str, Any] | None = None  # the sorted metric's honest ranks (.statistics.metric_view)
    n_matching: int = 0  # entries of the board matching the search (all of them without one), on every page
    n_pages: int = 1

    @property
    def n_cases(self) -> int:
        lv = self.label_version
        return lv.n_cases if self.options.track == Track.CONTAINER else lv.n_public_cases


def _latest_done(label_version: LabelVersion, track: str) -> QuerySet[Evaluation]:
    newer = Evaluation.objects.filter(submission=OuterRef("submission"), label_version=label_version,
                                      state=EvaluationState.DONE, pk__gt=OuterRef("pk"))
    return (Evaluation.objects
            .filter(label_version=label_version, track=track, state=EvaluationState.DONE,
                    submission__is_public=True)
            .filter(~Exists(newer)))


_ENTRY_COLUMNS = {  # Entry field: column of shown evaluations (read as plain values: no model instances)
    "evaluation_id": "id", "submission_id": "submission_id", "team_id": "submission__team_id",
    "team_name": "submission__team__name", "method_name": "submission__method_name",
    "description": "submission__description", "paper_url": "submission__paper_url",
    "code_url": "submission__code_url", "is_reference": "submission__is_reference",
    "reported_id": "submission__reported_result_id", "created_at": "submission__created_at",
    "scorer_version": "scorer_version",
}  # the metrics, intervals and triage gain come from the feedback release, never from the stored result


def _entries(label_version: LabelVersion, track: str, reported: dict[int, ReportedResult]) -> list[Entry]:
    """The board's entries with the numbers the test set's feedback policy releases (:mod:`leaderboard.feedback`):
    withheld entries are left out, and once the phase is closed only the teams' final choices are shown."""
    columns = [*_ENTRY_COLUMNS.values()]
    rows = [dict(zip(columns, values, strict=True))
            for values in _latest_done(label_version, track).order_by().values_list(*columns)]
    testset = label_version.testset
    released = release_many({row["submission__team_id"] for row in rows}, label_version_id=label_version.pk,
                            track=track, testset=testset)
    closed = testset.phase == Phase.CLOSED and testset.feedback_policy != FeedbackPolicy.EXACT
    entries = []
    for row in rows:
        shown = released.get(row["id"])
        if shown is None or not shown.shown or (closed and shown.stage != Stage.FINAL):
            continue
        fields = {name: row[column] for name, column in _ENTRY_COLUMNS.items()}
        reported_id = fields.pop("reported_id")
        entries.append(Entry(**fields, reported=reported.get(reported_id), metrics=dict(shown.metrics),
                             intervals=shown.intervals,
                             triage_gain=shown.triage_gain, triage_interval=shown.triage_interval,
                             source_id=shown.source_id, released_cases=shown.cases))
    return entries


def resolve_label_version(testset: TestSet, label_version_id: int | None) -> LabelVersion:
    versions = testset.label_versions.all()
    chosen = versions.filter(pk=label_version_id).first() if label_version_id else versions.filter(
        is_current=True).first()
    if chosen is None:
        raise BoardNotFound("no such label version of this test set")
    return chosen


@dataclass
class BoardData:
    """What every rendering of one board (test set × label version × track) shares, built once per board revision:
    the released entries (oldest first, without ranks), the label versions, the paper's rows and the stored
    honest-ranks document (``None``: not computed yet)."""

    testset: TestSet
    label_version: LabelVersion
    label_versions: list[LabelVersion]
    track: str
    entries: list[Entry]
    reported: list[ReportedResult]
    scorer_versions: list[str]
    feedback_basis: str
    statistics: dict[str, Any] | None
    by_id: dict[int, Entry] = field(init=False, repr=False)
    haystack: dict[int, str] = field(init=False, repr=False)  # casefolded "team method" for the search

    def __post_init__(self) -> None:
        self.by_id = {entry.evaluation_id: entry for entry in self.entries}
        self.haystack = {e.evaluation_id: f"{e.team_name}\n{e.method_name}".casefold() for e in self.entries}

    @property
    def cache_bytes(self) -> int:
        """A rough size for the in-process cache's bound (:mod:`.cached`)."""
        return 2048 * len(self.entries) + 4096 * len(self.reported) + (self.statistics or {}).get("_bytes", 0)


@dataclass
class BoardOrder:
    """One ranking of a board (sort, order, ranking by mean rank, best per team or every entry), built once per
    board revision: ``rows`` are ``(evaluation id, rank, mean rank)`` in the order shown; ``statistics`` the sorted
    metric's honest ranks (:func:`.statistics.metric_view`)."""

    rows: list[tuple[int, int | None, float | None]]
    statistics: dict[str, Any] | None

    @property
    def cache_bytes(self) -> int:
        return 96 * len(self.rows) + (self.statistics or {}).get("_bytes", 0)


def board_data(testset: TestSet, *, label_version_id: int | None, track: str) -> BoardData:
    """Build a board's shared part (a fixed number of queries, whatever the number of entries)."""
    from .statistics import stored_statistics  # imports this module

    label_version = resolve_label_version(testset, label_version_id)
    reported = list(ReportedResult.objects.all())
    everything = _entries(label_version, track, {row.pk: row for row in reported})
    return BoardData(testset=testset, label_version=label_version,
                     label_versions=list(testset.label_versions.order_by("-imported_at")), track=track,
                     entries=everything, reported=reported,
                     scorer_versions=sorted({entry.scorer_version for entry in everything}),
                     feedback_basis=board_basis(testset),
                     statistics=stored_statistics(label_version, track, everything))


def board_order(data: BoardData, options: BoardOptions) -> BoardOrder:
    """Rank the board's entries as ``options`` ask (their ``search`` and ``page`` are not used)."""
    from .statistics import metric_view

    all_rows = [entry.row() for entry in data.entries]
    if options.mean_rank:
        ordered = ranking.sort_by_mean_rank(all_rows, ranking.mean_ranks(all_rows, metrics=METRIC_KEYS))
    else:
        ordered = ranking.sort_rows(all_rows, metric=options.sort, descending=True)
    shown = ordered if options.all_entries else ranking.best_per_group(ordered)
    means: dict[Hashable, float] = {}
    if options.mean_rank:
        means = ranking.mean_ranks(shown, metrics=METRIC_KEYS)
        shown = ranking.sort_by_mean_rank(shown, means)
        if not options.descending:
            shown = list(reversed(shown))
        ranks = ranking.mean_rank_positions(means)
    else:
        shown = ranking.sort_rows(shown, metric=options.sort, descending=options.descending)
        ranks = ranking.quality_ranks(shown, metric=options.sort)
    statistics = metric_view(data, options) if data.entries else None
    return BoardOrder(rows=[(int(row.key), ranks.get(row.key), means.get(row.key))  # type: ignore[call-overload]
                            for row in shown], statistics=statistics)


def board_page(data: BoardData, order: BoardOrder, options: BoardOptions, *, every_entry: bool = False) -> Board:
    """The page ``options.page`` of the entries matching ``options.search`` (``every_entry``: all of them, for the
    CSV export), with the ranks and honest ranks of the whole board. Entries are copies: the cached ones keep
    no rank."""
    rows = order.rows
    if options.search:
        needle = options.search.casefold()
        rows = [row for row in rows if needle in data.haystack[row[0]]]
    n_matching, n_pages = len(rows), max(1, -(-len(rows) // PAGE_SIZE))
    if not every_entry:
        rows = rows[(options.page - 1) * PAGE_SIZE:options.page * PAGE_SIZE]
    honest = (order.statistics or {}).get("entries", {})
    entries = [dataclasses.replace(data.by_id[key], rank=rank, mean_rank=mean,
                                   rank_statistics=honest.get(str(key))) for key, rank, mean in rows]
    return Board(testset=data.testset, label_version=data.label_version, label_versions=data.label_versions,
                 options=options, entries=entries, n_public_entries=len(data.entries),
                 n_matching=n_matching,
                 n_pages=n_pages, reported=data.reported, scorer_versions=data.scorer_versions,
                 feedback_basis=data.feedback_basis, statistics=order.statistics)


def build_board(testset: TestSet, options: BoardOptions, *, every_entry: bool = False) -> Board:
    """The board uncached (tests and one-off uses; the site goes through :func:`board_for_request`)."""
    data = board_data(testset, label_version_id=options.label_version_id, track=options.track)
    return board_page(data, board_order(data, options), options, every_entry=every_entry)


def board_for_request(query=None, *, testset_slug: str | None = None, options: BoardOptions | None = None,
                      every_entry: bool = False) -> Board:
    """The benchmark board the request asks for (``testset_slug``: default, the site's benchmark), from the caches
    (:func:`cached_board`)."""
    from .cached import cached, hashed_key
    from .revision import revision

    options = options or BoardOptions.from_query(query)

    def target() -> tuple[int, int]:
        testset = (TestSet.objects.filter(slug=testset_slug, kind=TestSet.Kind.BENCHMARK).first() if testset_slug
                   else default_benchmark())
        if testset is None:
            raise BoardNotFound("no benchmark has been imported yet" if not testset_slug else "no such test set")
        return testset.pk, resolve_label_version(testset, options.label_version_id).pk

    testset_id, label_version_id = cached(hashed_key("board-target", revision(), testset_slug or "",
                                                     options.label_version_id or ""), target)
    return cached_board(testset_id=testset_id, label_version_id=label_version_id, options=options,
                        every_entry=every_entry)


def cached_board(*, testset_id: int, label_version_id: int, options: BoardOptions, every_entry: bool = False
                 ) -> Board:
    """A board from the caches (:mod:`.cached`): its shared part (:class:`BoardData`) is built once per board
    revision, each ranking (:class:`BoardOrder`) once per board revision and sort options, and every page, search
    and export slices them (:func:`board_page`). ``options.label_version_id`` is ignored for ``label_version_id``."""
    from .cached import cached, hashed_key
    from .revision import revision

    base = (revision(), testset_id, label_version_id, options.track)
    data = cached(hashed_key("board-data", *base), lambda: board_data(
        TestSet.objects.get(pk=testset_id), label_version_id=label_version_id, track=options.track))
    order = cached(hashed_key("board-order", *base, options.sort, options.descending, options.mean_rank,
                              options.all_entries), lambda: board_order(data, options))
    return board_page(data, order, options, every_entry=every_entry)


def visible_evaluation(pk: int, *, user) -> Evaluation | None:
    """The evaluation for an entry page, if ``user`` may see it (public and done, or their team's, or maintainer)."""
    evaluation = (Evaluation.objects.select_related("submission__team", "submission__reported_result",
                                                    "label_version__testset")
                  .defer("per_case").filter(pk=pk, state=EvaluationState.DONE).first())
    if evaluation is None:
        return None
    if evaluation.submission.is_public or can_view_submission(user, evaluation.submission):
        return evaluation
    return None


__all__ = ["Board", "BoardData", "BoardNotFound", "BoardOptions", "BoardOrder", "Entry", "board_data",
           "board_for_request", "board_order", "board_page", "build_board", "cached_board", "visible_evaluation"]
