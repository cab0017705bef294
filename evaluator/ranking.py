"""Honest ranks of a board: paired comparisons, rank intervals and ranking robustness (issue 14).

Pure statistics over the per-case values of every entry of one board (one test set); the site
stores and shows the result. Conventions:

* **Released cases only.** ``cases`` lists the indices of the cases the test set's feedback policy
  releases; nothing else is read. The result holds aggregates only, never a per-case value.
* **Shared resamples.** One set of stratified bootstrap resamples of the released cases
  (:func:`evaluator.metrics.draw_resamples`, seeded) serves every entry and every metric, so
  comparisons are paired. A resample on which a metric is undefined for the ranked entries
  (ρ with constant drawn truth) is dropped for that metric and for the mean rank.
* **Order.** Every metric is higher-is-better. Values are compared after rounding to 1e-9 and equal
  values keep the entries' given order (earlier entry first), so ranks are the positions 1…R of a
  stable sort and float noise never orders entries. The same rule orders every resample.
* **N/A.** An entry whose metric is N/A is not ranked on it (no rank, interval or comparison) and
  is listed after the ranked ones. In the mean rank over the six metrics it takes, for that
  metric, the mean of the positions below the ranked entries (N/A stays last; leaving a metric
  out never helps).
* **Comparisons.** Each ranked entry against the leader, and each against the next one down.
  AUCs: two-sided paired DeLong test on the released cases (the bootstrap difference when a subset has
  fewer than two cases of a class). ρ, Dice and the mean rank: the paired bootstrap difference
  ``d_b = value_a − value_b`` on the shared resamples, percentile interval,
  ``p = min(1, 2·(1 + min(#{d_b ≤ 0}, #{d_b ≥ 0})) / (B + 1))`` (differences rounded to 1e-9).
  Holm's correction runs over the comparisons of one metric's ranking (one board view).
* **Tied for first.** The leader and every entry whose comparison with the leader is *not*
  significant after Holm (adjusted p ≥ α, default 0.05). The band need not be contiguous.
* **Rank interval.** The 2.5 % and 97.5 % quantiles of an entry's ranks over the valid resamples,
  taken as observed ranks (lower resp. higher order statistic); ``p_first`` = share of valid
  resamples in which it ranks first.
* **Robustness** (after challengeR, Wiesenfarth et al. 2021): Kendall's τ between each resample's
  ranking and the full-data ranking (median and 2.5–97.5 % interval); the ranking under
  aggregate-then-rank, rank-then-aggregate (per-case ranks, ties averaged, then mean per-case
  rank; only where the metric is per case: Dice, and for ρ the absolute severity error
  ``|pred − true|`` per COVID-19 case) and test-then-rank (one-sided paired Wilcoxon signed-rank
  test on those per-case values, or one-sided paired DeLong for AUCs, Holm over all ordered
  pairs; score = number of entries significantly beaten). A scheme's winners are the entries
  sharing its best (rounded) score; ``winner_depends_on_scheme`` is true when no entry wins under
  every applicable scheme. The panel covers the first ``max_panel`` (100) entries of each ranking,
  ranked among themselves (its cost grows with the square of their number); ranks, rank intervals,
  comparisons and the tie band cover every entry.
* **Deterministic.** :meth:`BoardStatistics.to_json` gives byte-identical output for the same
  inputs: sorted keys, floats written with 10 significant digits, non-finite numbers as null.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata, wilcoxon

from evaluator.groups import Group
from evaluator.metrics import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    METRIC_KEYS,
    Resamples,
    delong_covariance,
    delong_differences,
    draw_resamples,
    holm_adjust,
    mean_dice,
    resampled_metrics,
    spearman_rho,
    subset_roc_aucs,
    subset_selection,
)
from evaluator.metrics._arrays import (
    float_array,
    group_array,
    optional_values,
    required_values,
)

#: Version of these statistics, stored with them: bump it whenever an output for the same board changes, so
#: that the site recomputes stored statistics (the scorer's own numbers are versioned by ``SCORER_VERSION``).
RANKING_VERSION = "1.0.0"
#: Metric values closer than this are equal (values are rounded to it before any comparison).
TIE_DECIMALS = 9
#: Family-wise significance level of the Holm-corrected comparisons.
DEFAULT_ALPHA = 0.05
#: Significant digits of the floats written by :meth:`BoardStatistics.to_json`.
JSON_DIGITS = 10
#: Key of the mean rank over :data:`METRIC_KEYS` in :attr:`BoardStatistics.rankings`.
MEAN_RANK = "mean_rank"
#: Entries covered by the robustness panel of a ranking (its first ones); τ and the tests cost O(panel²).
DEFAULT_MAX_PANEL = 100
#: Ranking schemes of the robustness panel.
SCHEMES = ("aggregate_then_rank", "rank_then_aggregate", "test_then_rank")


@dataclass(frozen=True, slots=True)
class EntryPredictions:
    """One board entry's per-case predictions, one value per case of the board (same order as ``groups``).

    ``pred_severity`` and ``case_dice``: values of non-COVID-19 cases are ignored (may be ``None``).
    A field that is ``None`` (or all missing) makes the metrics that need it N/A. ``key`` names the
    entry in the result (e.g. the evaluation's id).
    """

    key: str
    scores: ArrayLike | Sequence[float | None] | None
    pred_severity: ArrayLike | Sequence[float | None] | None = None
    case_dice: ArrayLike | Sequence[float | None] | None = None


#: Per-case column of the scorer's result document for each ``inputs.identification_score``.
_SCORE_COLUMNS = {"covid_probability": "covid_probability", "severity": "predicted_severity",
                  "mask": "predicted_severity"}


def entry_from_documents(
    key: str, *, result: Mapping[str, Any], per_case: Mapping[str, Any], case_ids: Sequence[str]
) -> EntryPredictions:
    """An entry from a scorer result document (:func:`evaluator.scoring.compute_result`), in ``case_ids`` order.

    ``result``: the document or its public part; ``per_case``: its private part (``{"per_case": [...]}``),
    as the site stores them. The identification score is the one the scorer used
    (``inputs.identification_score``); severity and Dice only when the document has them. A case the
    document lacks (e.g. a private case on the archive track) gets ``None``: pass as ``cases`` only
    cases every entry has. Raises ``ValueError`` for a document without per-case values.
    """
    rows = per_case.get("per_case")
    if not isinstance(rows, list):
        raise ValueError(f"entry {key!r}: the document has no per-case values")
    inputs = result.get("inputs") or {}
    by_case = {row["case_id"]: row for row in rows}

    def column(name: str | None) -> list[float | None] | None:
        if name is None:
            return None
        return [by_case[c].get(name) if c in by_case else None for c in case_ids]

    return EntryPredictions(
        key=key,
        scores=column(_SCORE_COLUMNS.get(inputs.get("identification_score") or "")),
        pred_severity=column("predicted_severity" if inputs.get("severity") else None),
        case_dice=column("dice" if inputs.get("masks") else None),
    )


def released_indices(case_ids: Sequence[str], released: Iterable[str]) -> list[int]:
    """Indices into ``case_ids`` of the ``released`` case ids (ascending); an unknown id raises ``ValueError``."""
    position = {case_id: index for index, case_id in enumerate(case_ids)}
    wanted = list(released)
    unknown = [case_id for case_id in wanted if case_id not in position]
    if unknown:
        raise ValueError(f"released: unknown case ids {unknown[:10]}")
    return sorted({position[case_id] for case_id in wanted})


@dataclass(frozen=True, slots=True)
class Comparison:
    """A two-sided paired comparison of entries ``a`` and ``b`` (``difference = a − b``).

    ``kind``: ``"leader"`` (b against the leader a), ``"neighbour"`` (b against the entry a just above
    it), or ``"leader+neighbour"`` (both: b is second). ``method``: ``"delong"`` or ``"bootstrap"``.
    ``significant``: Holm-adjusted p < α. For :data:`MEAN_RANK` the difference is in mean-rank units
    (negative: ``a`` ranks better).
    """

    a: str
    b: str
    kind: str
    method: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    significant: bool


@dataclass(frozen=True, slots=True)
class EntryRank:
    """One ranked entry of one ranking: full-data value and rank, and its bootstrap rank distribution.

    ``value``: the metric on the released cases (for :data:`MEAN_RANK`: the mean rank, lower is better).
    ``rank_counts``: ``(rank, number of valid resamples with that rank)`` for every rank that occurs,
    the data of a rank-distribution ("blob") plot.
    """

    key: str
    value: float
    rank: int
    rank_low: int
    rank_high: int
    rank_median: float
    p_first: float
    tied_for_first: bool
    rank_counts: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Robustness:
    """Robustness panel of one ranking (see the module conventions); ``None`` fields are not applicable.

    It covers the first ``n_entries`` entries of the ranking (all of them up to ``max_panel``).
    """

    n_entries: int
    kendall_tau_median: float | None
    kendall_tau_low: float | None
    kendall_tau_high: float | None
    schemes: dict[str, tuple[str, ...] | None]
    test_then_rank_beaten: dict[str, int] | None
    winners: dict[str, tuple[str, ...] | None]
    winner_depends_on_scheme: bool


@dataclass(frozen=True, slots=True)
class Ranking:
    """One metric's ranking (or the mean rank): ranked entries in rank order, then the N/A ones."""

    metric: str
    n_valid_resamples: int
    entries: tuple[EntryRank, ...]
    not_ranked: tuple[str, ...]
    comparisons: tuple[Comparison, ...]
    robustness: Robustness


@dataclass(frozen=True, slots=True)
class BoardStatistics:
    """Everything issue 14 shows for one board: a :class:`Ranking` per metric and for the mean rank."""

    version: str
    n_cases: int
    group_sizes: dict[str, int]
    n_resamples: int
    seed: int
    confidence: float
    alpha: float
    rankings: dict[str, Ranking]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: tuples as lists, floats to :data:`JSON_DIGITS` significant digits, NaN/inf as None."""
        return _plain({name: getattr(self, name) for name in self.__slots__})

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, compact): the same board always gives the same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _plain(value: Any) -> Any:
    if isinstance(value, bool | str | None | int) and not isinstance(value, np.generic):
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        return float(f"{number:.{JSON_DIGITS}g}") if np.isfinite(number) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "__slots__"):
        return {name: _plain(getattr(value, name)) for name in value.__slots__}
    raise TypeError(f"cannot serialise {type(value).__name__}")


# --- ordering -------------------------------------------------------------------------------------------------------


def stable_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1…R (1 = highest) of each row of ``values`` (shape ``(R,)`` or ``(B, R)``), rounded to 1e-9, ties stable.

    Equal rounded values keep column order (the earlier entry ranks higher); NaN is not allowed.
    """
    matrix = np.atleast_2d(np.asarray(values, dtype=float))
    order = np.argsort(-np.round(matrix, TIE_DECIMALS), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, matrix.shape[1] + 1)[None, :], axis=1)
    return ranks if np.ndim(values) > 1 else ranks[0]


def kendall_tau_rows(rank_rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Kendall's τ between each row of ``rank_rows`` ``(B, R)`` and ``reference`` ``(R,)`` (permutations: no ties)."""
    rows = np.asarray(rank_rows)
    count = rows.shape[1]
    if count < 2:
        return np.full(rows.shape[0], np.nan)
    first, second = np.triu_indices(count, 1)
    reference_sign = np.sign(reference[first] - reference[second]).astype(np.int8)
    total = np.zeros(rows.shape[0], dtype=np.int64)
    for start in range(0, first.size, 20_000):  # bounded memory for large boards
        part = slice(start, start + 20_000)
        signs = np.sign(rows[:, first[part]].astype(np.int32) - rows[:, second[part]]).astype(np.int8)
        total += (signs * reference_sign[part]).sum(axis=1, dtype=np.int64)
    return total / first.size


def _winners(keys: Sequence[str], score: np.ndarray, *, higher_is_better: bool) -> tuple[str, ...]:
    rounded = np.round(score, TIE_DECIMALS)
    best = rounded.max() if higher_is_better else rounded.min()
    return tuple(key for key, value in zip(keys, rounded, strict=True) if value == best)


def _order(keys: Sequence[str], score: np.ndarray, *, higher_is_better: bool) -> tuple[str, ...]:
    ranks = stable_ranks(score if higher_is_better else -np.asarray(score, dtype=float))
    return tuple(keys[i] for i in np.argsort(ranks))


# --- comparisons ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Test:
    difference: float
    ci_low: float
    ci_high: float
    p_value: float


def _bootstrap_test(difference: float, drawn: np.ndarray, confidence: float) -> _Test:
    """Paired bootstrap difference: percentile interval and the two-sided p of the module docstring."""
    rounded = np.round(drawn, TIE_DECIMALS)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(drawn, [tail, 100.0 - tail])
    extreme = min(int((rounded <= 0).sum()), int((rounded >= 0).sum()))
    p_value = min(1.0, 2.0 * (1 + extreme) / (drawn.size + 1))
    return _Test(difference, float(low), float(high), p_value)


def _pairs(order: Sequence[int]) -> list[tuple[int, int, str]]:
    """(a, b, kind) for the leader against every other entry and each entry against the next one down."""
    pairs: dict[tuple[int, int], str] = {}
    leader = order[0]
    for other in order[1:]:
        pairs[(leader, other)] = "leader"
    for above, below in pairwise(order):
        pairs[(above, below)] = "leader+neighbour" if (above, below) in pairs else "neighbour"
    return [(a, b, kind) for (a, b), kind in pairs.items()]


# --- one ranking ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Released:
    """The validated inputs on the released cases (private)."""

    keys: tuple[str, ...]
    groups: np.ndarray
    is_covid: np.ndarray
    truth: np.ndarray | None  # per COVID-19 case
    scores: list[np.ndarray | None]  # per case
    severity: list[np.ndarray | None]  # per COVID-19 case
    dice: list[np.ndarray | None]  # per COVID-19 case


def _given(values: np.ndarray | None) -> np.ndarray:
    """The values of an entry ranked on a metric (never ``None`` there)."""
    if values is None:
        raise AssertionError("a ranked entry lacks the values of its metric")
    return values


def _full_values(released: _Released, index: int) -> dict[str, float | None]:
    values: dict[str, float | None] = {
        f"roc_auc_{subset}": auc for subset, auc in subset_roc_aucs(released.groups, released.scores[index]).items()
    }
    severity = released.severity[index]
    truth = released.truth
    values["spearman_rho"] = None if severity is None or truth is None else spearman_rho(truth, severity)
    dice = released.dice[index]
    values["mean_dice"] = None if dice is None else mean_dice(dice)
    return values


def _per_case(released: _Released, metric: str, ranked: Sequence[int]) -> tuple[np.ndarray, bool] | None:
    """Per-case values ``(cases, R)`` of a per-case metric and whether higher is better; ``None`` for AUCs."""
    if metric == "mean_dice":
        return np.column_stack([_given(released.dice[i]) for i in ranked]), True
    if metric == "spearman_rho" and released.truth is not None:
        return np.column_stack([np.abs(_given(released.severity[i]) - released.truth) for i in ranked]), False
    return None


def _test_then_rank(
    released: _Released, metric: str, ranked: Sequence[int], per_case: tuple[np.ndarray, bool] | None, alpha: float
) -> np.ndarray | None:
    """Number of entries each ranked entry beats significantly (one-sided paired tests, Holm over ordered pairs)."""
    count = len(ranked)
    first, second = np.triu_indices(count, 1)
    if first.size == 0:
        return np.zeros(count, dtype=int)
    if metric.startswith("roc_auc_"):
        selected = subset_selection(released.groups, metric.removeprefix("roc_auc_"))
        labels = released.is_covid[selected]
        if min(labels.sum(), (~labels).sum()) < 2:
            return None
        matrix = np.vstack([_given(released.scores[i])[selected] for i in ranked])
        z, _ = delong_differences(*delong_covariance(labels, matrix), first, second)
        forward, backward = norm.sf(z), norm.sf(-z)
    elif per_case is not None:
        values, higher_is_better = per_case
        differences = values[:, first] - values[:, second]  # (cases, pairs)
        better, worse = ("greater", "less") if higher_is_better else ("less", "greater")
        with np.errstate(divide="ignore", invalid="ignore"):
            forward = wilcoxon(differences, axis=0, alternative=better, method="approx").pvalue
            backward = wilcoxon(differences, axis=0, alternative=worse, method="approx").pvalue
    else:
        return None
    p_values = np.nan_to_num(np.concatenate([forward, backward]), nan=1.0)  # all-zero differences: no evidence
    significant = holm_adjust(np.clip(p_values, 0.0, 1.0)) < alpha
    beaten = np.zeros(count, dtype=int)
    np.add.at(beaten, np.concatenate([first, second]), significant.astype(int))
    return beaten


def _ranking(
    *,
    metric: str,
    keys: Sequence[str],
    values: np.ndarray,
    drawn: np.ndarray,
    not_ranked: Sequence[str],
    confidence: float,
    alpha: float,
    delong: tuple[np.ndarray, np.ndarray] | None,
    panel_tests: Callable[[list[int]], tuple[tuple[np.ndarray, bool] | None, np.ndarray | None]] | None,
    max_panel: int,
    higher_is_better: bool = True,
) -> Ranking:
    """The ranking of ``keys`` by ``values`` (full data) and ``drawn`` (``(B, R)`` on the valid resamples).

    ``delong``: ``(AUCs, covariance)`` of :func:`delong_covariance` for the entries (AUC metrics), else ``None``
    (paired bootstrap differences). ``panel_tests(panel)``: per-case values (columns in ``panel`` order) and
    test-then-rank scores of the entries ``panel`` (indices into ``keys``, ascending): the first ``max_panel`` of
    the ranking.
    """
    sign = 1.0 if higher_is_better else -1.0
    rank = stable_ranks(sign * values)
    order = [int(i) for i in np.argsort(rank)]
    n_valid = drawn.shape[0]
    boot = stable_ranks(sign * drawn) if n_valid else np.empty((0, len(keys)), dtype=int)

    pairs = _pairs(order)
    tests: list[_Test] = []
    if delong is not None and pairs:
        z, variance = delong_differences(*delong, [a for a, _, _ in pairs], [b for _, b, _ in pairs])
        half = norm.ppf(0.5 + confidence / 2.0) * np.sqrt(variance)
        for (a, b, _), z_ab, half_ab in zip(pairs, z, half, strict=True):
            difference = float(values[a] - values[b])
            tests.append(_Test(difference, difference - float(half_ab), difference + float(half_ab),
                               float(2.0 * norm.sf(abs(z_ab)))))
    else:
        for a, b, _ in pairs:
            difference = float(values[a] - values[b])
            tests.append(_bootstrap_test(difference, drawn[:, a] - drawn[:, b], confidence) if n_valid
                         else _Test(difference, float("nan"), float("nan"), 1.0))
    adjusted = holm_adjust([t.p_value for t in tests])
    comparisons = tuple(
        Comparison(a=keys[a], b=keys[b], kind=kind, method="delong" if delong is not None else "bootstrap",
                   difference=t.difference, ci_low=t.ci_low, ci_high=t.ci_high, p_value=t.p_value,
                   p_holm=float(p), significant=bool(p < alpha))
        for (a, b, kind), t, p in zip(pairs, tests, adjusted, strict=True)
    )
    separated = {c.b for c in comparisons if c.kind != "neighbour" and c.significant}

    entries = []
    for i in order:
        ranks = boot[:, i]
        if n_valid:
            low = int(np.percentile(ranks, 100.0 * (1.0 - confidence) / 2.0, method="lower"))
            high = int(np.percentile(ranks, 100.0 * (1.0 + confidence) / 2.0, method="higher"))
            observed, counts = np.unique(ranks, return_counts=True)
            blob = tuple((int(r), int(c)) for r, c in zip(observed, counts, strict=True))
            median, p_first = float(np.median(ranks)), float(np.mean(ranks == 1))
        else:
            low = high = int(rank[i])
            blob, median, p_first = (), float(rank[i]), float(rank[i] == 1)
        entries.append(EntryRank(key=keys[i], value=float(values[i]), rank=int(rank[i]), rank_low=low,
                                 rank_high=high, rank_median=median, p_first=p_first,
                                 tied_for_first=keys[i] not in separated, rank_counts=blob))

    panel = sorted(order[:max_panel])  # board order, so that ties in every scheme keep the earlier entry first
    panel_keys = [keys[i] for i in panel]
    tau = (kendall_tau_rows(stable_ranks(sign * drawn[:, panel]), stable_ranks(sign * values[panel]))
           if n_valid else np.empty(0))
    tau = tau[np.isfinite(tau)]
    tail = 100.0 * (1.0 - confidence) / 2.0
    tau_low, tau_median, tau_high = (
        (float(v) for v in np.percentile(tau, [tail, 50.0, 100.0 - tail])) if tau.size else (None, None, None)
    )
    schemes: dict[str, tuple[str, ...] | None] = {
        "aggregate_then_rank": tuple(keys[i] for i in order[:max_panel]), "rank_then_aggregate": None,
        "test_then_rank": None,
    }
    winners: dict[str, tuple[str, ...] | None] = {
        "aggregate_then_rank": _winners(panel_keys, values[panel], higher_is_better=higher_is_better),
        "rank_then_aggregate": None, "test_then_rank": None,
    }
    per_case, test_then_rank = panel_tests(panel) if panel_tests is not None else (None, None)
    if per_case is not None:
        case_values, case_higher = per_case
        mean_case_rank = rankdata(-case_values if case_higher else case_values, axis=1).mean(axis=0)
        schemes["rank_then_aggregate"] = _order(panel_keys, mean_case_rank, higher_is_better=False)
        winners["rank_then_aggregate"] = _winners(panel_keys, mean_case_rank, higher_is_better=False)
    beaten = None
    if test_then_rank is not None:
        schemes["test_then_rank"] = _order(panel_keys, test_then_rank.astype(float), higher_is_better=True)
        winners["test_then_rank"] = _winners(panel_keys, test_then_rank.astype(float), higher_is_better=True)
        beaten = {key: int(count) for key, count in zip(panel_keys, test_then_rank, strict=True)}
    applicable = [set(w) for w in winners.values() if w is not None]
    robustness = Robustness(
        n_entries=len(panel), kendall_tau_median=tau_median, kendall_tau_low=tau_low, kendall_tau_high=tau_high,
        schemes=schemes,
        test_then_rank_beaten=beaten, winners=winners,
        winner_depends_on_scheme=bool(applicable) and not set.intersection(*applicable),
    )
    return Ranking(metric=metric, n_valid_resamples=n_valid, entries=tuple(entries), not_ranked=tuple(not_ranked),
                   comparisons=comparisons, robustness=robustness)


def _empty_ranking(metric: str, not_ranked: Sequence[str]) -> Ranking:
    robustness = Robustness(0, None, None, None, dict.fromkeys(SCHEMES), None, dict.fromkeys(SCHEMES), False)
    return Ranking(metric=metric, n_valid_resamples=0, entries=(), not_ranked=tuple(not_ranked), comparisons=(),
                   robustness=robustness)


# --- the board ------------------------------------------------------------------------------------------------------


def _release(
    groups: Iterable[Group | str], true_severity: ArrayLike | Sequence[float | None],
    entries: Sequence[EntryPredictions],
    cases: Sequence[int],
) -> _Released:
    """Validate every input and keep only the released cases; one ``ValueError`` lists every problem."""
    group_values = group_array(groups)
    n_cases = group_values.size
    problems: list[str] = []
    index = np.asarray(cases)
    if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"cases: expected a non-empty sequence of case indices, got {cases!r:.80}")
    outside = index[(index < 0) | (index >= n_cases)]
    if outside.size:
        problems.append(f"cases: indices outside 0…{n_cases - 1}: {outside[:10].tolist()}")
    if np.unique(index).size != index.size:
        problems.append("cases: an index occurs more than once")
    keys = [entry.key for entry in entries]
    if len(set(keys)) != len(keys) or not all(isinstance(key, str) and key for key in keys):
        problems.append("entries: keys must be distinct non-empty strings")
    if problems:
        raise ValueError("; ".join(problems))
    index = np.sort(index)
    released_groups = group_values[index]
    is_covid = released_groups == Group.COVID

    def per_case(values: Any, name: str, *, covid_only: bool) -> np.ndarray | None:
        if values is None:
            return None
        array = float_array(values, name=name)
        if array.size != n_cases:
            raise ValueError(f"{name}: expected one value per case ({n_cases}), got {array.size}")
        if covid_only:
            return optional_values(array[index][is_covid], name=f"{name} (released COVID-19 cases)")
        return optional_values(array[index], name=f"{name} (released cases)")

    truth = None
    try:
        raw_truth = float_array(true_severity, name="true_severity")
        if raw_truth.size != n_cases:
            raise ValueError(f"true_severity: expected one value per case ({n_cases}), got {raw_truth.size}")
        truth = required_values(raw_truth[index][is_covid], name="true_severity (released COVID-19 cases)")
    except ValueError as error:
        problems.append(str(error))
    scores: list[np.ndarray | None] = []
    severity: list[np.ndarray | None] = []
    dice: list[np.ndarray | None] = []
    for entry in entries:
        for name, field, covid_only, target in (("scores", entry.scores, False, scores),
                                                ("pred_severity", entry.pred_severity, True, severity),
                                                ("case_dice", entry.case_dice, True, dice)):
            try:
                target.append(per_case(field, f"entry {entry.key!r}: {name}", covid_only=covid_only))
            except (TypeError, ValueError) as error:
                problems.append(str(error))
                target.append(None)
    if problems:
        raise ValueError("invalid board input: " + "; ".join(problems))
    return _Released(keys=tuple(keys), groups=released_groups, is_covid=is_covid, truth=truth, scores=scores,
                     severity=severity, dice=dice)


def _mean_rank_positions(values: list[float | None], drawn: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """Per-metric positions of all entries (full data first row, then the resamples ``rows``), N/A tied last."""
    count = len(values)
    present = np.array([v is not None for v in values])
    n_present = int(present.sum())
    positions = np.full((1 + rows.size, count), n_present + (count - n_present + 1) / 2.0)
    if n_present:
        full = np.array([v for v in values if v is not None])[None, :]
        matrix = full if drawn is None else np.vstack([full, drawn[rows]])
        positions[:, present] = stable_ranks(matrix)
    return positions


def board_statistics(
    *,
    groups: Iterable[Group | str],
    true_severity: ArrayLike | Sequence[float | None],
    entries: Sequence[EntryPredictions],
    cases: Sequence[int],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    alpha: float = DEFAULT_ALPHA,
    max_panel: int = DEFAULT_MAX_PANEL,
) -> BoardStatistics:
    """Rankings of one board (keys: :data:`METRIC_KEYS` and :data:`MEAN_RANK`), on the released ``cases`` only.

    ``groups`` and ``true_severity`` (non-COVID-19 values ignored) have one value per case of the test
    set; each entry's arrays too. ``entries`` are in board order: it breaks ties (earlier first).
    ``cases``: indices of the cases the feedback policy releases (required; pass every index to use all).
    ``max_panel``: the robustness panel (Kendall's τ, the three schemes) covers the first ``max_panel``
    entries of each ranking; its cost grows with the square of that number.
    """
    if isinstance(max_panel, bool) or not isinstance(max_panel, int) or max_panel < 1:
        raise ValueError(f"max_panel must be a positive integer, got {max_panel!r}")
    if not 0 < confidence < 1 or not 0 < alpha < 1:
        raise ValueError(f"confidence and alpha must lie strictly between 0 and 1, got {confidence} and {alpha}")
    released = _release(groups, true_severity, entries, cases)
    resamples: Resamples = draw_resamples(released.groups, n_resamples=n_resamples, seed=seed)
    keys = released.keys
    full = [_full_values(released, i) for i in range(len(keys))]
    drawn = [
        resampled_metrics(resamples, scores=released.scores[i], true_severity=released.truth,
                          pred_severity=released.severity[i], case_dice=released.dice[i])
        for i in range(len(keys))
    ]
    rankings: dict[str, Ranking] = {}
    matrices: dict[str, np.ndarray | None] = {}
    valid_rows = np.ones(resamples.n_resamples, dtype=bool)
    for metric in METRIC_KEYS:
        ranked = [i for i in range(len(keys)) if full[i][metric] is not None]
        not_ranked = [keys[i] for i in range(len(keys)) if full[i][metric] is None]
        if not ranked:
            rankings[metric], matrices[metric] = _empty_ranking(metric, not_ranked), None
            continue
        matrix = np.column_stack([_given(drawn[i][metric]) for i in ranked])  # (B, R)
        matrices[metric] = matrix
        valid = np.isfinite(matrix).all(axis=1)
        valid_rows &= valid
        delong = None
        if metric.startswith("roc_auc_"):
            selected = subset_selection(released.groups, metric.removeprefix("roc_auc_"))
            labels = released.is_covid[selected]
            if min(labels.sum(), (~labels).sum()) >= 2 and len(ranked) > 1:
                score_matrix = np.vstack([_given(released.scores[i])[selected] for i in ranked])
                delong = delong_covariance(labels, score_matrix)  # (AUCs, covariance)

        def panel_tests(panel: list[int], metric: str = metric, ranked: list[int] = ranked
                        ) -> tuple[tuple[np.ndarray, bool] | None, np.ndarray | None]:
            entries_in_panel = [ranked[i] for i in panel]
            per_case = _per_case(released, metric, entries_in_panel)
            return per_case, _test_then_rank(released, metric, entries_in_panel, per_case, alpha)

        rankings[metric] = _ranking(
            metric=metric, keys=[keys[i] for i in ranked], values=np.array([full[i][metric] for i in ranked]),
            drawn=matrix[valid], not_ranked=not_ranked, confidence=confidence, alpha=alpha, delong=delong,
            panel_tests=panel_tests, max_panel=max_panel,
        )

    rows = np.flatnonzero(valid_rows)
    positions = np.zeros((1 + rows.size, len(keys)))
    for metric in METRIC_KEYS:
        positions += _mean_rank_positions([f[metric] for f in full], matrices[metric], rows)
    positions /= len(METRIC_KEYS)
    rankings[MEAN_RANK] = (
        _ranking(metric=MEAN_RANK, keys=keys, values=positions[0], drawn=positions[1:], not_ranked=(),
                 confidence=confidence, alpha=alpha, delong=None, panel_tests=None, max_panel=max_panel,
                 higher_is_better=False)
        if keys else _empty_ranking(MEAN_RANK, ())
    )
    return BoardStatistics(
        version=RANKING_VERSION,
        n_cases=int(released.groups.size),
        group_sizes={g.value: int((released.groups == g).sum()) for g in Group},
        n_resamples=resamples.n_resamples, seed=seed, confidence=confidence, alpha=alpha, rankings=rankings,
    )


__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MAX_PANEL",
    "MEAN_RANK",
    "RANKING_VERSION",
    "SCHEMES",
    "TIE_DECIMALS",
    "BoardStatistics",
    "Comparison",
    "EntryPredictions",
    "EntryRank",
    "Ranking",
    "Robustness",
    "board_statistics",
    "entry_from_documents",
    "kendall_tau_rows",
    "released_indices",
    "stable_ranks",
]
