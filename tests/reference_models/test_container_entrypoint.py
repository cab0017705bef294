"""The container entrypoint on a tiny /input folder, run here outside a container (as a subprocess)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from evaluator.testset import load_testset
from reference_models.container.entrypoint import main

REPOSITORY = Path(__file__).resolve().parents[2]


def _input_folder(phantom_sets: dict, tmp_path: Path, count: int = 3) -> tuple[Path, list[str]]:
    folder = tmp_path / "input"
    folder.mkdir()
    cases = load_testset(phantom_sets["testset"]).cases[:count]
    for case in cases:
        shutil.copy(case.image, folder / f"{case.case_id}.nii.gz")
    (folder / "cases.csv").write_text("case_id\n" + "".join(f"{c.case_id}\n" for c in cases))
    return folder, [c.case_id for c in cases]


def test_entrypoint_writes_the_contract_output(tiny_weights: Path, phantom_sets: dict, tmp_path: Path) -> None:
    folder, ids = _input_folder(phantom_sets, tmp_path)
    weights = tmp_path / "opt-weights"
    for name in ("lungs", "multitask_spatial1"):
        (weights / name).mkdir(parents=True)
        shutil.copy(tiny_weights / name / "best.pt", weights / name / "best.pt")
    output = tmp_path / "output"
    environment = {**os.environ, "METHOD": "multitask_spatial1", "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "reference_models.container.entrypoint", "--weights", str(weights),
         "--input", str(folder), "--output", str(output), "--device", "cpu", "--threads", "1"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    with open(output / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["case_id"] for r in rows] == ids
    assert all(0.0 <= float(r["covid_probability"]) <= 1.0 and 0.0 <= float(r["severity"]) <= 1.0 for r in rows)
    for case_id in ids:
        mask, image = nib.load(str(output / "masks" / f"{case_id}.nii.gz")), nib.load(str(folder / f"{case_id}.nii.gz"))
        assert mask.shape == image.shape and np.allclose(mask.affine, image.affine)
        assert mask.get_data_dtype() == np.uint8 and set(np.unique(np.asanyarray(mask.dataobj))) <= {0, 1}
    assert sorted(p.name for p in output.iterdir()) == ["masks", "predictions.csv"]


def test_entrypoint_fails_cleanly(tiny_weights: Path, phantom_sets: dict, tmp_path: Path, capsys,
                                  monkeypatch) -> None:
    monkeypatch.delenv("METHOD", raising=False)
    folder, ids = _input_folder(phantom_sets, tmp_path, count=2)
    (folder / f"{ids[1]}.nii.gz").unlink()
    output = tmp_path / "output"
    code = main(["--method", "resnet50", "--weights", str(tiny_weights), "--input", str(folder),
                 "--output", str(output), "--device", "cpu"])
    assert code == 2 and f"no image for 1 case(s) of cases.csv: {ids[1]}" in capsys.readouterr().err
    assert not (output / "predictions.csv").exists()
    assert main(["--weights", str(tiny_weights), "--input", str(folder), "--output", str(output)]) == 2
    # thresholding ships no weights of its own: the lung network is enough
    (folder / "cases.csv").write_text(f"case_id\n{ids[0]}\n")
    assert main(["--method", "thresholding", "--weights", str(tiny_weights), "--input", str(folder),
                 "--output", str(output), "--device", "cpu"]) == 0
    assert (output / "predictions.csv").read_text().splitlines()[0] == "case_id,severity"
