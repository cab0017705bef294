"""DeLong's test against published numbers and against an exact, independent implementation.

Reference values come from (1) Hanley & McNeil's (1982) published rating table and the summaries published for
it, and (2) ``exact_delong`` below: DeLong et al. (1988) straight from the definitions, in exact rational
arithmetic with explicit O(m·n) loops, on project-generated paired scores with ties (data/paired_scores.csv).
"""

from __future__ import annotations

import csv
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, norm
from sklearn.metrics import roc_auc_score

from evaluator.metrics import delong_covariance, delong_differences, delong_test

DATA = Path(__file__).parent / "data"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open() as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def hanley_mcneil() -> tuple[np.ndarray, np.ndarray]:
    """The 109 patients of Hanley & McNeil (1982), Table 1: (abnormal, rating) per patient."""
    labels: list[bool] = []
    ratings: list[int] = []
    for row in _rows("hanley_mcneil_1982.csv"):
        for truth in ("normal", "abnormal"):
            count = int(row[truth])
            labels += [truth == "abnormal"] * count
            ratings += [int(row["rating"])] * count
    assert (len(labels), sum(labels)) == (109, 51)
    return np.array(labels), np.array(ratings, dtype=float)


def paired_scores() -> tuple[np.ndarray, dict[str, list[str]]]:
    """data/paired_scores.csv: labels and each score column as its decimal strings (exact)."""
    rows = _rows("paired_scores.csv")
    assert len(rows) == 96
    labels = np.array([row["positive"] == "1" for row in rows])
    return labels, {key: [row[key] for row in rows] for key in ("rating", "marker", "skewed")}


def exact_delong(labels: np.ndarray, scores: list[list[Fraction]]) -> tuple[list[Fraction], list[list[Fraction]]]:
    """AUCs and DeLong covariance matrix, exactly: placements from the ψ kernel, sample covariances (n − 1)."""
    pos = [i for i, positive in enumerate(labels) if positive]
    neg = [j for j, positive in enumerate(labels) if not positive]
    m, n = len(pos), len(neg)

    def psi(x: Fraction, y: Fraction) -> Fraction:
        return Fraction(1) if x > y else Fraction(1, 2) if x == y else Fraction(0)

    v10 = [[sum((psi(s[i], s[j]) for j in neg), Fraction(0)) / n for i in pos] for s in scores]
    v01 = [[sum((psi(s[i], s[j]) for i in pos), Fraction(0)) / m for j in neg] for s in scores]
    aucs = [sum(v, Fraction(0)) / m for v in v10]

    def cov(u: list[Fraction], v: list[Fraction]) -> Fraction:
        mu, mv = sum(u, Fraction(0)) / len(u), sum(v, Fraction(0)) / len(v)
        return sum(((a - mu) * (b - mv) for a, b in zip(u, v, strict=True)), Fraction(0)) / (len(u) - 1)

    k = len(scores)
    covariance = [[cov(v10[r], v10[c]) / m + cov(v01[r], v01[c]) / n for c in range(k)] for r in range(k)]
    return aucs, covariance


def exact_test(labels: np.ndarray, a: list[Fraction], b: list[Fraction]) -> dict[str, float]:
    aucs, s = exact_delong(labels, [a, b])
    variance = s[0][0] + s[1][1] - 2 * s[0][1]
    z = float(aucs[0] - aucs[1]) / math.sqrt(variance)
    half = norm.ppf(0.975) * math.sqrt(variance)
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "var_a": float(s[0][0]), "var_b": float(s[1][1]),
            "covariance": float(s[0][1]), "z": z, "p_value": 2 * norm.sf(abs(z)),
            "ci_low": float(aucs[0] - aucs[1]) - half, "ci_high": float(aucs[0] - aucs[1]) + half}


def test_hanley_mcneil_table_reproduces_published_area_and_delong_interval() -> None:
    """Published: area 0.893 (Hanley & McNeil 1982); DeLong SE 0.0307, 95% CI 0.83295–0.95339 (Stata roctab)."""
    labels, ratings = hanley_mcneil()
    aucs, cov = delong_covariance(labels, ratings)
    auc, se = float(aucs[0]), math.sqrt(cov[0, 0])
    assert round(auc, 3) == 0.893 and round(auc, 4) == 0.8932
    assert round(se, 4) == 0.0307
    half = norm.ppf(0.975) * se
    assert (round(auc - half, 5), round(auc + half, 5)) == (0.83295, 0.95339)
    exact_aucs, exact_cov = exact_delong(labels, [[Fraction(int(r)) for r in ratings]])
    # counted by hand from Table 1: of the 51·58 = 2958 (abnormal, normal) pairs 2487 rank correctly, 310 tie
    assert exact_aucs[0] == Fraction(2487 * 2 + 310, 2 * 2958)
    assert auc == pytest.approx(float(exact_aucs[0]), rel=1e-14)
    assert cov[0, 0] == pytest.approx(float(exact_cov[0][0]), rel=1e-12)


def test_paired_scores_match_exact_delong_test() -> None:
    """Every output of delong_test on the three pairs (both orders) equals the exact reference."""
    labels, columns = paired_scores()
    floats = {key: np.array([float(v) for v in values]) for key, values in columns.items()}
    exact = {key: [Fraction(v) for v in values] for key, values in columns.items()}
    for a, b in [("rating", "marker"), ("rating", "skewed"), ("skewed", "marker")]:
        result = delong_test(labels, floats[a], floats[b])
        reference = exact_test(labels, exact[a], exact[b])
        for key in ("auc_a", "auc_b"):
            assert getattr(result, key) == pytest.approx(reference[key], rel=1e-14), (a, b, key)
        for key in ("var_a", "var_b", "covariance"):
            assert getattr(result, key) == pytest.approx(reference[key], rel=1e-12), (a, b, key)
        for key in ("z", "p_value", "ci_low", "ci_high"):
            assert getattr(result, key) == pytest.approx(reference[key], rel=1e-10), (a, b, key)
        assert result.difference == pytest.approx(reference["auc_a"] - reference["auc_b"], abs=1e-15)
        swapped = delong_test(labels, floats[b], floats[a])
        assert swapped.z == pytest.approx(-result.z, rel=1e-12) and swapped.p_value == pytest.approx(result.p_value,
                                                                                                       rel=1e-12)
    # the pairs are informative: one significant, one not, at the 5% level
    p_values = sorted(delong_test(labels, floats[a], floats[b]).p_value
                      for a, b in [("rating", "marker"), ("rating", "skewed"), ("skewed", "marker")])
    assert p_values[0] < 0.05 < p_values[-1]


def test_paired_scores_covariance_matrix_matches_exact_and_mann_whitney() -> None:
    labels, columns = paired_scores()
    keys = ("rating", "marker", "skewed")
    matrix = np.array([[float(v) for v in columns[key]] for key in keys])
    aucs, cov = delong_covariance(labels, matrix)
    exact_aucs, exact_cov = exact_delong(labels, [[Fraction(v) for v in columns[key]] for key in keys])
    np.testing.assert_allclose(aucs, [float(x) for x in exact_aucs], rtol=1e-14)
    np.testing.assert_allclose(cov, [[float(x) for x in row] for row in exact_cov], rtol=1e-12)
    np.testing.assert_array_equal(cov, cov.T)
    m, n = int(labels.sum()), int((~labels).sum())
    for row, auc in zip(matrix, aucs, strict=True):  # the AUC is the Mann–Whitney U over m·n (ties ½)
        assert auc == pytest.approx(mannwhitneyu(row[labels], row[~labels]).statistic / (m * n), rel=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_matches_exact_implementation_on_random_data_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(70) < 0.45
    truth = labels.astype(float)
    a = np.round(truth + rng.normal(0, 1.0, 70))  # integers: many ties, within and across classes
    b = np.round(0.5 * a + truth + rng.normal(0, 1.0, 70))
    fast = delong_test(labels, a, b)
    slow = exact_test(labels, [Fraction(x) for x in a], [Fraction(x) for x in b])
    for key, value in slow.items():
        assert getattr(fast, key) == pytest.approx(value, rel=1e-10, abs=1e-15), key
    assert fast.auc_a == pytest.approx(roc_auc_score(labels, a), abs=1e-14)
    assert fast.auc_b == pytest.approx(roc_auc_score(labels, b), abs=1e-14)


def test_identical_scores_give_z_zero_p_one() -> None:
    labels, ratings = hanley_mcneil()
    result = delong_test(labels, ratings, ratings)
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


def test_differences_of_many_pairs_equal_the_two_sample_test_and_the_exact_reference() -> None:
    """delong_differences (all pairs at once) against delong_test and exact_test on the paired scores."""
    labels, columns = paired_scores()
    keys = ("rating", "marker", "skewed", "rating")  # the repeat: identical scores
    matrix = np.array([[float(v) for v in columns[key]] for key in keys])
    first, second = np.meshgrid(np.arange(len(keys)), np.arange(len(keys)), indexing="ij")
    z, variance = delong_differences(*delong_covariance(labels, matrix), first, second)
    for i in range(len(keys)):
        for j in range(len(keys)):
            expected = delong_test(labels, matrix[i], matrix[j])
            assert z[i, j] == pytest.approx(expected.z, rel=1e-12, abs=1e-15), (i, j)
            half = expected.ci_high - expected.difference
            assert norm.ppf(0.975) * np.sqrt(variance[i, j]) == pytest.approx(half, rel=1e-12, abs=1e-15)
            if keys[i] != keys[j]:
                exact = exact_test(labels, [Fraction(v) for v in columns[keys[i]]],
                                   [Fraction(v) for v in columns[keys[j]]])
                assert z[i, j] == pytest.approx(exact["z"], rel=1e-10), (i, j)
    assert z[0, 3] == 0.0 and z[0, 0] == 0.0 and variance[0, 3] == 0.0
