"""Shipped reference weights: export with a manifest, verification, and the repository's own reference_weights/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from reference_models.benchmark import TABLE_METHODS, table2_shape
from reference_models.pipeline import load_method
from reference_models.provision import train_one
from reference_models.registry import METHODS
from reference_models.shipped import (
    MANIFEST,
    SHIPPED_DIR,
    SHIPPED_METHODS,
    SIZE_LIMIT_BYTES,
    benchmark_shipped,
    compact_state_dict,
    export_run,
    read_manifest,
    record_benchmark,
    verify_shipped,
)
from reference_models.training.grid_search import PAPER_PARAMETERS
from reference_models.weights import BEST, file_digest, read_checkpoint

TINY = ("lungs", "unet2d", "resnet50", "multitask_spatial1")
PROVENANCE = {"command": "python scripts/ship_reference_weights.py", "seed": 0, "commit": "abc", "scale": "tiny"}


def test_export_writes_compact_weights_and_a_manifest_that_verifies(tiny_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "shipped"
    runs = tmp_path / "runs"
    shutil.copytree(tiny_weights, runs, ignore=shutil.ignore_patterns("cache"))
    train_one("thresholding", records=[], out_dir=runs / "thresholding", lungs_dir=None, scale="small", steps=None,
              seed=0, device="cpu", cache_dir=None, progress=False)
    manifest = export_run(runs, out, methods=(*TINY, "thresholding"), provenance=PROVENANCE)
    assert set(manifest["files"]) == {f"{m}/{BEST}" for m in (*TINY, "thresholding")}
    thresholding = load_method("thresholding", out / "thresholding")
    assert thresholding.model is None and thresholding.predict_options == PAPER_PARAMETERS
    assert manifest["seed"] == 0 and manifest["commit"] == "abc" and manifest["command"].startswith("python scripts/")
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == file_digest(out / name) and entry["bytes"] == (out / name).stat().st_size
    assert json.loads((out / MANIFEST).read_text()) == manifest
    assert verify_shipped(out, methods=(*TINY, "thresholding")) == []
    original = read_checkpoint(tiny_weights / "multitask_spatial1")
    shipped = read_checkpoint(out / "multitask_spatial1")
    assert "train" not in shipped["data"]  # no per-series provenance in the repository
    for key, value in shipped["state_dict"].items():
        before = original["state_dict"][key]
        if before.is_floating_point() and before.ndim >= 2:
            assert value.dtype == torch.float16
            torch.testing.assert_close(value.float(), before, rtol=2**-10, atol=1e-7)
        else:
            assert value.dtype == before.dtype and torch.equal(value, before)


def test_shipped_weights_load_into_float32_networks_and_predict_alike(tiny_weights: Path, tmp_path: Path) -> None:
    export_run(tiny_weights, tmp_path / "shipped", methods=TINY, provenance=PROVENANCE)
    full = load_method("unet2d", tiny_weights / "unet2d")
    compact = load_method("unet2d", tmp_path / "shipped" / "unet2d")
    assert compact.model is not None and full.model is not None
    assert all(p.dtype == torch.float32 for p in compact.model.parameters())
    slices = torch.from_numpy(np.random.default_rng(0).random((2, 1, 32, 32), dtype=np.float32))
    with torch.no_grad():
        torch.testing.assert_close(torch.sigmoid(compact.model(slices)), torch.sigmoid(full.model(slices)),
                                   rtol=0, atol=1e-3)


def test_the_shipped_files_own_benchmark_goes_into_the_manifest(
    tiny_weights: Path, phantom_sets: dict, tmp_path: Path
) -> None:
    """The manifest's ``benchmark`` is what the shipped (float16) files score when they predict as the demo does;
    the training run's numbers move to ``run_benchmark``; the files still verify."""
    from evaluator.scoring import ScoringOptions, Track, score_archive
    from evaluator.testset import load_testset
    from evaluator.truth import build_truth
    from evaluator.worklist import SimulationSize
    from reference_models.pipeline import run_references

    out = tmp_path / "shipped"
    export_run(tiny_weights, out, methods=TINY, provenance={**PROVENANCE, "benchmark": {"unet2d": {"x": 1}}})
    metrics = benchmark_shipped(out, testset_dir=phantom_sets["testset"], out_dir=tmp_path / "measured", workers=2,
                                methods=("lungs", "unet2d", "multitask_spatial1"))
    assert set(metrics) == {"unet2d", "multitask_spatial1"}
    # the same numbers as scoring the shipped files' own predictions directly, in this process
    archive = run_references(["multitask_spatial1"], testset_dir=phantom_sets["testset"],
                             out_archives={"multitask_spatial1": tmp_path / "direct.zip"}, weights_dir=out,
                             train_if_missing=False, scale="tiny")["multitask_spatial1"]
    testset = load_testset(phantom_sets["testset"])
    direct = score_archive(archive, testset=testset, truth=build_truth(testset, cache_root=tmp_path / "truth"),
                           track=Track.CONTAINER, options=ScoringOptions(
                               n_resamples=20, workers=1,
                               worklist_size=SimulationSize(days=5, resamples=3, days_per_resample=1)))["metrics"]
    assert metrics["multitask_spatial1"] == direct
    manifest = record_benchmark(out, metrics, how={"command": "python scripts/ship_reference_weights.py "
                                                              "--rebenchmark", "commit": "def"})
    assert read_manifest(out) == manifest
    assert manifest["benchmark"] == metrics and manifest["run_benchmark"] == {"unet2d": {"x": 1}}
    assert manifest["benchmark_source"]["commit"] == "def"
    again = record_benchmark(out, {"unet2d": {"x": 2}}, how={})
    assert again["run_benchmark"] == {"unet2d": {"x": 1}}  # the training run's numbers are kept, not overwritten
    assert verify_shipped(out, methods=TINY) == []


def test_verify_lists_every_problem_at_once(tiny_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "shipped"
    export_run(tiny_weights, out, methods=TINY, provenance=PROVENANCE)
    (out / "unet2d" / BEST).write_bytes(b"version https://git-lfs.github.com/spec/v1\n")  # an LFS pointer
    data = bytearray((out / "lungs" / BEST).read_bytes())
    data[-100] ^= 0xFF
    (out / "lungs" / BEST).write_bytes(bytes(data))
    shutil.rmtree(out / "resnet50")
    problems = verify_shipped(out, methods=(*TINY, "unet3d"))
    assert len(problems) == 4, problems
    assert any("unet2d" in p and "bytes" in p for p in problems)
    assert any("lungs" in p and "SHA-256" in p for p in problems)
    assert any("resnet50" in p and "missing" in p for p in problems)
    assert any("no weights listed for unet3d" in p for p in problems)
    assert verify_shipped(tmp_path / "nowhere") == [f"no {MANIFEST} in {tmp_path / 'nowhere'}"]


def test_compact_state_dict_keeps_batchnorm_statistics_exact() -> None:
    network = METHODS["unet2d"].build_model(tiny=True)
    assert network is not None
    state = network.state_dict()
    compact = compact_state_dict(state)
    assert compact["backbone.stem.weight"].dtype == torch.float16
    running = next(k for k in state if k.endswith("running_var"))
    counter = next(k for k in state if k.endswith("num_batches_tracked"))
    assert compact[running].dtype == torch.float32 and compact[counter].dtype == torch.int64


def test_the_repository_ships_every_network_within_budget_as_its_manifest_says() -> None:
    assert verify_shipped(SHIPPED_DIR) == []
    manifest = read_manifest(SHIPPED_DIR)
    assert {entry["method"] for entry in manifest["files"].values()} == set(SHIPPED_METHODS)
    assert manifest["total_bytes"] <= SIZE_LIMIT_BYTES
    assert manifest["command"].startswith("python scripts/ship_reference_weights.py")
    assert isinstance(manifest["seed"], int) and len(manifest["commit"].split("+")[0]) == 40
    assert "+dirty" not in manifest["commit"]  # trained from a committed state
    # the shipped files' own numbers (what the demo serves), measured from a committed state, in Table 2's shape
    # but for the paper's own 2D U-Net+ ρ; the training run's float32 numbers are kept beside them
    source = manifest["benchmark_source"]
    assert len(source["commit"]) == 40 and source["command"].startswith("python scripts/ship_reference_weights.py")
    assert set(manifest["benchmark"]) == set(manifest["run_benchmark"]) == set(TABLE_METHODS)
    assert [d.split(" 0.")[0] for d in table2_shape(manifest["benchmark"])] == ["2D U-Net+: Spearman ρ"]
    for method in SHIPPED_METHODS:
        loaded = load_method(method, SHIPPED_DIR / method)
        assert loaded.model is not None or method == "thresholding"
        assert method == "thresholding" or loaded.config["scale"] == manifest["scale"]
