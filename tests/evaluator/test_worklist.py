"""The worklist simulation behind the triage impact: queueing theory, orderings, N/A rules, determinism."""

import json
import math

import numpy as np
import pytest

from evaluator.worklist import (
    MEASURE_KEYS,
    ReadingTime,
    SimulationSize,
    WorklistParameters,
    simulate,
    triage_impact,
    worklist_ranks,
)

SMALL = SimulationSize(days=30, resamples=20, days_per_resample=3)


def _testset(n_covid=12, n_other=24, seed=0):
    rng = np.random.default_rng(seed)
    groups = ["covid"] * n_covid + ["normal", "bacterial_pneumonia", "nodules"] * (n_other // 3)
    truth = [float(x) for x in rng.uniform(0.0, 0.8, n_covid)] + [None] * (len(groups) - n_covid)
    return groups, truth


def _erlang_c_wait(*, rate: float, mean: float, servers: int) -> tuple[float, float]:
    """M/M/c: (mean waiting time, probability of waiting) from the Erlang C formula."""
    load = rate * mean
    rho = load / servers
    tail = load ** servers / math.factorial(servers) / (1 - rho)
    waiting = tail / (sum(load ** k / math.factorial(k) for k in range(servers)) + tail)
    return waiting / (servers / mean - rate), waiting


def _fifo_days(parameters, days, seed=1):
    run = simulate(case_pools=[np.arange(1)], orders=[None], parameters=parameters, days=days,
                   rng=np.random.default_rng(seed))[0]
    per_day = np.array([run.waits[0][run.days == d].mean() for d in range(days)])
    return run, per_day


def test_fifo_waits_match_erlang_c():
    """M/M/2 at 60 % load over 24-hour days: mean wait and chance of waiting within three standard errors."""
    parameters = WorklistParameters(arrivals_per_hour=45.0, reading_minutes=1.6, readers=2, day_hours=24.0)
    expected_wait, expected_share = _erlang_c_wait(rate=45.0 / 60, mean=1.6, servers=2)
    run, per_day = _fifo_days(parameters, days=20)
    error = per_day.std(ddof=1) / math.sqrt(per_day.size)
    assert abs(per_day.mean() - expected_wait) < 3 * error, (per_day.mean(), expected_wait, error)
    waited = np.array([np.mean(run.waits[0][run.days == d] > 0) for d in range(20)])
    assert abs(waited.mean() - expected_share) < 3 * waited.std(ddof=1) / math.sqrt(20)


def test_fifo_waits_match_pollaczek_khinchine_for_fixed_reading_times():
    """M/D/1 at 60 % load: mean wait ρ·m / (2(1 − ρ))."""
    parameters = WorklistParameters(arrivals_per_hour=36.0, reading_minutes=1.0, readers=1, day_hours=24.0,
                                    reading_time=ReadingTime.FIXED)
    _, per_day = _fifo_days(parameters, days=20)
    expected = 0.6 * 1.0 / (2 * (1 - 0.6))
    error = per_day.std(ddof=1) / math.sqrt(per_day.size)
    assert abs(per_day.mean() - expected) < 3 * error, (per_day.mean(), expected, error)


def test_every_order_shares_the_reading_slots():
    """Readings start at the same moments whatever the order, so the mean wait over all studies is the same."""
    parameters = WorklistParameters(arrivals_per_hour=10.0, reading_minutes=10.0, readers=2, day_hours=8.0)
    ranks = np.random.default_rng(3).permutation(20)
    run = simulate(case_pools=[np.arange(20)], orders=[None, ranks, ranks[::-1]], parameters=parameters, days=10,
                   rng=np.random.default_rng(0))[0]
    totals = run.waits.sum(axis=1)
    assert totals[0] > 0
    assert np.allclose(totals, totals[0])
    assert not np.allclose(run.waits[0], run.waits[1])


def test_case_pools_share_their_days():
    """Common random numbers: pools of the same size see the same arrivals, readings and draw positions."""
    parameters = WorklistParameters(arrivals_per_hour=10.0, reading_minutes=10.0, readers=2, day_hours=8.0)
    pool = np.arange(20)
    shuffled = pool[::-1].copy()
    same, again, other = simulate(case_pools=[pool, pool.copy(), shuffled], orders=[None, pool],
                                  parameters=parameters, days=5, rng=np.random.default_rng(0))
    assert np.array_equal(same.cases, again.cases) and np.array_equal(same.waits, again.waits)
    assert np.array_equal(other.cases, 19 - same.cases)  # position j draws pool[j] in every pool
    assert np.array_equal(other.waits[0], same.waits[0])  # first in, first out ignores which case it is
    with pytest.raises(ValueError, match="same size"):
        simulate(case_pools=[pool, pool[:5]], orders=[None], parameters=parameters, days=1,
                 rng=np.random.default_rng(0))


def test_worklist_ranks_called_positives_by_severity_then_the_rest_by_score():
    scores = [0.9, 0.6, 0.2, 0.4, 0.6]  # cases 1 and 4 are alike: they share a place (arrival order decides)
    severity = [0.1, 0.5, 0.9, 0.0, 0.5]
    assert worklist_ranks(scores=scores, severity=severity, threshold=0.5).tolist() == [1, 0, 3, 2, 0]
    assert worklist_ranks(scores=scores, severity=None, threshold=0.5).tolist() == [0, 1, 3, 2, 1]
    assert worklist_ranks(scores=severity, severity=None, threshold=None).tolist() == [2, 1, 0, 3, 1]


def test_perfect_entry_saves_at_least_as_much_as_any_other():
    groups, truth = _testset()
    covid = np.array([g == "covid" for g in groups])
    true = np.array([t or 0.0 for t in truth])
    rng = np.random.default_rng(5)
    perfect = triage_impact(groups=groups, true_severity=truth, scores=covid * 1.0, severity=true, threshold=0.5,
                            size=SMALL)
    others = {
        "noisy": (np.clip(covid * 0.6 + rng.normal(0, 0.3, covid.size), 0, 1), true + rng.normal(0, 0.1, covid.size)),
        "no severity": (np.clip(covid * 0.5 + rng.normal(0, 0.3, covid.size), 0, 1), None),
        "random": (rng.random(covid.size), rng.random(covid.size)),
        "inverted": (1.0 - covid, None),
    }
    best = perfect["measures"]["triage_gain"]
    assert best > 0
    for name, (scores, severity) in others.items():
        other = triage_impact(groups=groups, true_severity=truth, scores=scores, severity=severity, threshold=0.5,
                              size=SMALL)
        assert other["measures"]["triage_gain"] <= best + 1e-9, name
    inverted = triage_impact(groups=groups, true_severity=truth, scores=1.0 - covid, severity=None, threshold=0.5,
                             size=SMALL)
    assert inverted["measures"]["triage_gain"] < 0
    assert perfect["measures"]["positive_wait_median"] <= perfect["measures"]["positive_wait_median_fifo"]
    assert perfect["measures"]["severe_within_target"] >= perfect["measures"]["severe_within_target_fifo"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_entry_saves_nothing_within_the_interval(seed):
    groups, truth = _testset(n_covid=15, n_other=45, seed=seed)
    scores = np.random.default_rng(100 + seed).random(len(groups))
    document = triage_impact(groups=groups, true_severity=truth, scores=scores, severity=None, threshold=0.5,
                             size=SimulationSize(days=40, resamples=40, days_per_resample=4))
    interval = document["intervals"]["triage_gain"]
    assert interval["low"] <= 0.0 <= interval["high"], interval


def test_deterministic_for_a_seed():
    groups, truth = _testset()
    scores = np.random.default_rng(0).random(len(groups))
    one = triage_impact(groups=groups, true_severity=truth, scores=scores, severity=None, threshold=0.5, size=SMALL)
    two = triage_impact(groups=groups, true_severity=truth, scores=scores, severity=None, threshold=0.5, size=SMALL)
    other = triage_impact(groups=groups, true_severity=truth, scores=scores, severity=None, threshold=0.5,
                          size=SMALL, seed=1)
    assert json.dumps(one) == json.dumps(two)
    assert one["measures"] != other["measures"]
    assert set(one["measures"]) == set(one["intervals"]) == set(MEASURE_KEYS)


def test_aggregates_only():
    """The document holds the parameters, simulation size, measures and a coarse distribution: nothing per case."""
    groups, truth = _testset()
    covid = np.array([g == "covid" for g in groups])
    document = triage_impact(groups=groups, true_severity=truth, scores=covid * 0.8, severity=None, threshold=0.5,
                             size=SMALL)
    assert set(document) == {"parameters", "simulation", "ordering", "measures", "intervals", "distribution",
                             "not_applicable"}
    shown = document["distribution"]
    assert len(shown["minutes"]) <= 26
    assert all(len(series) == len(shown["minutes"]) for part in ("positive", "severe")
               for series in shown[part].values())
    assert document["simulation"]["studies"] > len(groups)


def test_not_applicable_without_scores_or_covid_cases():
    groups, truth = _testset()
    none = triage_impact(groups=groups, true_severity=truth, scores=None, severity=None, threshold=0.5, size=SMALL)
    assert none["measures"] is None and none["not_applicable"] == "no identification score"
    others = ["normal", "nodules"] * 5
    no_covid = triage_impact(groups=others, true_severity=[None] * 10, scores=np.linspace(0, 1, 10), severity=None,
                             threshold=0.5, size=SMALL)
    assert no_covid["measures"] is None and no_covid["not_applicable"] == "no COVID-19 cases"


def test_parameters_from_a_mapping_list_every_problem():
    assert WorklistParameters.from_dict({}) == WorklistParameters()
    assert WorklistParameters.from_dict({"readers": 3, "reading_time": "fixed"}).readers == 3
    with pytest.raises(ValueError) as error:
        WorklistParameters.from_dict({"readers": 0, "reading_minutes": -1, "reading_time": "normal", "speed": 1})
    message = str(error.value)
    for fragment in ("readers", "reading_minutes", "reading_time", "'speed'"):
        assert fragment in message
    with pytest.raises(ValueError, match="studies a day"):
        WorklistParameters.from_dict({"arrivals_per_hour": 100, "day_hours": 24})
    assert WorklistParameters.from_dict(WorklistParameters().to_dict()) == WorklistParameters()
