"""Several training seeds side by side (reference_models.seed_runs): one lung network for all, every network
trained once, each seed predicted in one final pass."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from reference_models.benchmark import FAST_SETTINGS, BenchmarkSettings, _stale_reason, combined_table
from reference_models.provision import BENCHMARK_STEPS
from reference_models.seed_runs import run_seeds, share_first_seed, training_tasks


def test_training_tasks_put_the_longest_schedules_first_and_skip_what_has_nothing_to_train() -> None:
    tasks = training_tasks([0, 1], ["thresholding", "unet2d_plus", "multitask_spatial1", "unet2d"],
                           {"multitask_spatial1": 1000, "unet2d": 600, "unet2d_plus": 300})
    assert tasks == [(0, "multitask_spatial1"), (1, "multitask_spatial1"), (0, "unet2d"), (1, "unet2d"),
                     (0, "unet2d_plus"), (1, "unet2d_plus")]


def test_another_seed_shares_the_first_ones_inputs_as_links_and_keeps_its_own(tmp_path) -> None:
    first, other = tmp_path / "seed-0", tmp_path / "seed-1"
    for relative in ("training-data/a/x.nii.gz", "testset.json", "weights/lungs/best.pt",
                     "weights/unet2d/best.pt", "archives/thresholding.zip", "prepared-cache/k/meta.json"):
        (first / relative).parent.mkdir(parents=True, exist_ok=True)
        (first / relative).write_text(relative)
    (other / "archives").mkdir(parents=True)
    (other / "archives" / "lungs.json").write_text("mine")
    share_first_seed(first, other)
    share_first_seed(first, other)  # again: nothing to do, no error
    for relative in ("training-data/a/x.nii.gz", "testset.json", "weights/lungs/best.pt",
                     "archives/thresholding.zip"):
        assert os.stat(first / relative).st_ino == os.stat(other / relative).st_ino, relative
    assert not (other / "weights" / "unet2d").exists()  # a method's network is each seed's own
    assert (other / "archives" / "lungs.json").read_text() == "mine"
    assert os.readlink(other / "prepared-cache") == os.path.join("..", "seed-0", "prepared-cache")
    assert (other / "prepared-cache" / "k" / "meta.json").read_text() == "prepared-cache/k/meta.json"


def test_the_lung_network_is_current_for_every_training_seed_but_not_for_another_lung_seed(tmp_path) -> None:
    from reference_models.training.config import default_config

    run = tmp_path / "weights" / "lungs"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"lungs")
    steps = BENCHMARK_STEPS["lungs"]
    (run / "config.json").write_text(json.dumps(default_config("lungs", scale="small", steps=steps,
                                                               seed=0).to_dict()))
    (run / "history.jsonl").write_text(json.dumps({"step": steps}) + "\n")
    for seed in (0, 1, 2):
        assert _stale_reason(tmp_path / "weights", "lungs", settings=BenchmarkSettings(seed=seed)) is None
    assert _stale_reason(tmp_path / "weights", "lungs", settings=BenchmarkSettings(lung_seed=1)).startswith(
        "trained with")


@pytest.mark.slow
def test_two_seeds_train_one_lung_network_and_each_method_once(tmp_path) -> None:
    """End to end on a tiny benchmark, two worker processes: thresholding rests on the shared lungs alone, so
    its numbers are the same in both seeds (Table 2's ± .00); 2D U-Net is trained once per seed, with its seed."""
    settings = dataclasses.replace(FAST_SETTINGS, test_counts={g: 2 for g in FAST_SETTINGS.test_counts},
                                   steps={**FAST_SETTINGS.steps, "lungs": 4, "unet2d": 4}, bootstrap=20)
    logged: list[str] = []
    runs = run_seeds(tmp_path, settings=settings, seeds=[0, 3], methods=["thresholding", "unet2d"], jobs=2,
                     log=logged.append)
    assert [r["settings"]["seed"] for r in runs] == [0, 3]
    assert {r["settings"]["lung_seed"] for r in runs} == {0}
    first, other = tmp_path / "seed-0", tmp_path / "seed-3"
    assert os.stat(first / "weights/lungs/best.pt").st_ino == os.stat(other / "weights/lungs/best.pt").st_ino
    assert runs[0]["scores"]["thresholding"]["metrics"] == runs[1]["scores"]["thresholding"]["metrics"]
    assert runs[0]["lung_dice"] == runs[1]["lung_dice"]
    for run, folder, seed in ((runs[0], first, 0), (runs[1], other, 3)):
        assert set(run["scores"]) == {"thresholding", "unet2d"}
        config = json.loads((folder / "weights/unet2d/config.json").read_text())
        assert config["seed"] == seed and config["schedule"]["steps"] == 4
    assert [line for line in logged if "training unet2d" in line] == ["seed 0: training unet2d",
                                                                       "seed 3: training unet2d"]
    assert "training lungs …" in logged and logged.count("training lungs …") == 1  # once, in the first seed
    assert "2 training seeds (0, 3)" in combined_table(runs)
