"""Holm's step-down correction: a published worked example and the procedure as Holm (1979) states it."""

from __future__ import annotations

import numpy as np
import pytest

from evaluator.metrics import holm_adjust


def test_worked_example() -> None:
    """Wikipedia, "Holm–Bonferroni method", the worked example of section *Procedure* (α = 0.05).

    Facts typed in from that page: the four unadjusted p-values are 0.01, 0.03, 0.04 and 0.005;
    0.005 < 0.05/4 rejects hypothesis four, 0.01 < 0.05/3 rejects hypothesis one, 0.03 is not below
    0.05/2 so the procedure stops: hypotheses one and four are rejected, two and three are not.
    (GeeksforGeeks, "Holm-Bonferroni Method", works the same numbers with H2 and H3 swapped.)
    The adjusted values follow by hand from max_{k≤i} min(1, (m−k+1)·p_(k)): H4 4·0.005 = 0.02;
    H1 3·0.01 = 0.03; H2 2·0.03 = 0.06; H3 max(1·0.04, 0.06) = 0.06.
    """
    adjusted = holm_adjust([0.01, 0.03, 0.04, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    np.testing.assert_allclose(holm_adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    assert (adjusted < 0.05).tolist() == [True, False, False, True]


def holm_rejections(p: np.ndarray, alpha: float) -> set[int]:
    """Holm (1979) as stated: reject H_(1), H_(2), … while p_(k) ≤ α / (m − k + 1); stop at the first failure."""
    rejected = set()
    for k, index in enumerate(sorted(range(len(p)), key=lambda i: p[i])):
        if p[index] > alpha / (len(p) - k):
            break
        rejected.add(index)
    return rejected


@pytest.mark.parametrize("seed", range(5))
def test_rejections_match_the_step_down_procedure(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.02, 6), rng.uniform(0, 1, 14)])
    adjusted = holm_adjust(p)
    for alpha in (0.01, 0.05, 0.1, 0.2):
        assert set(np.flatnonzero(adjusted <= alpha)) == holm_rejections(p, alpha)
    assert np.all(adjusted >= p) and np.all(adjusted <= 1)


def test_edge_cases() -> None:
    assert holm_adjust([]).size == 0
    np.testing.assert_array_equal(holm_adjust([0.5, 0.5]), [1.0, 1.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]; bad at positions \[1, 2\]"):
        holm_adjust([0.1, np.nan, 1.5])
