"""Stratified bootstrap intervals: agreement with a slow reference, N/A rules, determinism, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from evaluator.groups import ROC_SUBSETS, Group
from evaluator.metrics import (
    METRIC_KEYS,
    Interval,
    bootstrap_intervals,
    mean_dice,
    spearman_rho,
    stratified_resamples,
    subset_roc_aucs,
)

SIZES = {Group.COVID: 32, Group.BACTERIAL_PNEUMONIA: 30, Group.NODULES: 30, Group.NORMAL: 31}


def synthetic_set(sizes: dict[Group, int] = SIZES, *, seed: int = 0, effect: float = 1.0) -> dict[str, np.ndarray]:
    """A test set shaped like Mosmed-Test with a plausible submission (severity as fractions)."""
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.array([g for g, n in sizes.items() for _ in range(n)], dtype=object))
    is_covid = groups == Group.COVID
    true = np.where(is_covid, rng.beta(1.2, 5.0, groups.size), np.nan)
    return {
        "groups": groups,
        "scores": rng.normal(size=groups.size) + effect * is_covid,
        "true_severity": true,
        "pred_severity": np.where(is_covid, np.clip(true + rng.normal(0, 0.05, groups.size), 0, 1), 0.01),
        "case_dice": np.where(is_covid, rng.uniform(0.3, 0.95, groups.size), np.nan),
    }


def percentile_interval(samples: list[float], confidence: float = 0.95) -> tuple[float, float, int]:
    valid = np.array([s for s in samples if s is not None and np.isfinite(s)])
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(valid, [tail, 100 - tail])
    return float(low), float(high), valid.size


def test_stratified_resamples_keep_group_sizes_and_are_seeded() -> None:
    groups = synthetic_set()["groups"]
    indices = stratified_resamples(groups, n_resamples=300, seed=5)
    assert indices.shape == (300, groups.size)
    assert np.all(groups[indices] == groups[None, :])  # every position keeps its group
    np.testing.assert_array_equal(indices, stratified_resamples(groups, n_resamples=300, seed=5))
    assert not np.array_equal(indices, stratified_resamples(groups, n_resamples=300, seed=6))
    # With replacement: some cases repeat, others are left out.
    assert len(np.unique(indices[0])) < groups.size
    with pytest.raises(ValueError, match="positive integer"):
        stratified_resamples(groups, n_resamples=0)


def test_intervals_equal_a_slow_sklearn_scipy_reference() -> None:
    data = synthetic_set(seed=1)
    groups, scores = data["groups"], data["scores"]
    n_resamples, seed = 300, 11
    fast = bootstrap_intervals(**data, n_resamples=n_resamples, seed=seed)
    assert tuple(fast) == METRIC_KEYS
    indices = stratified_resamples(groups, n_resamples=n_resamples, seed=seed)
    is_covid = groups == Group.COVID
    for subset, negatives in ROC_SUBSETS.items():
        samples = []
        for row in indices:
            g, s = groups[row], scores[row]
            keep = np.array([x == Group.COVID or x in negatives for x in g])
            samples.append(roc_auc_score(g[keep] == Group.COVID, s[keep]))
        low, high, n_valid = percentile_interval(samples)
        interval = fast[f"roc_auc_{subset}"]
        assert interval is not None and interval.n_valid == n_valid == n_resamples
        assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)
    covid_rows = [row[is_covid[row]] for row in indices]
    rho = [spearmanr(data["true_severity"][r], data["pred_severity"][r]).statistic for r in covid_rows]
    dice = [np.mean(data["case_dice"][r]) for r in covid_rows]
    for key, samples in (("spearman_rho", rho), ("mean_dice", dice)):
        low, high, n_valid = percentile_interval(samples)
        assert fast[key] == Interval(pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12), n_valid)


def test_undefined_resamples_are_dropped_and_counted() -> None:
    data = synthetic_set(seed=2)
    is_covid = data["groups"] == Group.COVID
    true = np.where(is_covid, 0.1, np.nan)
    true[np.flatnonzero(is_covid)[:2]] = [0.3, 0.5]  # ρ is undefined on resamples without these two
    data["true_severity"] = true
    result = bootstrap_intervals(**data, n_resamples=400, seed=3)
    indices = stratified_resamples(data["groups"], n_resamples=400, seed=3)
    defined = [len(np.unique(true[row[is_covid[row]]])) > 1 for row in indices]
    interval = result["spearman_rho"]
    assert interval is not None
    assert interval.n_valid == sum(defined) < 400


def test_not_applicable_metrics_get_none() -> None:
    data = synthetic_set(seed=3)
    result = bootstrap_intervals(**{**data, "scores": None, "pred_severity": None, "case_dice": None})
    assert result == dict.fromkeys(METRIC_KEYS)
    no_nodules = synthetic_set({Group.COVID: 10, Group.NORMAL: 10}, seed=4)
    result = bootstrap_intervals(**no_nodules, n_resamples=100)
    assert result["roc_auc_nodules"] is None and result["roc_auc_bacterial_pneumonia"] is None
    assert result["roc_auc_all"] is not None and result["roc_auc_normal"] is not None
    constant_truth = {**data, "true_severity": np.where(data["groups"] == Group.COVID, 0.2, np.nan)}
    assert bootstrap_intervals(**constant_truth, n_resamples=100)["spearman_rho"] is None


def test_per_covid_case_arrays_are_accepted() -> None:
    data = synthetic_set(seed=5)
    is_covid = data["groups"] == Group.COVID
    short = {key: data[key][is_covid] for key in ("true_severity", "pred_severity", "case_dice")}
    assert bootstrap_intervals(**{**data, **short}, n_resamples=200) == bootstrap_intervals(**data, n_resamples=200)
    with pytest.raises(ValueError, match="expected one value per case"):
        bootstrap_intervals(**{**data, "case_dice": [0.5, 0.5]}, n_resamples=10)
    one_missing = np.r_[np.nan, short["case_dice"][1:]]
    with pytest.raises(ValueError, match=r"case_dice \(COVID-19 cases\): 1 of 32 values are missing"):
        bootstrap_intervals(**{**data, "case_dice": one_missing}, n_resamples=10)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_intervals(**data, confidence=95)


def test_perfect_separation_gives_a_point_interval() -> None:
    data = synthetic_set(seed=6)
    data["scores"] = (data["groups"] == Group.COVID).astype(float) + 0.01 * np.arange(data["groups"].size) / 200
    result = bootstrap_intervals(**data, n_resamples=200)
    for subset in ROC_SUBSETS:
        assert result[f"roc_auc_{subset}"] == Interval(1.0, 1.0, 200)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    sizes=st.tuples(*[st.integers(min_value=8, max_value=40)] * 4),
    effect=st.floats(min_value=0.0, max_value=2.0),
)
@example(seed=12467, sizes=(10, 8, 38, 40), effect=0.0)  # ρ = 1 − 1e-16 on the full set, 1.0 in every resample
def test_interval_contains_the_estimate_and_is_deterministic(
    seed: int, sizes: tuple[int, int, int, int], effect: float
) -> None:
    data = synthetic_set(dict(zip(Group, sizes, strict=True)), seed=seed, effect=effect)
    result = bootstrap_intervals(**data, n_resamples=500, seed=seed)
    assert result == bootstrap_intervals(**data, n_resamples=500, seed=seed)
    is_covid = data["groups"] == Group.COVID
    estimates = {f"roc_auc_{k}": v for k, v in subset_roc_aucs(data["groups"], data["scores"]).items()}
    estimates["spearman_rho"] = spearman_rho(data["true_severity"][is_covid], data["pred_severity"][is_covid])
    estimates["mean_dice"] = mean_dice(data["case_dice"][is_covid])
    for key, estimate in estimates.items():
        interval = result[key]
        assert interval is not None and estimate is not None
        # up to floating-point rounding: e.g. ρ = 0.9999999999999999 from the full set, exactly 1.0 in every resample
        slack = 1e-12
        assert interval.low - slack <= estimate <= interval.high + slack, (key, estimate, interval)


def test_timing_of_the_default_bootstrap(capsys: pytest.CaptureFixture[str]) -> None:
    data = synthetic_set()
    bootstrap_intervals(**data, n_resamples=50)  # warm-up (imports, caches)
    start = time.perf_counter()
    result = bootstrap_intervals(**data)
    elapsed = time.perf_counter() - start
    assert all(interval is not None and interval.n_valid == 2000 for interval in result.values())
    with capsys.disabled():
        print(f"\n[timing] bootstrap_intervals, 123 cases, 2,000 resamples, 6 metrics: {elapsed * 1000:.1f} ms")
