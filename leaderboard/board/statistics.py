"""Honest ranks on the site: the worker computes :func:`evaluator.ranking.board_statistics` once per board
revision and stores it (:class:`~.models.BoardStatisticsRecord`); boards only read it, never compute it.

Conventions:

* **Entries.** Every public entry of the board (each submission's latest released evaluation, as with
  ``?entries=all``), oldest first (ties keep the earlier entry first). Rank ranges are ranks among all these
  entries. Entries whose numbers the feedback policy withholds are not on the board and not in the computation.
* **Released numbers only.** Each entry's predictions are those of the evaluation its released numbers come from
  (``Released.source_id``: under the Ladder, the submission that set the shown value), and only the cases the
  policy releases for *every* entry enter (the intersection of ``Released.cases``). The truth comes from the
  test set's truth cache (:func:`leaderboard.testsets.services.scoring_inputs`); the stored document holds
  aggregates only.
* **Revision.** :func:`revision_key` hashes what the statistics depend on: label version and digest, track,
  feedback policy, each entry with its source and released cases, and ``RANKING_VERSION``. The same key is
  never computed twice (:func:`compute` is idempotent); a board whose key has no record says so and asks the
  worker (at most once per key and ``REQUEST_SECONDS``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.core.cache import cache
from django.db import IntegrityError, transaction

from evaluator.ranking import MEAN_RANK, RANKING_VERSION, board_statistics, entry_from_documents, released_indices
from leaderboard.submissions.models import Evaluation
from leaderboard.testsets.models import LabelVersion
from leaderboard.testsets.services import scoring_inputs

from .models import BoardStatisticsRecord

if TYPE_CHECKING:
    from .boards import BoardData, BoardOptions, Entry

log = logging.getLogger(__name__)
TASK_NAME = "leaderboard.board.tasks.compute_board_statistics"
REQUEST_SECONDS = 600  # a board asks the worker again for the same revision after this long


def ordered(entries: Sequence[Entry]) -> list[Entry]:
    """The entries in the order that breaks ties: earlier entry first."""
    return sorted(entries, key=lambda e: (e.created_at, e.evaluation_id))


def revision_key(label_version: LabelVersion, track: str, entries: Sequence[Entry]) -> str:
    """The board revision the statistics are of (see the module conventions); ``entries`` in :func:`ordered`."""
    return _digest({**_basis_parts(label_version, track),
                    "entries": [[e.evaluation_id, e.source_id,
                                 None if e.released_cases is None else sorted(e.released_cases)] for e in entries]})


def basis_key(label_version: LabelVersion, track: str) -> str:
    """What every revision of one board shares: :func:`revision_key` without the entries."""
    return _digest(_basis_parts(label_version, track))


def _digest(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _basis_parts(label_version: LabelVersion, track: str) -> dict[str, Any]:
    from leaderboard.feedback import Policy

    return {"ranking_version": RANKING_VERSION, "label_version": label_version.pk,
            "labels_digest": label_version.labels_digest, "track": track,
            "policy": repr(Policy.of(label_version.testset))}


def _board_entries(label_version: LabelVersion, track: str) -> list[Entry]:
    from .boards import _entries

    return ordered(_entries(label_version, track, {}))


def compute(label_version_id: int, track: str) -> bool:
    """Compute and store the statistics of the board's current revision unless they exist (idempotent).
    Returns whether it computed them."""
    label_version = LabelVersion.objects.select_related("testset").filter(pk=label_version_id).first()
    if label_version is None:
        return False
    entries = _board_entries(label_version, track)
    if not entries:
        return False
    key = revision_key(label_version, track, entries)
    if BoardStatisticsRecord.objects.filter(key=key).exists():
        return False
    sources = {e.source_id or e.evaluation_id for e in entries}
    documents = {pk: (result or {}, per_case or {}) for pk, result, per_case in
                 Evaluation.objects.filter(pk__in=sources).values_list("pk", "result", "per_case")}
    _, truth = scoring_inputs(label_version)
    released: set[str] | None = None
    for entry in entries:
        scored = {row["case_id"] for row in documents[entry.source_id or entry.evaluation_id][1].get("per_case", [])}
        cases = scored if entry.released_cases is None else scored & entry.released_cases
        released = cases if released is None else released & cases
    case_ids = sorted(released or ())
    summaries = [truth.summaries[case_id] for case_id in case_ids]
    predictions = []
    for entry in entries:
        result, per_case = documents[entry.source_id or entry.evaluation_id]
        predictions.append(entry_from_documents(str(entry.evaluation_id), result=result, per_case=per_case,
                                                case_ids=case_ids))
    statistics = board_statistics(groups=[s.group for s in summaries], true_severity=[s.severity for s in summaries],
                                  entries=predictions, cases=released_indices(case_ids, case_ids))
    try:
        with transaction.atomic():
            BoardStatisticsRecord.objects.create(key=key, basis=basis_key(label_version, track),
                                                 version=RANKING_VERSION, label_version=label_version, track=track,
                                                 document=statistics.to_json())
    except IntegrityError:  # another worker stored the same revision meanwhile
        return False
    from .revision import record_change

    record_change("board statistics")  # cached boards pick the statistics up
    return True


def send(label_version_id: int, track: str) -> None:
    """Ask the worker to compute the statistics; a broker failure is logged, never raised."""
    try:
        current_app.send_task(TASK_NAME, args=[label_version_id, track])
    except Exception:  # noqa: BLE001 - the next board build or finished evaluation asks again
        log.exception("board statistics of label version %s (%s): could not send the task", label_version_id, track)


def _evaluation_done(sender, instance: Evaluation, **kwargs) -> None:
    from leaderboard.submissions.states import EvaluationState

    if kwargs.get("raw") or instance.state != EvaluationState.DONE:
        return
    label_version_id, track = instance.label_version_id, instance.track
    transaction.on_commit(lambda: send(label_version_id, track), robust=True)


def connect() -> None:
    from django.db.models.signals import post_save

    post_save.connect(_evaluation_done, sender=Evaluation, dispatch_uid="board-statistics-evaluation-done")


def _entry_view(rank: dict[str, Any]) -> dict[str, Any]:
    return {"rank_low": rank["rank_low"], "rank_high": rank["rank_high"], "rank_median": rank["rank_median"],
            "p_first": rank["p_first"], "tied_for_first": rank["tied_for_first"],
            "rank_counts": rank["rank_counts"]}


def stored_statistics(label_version: LabelVersion, track: str, entries: Sequence[Entry]) -> dict[str, Any] | None:
    """The stored statistics document of the board's current revision; until it is stored (the worker is asked,
    at most once per key and ``REQUEST_SECONDS``), the latest one of an earlier revision of the same board (same
    label version and digest, track, feedback policy and ranking version), marked ``_previous``: ``{"computed_at",
    "n_entries"}`` (entries added since have no rank statistics in it; entries gone since are not shown). ``None``:
    no entries, or nothing stored yet. Read once per board revision (:class:`.boards.BoardData`); ``_bytes`` is
    added: the size of the stored JSON."""
    if not entries:
        return None
    key = revision_key(label_version, track, ordered(entries))
    document = BoardStatisticsRecord.objects.filter(key=key).values_list("document", flat=True).first()
    if document is not None:
        return {**json.loads(document), "_bytes": len(document), "_previous": None}
    if cache.add(f"board-statistics-requested:{key}", 1, REQUEST_SECONDS):
        send(label_version.pk, track)
    previous = (BoardStatisticsRecord.objects.filter(basis=basis_key(label_version, track))
                .order_by("-computed_at", "-pk").values_list("document", "computed_at").first())
    if previous is None:
        return None
    document, computed_at = previous
    parsed = json.loads(document)
    ranked = {e["key"] for ranking in parsed["rankings"].values() for e in ranking["entries"]}
    return {**parsed, "_bytes": len(document),
            "_previous": {"computed_at": computed_at, "n_entries": len(ranked)}}


def metric_view(data: BoardData, options: BoardOptions) -> dict[str, Any]:
    """The board's honest ranks for the sorted metric.

    ``{"status": "ready"|"pending"|"not_ranked", "metric", "entries": {evaluation id: rank range, p_first,
    tied_for_first, rank_counts}, "not_ranked", "robustness", "n_cases", "n_resamples", "methods", "previous"}``;
    ``pending`` until the worker has stored any for this board, ``not_ranked`` for a column the statistics do not
    cover; ``methods`` names the robustness panel's winners (entries still on the board only); ``previous``: ``None``,
    or ``{"computed_at", "n_entries"}`` when they are an earlier revision's (:func:`stored_statistics`).
    """
    metric = MEAN_RANK if options.mean_rank else options.sort
    view: dict[str, Any] = {"status": "pending", "metric": metric, "entries": {}, "not_ranked": [],
                            "robustness": None, "n_cases": None, "n_resamples": None, "methods": {}, "previous": None,
                            "_bytes": 0}
    if data.statistics is None:
        return view
    ranking = data.statistics["rankings"].get(metric)
    if ranking is None:
        view["status"] = "not_ranked"
        return view
    winners = {key for keys in ((ranking["robustness"] or {}).get("winners") or {}).values() for key in keys or ()}
    named = {key: data.by_id[int(key)] for key in winners if key.isdigit() and int(key) in data.by_id}
    view.update(status="ready", entries={e["key"]: _entry_view(e) for e in ranking["entries"]},
                not_ranked=ranking["not_ranked"], robustness=ranking["robustness"], n_cases=data.statistics["n_cases"],
                n_resamples=ranking["n_valid_resamples"],
                methods={key: f"{e.method_name} ({e.team_name})" for key, e in named.items()},
                previous=data.statistics.get("_previous"),
                _bytes=data.statistics["_bytes"] // max(1, len(data.statistics["rankings"])))
    return view
