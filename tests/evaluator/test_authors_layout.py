import shutil

import pytest

from evaluator.authors_layout import import_authors_layout
from evaluator.problems import InvalidInput
from evaluator.testset import load_testset
from evaluator.truth import build_truth

from .tiny_testset import write_tiny_testset


def _authors_copy(ts, src):
    """Write a loaded test set in the authors' released layout (no lungs)."""
    for case in ts.cases:
        images = src / "test" / case.group.value / "images"
        images.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(case.image, images / f"{case.case_id}.nii.gz")
        for rater, path in case.lesions.items():
            target = (src / "test" / "covid" / "masks" / case.case_id / f"{rater}.nii.gz" if rater
                      else src / "test" / "covid" / "masks" / f"{case.case_id}.nii.gz")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def test_import_with_lung_folder_reproduces_the_ground_truth(tmp_path):
    original = load_testset(write_tiny_testset(tmp_path / "orig"))
    _authors_copy(original, tmp_path / "authors")
    lungs = tmp_path / "lungs"
    lungs.mkdir()
    for case in original.cases:
        shutil.copyfile(case.lungs, lungs / f"{case.case_id}.nii.gz")
    imported = import_authors_layout(tmp_path / "authors", tmp_path / "new", name="mosmed-test", version="1",
                                     lungs_dir=lungs)
    assert {c.case_id: c.group for c in imported.cases} == {c.case_id: c.group for c in original.cases}
    assert all(c.distribution.value == ("private" if c.group.value == "bacterial_pneumonia" else "public")
               for c in imported.cases)
    a = build_truth(original, cache_root=tmp_path / "c1").summaries
    b = build_truth(imported, cache_root=tmp_path / "c2").summaries
    assert {k: v.rater_severities for k, v in a.items()} == {k: v.rater_severities for k, v in b.items()}


def test_import_with_a_segmenter(tmp_path):
    original = load_testset(write_tiny_testset(tmp_path / "orig", n_per_group=1))
    _authors_copy(original, tmp_path / "authors")
    from .tiny_testset import lungs_volume

    calls = []

    def segmenter(image, affine):
        calls.append(image.shape)
        return lungs_volume()

    imported = import_authors_layout(tmp_path / "authors" / "test", tmp_path / "new", name="t", version="1",
                                     lung_segmenter=segmenter)
    assert len(calls) == 4 and len(imported.cases) == 4


def test_import_without_lungs_says_they_are_required(tmp_path):
    original = load_testset(write_tiny_testset(tmp_path / "orig", n_per_group=1))
    _authors_copy(original, tmp_path / "authors")
    shutil.rmtree(tmp_path / "authors" / "test" / "covid" / "masks")
    with pytest.raises(InvalidInput) as err:
        import_authors_layout(tmp_path / "authors", tmp_path / "new", name="t", version="1")
    text = str(err.value)
    assert "has no lung masks" in text and "has no lesion mask" in text
    assert not (tmp_path / "new").exists()
