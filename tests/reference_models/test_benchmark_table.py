"""The reference table's text: one run next to the paper, and mean ± std over training seeds."""

from __future__ import annotations

import pytest

from reference_models.benchmark import combined_table, markdown_table


def run(seed: int, *, ms1: float, rho: float | None, steps: int = 1000) -> dict:
    metrics = {"roc_auc_all": ms1, "roc_auc_normal": ms1, "roc_auc_bacterial_pneumonia": ms1,
               "roc_auc_nodules": ms1, "spearman_rho": rho, "mean_dice": 0.5}
    return {"settings": {"seed": seed, "steps": {"multitask_spatial1": steps}, "scale": "small"},
            "scores": {"multitask_spatial1": {"metrics": metrics}}}


def test_mean_and_sample_std_over_seeds_with_na_counted() -> None:
    text = combined_table([run(0, ms1=0.95, rho=0.97), run(1, ms1=0.91, rho=None), run(2, ms1=0.93, rho=0.95)])
    row = next(line for line in text.splitlines() if line.startswith("| Multitask-Spatial-1"))
    assert "**.93 ± .02** (.93 ± .01)" in row  # mean .93, sample std .02; the paper's cell beside it
    assert "**.96 ± .01 (2 of 3)** (.97 ± .01)" in row
    assert "3 training seeds (0, 1, 2)" in text


def test_runs_that_differ_in_more_than_the_seed_are_refused() -> None:
    with pytest.raises(ValueError, match="more than their training seed"):
        combined_table([run(0, ms1=0.9, rho=0.9), run(1, ms1=0.9, rho=0.9, steps=200)])
    with pytest.raises(ValueError, match="no runs"):
        combined_table([])


def test_single_run_table_says_one_seed() -> None:
    results = run(0, ms1=0.95, rho=0.97)
    assert "**.95** (.93 ± .01)" in markdown_table(results) and "one seed" in markdown_table(results)


def test_triage_gain_is_listed_apart_when_the_results_have_it() -> None:
    assert "Triage gain" not in markdown_table(run(0, ms1=0.95, rho=0.97))  # results.json from before
    results = run(0, ms1=0.95, rho=0.97)
    results["scores"]["multitask_spatial1"]["triage_gain"] = {"minutes": 12.34, "interval": {"low": 6.0, "high": 20.0}}
    assert "| Multitask-Spatial-1 | **12.3** (6.0 to 20.0) |" in markdown_table(results)
    runs = [run(seed, ms1=0.95, rho=0.97) for seed in (0, 1)]
    for minutes, one in zip((10.0, 12.0), runs, strict=True):
        one["scores"]["multitask_spatial1"]["triage_gain"] = {"minutes": minutes, "interval": None}
    assert "| Multitask-Spatial-1 | **11.0 ± 1.4** |" in combined_table(runs)
