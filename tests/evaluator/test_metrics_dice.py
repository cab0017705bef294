"""Dice from voxel counts, multi-rater averaging and the mean over cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import dice as dice_dissimilarity

from evaluator.metrics import DiceCounts, case_dice, dice_from_counts, mean_dice


def counts_of(pred: np.ndarray, true: np.ndarray) -> dict[str, int]:
    return {
        "intersection": int(np.count_nonzero(pred & true)),
        "pred_count": int(np.count_nonzero(pred)),
        "true_count": int(np.count_nonzero(true)),
    }


@pytest.mark.parametrize("seed", range(5))
def test_matches_scipy_on_random_masks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pred = rng.random((8, 9, 10)) < 0.3
    true = rng.random((8, 9, 10)) < 0.2
    expected = 1.0 - dice_dissimilarity(pred.ravel(), true.ravel())
    assert dice_from_counts(**counts_of(pred, true)) == pytest.approx(expected, abs=1e-15)


def test_conventions() -> None:
    assert dice_from_counts(intersection=0, pred_count=0, true_count=0) == 1.0  # two empty masks agree
    assert dice_from_counts(intersection=0, pred_count=5, true_count=0) == 0.0
    assert dice_from_counts(intersection=0, pred_count=0, true_count=5) == 0.0
    assert dice_from_counts(intersection=3, pred_count=4, true_count=6) == pytest.approx(0.6)
    assert dice_from_counts(intersection=np.int64(2), pred_count=2.0, true_count=np.uint32(2)) == 1.0


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"intersection": -1, "pred_count": 2, "true_count": 2}, "negative"),
        ({"intersection": 1.5, "pred_count": 2, "true_count": 2}, "whole number"),
        ({"intersection": np.nan, "pred_count": 2, "true_count": 2}, "whole number"),
        ({"intersection": True, "pred_count": 2, "true_count": 2}, "whole number"),
        ({"intersection": 3, "pred_count": 2, "true_count": 5}, "cannot exceed"),
    ],
)
def test_rejects_impossible_counts(counts: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dice_from_counts(**counts)


def test_dice_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        dice_from_counts(1, 2, 3)  # type: ignore[misc]


def test_case_dice_averages_raters() -> None:
    raters = [DiceCounts(3, 4, 6), (0, 4, 0), (4, 4, 4)]  # 0.6, 0.0, 1.0
    assert case_dice(raters) == pytest.approx((0.6 + 0.0 + 1.0) / 3)
    assert case_dice([(0, 0, 0)]) == 1.0
    with pytest.raises(ValueError, match="at least one rater"):
        case_dice([])


def test_mean_dice() -> None:
    assert mean_dice([0.5, 1.0, 0.0]) == pytest.approx(0.5)
    assert mean_dice(None) is None  # no masks in the submission
    assert mean_dice([None, None]) is None
    assert mean_dice([]) is None
    with pytest.raises(ValueError, match="1 of 3 values are missing"):
        mean_dice([0.5, None, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mean_dice([0.5, 1.2])


mask_counts = st.integers(min_value=0, max_value=10_000).flatmap(
    lambda both: st.tuples(
        st.just(both), st.integers(min_value=both, max_value=20_000), st.integers(min_value=both, max_value=20_000)
    )
)


@settings(max_examples=200, deadline=None)
@given(mask_counts)
def test_dice_is_symmetric_and_in_range(counts: tuple[int, int, int]) -> None:
    both, pred, true = counts
    value = dice_from_counts(intersection=both, pred_count=pred, true_count=true)
    assert value == dice_from_counts(intersection=both, pred_count=true, true_count=pred)
    assert 0.0 <= value <= 1.0
    assert (value == 1.0) == (both == pred == true)
    assert (value == 0.0) == (both == 0 and pred + true > 0)
