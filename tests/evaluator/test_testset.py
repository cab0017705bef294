import shutil

import numpy as np
import pytest

from evaluator.groups import Distribution, Group
from evaluator.mask_stats import MaskMeasurement, measure_mask
from evaluator.problems import InvalidInput
from evaluator.testset import load_testset
from evaluator.truth import build_truth

from .tiny_testset import AFFINE, SHAPE, lesion_volume, lungs_volume, save, write_tiny_testset


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_testset(tmp_path / "ts", private_groups=("bacterial_pneumonia",))


def test_load_valid_testset(tiny):
    ts = load_testset(tiny)
    assert ts.name == "tiny" and len(ts.cases) == 12
    assert ts.cases[0].group is Group.COVID and ts.cases[0].geometry.shape == SHAPE
    assert set(ts.cases[0].lesions) == {"rater1", "rater2"}
    assert set(ts.cases[1].lesions) == {""}
    private = ts.case_ids(distribution=Distribution.PRIVATE)
    assert len(private) == 3


def test_every_problem_is_reported_at_once(tiny):
    (tiny / "cases.csv").write_text(
        (tiny / "cases.csv").read_text()
        + "c001,covid,public\nbad id,normal,public\nzz1,cancer,public\nzz2,normal,secret\n"
    )
    (tiny / "lungs" / "c004.nii.gz").unlink()
    shutil.rmtree(tiny / "lesions" / "c002")
    save(tiny / "lesions" / "c001.nii.gz", np.zeros((5, 5, 5), np.uint8))
    save(tiny / "lungs" / "c005.nii.gz", lungs_volume(), affine=np.diag([1.0, 2.0, 5.0, 1.0]))
    save(tiny / "images" / "stray.nii.gz", np.zeros(SHAPE, np.int16))
    with pytest.raises(InvalidInput) as err:
        load_testset(tiny)
    text = str(err.value)
    for expected in ("duplicate case id", "invalid case id", "unknown group 'cancer'", "unknown distribution",
                     "case c004: has no lung mask", "c002: is a COVID-19 case without a lesion mask",
                     "lesions/c001.nii.gz, case c001: has shape (5, 5, 5)",
                     "lungs/c005.nii.gz, case c005: has an affine",
                     "images/stray.nii.gz: does not belong"):
        assert expected in text, expected
    assert len(err.value.problems) >= 9


def test_truth_severity_and_raters(tiny, tmp_path):
    ts = load_testset(tiny)
    truth = build_truth(ts, cache_root=tmp_path / "cache")
    lungs = lungs_volume()
    lung_sizes = [(lungs == 1).sum(), (lungs == 2).sum()]
    s1 = truth.summaries["c001"]
    lesion = lesion_volume(1, extent=2).astype(bool)
    expected = max((lesion & (lungs == 1)).sum() / lung_sizes[0], (lesion & (lungs == 2)).sum() / lung_sizes[1])
    assert s1.severity == pytest.approx(expected)
    s0 = truth.summaries["c000"]
    assert len(s0.rater_severities) == 2 and s0.rater_severities[0] > s0.rater_severities[1]
    assert s0.severity == pytest.approx(np.mean(s0.rater_severities))
    assert truth.summaries["c005"].severity is None
    # the cache is reused: same digest, no rebuild needed
    again = build_truth(ts, cache_root=tmp_path / "cache")
    assert again.digest == truth.digest and again.summaries == truth.summaries


def test_truth_rejects_bad_label_values(tiny, tmp_path):
    bad = lungs_volume()
    bad[0, 0, 0] = 7
    save(tiny / "lungs" / "c003.nii.gz", bad)
    save(tiny / "lesions" / "c001.nii.gz", lesion_volume(1, extent=2) * 3)
    only_one_lung = lungs_volume()
    only_one_lung[only_one_lung == 2] = 1
    save(tiny / "lungs" / "c006.nii.gz", only_one_lung)
    ts = load_testset(tiny)
    with pytest.raises(InvalidInput) as err:
        build_truth(ts, cache_root=tmp_path / "cache")
    text = str(err.value)
    assert "c003" in text and "holds values" in text
    assert "c001" in text and "not binary" in text
    assert "c006" in text and "no voxel labelled 2" in text


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, ">i4"])
def test_measure_mask_counts(tiny, tmp_path, dtype):
    ts = load_testset(tiny)
    truth = build_truth(ts, cache_root=tmp_path / "cache")
    case = ts.by_id()["c000"]
    pred = np.zeros(SHAPE, np.uint8)
    pred[1:4, 2:6, 2:6] = 1
    pred[8, 3, 3] = 1
    path = save(tmp_path / "pred.nii.gz", pred.astype(dtype))
    result = measure_mask(path, file="masks/c000.nii.gz", case_id="c000", geometry=case.geometry,
                          masks=truth.masks("c000"), chunk_bytes=64)
    assert isinstance(result, MaskMeasurement)
    lungs = lungs_volume()
    assert result.predicted_voxels == pred.sum()
    assert result.lung_overlap == ((pred & (lungs == 1)).sum(), (pred & (lungs == 2)).sum())
    rater1 = lesion_volume(0, extent=1)
    assert result.lesion_overlap[0] == (pred & rater1).sum()


def test_measure_mask_problems(tiny, tmp_path):
    ts = load_testset(tiny)
    truth = build_truth(ts, cache_root=tmp_path / "cache")
    case = ts.by_id()["c000"]
    kwargs = dict(file="m", case_id="c000", geometry=case.geometry, masks=truth.masks("c000"))
    wrong_shape = save(tmp_path / "a.nii.gz", np.zeros((12, 10, 9), np.uint8))
    assert "has shape" in str(measure_mask(wrong_shape, **kwargs)[0])
    wrong_affine = save(tmp_path / "b.nii.gz", np.zeros(SHAPE, np.uint8), affine=AFFINE * 1.01)
    assert "affine" in str(measure_mask(wrong_affine, **kwargs)[0])
    prob = save(tmp_path / "c.nii.gz", np.full(SHAPE, 0.5, np.float32))
    assert "not binary" in str(measure_mask(prob, **kwargs)[0])
    two = save(tmp_path / "d.nii.gz", np.full(SHAPE, 2, np.uint8))
    assert "not binary" in str(measure_mask(two, **kwargs)[0])
    # a gzip stream whose payload is shorter / longer than the header describes
    import gzip
    raw = gzip.decompress((tmp_path / "d.nii.gz").read_bytes())
    (tmp_path / "short.nii.gz").write_bytes(gzip.compress(raw[:-10]))
    assert "only" in str(measure_mask(tmp_path / "short.nii.gz", **kwargs)[0])
    (tmp_path / "long.nii").write_bytes(raw[:352] + b"\x00" * (len(raw) - 352 + 10))
    assert "more than" in str(measure_mask(tmp_path / "long.nii", **kwargs)[0])
    (tmp_path / "junk.nii.gz").write_bytes(b"\x1f\x8b" + b"junk" * 50)
    assert measure_mask(tmp_path / "junk.nii.gz", **kwargs)
    (tmp_path / "text.nii").write_bytes(b"hello world" * 100)
    assert "not a NIfTI" in str(measure_mask(tmp_path / "text.nii", **kwargs)[0])
