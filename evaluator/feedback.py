"""Feedback policies: what of a stored result a team or the public may see while the labels are hidden.

Pure functions; the site (:mod:`leaderboard.feedback`) applies them to stored evaluations. The building blocks:

- :func:`split_cases` — a fixed, seeded, stratified *leaderboard split* (Kaggle's public part): during the
  open phase only these cases are scored for feedback; the rest are scored for the final ranking;
- :func:`rescore` — the scorer's document of any part of the cases, recomputed from the private per-case
  values of a full document with :func:`evaluator.scoring.score_cases` (every number still comes from the
  scorer; nothing label-derived per case leaves);
- :func:`guard_reason` — withhold feedback on degenerate submissions: mostly ties, or predictions that differ
  from an earlier submission of the same team in only a few cases (single-case and small-batch probes);
- :func:`ladder` — Blum & Hardt's Ladder (ICML 2015): a team's shown value changes only when it beats the
  team's own released best by at least ``eta``, and is rounded to ``eta``.

Conventions: every metric is "higher is better"; ``None`` is N/A and never moves a ladder.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .groups import Group
from .scoring import ScoringOptions, score_cases

#: Guard defaults: withhold when more than this share of the cases share one score value …
MAX_TIE_FRACTION = 0.5
#: … or when fewer than this many cases (at least MIN_CHANGED_CASES) differ from an earlier submission.
MIN_CHANGED_FRACTION = 0.2
MIN_CHANGED_CASES = 3


def split_cases(case_groups: Mapping[str, str], *, fraction: float, seed: int) -> frozenset[str]:
    """The leaderboard split: ``round(fraction × n)`` cases of each group (at least one of a non-empty group
    and at least one left out of a group of two or more), chosen by a keyed hash of ``seed`` and the case id
    (so the choice does not depend on the order of the cases, and is fixed for a test set)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction}")
    chosen: set[str] = set()
    by_group: dict[str, list[str]] = {}
    for case_id, group in case_groups.items():
        by_group.setdefault(group, []).append(case_id)
    for members in by_group.values():
        ordered = sorted(members, key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())
        take = min(max(1, round(fraction * len(ordered))), max(1, len(ordered) - 1))
        chosen.update(ordered[:take])
    return frozenset(chosen)


def rescore(document: Mapping[str, Any], per_case: Sequence[Mapping[str, Any]], case_ids: frozenset[str] | set[str],
            *, options: ScoringOptions) -> dict[str, Any]:
    """The public part of a result document for only the cases ``case_ids`` (others ignored), from the private
    per-case values of the full document; ``n_cases``, ``group_sizes`` and ``scored_cases`` describe the part."""
    rows = [row for row in per_case if row["case_id"] in case_ids]
    inputs = document.get("inputs") or {}
    source = inputs.get("identification_score")
    column = {"covid_probability": "covid_probability", "severity": "predicted_severity",
              "mask": "predicted_severity"}.get(source or "")
    groups = [Group(row["group"]) for row in rows]
    scored = score_cases(
        groups=groups, scores=[row[column] if column else None for row in rows], score_source=source,
        severities=[row["predicted_severity"] for row in rows], true_severity=[row["true_severity"] for row in rows],
        dice=[row["dice"] for row in rows], has_masks=bool(inputs.get("masks")), options=options,
    )
    scored.pop("_curves")
    return {
        **{key: document[key] for key in ("scorer_version", "testset", "track", "inputs") if key in document},
        "n_cases": len(rows),
        "group_sizes": {g.value: sum(1 for x in groups if x is g) for g in Group},
        **scored,
    }


#: The per-case values a team sent itself (``predicted_severity`` only when sent as a column: otherwise the scorer
#: measured it against the hidden lung masks).
OWN_COLUMNS = ("covid_probability", "predicted_severity", "predicted_voxels")


def _prediction_key(row: Mapping[str, Any], columns: Sequence[str]) -> tuple:
    return tuple(None if row.get(k) is None else round(float(row[k]), 6) for k in columns)


def guard_reason(per_case: Sequence[Mapping[str, Any]], earlier: Sequence[Sequence[Mapping[str, Any]]], *,
                 columns: Sequence[str] = OWN_COLUMNS, max_tie_fraction: float = MAX_TIE_FRACTION,
                 min_changed_fraction: float = MIN_CHANGED_FRACTION,
                 min_changed_cases: int = MIN_CHANGED_CASES) -> str | None:
    """Why feedback on a submission is withheld (in words for the team), or ``None`` when it is not.

    ``per_case``: the submission's per-case values as read; only ``columns`` (values the team sent itself) and
    the case id are used. ``earlier``: the same for the team's earlier submissions on the same cases. Uses
    nothing derived from the labels or hidden masks, so the reason itself reveals nothing.
    """
    n = len(per_case)
    if not n:
        return None
    for column in (c for c in ("covid_probability", "predicted_severity") if c in columns):
        values = [row.get(column) for row in per_case]
        if all(v is None for v in values):
            continue
        largest_tie = Counter(None if v is None else round(float(v), 6) for v in values).most_common(1)[0][1]
        if largest_tie > max_tie_fraction * n:
            return (f"{largest_tie} of {n} cases share one {column} value (more than "
                    f"{max_tie_fraction:.0%}): feedback on mostly tied predictions is withheld, because such "
                    "submissions probe single labels. It still counts toward your quota.")
    needed = max(min_changed_cases, round(min_changed_fraction * n))
    mine = {row["case_id"]: _prediction_key(row, columns) for row in per_case}
    for other in earlier:
        theirs = {row["case_id"]: _prediction_key(row, columns) for row in other}
        changed = sum(1 for case_id, key in mine.items() if theirs.get(case_id) != key)
        if changed < needed:
            return (f"your predictions differ from one of your team's earlier submissions in only {changed} of "
                    f"{n} cases (fewer than {needed}): feedback on such small changes is withheld, because they "
                    "probe single labels. It still counts toward your quota.")
    return None


@dataclass(frozen=True, slots=True)
class LadderStep:
    value: float | None  # the value shown after this submission (rounded to eta); None: nothing released yet
    source: int | None  # index of the submission whose score is shown
    moved: bool  # this submission set a new shown value


def _round_to(value: float, eta: float) -> float:
    return round(round(value / eta) * eta, 10)


def ladder(values: Sequence[float | None], *, eta: float) -> list[LadderStep]:
    """Blum & Hardt's Ladder over one team's submissions in order: a submission's value is released (rounded
    to ``eta``) only when it is at least ``eta`` above the value shown so far; otherwise the shown value, and
    its source, stay as they were."""
    if eta <= 0:
        raise ValueError(f"eta must be positive, got {eta}")
    steps: list[LadderStep] = []
    shown: float | None = None
    source: int | None = None
    for index, value in enumerate(values):
        moved = value is not None and (shown is None or value >= shown + eta)
        if value is not None and moved:
            shown, source = _round_to(value, eta), index
        steps.append(LadderStep(value=shown, source=source, moved=moved))
    return steps


def round_interval(interval: Sequence[float] | None, *, eta: float) -> list[float] | None:
    """An interval widened outwards to multiples of ``eta`` (so it still covers what the scorer computed)."""
    if not interval:
        return None
    low, high = float(interval[0]), float(interval[1])
    return [round(math.floor(low / eta + 1e-9) * eta, 10), round(math.ceil(high / eta - 1e-9) * eta, 10)]


__all__ = ["MAX_TIE_FRACTION", "MIN_CHANGED_CASES", "MIN_CHANGED_FRACTION", "OWN_COLUMNS", "LadderStep",
           "guard_reason", "ladder", "rescore", "round_interval", "split_cases"]
