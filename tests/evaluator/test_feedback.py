"""Pure feedback-policy logic (evaluator/feedback.py) and the non-invertible chart summaries."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from evaluator.feedback import guard_reason, ladder, rescore, round_interval, split_cases
from evaluator.groups import Group
from evaluator.metrics import roc_auc
from evaluator.metrics.smoothed import FPR_GRID, averaged_roc, severity_summaries
from evaluator.scoring import ScoringOptions


def groups_of(n_per_group: int) -> dict[str, str]:
    return {f"c{g}{i:02d}": group.value for g, group in enumerate(Group) for i in range(n_per_group)}


def test_the_split_is_stratified_fixed_and_depends_on_the_seed():
    cases = groups_of(10)
    split = split_cases(cases, fraction=0.5, seed=3)
    assert all(sum(1 for c in split if cases[c] == g.value) == 5 for g in Group)
    assert split == split_cases(dict(reversed(list(cases.items()))), fraction=0.5, seed=3)  # order-free
    assert split != split_cases(cases, fraction=0.5, seed=4)
    tiny = split_cases({"a": "covid", "b": "normal", "c": "normal"}, fraction=0.1, seed=0)
    assert {cases for cases in tiny} & {"a"} == {"a"} and len(tiny & {"b", "c"}) == 1  # ≥ 1 in, ≥ 1 out
    with pytest.raises(ValueError):
        split_cases(cases, fraction=1.0, seed=0)


def test_the_ladder_moves_only_on_improvements_of_eta_and_rounds():
    steps = ladder([0.703, 0.709, 0.7131, None, 0.69, 0.7249], eta=0.01)
    assert [s.value for s in steps] == [0.70, 0.70, 0.71, 0.71, 0.71, 0.72]
    assert [s.source for s in steps] == [0, 0, 2, 2, 2, 5]
    assert [s.moved for s in steps] == [True, False, True, False, False, True]
    assert ladder([None, 0.5], eta=0.05)[0].value is None
    with pytest.raises(ValueError):
        ladder([0.5], eta=0)


def test_intervals_are_widened_outwards_to_eta():
    assert round_interval([0.6234, 0.8711], eta=0.01) == [0.62, 0.88]
    assert round_interval([0.62, 0.88], eta=0.01) == [0.62, 0.88]
    assert round_interval(None, eta=0.01) is None


def rows(probabilities: list[float]) -> list[dict]:
    return [{"case_id": f"c{i}", "covid_probability": p, "predicted_severity": None, "predicted_voxels": None}
            for i, p in enumerate(probabilities)]


def test_the_guard_withholds_mostly_ties_and_small_changes_only():
    varied = [i / 20 for i in range(20)]
    assert guard_reason(rows(varied), []) is None
    probe = [0.5] * 19 + [1.0]
    assert "19 of 20 cases share one covid_probability value" in guard_reason(rows(probe), [])
    one_changed = varied[:-1] + [0.99]
    assert "only 1 of 20 cases" in guard_reason(rows(one_changed), [rows(varied)])
    many_changed = list(reversed(varied))
    assert guard_reason(rows(many_changed), [rows(varied)]) is None


def test_rescore_recomputes_the_metrics_of_a_part_of_the_cases():
    rng = np.random.default_rng(0)
    per_case = []
    for i, group in enumerate([g for g in Group for _ in range(6)]):
        per_case.append({"case_id": f"c{i:02d}", "group": group.value, "covid_probability": float(rng.random()),
                         "predicted_severity": None, "true_severity": 0.3 if group is Group.COVID else None,
                         "dice": None})
    document = {"inputs": {"identification_score": "covid_probability", "severity": None, "masks": False},
                "track": "archive"}
    part = {row["case_id"] for row in per_case[::2]}
    result = rescore(document, per_case, part, options=ScoringOptions(n_resamples=20, workers=1))
    chosen = [row for row in per_case if row["case_id"] in part]
    expected = roc_auc([row["group"] == "covid" for row in chosen], [row["covid_probability"] for row in chosen])
    assert result["n_cases"] == 12 and result["metrics"]["roc_auc_all"] == pytest.approx(expected)
    assert result["intervals"]["roc_auc_all"] is not None and "roc_averaged" in result["extras"]


def test_the_averaged_roc_lies_on_the_fixed_grid_and_summaries_need_five_cases():
    groups = [Group.COVID] * 6 + [Group.NORMAL] * 6 + [Group.NODULES] * 3
    scores = [0.9, 0.8, 0.7, 0.6, 0.4, 0.35, 0.5, 0.3, 0.2, 0.1, 0.05, 0.65, 0.2, 0.3, 0.1]
    curves = averaged_roc(groups, scores, n_resamples=50)
    assert curves["all"]["fpr"] == list(FPR_GRID) and curves["bacterial_pneumonia"] is None
    tpr = curves["all"]["tpr"]
    assert tpr[0] >= 0 and tpr[-1] == 1.0 and all(b >= a for a, b in pairwise(tpr))
    summaries = severity_summaries(groups, scores, n_resamples=50)
    assert summaries["nodules"] is None and summaries["covid"]["n"] == 6
    assert summaries["covid"]["q25"] <= summaries["covid"]["median"] <= summaries["covid"]["q75"]
    assert severity_summaries(groups, None) is None
