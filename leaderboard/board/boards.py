"""Building a board: which evaluations it shows and in which order (shared by the page, JSON and CSV).

A board is one label version × one track. It shows, per public submission, its latest
``done`` evaluation on those labels (the latest scorer version); nothing else is ever mixed
in. The number of database queries does not depend on the number of entries.
"""

from __future__ import annotations

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
    board) and ``page`` (``PAGE_SIZE`` entries per page, from 1; ``page=0``: every entry, as the CSV export)."""

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
                   page=min(int(page), 10**6) if (page := str(query.get("page", "1"))).isdigit() else 1)

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
    statistics: dict[str, Any] | None = None  # the sorted metric's honest ranks (.statistics.board_view)
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
    "scorer_version": "scorer_version", "intervals": "intervals",
}  # the metrics and the triage gain come from the feedback release, never from the stored result


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
        fields["intervals"] = shown.intervals
        entries.append(Entry(**fields, reported=reported.get(reported_id), metrics=dict(shown.metrics),
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


def build_board(testset: TestSet, options: BoardOptions) -> Board:
    label_version = resolve_label_version(testset, options.label_version_id)
    reported = list(ReportedResult.objects.all())
    by_id = {row.pk: row for row in reported}
    everything = _entries(label_version, options.track, by_id)
    rows: dict[Hashable, Entry] = {entry.evaluation_id: entry for entry in everything}
    all_rows = [entry.row() for entry in everything]
    if options.mean_rank:
        ordered = ranking.sort_by_mean_rank(all_rows, ranking.mean_ranks(all_rows, metrics=METRIC_KEYS))
    else:
        ordered = ranking.sort_rows(all_rows, metric=options.sort, descending=True)
    shown = ordered if options.all_entries else ranking.best_per_group(ordered)
    if options.mean_rank:
        means = ranking.mean_ranks(shown, metrics=METRIC_KEYS)
        shown = ranking.sort_by_mean_rank(shown, means)
        if not options.descending:
            shown = list(reversed(shown))
        for row in shown:
            rows[row.key].mean_rank = means[row.key]
        for key, rank in ranking.mean_rank_positions(means).items():
            rows[key].rank = rank
    else:
        shown = ranking.sort_rows(shown, metric=options.sort, descending=options.descending)
        for key, rank in ranking.quality_ranks(shown, metric=options.sort).items():
            rows[key].rank = rank
    versions = list(testset.label_versions.order_by("-imported_at"))
    from .statistics import board_view  # imports this module

    statistics = board_view(label_version, options, everything)
    if statistics is not None:
        statistics["methods"] = {str(e.evaluation_id): f"{e.method_name} ({e.team_name})" for e in everything}
        for entry in everything:
            entry.rank_statistics = statistics["entries"].get(str(entry.evaluation_id))
    ranked = [rows[row.key] for row in shown]
    if options.search:
        needle = options.search.casefold()
        ranked = [e for e in ranked if needle in e.team_name.casefold() or needle in e.method_name.casefold()]
    n_pages = max(1, -(-len(ranked) // PAGE_SIZE))
    page = ranked if options.page == 0 else ranked[(options.page - 1) * PAGE_SIZE:options.page * PAGE_SIZE]
    return Board(
        testset=testset, label_version=label_version, label_versions=versions, options=options,
        entries=page, n_public_entries=len(everything), n_matching=len(ranked), n_pages=n_pages,
        reported=reported,
        scorer_versions=sorted({entry.scorer_version for entry in everything}),
        feedback_basis=board_basis(testset), statistics=statistics,
    )


def board_for_request(query, *, testset_slug: str | None = None, options: BoardOptions | None = None) -> Board:
    testset = (TestSet.objects.filter(slug=testset_slug, kind=TestSet.Kind.BENCHMARK).first() if testset_slug
               else default_benchmark())
    if testset is None:
        raise BoardNotFound("no benchmark has been imported yet" if not testset_slug else "no such test set")
    return build_board(testset, options or BoardOptions.from_query(query))


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


__all__ = ["Board", "BoardNotFound", "BoardOptions", "Entry", "board_for_request", "build_board",
           "visible_evaluation"]
