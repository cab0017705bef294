"""End to end: tiny train → predict → score through the command line, and the Python API for the board."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from evaluator.scoring import ScoringOptions, Track, score_archive
from evaluator.testset import load_testset
from evaluator.truth import build_truth
from evaluator.worklist import SimulationSize
from reference_models.cli import main
from reference_models.pipeline import cases_in_folder, run_reference
from tests.reference_models.phantom_sets import specs


def _score(archive: Path, testset_dir: Path, tmp_path: Path) -> dict:
    testset = load_testset(testset_dir)
    truth = build_truth(testset, cache_root=tmp_path / "truth")
    return score_archive(archive, testset=testset, truth=truth, track=Track.CONTAINER,
                         options=ScoringOptions(n_resamples=20, workers=1,
                                                worklist_size=SimulationSize(days=5, resamples=3, days_per_resample=1)))


def _csv(archive: Path) -> list[dict[str, str]]:
    with zipfile.ZipFile(archive) as handle:
        return list(csv.DictReader(io.StringIO(handle.read("predictions.csv").decode())))


def test_train_predict_score_multitask(tiny_weights: Path, phantom_sets: dict, tmp_path: Path) -> None:
    archive = tmp_path / "multitask.zip"
    code = main(["predict", "multitask_spatial1", "--weights", str(tiny_weights / "multitask_spatial1"),
                 "--test-set", str(phantom_sets["testset"]), "--out", str(archive), "--quiet"])
    assert code == 0
    rows = _csv(archive)
    assert list(rows[0]) == ["case_id", "covid_probability", "severity"] and len(rows) == 8
    with zipfile.ZipFile(archive) as handle:
        assert sorted(n for n in handle.namelist() if n.startswith("masks/")) == sorted(
            f"masks/{row['case_id']}.nii.gz" for row in rows)
    document = _score(archive, phantom_sets["testset"], tmp_path)
    metrics = document["metrics"]
    assert document["inputs"] == {"identification_score": "covid_probability", "severity": "column", "masks": True}
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("roc_auc_all", "roc_auc_nodules", "mean_dice"))
    rho = metrics["spearman_rho"]  # undefined (None) when a barely trained network gives one severity to all
    assert rho is None or -1.0 <= rho <= 1.0


def test_segmenter_has_no_probability_and_classifier_no_masks(tiny_weights: Path, phantom_sets: dict,
                                                              tmp_path: Path) -> None:
    testset = str(phantom_sets["testset"])
    assert main(["predict", "unet2d", "--weights", str(tiny_weights / "unet2d"), "--test-set", testset,
                 "--out", str(tmp_path / "unet2d.zip"), "--quiet"]) == 0
    assert list(_csv(tmp_path / "unet2d.zip")[0]) == ["case_id", "severity"]
    document = _score(tmp_path / "unet2d.zip", phantom_sets["testset"], tmp_path)
    assert document["inputs"]["identification_score"] == "severity"  # the paper's rule for segmenters
    assert main(["predict", "resnet50", "--weights", str(tiny_weights / "resnet50"), "--test-set", testset,
                 "--out", str(tmp_path / "resnet.zip"), "--quiet"]) == 0
    with zipfile.ZipFile(tmp_path / "resnet.zip") as handle:
        assert handle.namelist() == ["predictions.csv"]
    resnet = _score(tmp_path / "resnet.zip", phantom_sets["testset"], tmp_path)
    assert resnet["metrics"]["mean_dice"] is None
    assert "no predicted severity" in resnet["triage"]["ordering"]  # ranks by probability, no severity
    assert resnet["triage"]["measures"]["triage_gain"] is not None
    # thresholding needs no weights of its own, only the lung network
    assert main(["predict", "thresholding", "--lungs-weights", str(tiny_weights / "lungs"), "--test-set", testset,
                 "--out", str(tmp_path / "thr.zip"), "--quiet"]) == 0
    assert _score(tmp_path / "thr.zip", phantom_sets["testset"], tmp_path)["metrics"]["mean_dice"] is not None


def test_predict_an_input_folder_keeps_each_image_grid(tiny_weights: Path, phantom_sets: dict,
                                                       tmp_path: Path) -> None:
    source = next((phantom_sets["testset"] / "images").iterdir())
    image = nib.load(str(source))
    folder = tmp_path / "input"
    folder.mkdir()
    flipped = nib.Nifti1Image(np.asanyarray(image.dataobj)[::-1, :, ::-1].copy(),
                              image.affine @ np.array([[-1, 0, 0, image.shape[0] - 1], [0, 1, 0, 0],
                                                       [0, 0, -1, image.shape[2] - 1], [0, 0, 0, 1.0]]))
    nib.save(flipped, str(folder / "rotated.nii.gz"))
    nib.save(image, str(folder / "plain.nii.gz"))
    (folder / "cases.csv").write_text("case_id\nrotated\nplain\n")
    assert [c.case_id for c in cases_in_folder(folder)] == ["rotated", "plain"]
    out = tmp_path / "out"
    assert main(["predict", "multitask_spatial1", "--weights", str(tiny_weights / "multitask_spatial1"),
                 "--input", str(folder), "--out", str(out), "--quiet"]) == 0
    masks = {name: nib.load(str(out / "masks" / f"{name}.nii.gz")) for name in ("rotated", "plain")}
    assert np.allclose(masks["rotated"].affine, flipped.affine) and masks["rotated"].get_data_dtype() == np.uint8
    # the same anatomy stored flipped gives the same mask, flipped back onto its own grid
    assert np.array_equal(np.asanyarray(masks["rotated"].dataobj)[::-1, :, ::-1], np.asanyarray(masks["plain"].dataobj))
    rows = {r["case_id"]: r for r in csv.DictReader(io.StringIO((out / "predictions.csv").read_text()))}
    assert float(rows["rotated"]["covid_probability"]) == pytest.approx(float(rows["plain"]["covid_probability"]),
                                                                        abs=1e-5)


def test_errors_are_reported(tiny_weights: Path, phantom_sets: dict, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "unet2d", "--weights", str(tmp_path / "none"), "--lungs-weights",
                 str(tiny_weights / "lungs"), "--input", str(phantom_sets["testset"] / "images"),
                 "--out", str(tmp_path / "x.zip")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["predict", "resnet50", "--weights", str(tiny_weights / "unet2d"), "--input",
                 str(phantom_sets["testset"] / "images"), "--out", str(tmp_path / "y.zip")]) == 2
    assert "not 'resnet50'" in capsys.readouterr().err


def test_run_reference_trains_what_is_missing(tiny_weights: Path, phantom_sets: dict, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        run_reference("unet2d", testset_dir=phantom_sets["testset"], out_archive=tmp_path / "a.zip",
                      weights_dir=weights, train_if_missing=False)
    (weights / "lungs").mkdir(parents=True)
    (weights / "lungs" / "best.pt").write_bytes((tiny_weights / "lungs" / "best.pt").read_bytes())
    archive = run_reference("unet3d", testset_dir=phantom_sets["testset"], out_archive=tmp_path / "a.zip",
                            weights_dir=weights, train_data=specs(phantom_sets), scale="tiny", steps=2)
    assert (weights / "unet3d" / "best.pt").is_file() and (weights / "unet3d" / "history.jsonl").is_file()
    assert _score(archive, phantom_sets["testset"], tmp_path)["metrics"]["mean_dice"] is not None


def test_run_references_reads_and_segments_each_case_once_for_all_methods(
    tiny_weights: Path, phantom_sets: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reference_models.pipeline as pipeline

    segmented: list[object] = []
    original = pipeline.predict_lung_mask
    monkeypatch.setattr(pipeline, "predict_lung_mask",
                        lambda lungs, case: segmented.append(case) or original(lungs, case))
    methods = ["thresholding", "resnet50", "multitask_spatial1"]
    out = {m: tmp_path / f"{m}.zip" for m in methods}
    weights = tmp_path / "weights"
    for name in ("lungs", "resnet50", "multitask_spatial1"):
        shutil.copytree(tiny_weights / name, weights / name)
    with pytest.raises(ValueError, match="no output archive given for resnet50"):
        pipeline.run_references(methods, testset_dir=phantom_sets["testset"], out_archives={"thresholding": out[
            "thresholding"]}, weights_dir=weights)
    # thresholding's "weights" (the paper's parameters) are written; the networks' exist and are not retrained
    archives = pipeline.run_references(methods, testset_dir=phantom_sets["testset"], out_archives=out,
                                       weights_dir=weights)
    assert (weights / "thresholding" / "best.pt").is_file()
    assert (weights / "resnet50" / "best.pt").read_bytes() == (tiny_weights / "resnet50" / "best.pt").read_bytes()
    n_cases = len(load_testset(phantom_sets["testset"]).cases)
    assert len(segmented) == n_cases  # once per case, not once per case and method
    assert archives == out
    assert list(_csv(out["resnet50"])[0]) == ["case_id", "covid_probability"]
    assert list(_csv(out["thresholding"])[0]) == ["case_id", "severity"]
    for method in methods:
        assert len(_csv(out[method])) == n_cases
        assert _score(out[method], phantom_sets["testset"], tmp_path)["metrics"]["roc_auc_all"] is not None


def _contents(archive: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive) as handle:
        return {name: handle.read(name) for name in handle.namelist()}


def test_prediction_processes_write_what_one_process_writes(
    tiny_weights: Path, phantom_sets: dict, tmp_path: Path
) -> None:
    """Two worker processes of one thread each: the same rows, masks and member order as this process alone
    (also one thread, as the suite runs), and per-case results in the cases' order."""
    import torch

    from reference_models.pipeline import cases_in_testset, load_method, predict_many

    assert torch.get_num_threads() == 1
    methods = {m: load_method(m, tiny_weights / m if m != "thresholding" else None)
               for m in ("thresholding", "unet2d", "multitask_spatial1")}
    lungs = load_method("lungs", tiny_weights / "lungs")
    cases = cases_in_testset(phantom_sets["testset"])
    outputs = {}
    for workers in (1, 2):
        out = {m: tmp_path / f"{workers}" / f"{m}.zip" for m in methods}
        results = predict_many(methods, cases, out, lungs=lungs, workers=workers)
        assert [r.case_id for r in results["unet2d"]] == [c.case_id for c in cases]
        assert all(r.mask is None for rows in results.values() for r in rows)
        outputs[workers] = ({m: _contents(a) for m, a in out.items()},
                            {m: [(r.probability, r.severity) for r in rows] for m, rows in results.items()})
    assert outputs[2] == outputs[1]
    assert len(outputs[2][0]["unet2d"]) == len(cases) + 1  # every mask and predictions.csv
    with pytest.raises(ValueError, match="on_case"):
        predict_many(methods, cases, {m: tmp_path / f"x-{m}.zip" for m in methods}, lungs=lungs, workers=2,
                     on_case=lambda *args: None)


def test_lung_steps_apply_to_the_lung_network_only(phantom_sets: dict, tmp_path: Path) -> None:
    from reference_models.provision import ensure_weights

    weights = tmp_path / "weights"
    ensure_weights("unet2d", weights_dir=weights, train_data=specs(phantom_sets), scale="tiny", steps=2, lung_steps=3)
    history = {name: (weights / name / "history.jsonl").read_text().splitlines() for name in ("lungs", "unet2d")}
    import json

    assert json.loads(history["lungs"][-1])["step"] == 3 and json.loads(history["unet2d"][-1])["step"] == 2
