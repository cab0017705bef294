"""The board as a JSON document and as CSV rows (the same numbers as the page)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.urls import reverse

from leaderboard.metric_defs import METRIC_KEYS
from leaderboard.site.csv_cells import neutralise
from leaderboard.testsets.models import ReportedResult

from .boards import PAGE_SIZE, Board, Entry


def _interval(value: list[float] | None) -> dict[str, float] | None:
    return {"low": value[0], "high": value[1]} if value else None


def reported_values(reported: ReportedResult) -> dict[str, dict[str, float | None] | None]:
    return {key: ({"mean": mean, "std": std} if mean is not None else None)
            for key, (mean, std) in reported.values().items()}


def entry_document(entry: Entry, *, absolute) -> dict[str, Any]:
    return {
        "rank": entry.rank,
        "mean_rank": entry.mean_rank,
        "evaluation_id": entry.evaluation_id,
        "submission_id": entry.submission_id,
        "team": entry.team_name,
        "method_name": entry.method_name,
        "is_reference": entry.is_reference,
        "paper_url": entry.paper_url,
        "code_url": entry.code_url,
        "submitted_at": entry.created_at.isoformat(),
        "scorer_version": entry.scorer_version,
        "metrics": entry.metrics,
        "intervals": {key: _interval(entry.intervals.get(key)) for key in METRIC_KEYS},
        "triage_gain": {"minutes": entry.triage_gain, "interval": _interval(entry.triage_interval)},
        "reported_in_paper": ({"method": entry.reported.method, "metrics": reported_values(entry.reported)}
                              if entry.reported else None),
        "entry_url": absolute(reverse("entry", args=[entry.evaluation_id])),
        "rank_statistics": _rank_statistics(entry.rank_statistics),
    }


def _rank_statistics(rank: dict[str, Any] | None) -> dict[str, Any] | None:
    """An entry's honest rank for the sorted metric (``None``: not computed yet, or not ranked on it)."""
    if rank is None:
        return None
    return {"rank_low": rank["rank_low"], "rank_high": rank["rank_high"], "rank_median": rank["rank_median"],
            "p_first": rank["p_first"], "tied_for_first": rank["tied_for_first"]}


def statistics_document(board: Board) -> dict[str, Any] | None:
    """The board-level part of the honest ranks (status, metric, sizes, robustness panel; ``previous_revision``:
    ``{"computed_at", "n_entries"}`` while they are an earlier revision's, else ``None``)."""
    stats = board.statistics
    if stats is None:
        return None
    return {"status": stats["status"], "metric": stats["metric"], "n_cases": stats["n_cases"],
            "n_resamples": stats["n_resamples"], "ranked_among": "all public entries",
            "robustness": stats["robustness"], "previous_revision": _previous(stats.get("previous"))}


def _previous(previous: dict[str, Any] | None) -> dict[str, Any] | None:
    if previous is None:
        return None
    return {"computed_at": previous["computed_at"].isoformat(), "n_entries": previous["n_entries"]}


def board_document(board: Board, *, absolute=lambda url: url) -> dict[str, Any]:
    lv, options = board.label_version, board.options
    source = board.reported[0] if board.reported else None
    return {
        "testset": {"slug": board.testset.slug, "name": board.testset.name},
        "label_version": {"id": lv.pk, "version": lv.version, "labels_digest": lv.labels_digest,
                          "imported_at": lv.imported_at.isoformat(), "is_current": lv.is_current},
        "track": options.track,
        "n_cases": board.n_cases,
        "sort": "mean_rank" if options.mean_rank else options.sort,
        "order": "desc" if options.descending else "asc",
        "entries_shown": "all" if options.all_entries else "best_per_team",
        "search": options.search, "page": options.page, "page_size": PAGE_SIZE, "n_pages": board.n_pages,
        "n_entries": board.n_matching,
        "scorer_versions": board.scorer_versions,
        "intervals": "95% stratified percentile bootstrap over cases",
        "feedback": {"policy": board.testset.feedback_policy, "phase": board.testset.phase,
                     "numbers": board.feedback_basis},
        "rank_statistics": statistics_document(board),
        "entries": [entry_document(e, absolute=absolute) for e in board.entries],
        "reported_in_paper": {
            "source": source.source if source else "",
            "note": source.note if source else "",
            "rows": [{"method": r.method, "metrics": reported_values(r)} for r in board.reported],
        },
    }


def csv_columns() -> list[str]:
    columns = ["rank", "mean_rank", "team", "method_name", "is_reference", "submitted_at", "scorer_version",
               "testset", "labels_version", "labels_digest", "track"]
    for key in METRIC_KEYS:
        columns += [key, f"{key}_ci_low", f"{key}_ci_high", f"{key}_paper_mean", f"{key}_paper_std"]
    return columns + ["triage_gain_minutes", "triage_gain_ci_low", "triage_gain_ci_high", "rank_low", "rank_high",
                      "p_first", "tied_for_first", "entry_url"]


def board_csv(document: dict[str, Any]) -> str:
    """CSV of a :func:`board_document`: one row per entry, N/A as an empty cell, text never a formula."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=csv_columns(), lineterminator="\n")
    writer.writeheader()
    for entry in document["entries"]:
        row: dict[str, Any] = {
            "rank": entry["rank"], "mean_rank": entry["mean_rank"], "team": entry["team"],
            "method_name": entry["method_name"], "is_reference": entry["is_reference"],
            "submitted_at": entry["submitted_at"], "scorer_version": entry["scorer_version"],
            "testset": document["testset"]["slug"], "labels_version": document["label_version"]["version"],
            "labels_digest": document["label_version"]["labels_digest"], "track": document["track"],
            "entry_url": entry["entry_url"],
        }
        reported = (entry["reported_in_paper"] or {}).get("metrics") or {}
        for key in METRIC_KEYS:
            interval = entry["intervals"][key] or {}
            paper = reported.get(key) or {}
            row.update({key: entry["metrics"][key], f"{key}_ci_low": interval.get("low"),
                        f"{key}_ci_high": interval.get("high"), f"{key}_paper_mean": paper.get("mean"),
                        f"{key}_paper_std": paper.get("std")})
        triage = entry["triage_gain"]
        row.update({"triage_gain_minutes": triage["minutes"],
                    "triage_gain_ci_low": (triage["interval"] or {}).get("low"),
                    "triage_gain_ci_high": (triage["interval"] or {}).get("high")})
        honest = entry.get("rank_statistics") or {}
        row.update({name: honest.get(name) for name in ("rank_low", "rank_high", "p_first", "tied_for_first")})
        writer.writerow({k: neutralise(v) for k, v in row.items()})
    return out.getvalue()
