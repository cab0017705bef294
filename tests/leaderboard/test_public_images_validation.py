"""`covid-triage-eval validate ARCHIVE --images DIR` finds exactly the problems the server finds, without labels.

For a set of broken archives, the problem list of the server (upload → scoring task → Evaluation.problems) equals
the one the participant gets from the unzipped public-images download alone.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from evaluator import cli
from evaluator.public_images import load_public_images, validate_against_images
from evaluator.scoring import ScoringOptions
from leaderboard.storage import private_storage

from .helpers import submit_and_score

PUBLIC = [f"c{i:03d}" for i in range(12) if not 6 <= i < 9]  # c006-c008: the private nodules of the tiny set


def nifti(data: np.ndarray, affine: np.ndarray) -> bytes:
    image = nib.Nifti1Image(data, affine)
    image.header.set_qform(affine, code=1)
    image.header.set_sform(affine, code=1)
    return image.to_bytes()


def write_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def broken_archives(folder: Path, tiny_testset) -> dict[str, Path]:
    cases = {c.case_id: c for c in tiny_testset.cases}
    rows = ["case_id,covid_probability,severity,covid_prob"]
    rows += [f"{c},0.5,0.1," for c in PUBLIC[1:]]  # c000 missing
    rows[2] = f"{PUBLIC[2]},1.5,-0.2,"  # out of range
    rows += ["c006,0.5,0.1,", "nope_1,0.5,0.1,"]  # private and unknown ids
    ids = write_zip(folder / "ids.zip", {"predictions.csv": "\n".join(rows) + "\n"})

    masks: dict[str, bytes | str] = {"predictions.csv": "case_id,covid_probability\n"
                                     + "".join(f"{c},0.5\n" for c in PUBLIC)}
    for k, case_id in enumerate(PUBLIC):
        geometry = cases[case_id].geometry
        data = np.zeros(geometry.shape, np.uint8)
        affine = geometry.affine.copy()
        if k == 0:
            data = np.zeros(tuple(s + 1 for s in geometry.shape), np.uint8)  # wrong shape
        elif k == 1:
            affine[0, 3] += 5.0  # shifted grid
        elif k == 2:
            data[0, 0, 0] = 2  # not binary
        elif k == 3:
            data = np.full(geometry.shape, 0.5, np.float32)  # a probability map
        masks[f"masks/{case_id}.nii.gz"] = nifti(data, affine)
    masks["masks/c007.nii.gz"] = nifti(np.zeros(cases["c007"].geometry.shape, np.uint8), cases["c007"].geometry.affine)
    return {"ids": ids, "masks": write_zip(folder / "masks.zip", masks)}


@pytest.fixture
def public_images(label_version, tmp_path):
    folder = tmp_path / "public-images"
    with private_storage().open(label_version.public_images_bundle) as handle:
        zipfile.ZipFile(io.BytesIO(handle.read())).extractall(folder)
    return folder


def test_local_validation_lists_the_servers_problems(team_a, tiny_testset, public_images, tmp_path):
    images = load_public_images(public_images)
    assert list(images.geometries) == PUBLIC and images.other_case_ids == ("c006", "c007", "c008")
    for name, archive in broken_archives(tmp_path, tiny_testset).items():
        evaluation = submit_and_score(team_a, archive, method=name)
        assert evaluation.state == "failed"
        local = [p.to_dict() for p in validate_against_images(archive, images=images,
                                                              options=ScoringOptions(workers=1))]
        assert local == evaluation.problems, name
        assert len(local) >= 4, local
    texts = " ".join(p["message"] for p in evaluation.problems)
    assert "shape" in texts and "affine" in texts and "not binary" in texts and "not part of this track" in texts


def test_validate_command_with_images(tiny_testset, public_images, archives, tmp_path, capsys):
    archive = broken_archives(tmp_path, tiny_testset)["ids"]
    assert cli.main(["validate", str(archive), "--images", str(public_images), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "is INVALID" in err and "'nope_1'" in err and "'c006', which is not part of this track" in err
    # an archive valid for the archive track passes; the labels are nowhere in the folder
    assert cli.main(["validate", str(archives["noisy"]), "--images", str(public_images)]) == 0
    assert "is valid for the archive track of tiny v1" in capsys.readouterr().out
    assert not list(public_images.rglob("lesions")) and not (public_images / "cases.csv").exists()
    (tmp_path / "empty").mkdir()
    assert cli.main(["validate", str(archive), "--images", str(tmp_path / "empty")]) == 2
    assert "no cases.json" in capsys.readouterr().err
