"""End to end: tiny train → predict → score through the command line, and the Python API for the board."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from evaluator.scoring import ScoringOptions, Track, score_archive
from evaluator.testset import load_testset
from evaluator.truth import build_truth
from reference_models.cli import main
from reference_models.pipeline import cases_in_folder, run_reference
from tests.reference_models.phantom_sets import specs


def _score(archive: Path, testset_dir: Path, tmp_path: Path) -> dict:
    testset = load_testset(testset_dir)
    truth = build_truth(testset, cache_root=tmp_path / "truth")
    return score_archive(archive, testset=testset, truth=truth, track=Track.CONTAINER,
                         options=ScoringOptions(n_resamples=20, workers=1))


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
    assert _score(tmp_path / "resnet.zip", phantom_sets["testset"], tmp_path)["metrics"]["mean_dice"] is None
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
