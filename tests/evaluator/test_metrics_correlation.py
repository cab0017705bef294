"""Spearman's ρ between true and predicted severity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from evaluator.metrics import spearman_rho, spearman_rho_rows


@pytest.mark.parametrize("seed", range(5))
def test_matches_scipy_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 5, 32) / 4
    pred = np.clip(true + rng.normal(0, 0.3, 32), 0, 1).round(1)
    assert spearman_rho(true, pred) == pytest.approx(spearmanr(true, pred).statistic, abs=1e-14)


def test_perfect_and_reversed_rankings() -> None:
    true = [0.1, 0.2, 0.3, 0.4]
    assert spearman_rho(true, [1, 2, 3, 10]) == pytest.approx(1.0)
    assert spearman_rho(true, [10, 3, 2, 1]) == pytest.approx(-1.0)


def test_conventions() -> None:
    true = [0.1, 0.2, 0.3, 0.4]
    assert spearman_rho(true, [0.5, 0.5, 0.5, 0.5]) == 0.0  # constant predictions: no ranking information
    assert spearman_rho(true, None) is None  # no severity at all: N/A, never 0
    assert spearman_rho(true, [None] * 4) is None
    assert spearman_rho([0.2, 0.2, 0.2, 0.2], [0.1, 0.2, 0.3, 0.4]) is None  # constant truth: undefined
    assert spearman_rho([0.1, 0.2], [0.1, 0.2]) is None  # fewer than 3 cases
    assert spearman_rho([0.1, 0.2, 0.3], [0.1, 0.3, 0.2]) == pytest.approx(0.5)


def test_rejects_missing_values() -> None:
    with pytest.raises(ValueError, match=r"pred_severity: 1 of 4 values are missing .*positions 2"):
        spearman_rho([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, None, 0.4])
    with pytest.raises(ValueError, match="true_severity: every value must be a finite number"):
        spearman_rho([0.1, np.nan, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="lengths differ"):
        spearman_rho([0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4])


def test_rows_match_scalar_version() -> None:
    rng = np.random.default_rng(7)
    true = rng.integers(0, 4, (200, 12)).astype(float)
    pred = rng.integers(0, 4, (200, 12)).astype(float)
    true[0] = 1.0  # constant truth → NaN
    pred[1] = 2.0  # constant prediction → 0
    rows = spearman_rho_rows(true, pred)
    assert np.isnan(rows[0]) and rows[1] == 0.0
    for b in range(200):
        expected = spearman_rho(true[b], pred[b])
        assert (np.isnan(rows[b]) and expected is None) or rows[b] == pytest.approx(expected, abs=1e-12)
    assert np.isnan(spearman_rho_rows(np.array([[0.1, 0.2]]), np.array([[0.1, 0.2]]))).all()
