"""Board ranking statistics (issue 14) against slow, independent recomputations with scikit-learn and scipy."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest
from scipy.stats import bootstrap, kendalltau, rankdata, spearmanr, wilcoxon
from sklearn.metrics import roc_auc_score

from evaluator.examples import ExampleKind, write_example_archive
from evaluator.groups import ROC_SUBSETS, Group
from evaluator.metrics import METRIC_KEYS, delong_test, stratified_resamples
from evaluator.ranking import (
    MEAN_RANK,
    RANKING_VERSION,
    BoardStatistics,
    EntryPredictions,
    board_statistics,
    entry_from_documents,
    kendall_tau_rows,
    released_indices,
    stable_ranks,
)
from evaluator.scoring import ScoringOptions, public_view, score_archive
from evaluator.testset import load_testset
from evaluator.truth import build_truth
from tests.evaluator.test_metrics_holm import holm_rejections
from tests.evaluator.tiny_testset import write_tiny_testset

SIZES = {Group.COVID: 20, Group.BACTERIAL_PNEUMONIA: 12, Group.NODULES: 12, Group.NORMAL: 12}
RESAMPLES = 300


def make_board(n_entries: int = 5, *, seed: int = 0, sizes: dict[Group, int] = SIZES) -> dict:
    """A small board: entries of varying quality; entry 3 has no masks (Dice N/A)."""
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.array([g for g, n in sizes.items() for _ in range(n)], dtype=object))
    covid = groups == Group.COVID
    true = np.where(covid, rng.beta(1.2, 5.0, groups.size), np.nan)
    entries = []
    for e in range(n_entries):
        noise = 0.03 + 0.05 * e
        entries.append(EntryPredictions(
            key=f"entry-{e}",
            scores=np.round(rng.normal(size=groups.size) + (3.0 - 0.9 * e) * covid, 1),  # ties within and across
            pred_severity=np.where(covid, np.clip(true + rng.normal(0, noise, groups.size), 0, 1), np.nan),
            case_dice=None if e == 3 else np.where(covid, np.clip(rng.normal(0.8 - 0.05 * e, 0.1, groups.size), 0, 1),
                                                    np.nan),
        ))
    return {"groups": groups, "true_severity": true, "entries": entries}


def compute(board: dict, cases=None, **options) -> BoardStatistics:
    cases = np.arange(board["groups"].size) if cases is None else cases
    return board_statistics(**board, cases=cases, n_resamples=options.pop("n_resamples", RESAMPLES), **options)


FULL = np.arange(sum(SIZES.values()))


def slow_metric(metric: str, groups: np.ndarray, true: np.ndarray, entry: EntryPredictions, rows: np.ndarray):
    """The metric on the resampled cases ``rows`` (expanded data), with scikit-learn / scipy / numpy.

    AUCs on resamples from the Mann–Whitney definition (scikit-learn's per-call overhead is too slow here; the
    two agree, see test_metrics_bootstrap), on the full data (``rows is FULL``) with scikit-learn.
    """
    g = groups[rows]
    covid = g == Group.COVID
    if metric.startswith("roc_auc_"):
        keep = np.array([x == Group.COVID or x in ROC_SUBSETS[metric.removeprefix("roc_auc_")] for x in g])
        scores = np.asarray(entry.scores)[rows]
        if rows is FULL:
            return roc_auc_score(covid[keep], scores[keep])
        positive, negative = scores[keep & covid][:, None], scores[keep & ~covid][None, :]
        return float(np.mean((positive > negative) + 0.5 * (positive == negative)))  # Mann–Whitney, ties ½
    if metric == "spearman_rho":
        return spearmanr(true[rows][covid], np.asarray(entry.pred_severity)[rows][covid]).statistic
    if entry.case_dice is None:
        return None
    return float(np.mean(np.asarray(entry.case_dice)[rows][covid]))


def slow_order(values: list[float]) -> list[int]:
    """Entry indices best first: by value rounded to 1e-9, ties in entry order."""
    return sorted(range(len(values)), key=lambda i: (-round(values[i], 9), i))


def test_stable_ranks_ignore_float_noise_and_keep_entry_order() -> None:
    assert stable_ranks(np.array([0.8, 0.8 + 1e-12, 0.9, 0.8 - 1e-12])).tolist() == [2, 3, 1, 4]
    assert stable_ranks(np.array([[0.1, 0.2], [0.2, 0.2]])).tolist() == [[2, 1], [1, 2]]


def test_kendall_tau_rows_equal_scipy() -> None:
    rng = np.random.default_rng(1)
    reference = rng.permutation(9) + 1
    rows = np.array([rng.permutation(9) + 1 for _ in range(50)])
    expected = [kendalltau(row, reference).statistic for row in rows]
    np.testing.assert_allclose(kendall_tau_rows(rows, reference), expected, rtol=1e-12)


def test_rank_intervals_and_comparisons_equal_a_slow_reference() -> None:
    board = make_board(4)
    result = compute(board, n_resamples=120, seed=3)
    groups, true, entries = board["groups"], board["true_severity"], board["entries"]
    indices = stratified_resamples(groups, n_resamples=120, seed=3)
    everything = FULL
    for metric in METRIC_KEYS:
        ranking = result.rankings[metric]
        ranked = [e for e in entries if slow_metric(metric, groups, true, e, everything) is not None]
        assert ranking.not_ranked == tuple(e.key for e in entries if e not in ranked)
        full = [slow_metric(metric, groups, true, e, everything) for e in ranked]
        order = slow_order(full)
        assert [r.key for r in ranking.entries] == [ranked[i].key for i in order]
        assert [r.value for r in ranking.entries] == pytest.approx([full[i] for i in order], abs=1e-12)
        drawn = np.array([[slow_metric(metric, groups, true, e, row) for e in ranked] for row in indices])
        drawn = drawn[np.isfinite(drawn).all(axis=1)]
        assert ranking.n_valid_resamples == len(drawn)
        boot_ranks = np.empty(drawn.shape, dtype=int)
        for b, values in enumerate(drawn):
            boot_ranks[b, slow_order(list(values))] = np.arange(1, len(ranked) + 1)
        full_ranks = np.empty(len(ranked), dtype=int)
        full_ranks[order] = np.arange(1, len(ranked) + 1)
        for summary in ranking.entries:
            i = [e.key for e in ranked].index(summary.key)
            ranks = boot_ranks[:, i]
            assert summary.rank == full_ranks[i]
            assert summary.p_first == pytest.approx(np.mean(ranks == 1), abs=1e-15)
            assert summary.rank_median == np.median(ranks)
            assert summary.rank_low == sorted(ranks)[int(np.floor(0.025 * (len(ranks) - 1)))]
            assert summary.rank_high == sorted(ranks)[int(np.ceil(0.975 * (len(ranks) - 1)))]
            observed, counts = np.unique(ranks, return_counts=True)
            assert dict(summary.rank_counts) == {int(r): int(c) for r, c in zip(observed, counts, strict=True)}
        taus = [kendalltau(row, full_ranks).statistic for row in boot_ranks]
        assert ranking.robustness.kendall_tau_median == pytest.approx(np.median(taus), abs=1e-12)
        assert ranking.robustness.kendall_tau_low == pytest.approx(np.percentile(taus, 2.5), abs=1e-12)

        # Comparisons: the leader against each other entry, and each entry against the next one down.
        keys = [e.key for e in ranked]
        expected_pairs = {(keys[order[0]], keys[i]) for i in order[1:]} | {
            (keys[a], keys[b]) for a, b in pairwise(order)}
        assert {(c.a, c.b) for c in ranking.comparisons} == expected_pairs
        p_values = []
        for c in ranking.comparisons:
            a, b = keys.index(c.a), keys.index(c.b)
            if metric.startswith("roc_auc_"):
                subset = metric.removeprefix("roc_auc_")
                keep = np.array([x == Group.COVID or x in ROC_SUBSETS[subset] for x in groups])
                test = delong_test(groups[keep] == Group.COVID, np.asarray(ranked[a].scores)[keep],
                                   np.asarray(ranked[b].scores)[keep])
                assert c.method == "delong"
                assert c.p_value == pytest.approx(test.p_value, rel=1e-9, abs=1e-15)
                assert (c.ci_low, c.ci_high) == pytest.approx((test.ci_low, test.ci_high), rel=1e-9, abs=1e-12)
            else:
                d = np.round(drawn[:, a] - drawn[:, b], 9)
                extreme = min((d <= 0).sum(), (d >= 0).sum())
                assert c.method == "bootstrap"
                assert c.p_value == pytest.approx(min(1.0, 2 * (1 + extreme) / (len(d) + 1)), abs=1e-15)
                assert (c.ci_low, c.ci_high) == pytest.approx(tuple(np.percentile(drawn[:, a] - drawn[:, b],
                                                                                  [2.5, 97.5])), abs=1e-12)
            assert c.difference == pytest.approx(full[a] - full[b], abs=1e-12)
            p_values.append(c.p_value)
        significant = holm_rejections(np.array(p_values), 0.05 - 1e-15)
        assert {i for i, c in enumerate(ranking.comparisons) if c.significant} == significant
        separated = {c.b for i, c in enumerate(ranking.comparisons) if c.a == keys[order[0]] and i in significant}
        assert {r.key for r in ranking.entries if r.tied_for_first} == set(keys) - separated


def test_paired_dice_interval_agrees_with_scipy_bootstrap() -> None:
    """Dice resamples draw only within the COVID-19 group: a plain paired bootstrap of those cases."""
    board = make_board(seed=2)
    result = compute(board, n_resamples=4000)
    covid = board["groups"] == Group.COVID
    first, second = (np.asarray(e.case_dice)[covid] for e in board["entries"][:2])
    comparison = next(c for c in result.rankings["mean_dice"].comparisons if {c.a, c.b} == {"entry-0", "entry-1"})
    sign = 1 if comparison.a == "entry-0" else -1
    reference = bootstrap((first, second), lambda x, y: np.mean(x - y), paired=True, n_resamples=4000,
                          method="percentile", random_state=np.random.default_rng(5)).confidence_interval
    assert sign * comparison.difference == pytest.approx(np.mean(first - second), abs=1e-12)
    low, high = sorted((sign * comparison.ci_low, sign * comparison.ci_high))
    assert low == pytest.approx(reference.low, abs=0.01) and high == pytest.approx(reference.high, abs=0.01)


def test_robustness_schemes_equal_scipy_wilcoxon_delong_and_per_case_ranks() -> None:
    board = make_board(seed=3)
    result = compute(board)
    groups, true, entries = board["groups"], board["true_severity"], board["entries"]
    covid = groups == Group.COVID
    for metric in ("roc_auc_all", "spearman_rho", "mean_dice"):
        robustness = result.rankings[metric].robustness
        ranked = [e for e in entries if slow_metric(metric, groups, true, e, FULL) is not None]
        keys = [e.key for e in ranked]
        pairs = [(i, j) for i in range(len(ranked)) for j in range(len(ranked)) if i != j]
        p_values = []
        for i, j in pairs:  # one-sided: is i better than j?
            if metric == "roc_auc_all":
                p_values.append(delong_test(covid, ranked[i].scores, ranked[j].scores).z)
            else:
                if metric == "mean_dice":
                    x, y, better = np.asarray(ranked[i].case_dice), np.asarray(ranked[j].case_dice), "greater"
                else:
                    x = np.abs(np.asarray(ranked[i].pred_severity) - true)
                    y, better = np.abs(np.asarray(ranked[j].pred_severity) - true), "less"
                p_values.append(wilcoxon(x[covid], y[covid], alternative=better, method="approx").pvalue)
        if metric == "roc_auc_all":
            from scipy.stats import norm
            p_values = list(norm.sf(p_values))
        beaten = dict.fromkeys(keys, 0)
        for index in holm_rejections(np.array(p_values), 0.05 - 1e-15):
            beaten[keys[pairs[index][0]]] += 1
        assert robustness.test_then_rank_beaten == beaten
        assert robustness.schemes["test_then_rank"] == tuple(
            sorted(keys, key=lambda k: (-beaten[k], keys.index(k))))
        if metric == "roc_auc_all":
            assert robustness.schemes["rank_then_aggregate"] is None
            continue
        if metric == "mean_dice":
            per_case = np.column_stack([np.asarray(e.case_dice)[covid] for e in ranked])
        else:
            per_case = -np.column_stack([np.abs(np.asarray(e.pred_severity) - true)[covid] for e in ranked])
        mean_case_rank = np.mean([rankdata(-row) for row in per_case], axis=0)
        assert robustness.schemes["rank_then_aggregate"] == tuple(
            keys[i] for i in sorted(range(len(keys)), key=lambda i: (round(mean_case_rank[i], 9), i)))


def test_winner_depending_on_the_scheme_is_flagged() -> None:
    """A wins on mean Dice through two huge wins; B is better on most cases: the schemes disagree."""
    groups = np.array([Group.COVID] * 12 + [Group.NORMAL] * 4, dtype=object)
    b = np.r_[np.full(12, 0.70), np.full(4, np.nan)]
    a = np.r_[np.full(10, 0.68), 0.99, 0.99, np.full(4, np.nan)]
    entries = [EntryPredictions("A", scores=None, case_dice=a), EntryPredictions("B", scores=None, case_dice=b)]
    result = board_statistics(groups=groups, true_severity=np.r_[np.full(12, 0.1), np.full(4, np.nan)],
                              entries=entries, cases=range(16), n_resamples=200)
    robustness = result.rankings["mean_dice"].robustness
    assert robustness.winners["aggregate_then_rank"] == ("A",)
    assert robustness.winners["rank_then_aggregate"] == ("B",)
    assert robustness.winner_depends_on_scheme
    assert result.rankings["roc_auc_all"].entries == () and result.rankings["roc_auc_all"].not_ranked == ("A", "B")


def test_identical_entries_tie_with_the_earlier_first() -> None:
    board = make_board(3, seed=4)
    board["entries"].append(EntryPredictions("copy-of-0", board["entries"][0].scores,
                                             board["entries"][0].pred_severity, board["entries"][0].case_dice))
    result = compute(board)
    for metric in METRIC_KEYS:
        ranking = result.rankings[metric]
        order = [r.key for r in ranking.entries]
        assert order.index("entry-0") + 1 == order.index("copy-of-0")
        copy = next(r for r in ranking.entries if r.key == "copy-of-0")
        assert copy.p_first == 0.0
        comparison = next(c for c in ranking.comparisons if c.b == "copy-of-0" and c.a == "entry-0")
        assert (comparison.difference, comparison.p_value, comparison.significant) == (0.0, 1.0, False)


def test_not_applicable_metric_is_not_ranked_and_counts_as_last_in_the_mean_rank() -> None:
    board = make_board(seed=5)
    result = compute(board)
    assert result.rankings["mean_dice"].not_ranked == ("entry-3",)
    assert "entry-3" not in {r.key for r in result.rankings["mean_dice"].entries}
    assert all("entry-3" not in (c.a, c.b) for c in result.rankings["mean_dice"].comparisons)
    # Mean rank by hand: per metric, ranked entries take positions 1…R, an N/A entry the mean of the rest.
    positions = np.zeros(5)
    for metric in METRIC_KEYS:
        ranking = result.rankings[metric]
        for r in ranking.entries:
            positions[int(r.key[-1])] += r.rank
        for key in ranking.not_ranked:
            positions[int(key[-1])] += len(ranking.entries) + (len(ranking.not_ranked) + 1) / 2
    mean = result.rankings[MEAN_RANK]
    assert {r.key: r.value for r in mean.entries} == pytest.approx(
        {f"entry-{i}": positions[i] / len(METRIC_KEYS) for i in range(5)}, abs=1e-12)
    assert [r.value for r in mean.entries] == sorted(r.value for r in mean.entries)
    assert mean.robustness.kendall_tau_median is not None and mean.comparisons[0].method == "bootstrap"


def test_only_released_cases_are_used() -> None:
    board = make_board(seed=6)
    rng = np.random.default_rng(0)
    released = np.sort(rng.choice(board["groups"].size, size=40, replace=False))
    result = compute(board, cases=released)
    # The same board cut down to the released cases, every case released, gives the same bytes.
    cut = {"groups": board["groups"][released], "true_severity": board["true_severity"][released],
           "entries": [EntryPredictions(e.key, *(None if v is None else np.asarray(v)[released]
                                                 for v in (e.scores, e.pred_severity, e.case_dice)))
                       for e in board["entries"]]}
    assert compute(cut).to_json() == result.to_json()
    assert result.n_cases == 40
    # Changing anything on a withheld case changes nothing.
    withheld = np.setdiff1d(np.arange(board["groups"].size), released)
    changed = dict(board, true_severity=board["true_severity"].copy())
    changed["true_severity"][withheld] = np.where(np.isnan(changed["true_severity"][withheld]), np.nan, 0.99)
    changed["entries"] = [EntryPredictions(e.key, np.where(np.isin(np.arange(len(e.scores)), withheld), 5.0, e.scores),
                                           e.pred_severity, e.case_dice) for e in board["entries"]]
    assert compute(changed, cases=released).to_json() == result.to_json()


def test_json_is_canonical_and_holds_aggregates_only() -> None:
    board = make_board(seed=7)
    first, second = compute(board).to_json(), compute(board).to_json()
    assert first == second
    document = json.loads(first)
    assert set(document["rankings"]) == {*METRIC_KEYS, MEAN_RANK}
    assert document["version"] == RANKING_VERSION and document["n_resamples"] == RESAMPLES
    assert first == json.dumps(document, sort_keys=True, separators=(",", ":"))

    def longest_list(value) -> int:
        if isinstance(value, dict):
            return max((longest_list(v) for v in value.values()), default=0)
        if isinstance(value, list):
            return max([len(value), *(longest_list(v) for v in value)])
        return 0

    assert longest_list(document) < SIZES[Group.COVID]  # nothing per case (5 entries, ≤ 5 ranks)


def test_bad_input_lists_every_problem() -> None:
    board = make_board(seed=8)
    entries = list(board["entries"])
    entries[0] = EntryPredictions("entry-0", scores=[0.5] * 3)
    dice = np.asarray(board["entries"][1].case_dice).copy()
    dice[np.flatnonzero(board["groups"] == Group.COVID)[0]] = np.nan
    entries[1] = EntryPredictions("entry-1", scores=board["entries"][1].scores, case_dice=dice)
    with pytest.raises(ValueError) as error:
        board_statistics(groups=board["groups"], true_severity=board["true_severity"], entries=entries,
                         cases=np.arange(board["groups"].size))
    message = str(error.value)
    assert "entry 'entry-0': scores: expected one value per case (56), got 3" in message
    assert "entry 'entry-1': case_dice (released COVID-19 cases): 1 of 20 values are missing" in message
    with pytest.raises(ValueError, match=r"cases: indices outside 0…55: \[56\]; cases: an index occurs more than once"):
        board_statistics(**board, cases=[0, 0, 56])
    with pytest.raises(ValueError, match="keys must be distinct"):
        board_statistics(**dict(board, entries=board["entries"][:1] * 2), cases=[0, 1])


def test_entries_from_scorer_documents_reproduce_the_scorers_metrics(tmp_path) -> None:
    """Worker path: score archives, keep the stored parts, rank: every value equals the document's metric."""
    testset = load_testset(write_tiny_testset(tmp_path / "ts", n_per_group=4, two_raters=True))
    truth = build_truth(testset, cache_root=tmp_path / "cache")
    case_ids = [c.case_id for c in testset.cases]
    documents = {}
    for name, kind, seed in (("noisy-1", ExampleKind.NOISY, 1), ("noisy-2", ExampleKind.NOISY, 2),
                             ("probability-only", ExampleKind.PROBABILITY_ONLY, 0),
                             ("masks-only", ExampleKind.MASKS_ONLY, 0)):
        archive = write_example_archive(tmp_path / f"{name}.zip", testset=testset, kind=kind, seed=seed)
        documents[name] = score_archive(archive, testset=testset, truth=truth,
                                        options=ScoringOptions(n_resamples=20, workers=1))
    entries = [entry_from_documents(name, result=public_view(doc), per_case=doc["private"], case_ids=case_ids)
               for name, doc in documents.items()]
    result = board_statistics(
        groups=[c.group for c in testset.cases], true_severity=[truth.summaries[c].severity for c in case_ids],
        entries=entries, cases=released_indices(case_ids, reversed(case_ids)), n_resamples=100)
    for metric in METRIC_KEYS:
        ranking = result.rankings[metric]
        values = {r.key: r.value for r in ranking.entries}
        expected = {name: doc["metrics"][metric] for name, doc in documents.items()}
        assert values == pytest.approx({k: v for k, v in expected.items() if v is not None}, abs=1e-12), metric
        assert set(ranking.not_ranked) == {k for k, v in expected.items() if v is None}
        assert len(ranking.entries) >= 2 + (metric != "spearman_rho" and metric != "mean_dice")
    with pytest.raises(ValueError, match="unknown case ids"):
        released_indices(case_ids, ["nope"])


def test_robustness_panel_covers_the_first_max_panel_entries() -> None:
    """With max_panel = 3 the panel equals that of a board holding only each ranking's first three entries."""
    board = make_board(6, seed=9)
    result = compute(board, max_panel=3)
    for metric in METRIC_KEYS:
        ranking = result.rankings[metric]
        top = {r.key for r in ranking.entries[:3]}
        alone = compute(dict(board, entries=[e for e in board["entries"] if e.key in top]))
        assert ranking.robustness.n_entries == 3
        assert ranking.robustness == alone.rankings[metric].robustness, metric
        assert len(ranking.entries) == len(board["entries"]) - len(ranking.not_ranked)  # ranks: every entry
    with pytest.raises(ValueError, match="max_panel"):
        compute(board, max_panel=0)
