"""Dataset loaders on tiny phantoms written in the real layouts by evaluator.phantoms."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from evaluator.phantoms import write_authors_layout, write_nifti
from reference_models.data import detect_layout, iter_series, label_counts, list_dataset
from reference_models.data.volumes import (
    detect_intensity,
    from_standard,
    read_nifti,
    relabel_lungs,
    to_hu,
    to_standard,
)


def test_mosmed_layout_labels_masks_and_categories(phantom_sets: dict) -> None:
    records = list_dataset(f"mosmed:{phantom_sets['mosmed']}")
    assert [r.series_id for r in records] == ["study_0001", "study_0002", "study_0255", "study_0256", "study_0939"]
    assert [r.label for r in records] == [0, 0, 1, 1, 1]
    assert [r.group for r in records] == ["CT-0", "CT-0", "CT-1", "CT-1", "CT-2"]
    assert [r.has_mask for r in records] == [False, False, True, True, False]
    series = records[2].load()
    assert series.lungs is None and series.lesions is not None and series.lesions.any()
    assert series.image_hu.dtype == np.float32 and series.image_hu.min() < -900
    assert series.spacing == pytest.approx((4.75, 4.75, 8.0))
    assert series.provenance["intensity"] == "hu"
    assert series.provenance["lesions"] == "masks/study_0255_mask.nii.gz"


def test_medseg_layout_counts_both_lesion_types_and_binary_lungs(phantom_sets: dict) -> None:
    root = phantom_sets["medseg"]
    records = list_dataset(root)  # layout detected
    assert detect_layout(root) == "medseg" and len(records) == 2
    series = records[0].load()
    types = np.asarray(nib.load(str(root / "rp_msk" / "1.nii.gz")).dataobj)
    assert set(np.unique(types)) <= {0, 1, 2} and (types > 0).any()
    assert np.array_equal(series.lesions, types > 0)  # phantoms are stored in the standard (L, P, S) orientation
    assert set(np.unique(series.lungs)) == {0, 1} and series.label == 1


def test_covid_ct_seg_converts_radiopaedia_windowing_and_relabels_lungs(phantom_sets: dict) -> None:
    root = phantom_sets["covid-ct-seg"]
    by_id = {r.series_id: r.load() for r in list_dataset(f"covid-ct-seg:{root}")}
    hu, windowed = by_id["coronacases_001"], by_id["radiopaedia_4_85506_1"]
    assert hu.provenance["intensity"] == "hu" and windowed.provenance["intensity"] == "window255"
    stored = np.asarray(nib.load(str(root / "COVID-19-CT-Seg_20cases" / "radiopaedia_4_85506_1.nii.gz")).dataobj)
    assert stored.min() >= 0 and stored.max() <= 255
    assert windowed.image_hu.min() < -1000 and windowed.image_hu.max() == pytest.approx(250.0)
    # Lung_Mask: 1 = left (higher x in this LPS grid), 2 = right; ours: 1 = the lower-x lung.
    raw = np.asarray(nib.load(str(root / "Lung_Mask" / "coronacases_001.nii.gz")).dataobj)
    assert np.array_equal(hu.lungs == 1, raw == 2) and np.array_equal(hu.lungs == 2, raw == 1)
    assert np.nonzero(hu.lungs == 1)[0].mean() < np.nonzero(hu.lungs == 2)[0].mean()


def test_covid_ct_seg_falls_back_to_the_combined_mask(phantom_sets: dict, tmp_path: Path) -> None:
    source = phantom_sets["covid-ct-seg"]
    root = tmp_path / "jm"
    for sub in ("COVID-19-CT-Seg_20cases", "Lung_and_Infection_Mask"):
        (root / sub).mkdir(parents=True)
        for path in (source / sub).iterdir():
            (root / sub / path.name).write_bytes(path.read_bytes())
    separate = {r.series_id: r.load() for r in list_dataset(f"covid-ct-seg:{source}")}
    combined = {r.series_id: r.load() for r in list_dataset(f"covid-ct-seg:{root}")}
    for name, series in combined.items():
        assert np.array_equal(series.lesions, separate[name].lesions)
        assert np.array_equal(series.lungs > 0, separate[name].lungs > 0)


def test_testset_layout_gives_groups_labels_lungs_and_first_rater(phantom_sets: dict) -> None:
    records = list_dataset(f"testset:{phantom_sets['testset']}")
    counts = label_counts(records)
    assert counts == {"series": 8, "positive": 2, "negative": 6, "unlabelled": 0, "with_mask": 2, "with_lungs": 8}
    covid = next(r for r in records if r.group == "covid")
    series = covid.load()
    assert set(np.unique(series.lungs)) == {0, 1, 2} and series.lesions.any() and series.label == 1


def test_authors_layout_and_nifti_folder(phantom_sets: dict, tmp_path: Path) -> None:
    write_authors_layout(tmp_path / "authors", counts={"covid": 2, "normal": 1}, seed=1, shape=(32, 32, 11),
                         spacing=(5.0, 5.0, 10.0), multi_rater_fraction=0.5)
    records = list_dataset(tmp_path / "authors")
    assert sorted((r.group, r.label, r.has_mask) for r in records) == [
        ("covid", 1, True), ("covid", 1, True), ("normal", 0, False)]
    nsclc = list_dataset(f"nifti-negative:{phantom_sets['nsclc']}")
    assert [r.series_id for r in nsclc] == ["LUNG1-001", "LUNG1-002"]
    assert all(r.label == 0 and r.lungs is not None for r in nsclc)
    assert sum(1 for _ in iter_series([f"nifti-negative:{phantom_sets['nsclc']}"])) == 2


def test_unknown_layout_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot tell its layout"):
        list_dataset(tmp_path)
    with pytest.raises(ValueError, match="unknown layout"):
        list_dataset(f"dicom:{tmp_path}")


def test_mask_on_another_grid_is_refused(phantom_sets: dict, tmp_path: Path) -> None:
    root = tmp_path / "medseg"
    for sub in ("rp_im", "rp_msk"):
        (root / sub).mkdir(parents=True)
    image = nib.load(str(phantom_sets["medseg"] / "rp_im" / "1.nii.gz"))
    (root / "rp_im" / "1.nii.gz").write_bytes((phantom_sets["medseg"] / "rp_im" / "1.nii.gz").read_bytes())
    shifted = image.affine.copy()
    shifted[:3, 3] += 40.0
    write_nifti(root / "rp_msk" / "1.nii.gz", np.zeros(image.shape, np.uint8), shifted)
    with pytest.raises(ValueError, match="does not match"):
        list_dataset(root)[0].load()


def test_flipped_mask_is_brought_onto_the_image_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lesion = rng.random((6, 5, 4)) > 0.7
    affine = np.diag([-2.0, -2.0, 3.0, 1.0])
    flip = affine.copy()
    flip[0, 0], flip[0, 3] = 2.0, -2.0 * 5  # the same grid stored with x reversed
    root = tmp_path / "medseg"
    write_nifti(root / "rp_im" / "1.nii.gz", np.full(lesion.shape, -800, np.int16), affine)
    write_nifti(root / "rp_msk" / "1.nii.gz", lesion[::-1].astype(np.uint8), flip)
    series = list_dataset(root)[0].load()
    assert np.array_equal(series.lesions, lesion)


def test_orientation_round_trip_and_intensity_detection() -> None:
    array = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    affine = np.array([[0, 0, 2.0, 0], [1.5, 0, 0, 0], [0, -1.5, 0, 0], [0, 0, 0, 1]])
    volume = to_standard(array, affine)
    assert volume.array.shape == (5, 3, 4) and volume.source_axcodes == ("A", "I", "R")
    assert np.array_equal(from_standard(volume.array, volume.source_orientation), array)
    voxel = np.array([1, 2, 3, 1.0])
    moved = np.linalg.solve(volume.affine, affine @ voxel)[:3].round().astype(int)
    assert volume.array[tuple(moved)] == array[1, 2, 3]
    assert detect_intensity(np.array([-1024, 40])) == "hu"
    assert detect_intensity(np.array([0, 255])) == "window255"
    assert detect_intensity(np.array([0, 3000])) == "offset1024"
    assert to_hu(np.array([0.0, 255.0]))[0].tolist() == pytest.approx([-1250.0, 250.0])
    assert to_hu(np.array([0.0, 1064.0]), intensity="offset1024")[0].tolist() == [-1024.0, 40.0]


def test_relabel_lungs_by_position() -> None:
    labels = np.zeros((10, 4, 4), np.uint8)
    labels[6:9] = 1  # "left" at high x
    labels[1:4] = 2
    relabelled = relabel_lungs(labels, lung_values=(1, 2))
    assert (relabelled[1:4] == 1).all() and (relabelled[6:9] == 2).all()
    assert set(np.unique(relabel_lungs(labels, lung_values=(1,)))) == {0, 1}


@pytest.mark.parametrize("klass", [nib.Nifti1Image, nib.Nifti2Image])
@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nii"])
def test_read_nifti_matches_nibabel(tmp_path: Path, klass, name: str) -> None:
    data = np.random.default_rng(0).integers(-1024, 400, (12, 10, 6)).astype(np.int16)
    affine = np.array([[-0.7, 0, 0, 10], [0, 0.7, 0, -5], [0, 0, 2.5, 3], [0, 0, 0, 1]])
    image = klass(data, affine)
    image.header.set_slope_inter(2.0, -3.0)
    nib.save(image, tmp_path / name)
    read = read_nifti(tmp_path / name)
    expected = nib.load(tmp_path / name)
    assert type(read) is type(expected)
    np.testing.assert_array_equal(read.get_fdata(dtype=np.float32), expected.get_fdata(dtype=np.float32))
    np.testing.assert_allclose(read.affine, expected.affine)


def test_read_nifti_names_a_file_that_is_not_nifti(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "x.nii.gz").write_bytes(gzip.compress(b"not an image at all" * 30))
    with pytest.raises(ValueError, match=r"x\.nii\.gz: not a NIfTI file"):
        read_nifti(tmp_path / "x.nii.gz")
