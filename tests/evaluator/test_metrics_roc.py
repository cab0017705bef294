"""ROC-AUC on the paper's subsets, ROC points and the vectorised (bootstrap) AUC."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score, roc_curve

from evaluator.groups import ROC_SUBSETS, Group
from evaluator.metrics import (
    MAX_CURVE_POINTS,
    pairwise_wins,
    roc_auc,
    roc_points,
    subset_roc_aucs,
    weighted_auc,
)

SIZES = {Group.COVID: 32, Group.BACTERIAL_PNEUMONIA: 30, Group.NODULES: 30, Group.NORMAL: 31}


def make_groups(sizes: dict[Group, int] = SIZES, *, seed: int = 0) -> np.ndarray:
    groups = np.array([group for group, n in sizes.items() for _ in range(n)], dtype=object)
    return np.random.default_rng(seed).permutation(groups)



@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(60) < 0.4
    scores = rng.integers(0, 6, 60).astype(float)  # many ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-15)
    assert roc_auc(labels.astype(int), list(scores)) == pytest.approx(roc_auc_score(labels, scores), abs=1e-15)


def test_roc_auc_edge_values() -> None:
    labels = [0, 0, 1, 1]
    assert roc_auc(labels, [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc(labels, [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc(labels, [0.5, 0.5, 0.5, 0.5]) == 0.5  # constant scores: no information


@pytest.mark.parametrize("scores", [None, [None, None, None, None], [np.nan] * 4, np.full(4, np.nan), []])
def test_roc_auc_without_scores_is_not_applicable(scores: object) -> None:
    labels = [0, 0, 1, 1] if scores is None or len(scores) else []
    assert roc_auc(labels, scores) is None


def test_roc_auc_one_class_is_not_applicable() -> None:
    assert roc_auc([1, 1, 1], [0.1, 0.2, 0.3]) is None
    assert roc_auc([False, False], [0.1, 0.2]) is None


def test_roc_auc_rejects_partial_missing_scores_naming_positions() -> None:
    with pytest.raises(ValueError, match=r"scores: 2 of 5 values are missing.*positions 1, 3"):
        roc_auc([0, 1, 0, 1, 1], [0.1, None, 0.3, np.nan, 0.5])


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1, 1], [0.1, np.inf, 0.3], "finite"),
        ([0, 2, 1], [0.1, 0.2, 0.3], "0/1"),
        ([0, 1, 1], [0.1, 0.2], "lengths differ"),
        ([0, 1], ["a", "b"], "expected numbers"),
    ],
)
def test_roc_auc_rejects_bad_input(labels: list, scores: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        roc_auc(labels, scores)


def test_subset_roc_aucs_match_sklearn_on_each_subset() -> None:
    groups = make_groups()
    rng = np.random.default_rng(1)
    scores = rng.normal(size=groups.size) + (groups == Group.COVID) + 0.5 * (groups == Group.BACTERIAL_PNEUMONIA)
    result = subset_roc_aucs(groups, scores)
    assert list(result) == list(ROC_SUBSETS)
    for subset, negatives in ROC_SUBSETS.items():
        keep = np.array([g == Group.COVID or g in negatives for g in groups])
        expected = roc_auc_score(groups[keep] == Group.COVID, scores[keep])
        assert result[subset] == pytest.approx(expected, abs=1e-15)
    # Strings work as well as Group members.
    assert subset_roc_aucs([g.value for g in groups], scores) == result


def test_subset_roc_aucs_not_applicable() -> None:
    groups = make_groups({Group.COVID: 5, Group.NORMAL: 5, Group.BACTERIAL_PNEUMONIA: 5})
    scores = np.linspace(0, 1, groups.size)
    result = subset_roc_aucs(groups, scores)
    assert result["nodules"] is None  # no nodule case: one class only
    assert all(result[s] is not None for s in ("all", "normal", "bacterial_pneumonia"))
    assert subset_roc_aucs(groups, None) == dict.fromkeys(ROC_SUBSETS)
    assert subset_roc_aucs(groups, [None] * groups.size) == dict.fromkeys(ROC_SUBSETS)


def test_subset_roc_aucs_rejects_unknown_group() -> None:
    with pytest.raises(ValueError, match=r"unknown group at positions 1 \('flu'\)"):
        subset_roc_aucs(["covid", "flu"], [0.1, 0.2])


def test_roc_points_match_sklearn_curve() -> None:
    groups = make_groups()
    scores = np.random.default_rng(2).integers(0, 20, groups.size) / 20
    curves = roc_points(groups, scores)
    for subset, negatives in ROC_SUBSETS.items():
        keep = np.array([g == Group.COVID or g in negatives for g in groups])
        fpr, tpr, thresholds = roc_curve(groups[keep] == Group.COVID, scores[keep])
        curve = curves[subset]
        assert curve is not None
        np.testing.assert_array_equal(curve.fpr, fpr)
        np.testing.assert_array_equal(curve.tpr, tpr)
        np.testing.assert_array_equal(curve.thresholds, thresholds)
        as_dict = curve.to_dict()
        assert as_dict["thresholds"][0] is None  # +inf is not JSON
        assert as_dict["thresholds"][1:] == list(thresholds[1:])


def test_roc_points_are_thinned_keeping_the_ends() -> None:
    rng = np.random.default_rng(3)
    groups = make_groups({Group.COVID: 1500, Group.NORMAL: 1500})
    scores = rng.normal(size=groups.size) + 0.3 * (groups == Group.COVID)
    curve = roc_points(groups, scores)["all"]
    assert curve is not None
    assert len(curve.fpr) <= MAX_CURVE_POINTS
    assert (curve.fpr[0], curve.tpr[0]) == (0.0, 0.0)
    assert (curve.fpr[-1], curve.tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(curve.fpr) >= 0) and np.all(np.diff(curve.tpr) >= 0)
    assert len(roc_points(groups, scores, max_points=10)["all"].fpr) <= 10
    assert roc_points(groups, None) == dict.fromkeys(ROC_SUBSETS)
    assert roc_points(groups, scores)["nodules"] is None


@pytest.mark.parametrize("seed", range(3))
def test_weighted_auc_equals_sklearn_on_resamples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(25, bool), np.zeros(40, bool)]
    scores = rng.integers(0, 8, labels.size).astype(float)  # ties, also between classes
    positives, negatives = np.flatnonzero(labels), np.flatnonzero(~labels)
    draws = [np.r_[rng.choice(positives, positives.size), rng.choice(negatives, negatives.size)] for _ in range(50)]
    counts = np.array([np.bincount(d, minlength=labels.size) for d in draws])
    fast = weighted_auc(
        pairwise_wins(scores[positives], scores[negatives]),
        positive_weights=counts[:, positives],
        negative_weights=counts[:, negatives],
    )
    slow = [roc_auc_score(labels[d], scores[d]) for d in draws]
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-14)


def test_weighted_auc_without_a_class_is_nan() -> None:
    wins = pairwise_wins(np.array([1.0, 2.0]), np.array([0.0]))
    result = weighted_auc(wins, positive_weights=[[0, 0], [1, 1]], negative_weights=[[1], [1]])
    assert np.isnan(result[0]) and result[1] == 1.0


labelled_scores = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda ls: 0 < sum(ls) < len(ls)),
        st.lists(st.integers(min_value=-50, max_value=50), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(labelled_scores)
def test_negating_scores_flips_the_auc(data: tuple[list[bool], list[int]]) -> None:
    labels, scores = data
    values = np.array(scores, dtype=float)
    assert roc_auc(labels, -values) == pytest.approx(1.0 - roc_auc(labels, values), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(labelled_scores)
def test_auc_is_invariant_to_increasing_transforms(data: tuple[list[bool], list[int]]) -> None:
    labels, scores = data
    values = np.array(scores, dtype=float)
    auc = roc_auc(labels, values)
    assert roc_auc(labels, np.exp(values / 10.0)) == pytest.approx(auc, abs=1e-12)
    assert roc_auc(labels, values**3 + 7.0 * values - 2.0) == pytest.approx(auc, abs=1e-12)
    assert roc_auc(labels, 1.0 / (1.0 + np.exp(-values / 25.0))) == pytest.approx(auc, abs=1e-12)
