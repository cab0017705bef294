"""CT-0…CT-4 severity categories and category agreement."""

from __future__ import annotations

import numpy as np
import pytest

from evaluator.metrics import CATEGORY_LABELS, category_agreement, severity_categories, severity_category


@pytest.mark.parametrize(
    ("severity", "category"),
    [
        (0.0, 0),
        (1e-12, 1),
        (0.1, 1),
        (0.25, 1),
        (0.2500001, 2),
        (0.5, 2),
        (0.50001, 3),
        (0.75, 3),
        (0.7500001, 4),
        (1.0, 4),
    ],
)
def test_category_boundaries(severity: float, category: int) -> None:
    assert severity_category(severity) == category


@pytest.mark.parametrize("bad", [-0.01, 1.01, np.nan, np.inf])
def test_rejects_values_outside_the_unit_interval(bad: float) -> None:
    with pytest.raises(ValueError):
        severity_category(bad)


def test_vectorised_categories() -> None:
    np.testing.assert_array_equal(severity_categories([0, 0.3, 0.8, 0.05]), [0, 2, 4, 1])


def linear_kappa_by_hand(confusion: np.ndarray) -> float:
    """Cohen's κ with weights |i − j|, from its definition (independent of scikit-learn)."""
    k = confusion.shape[0]
    weights = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    observed = confusion / confusion.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    return 1.0 - (weights * observed).sum() / (weights * expected).sum()


def test_agreement_table_and_kappa() -> None:
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 1, 40)
    pred = np.clip(true + rng.normal(0, 0.15, 40), 0, 1)
    result = category_agreement(true, pred)
    assert result is not None
    t, p = severity_categories(true), severity_categories(pred)
    expected = np.zeros((5, 5), int)
    for i, j in zip(t, p, strict=True):
        expected[i, j] += 1
    assert result["labels"] == list(CATEGORY_LABELS)
    assert result["confusion"] == expected.tolist()  # rows = true, columns = predicted
    assert result["n"] == 40
    assert result["exact_agreement"] == pytest.approx(np.mean(t == p))
    assert result["linear_kappa"] == pytest.approx(linear_kappa_by_hand(expected), abs=1e-12)


def test_agreement_not_applicable_and_undefined() -> None:
    assert category_agreement([0.1, 0.2], None) is None
    assert category_agreement([0.1, 0.2], [None, None]) is None
    same = category_agreement([0.1, 0.2, 0.05], [0.2, 0.1, 0.15])  # all CT-1 on both sides
    assert same is not None
    assert same["exact_agreement"] == 1.0
    assert same["linear_kappa"] is None  # κ undefined: no variation at all
    with pytest.raises(ValueError, match="missing"):
        category_agreement([0.1, 0.2], [0.1, None])
