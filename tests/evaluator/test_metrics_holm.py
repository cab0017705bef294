"""Holm's step-down correction: a published worked example and the procedure as Holm (1979) states it."""

from __future__ import annotations

import numpy as np
import pytest

from evaluator.metrics import holm_adjust


def test_worked_example() -> None:
    """Wikipedia, "Holm–Bonferroni method", section *Example* (four hypotheses, α = 0.05).

    Facts typed in from that page: p = 0.01, 0.04, 0.03, 0.005; sorted, 0.005 < 0.05/4 and
    0.01 < 0.05/3 are rejected, 0.03 > 0.05/2 stops the procedure, so H1 and H4 are rejected and
    H2, H3 are not. The adjusted values follow by hand from max_{k≤i} min(1, (m−k+1)·p_(k)):
    H4 4·0.005 = 0.02; H1 3·0.01 = 0.03; H3 2·0.03 = 0.06; H2 max(1·0.04, 0.06) = 0.06
    (R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") gives 0.03 0.06 0.06 0.02).
    """
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
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
