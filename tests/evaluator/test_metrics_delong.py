"""DeLong's test: pROC's published results on aSAH, and a slow direct implementation."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from evaluator.metrics import delong_covariance, delong_differences, delong_test

ASAH = Path(__file__).parent / "data" / "asah.csv"


def load_asah() -> dict[str, np.ndarray]:
    with ASAH.open() as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    assert len(rows) == 113
    data = {key: np.array([float(row[key]) for row in rows]) for key in ("wfns", "s100b", "ndka")}
    data["poor"] = np.array([row["outcome"] == "Poor" for row in rows])
    return data


def slow_delong(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """DeLong et al. (1988) straight from the definitions, with explicit O(m·n) loops."""
    pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
    m, n = len(pos), len(neg)

    def psi(x: float, y: float) -> float:
        return 1.0 if x > y else 0.5 if x == y else 0.0

    components = []
    for scores in (a, b):
        v10 = [sum(psi(scores[i], scores[j]) for j in neg) / n for i in pos]
        v01 = [sum(psi(scores[i], scores[j]) for i in pos) / m for j in neg]
        components.append((np.array(v10), np.array(v01)))
    aucs = [float(np.mean(v10)) for v10, _ in components]

    def cov(u: np.ndarray, v: np.ndarray) -> float:
        return float(np.sum((u - u.mean()) * (v - v.mean())) / (len(u) - 1))

    s = [
        [cov(components[i][0], components[j][0]) / m + cov(components[i][1], components[j][1]) / n for j in range(2)]
        for i in range(2)
    ]
    variance = s[0][0] + s[1][1] - 2 * s[0][1]
    z = (aucs[0] - aucs[1]) / math.sqrt(variance)
    return {"auc_a": aucs[0], "auc_b": aucs[1], "var_a": s[0][0], "var_b": s[1][1], "covariance": s[0][1],
            "z": z, "p_value": 2 * norm.sf(abs(z))}


def test_asah_reproduces_proc_roc_test() -> None:
    """pROC tests/testthat/test-roc.test.R: roc.test(r.wfns, r.s100b) and friends (DeLong, paired)."""
    d = load_asah()
    cases = [
        ("wfns", "s100b", 2.20898359144091, 0.0271757822291882, 0.0104061769564846, 0.174214419249478),
        ("wfns", "ndka", 2.79777591868904, 0.00514557970691098, 0.0634011709339876, 0.3600405634833566),
        ("ndka", "s100b", -1.39077002573558, 0.164295175223054, -0.2876917446341914, 0.0488706064228094),
    ]
    for a, b, z, p, low, high in cases:
        result = delong_test(d["poor"], d[a], d[b])
        assert result.z == pytest.approx(z, rel=1e-9)
        assert result.p_value == pytest.approx(p, rel=1e-9)
        assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-9)
        swapped = delong_test(d["poor"], d[b], d[a])
        assert swapped.z == pytest.approx(-z, rel=1e-12) and swapped.p_value == pytest.approx(p, rel=1e-12)


def test_asah_reproduces_proc_documentation_example() -> None:
    """pROC docs: roc.test(roc(aSAH$outcome, aSAH$s100b), roc(aSAH$outcome, aSAH$wfns)): Z = -2.209, p = 0.02718."""
    d = load_asah()
    result = delong_test(d["poor"], d["s100b"], d["wfns"])
    assert round(result.z, 3) == -2.209
    assert round(result.p_value, 5) == 0.02718
    assert round(result.auc_a, 4) == 0.7314 and round(result.auc_b, 4) == 0.8237


def test_asah_reproduces_proc_variances_and_covariances() -> None:
    """pROC tests/testthat/test-var.R and test-cov.R (DeLong method)."""
    d = load_asah()
    aucs, cov = delong_covariance(d["poor"], np.vstack([d["wfns"], d["ndka"], d["s100b"]]))
    np.testing.assert_allclose(aucs, [0.823678861788618, 0.611957994579946, 0.731368563685637], rtol=1e-12)
    np.testing.assert_allclose(np.diag(cov), [0.00146991470882363, 0.0031908105493913, 0.00266868245717244], rtol=1e-9)
    assert cov[0, 1] == pytest.approx(-0.000532967856762438, rel=1e-9)
    assert cov[1, 2] == pytest.approx(-0.000756164938056579, rel=1e-9)
    assert cov[2, 0] == pytest.approx(0.00119615567376754, rel=1e-9)
    np.testing.assert_array_equal(cov, cov.T)


@pytest.mark.parametrize("seed", range(4))
def test_matches_slow_direct_implementation_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(70) < 0.45
    truth = labels.astype(float)
    a = np.round(truth + rng.normal(0, 1.0, 70))  # integers: many ties, within and across classes
    b = np.round(0.5 * a + truth + rng.normal(0, 1.0, 70))
    fast, slow = delong_test(labels, a, b), slow_delong(labels, a, b)
    for key, value in slow.items():
        assert getattr(fast, key) == pytest.approx(value, rel=1e-10, abs=1e-15), key
    assert fast.auc_a == pytest.approx(roc_auc_score(labels, a), abs=1e-14)
    assert fast.auc_b == pytest.approx(roc_auc_score(labels, b), abs=1e-14)


def test_identical_scores_give_z_zero_p_one() -> None:
    d = load_asah()
    result = delong_test(d["poor"], d["wfns"], d["wfns"])
    assert (result.z, result.p_value, result.difference) == (0.0, 1.0, 0.0)
    perfect = delong_test([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], [0.3, 0.4, 0.5, 0.6])
    assert (perfect.auc_a, perfect.auc_b, perfect.z, perfect.p_value) == (1.0, 1.0, 0.0, 1.0)


def test_rejects_unusable_input() -> None:
    with pytest.raises(ValueError, match="at least 2 positive and 2 negative"):
        delong_test([0, 0, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="finite"):
        delong_test([0, 0, 1, 1], [0.1, np.nan, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="lengths differ"):
        delong_test([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="confidence"):
        delong_test([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], confidence=1.5)


def test_pairwise_equals_the_validated_two_sample_test_for_every_pair() -> None:
    """delong_differences (all pairs at once) against delong_test, which reproduces pROC."""
    d = load_asah()
    rng = np.random.default_rng(7)
    names = ["wfns", "s100b", "ndka"]
    matrix = np.vstack([d[name] for name in names] + [d["wfns"], np.round(d["ndka"] + rng.normal(0, 3, 113))])
    first, second = np.meshgrid(np.arange(len(matrix)), np.arange(len(matrix)), indexing="ij")
    z, variance = delong_differences(*delong_covariance(d["poor"], matrix), first, second)
    for i in range(len(matrix)):
        for j in range(len(matrix)):
            expected = delong_test(d["poor"], matrix[i], matrix[j])
            assert z[i, j] == pytest.approx(expected.z, rel=1e-9, abs=1e-12), (i, j)
            half = expected.ci_high - expected.difference
            assert 1.959963984540054 * np.sqrt(variance[i, j]) == pytest.approx(half, rel=1e-9, abs=1e-15)
    assert z[0, 3] == 0.0 and z[0, 0] == 0.0  # identical scores
    assert z[0, 1] == pytest.approx(2.20898359144091, rel=1e-9)  # pROC roc.test(wfns, s100b)
