"""evaluator.phantoms: determinism, dataset layouts, label consistency, tissue HU and the triage-relevant group
differences (including the paper's thresholding baseline failing the way Table 2 says)."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from itertools import pairwise
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from evaluator.groups import Distribution, Group
from evaluator.phantoms import (
    CT_BANDS,
    draw_severity,
    generate_case,
    nifti_bytes,
    plan_testset,
    write_authors_layout,
    write_covid_ct_seg,
    write_medseg,
    write_mosmed,
    write_sample,
    write_testset,
)
from evaluator.phantoms.__main__ import main as cli_main
from evaluator.phantoms.cohorts import COHORT_BACKGROUND, GROUP_BACKGROUND, Cohort
from evaluator.phantoms.datasets import window_to_uint8
from evaluator.phantoms.pathology import INPATIENT_BANDS
from evaluator.phantoms.protocols import SLICE_FRACTIONS, scan_geometry
from evaluator.phantoms.seeds import case_seed

SMALL = dict(shape=(64, 64, 32), spacing=(5.5, 5.5, 8.0))
# Fine enough in-plane for tissue HU to show without much partial-volume averaging.
FINER = dict(shape=(128, 128, 40), spacing=(2.8, 2.8, 8.0))
SEEDS = range(8)
SMALL_COUNTS = {"covid": 3, "bacterial_pneumonia": 2, "nodules": 1, "normal": 2}


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def load(path: Path) -> np.ndarray:
    return np.asarray(nib.load(str(path)).dataobj)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def lung_fractions(mask: np.ndarray, lungs: np.ndarray) -> tuple[float, float]:
    right, left = (float((mask & (lungs == k)).sum()) / max(int((lungs == k).sum()), 1) for k in (1, 2))
    return right, left


@pytest.fixture(scope="module")
def phantoms() -> dict[Group, list]:
    return {g: [generate_case(g, seed=s, n_raters=2, **SMALL) for s in SEEDS] for g in Group}


# --- determinism ---------------------------------------------------------------------------------------------


def test_same_arguments_give_identical_arrays_and_bytes():
    a = generate_case("covid", seed=11, n_raters=2, **SMALL)
    b = generate_case("covid", seed=11, n_raters=2, **SMALL)
    for x, y in [(a.image, b.image), (a.lungs, b.lungs), *zip(a.lesions, b.lesions, strict=True), (a.affine, b.affine)]:
        assert np.array_equal(x, y)
    assert a.severity == b.severity
    assert nifti_bytes(a.image, a.affine) == nifti_bytes(b.image, b.affine)
    other = generate_case("covid", seed=12, n_raters=2, **SMALL)
    assert not np.array_equal(a.image, other.image)
    assert not np.allclose(a.affine, other.affine)


def test_written_sets_are_byte_identical(tmp_path):
    write_sample(tmp_path / "a", per_group=1, seed=3)
    write_sample(tmp_path / "b", per_group=1, seed=3)
    write_sample(tmp_path / "c", per_group=1, seed=4)
    names = files_under(tmp_path / "a")
    assert names == files_under(tmp_path / "b")
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    image = next(n for n in names if n.startswith("images/"))
    assert (tmp_path / "a" / image).read_bytes() != (tmp_path / "c" / image).read_bytes()
    # gzip header: no timestamp (bytes 4..7), so re-writing later gives the same file
    assert (tmp_path / "a" / image).read_bytes()[4:8] == b"\0\0\0\0"


def test_process_pool_writes_the_same_files(tmp_path):
    counts = {"covid": 2, "bacterial_pneumonia": 1, "nodules": 1, "normal": 1}
    write_testset(tmp_path / "one", counts=counts, seed=5, workers=1)
    write_testset(tmp_path / "two", counts=counts, seed=5, workers=2)
    names = files_under(tmp_path / "one")
    assert names == files_under(tmp_path / "two")
    assert all((tmp_path / "one" / n).read_bytes() == (tmp_path / "two" / n).read_bytes() for n in names)


# --- layouts -------------------------------------------------------------------------------------------------


def test_testset_layout_is_exact(tmp_path):
    root = tmp_path / "ts"
    cases = write_testset(root, counts=SMALL_COUNTS, seed=1, name="N", version="7", multi_rater_fraction=1 / 3)
    meta = json.loads((root / "testset.json").read_text())
    assert set(meta) == {"name", "version", "description"} and meta["name"] == "N" and meta["version"] == "7"
    rows = list(csv.reader((root / "cases.csv").open()))
    assert rows[0] == ["case_id", "group", "distribution"]
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:]) == [c.case_id for c in cases]
    expected = {"testset.json", "cases.csv"}
    for case_id, group, distribution in rows[1:]:
        assert re.fullmatch(r"case_\d{3}", case_id)
        assert distribution == ("private" if group == "bacterial_pneumonia" else "public")
        expected |= {f"images/{case_id}.nii.gz", f"lungs/{case_id}.nii.gz"}
        n_raters = next(c.n_raters for c in cases if c.case_id == case_id)
        if group == "covid":
            expected |= ({f"lesions/{case_id}.nii.gz"} if n_raters == 1 else
                         {f"lesions/{case_id}/rater1.nii.gz", f"lesions/{case_id}/rater2.nii.gz"})
    assert files_under(root) == expected
    assert sum(c.n_raters == 2 for c in cases) == 1
    for case in cases:
        image = nib.load(str(root / "images" / f"{case.case_id}.nii.gz"))
        lungs = nib.load(str(root / "lungs" / f"{case.case_id}.nii.gz"))
        assert image.get_data_dtype() == np.int16 and lungs.get_data_dtype() == np.uint8
        shape, spacing = scan_geometry(SMALL["shape"], SMALL["spacing"], seed=case.seed)  # each series' own grid
        assert image.shape == lungs.shape == shape
        assert np.allclose(image.affine, lungs.affine)
        assert np.allclose(np.abs(np.diag(image.affine)[:3]), spacing)
        assert nib.aff2axcodes(image.affine) == ("L", "P", "S")
        for path in (root / "lesions").glob(f"{case.case_id}*"):
            for file in [path] if path.is_file() else sorted(path.iterdir()):
                assert set(np.unique(load(file))) <= {0, 1}


def test_authors_layout_is_exact_and_holds_the_testset_phantoms(tmp_path):
    write_testset(tmp_path / "ts", counts=SMALL_COUNTS, seed=2, multi_rater_fraction=0.5)
    cases = write_authors_layout(tmp_path / "au", counts=SMALL_COUNTS, seed=2, multi_rater_fraction=0.5)
    expected = set()
    for case in cases:
        expected.add(f"test/{case.group.value}/images/{case.case_id}.nii.gz")
        if case.group is Group.COVID:
            expected |= ({f"test/covid/masks/{case.case_id}.nii.gz"} if case.n_raters == 1 else
                         {f"test/covid/masks/{case.case_id}/rater{k}.nii.gz" for k in (1, 2)})
        image = tmp_path / "au" / f"test/{case.group.value}/images/{case.case_id}.nii.gz"
        assert image.read_bytes() == (tmp_path / "ts" / "images" / f"{case.case_id}.nii.gz").read_bytes()
    assert files_under(tmp_path / "au") == expected
    assert {p.name for p in (tmp_path / "au" / "test").iterdir()} == {g.value for g in Group}


def test_mosmed_layout_keeps_the_real_numbering(tmp_path):
    written = write_mosmed(tmp_path, per_category={"CT-0": 2, "CT-1": 3, "CT-2": 1, "CT-3": 1, "CT-4": 3}, n_masks=2)
    expected = {
        "studies/CT-0/study_0001.nii.gz", "studies/CT-0/study_0002.nii.gz",
        "studies/CT-1/study_0255.nii.gz", "studies/CT-1/study_0256.nii.gz", "studies/CT-1/study_0257.nii.gz",
        "studies/CT-2/study_0939.nii.gz", "studies/CT-3/study_1064.nii.gz",
        "studies/CT-4/study_1109.nii.gz", "studies/CT-4/study_1110.nii.gz",  # CT-4 has only two studies
        "masks/study_0255_mask.nii.gz", "masks/study_0256_mask.nii.gz",
    }
    assert files_under(tmp_path) == expected == set(written)
    image = nib.load(str(tmp_path / "studies/CT-2/study_0939.nii.gz"))
    assert image.header.get_zooms()[2] == pytest.approx(8.0)
    mask = load(tmp_path / "masks/study_0255_mask.nii.gz")
    assert set(np.unique(mask)) == {0, 1}


def test_mosmed_studies_are_every_tenth_slice_of_a_thin_slice_series(tmp_path):
    """The public MosMedData keeps every 10th slice of 0.8 mm series: thin slices 8 mm apart, whose vessels are as
    sharp as a thin-slice series' (the partial-volume edge follows the slice thickness, not the gap)."""
    write_mosmed(tmp_path, per_category={"CT-0": 1}, n_masks=0)
    stored = nib.load(str(tmp_path / "studies/CT-0/study_0001.nii.gz"))
    seed = case_seed(0, "mosmed", 1)
    offset = seed % 10
    thin = generate_case("normal", shape=(64, 64, 320), spacing=(5.5, 5.5, 0.8), seed=seed)
    image = np.asarray(stored.dataobj)
    np.testing.assert_array_equal(image, thin.image[:, :, offset::10])
    assert stored.header.get_zooms() == pytest.approx((5.5, 5.5, 8.0))
    np.testing.assert_allclose(stored.affine @ [7, 9, 3, 1], thin.affine @ [7, 9, offset + 30, 1], atol=1e-3)
    contiguous = generate_case("normal", seed=seed, **SMALL)  # 8 mm thick: vessels partial-volumed
    dense_thin = np.percentile(image[thin.lungs[:, :, offset::10] > 0], 99)
    dense_contiguous = np.percentile(contiguous.image[contiguous.lungs > 0], 99)
    assert dense_thin > dense_contiguous + 100


@pytest.mark.parametrize("band", [1, 2, 3, 4])
def test_ct_bands_are_respected(band):
    rng = np.random.default_rng(band)
    lo, hi = CT_BANDS[band]
    for seed in range(3):
        phantom = generate_case("covid", seed=seed, severity=draw_severity(rng, band), n_raters=2, **SMALL)
        assert lo < phantom.severity <= hi


def test_medseg_layout_and_labels(tmp_path):
    write_medseg(tmp_path, n=3, seed=1)
    names = {f"{d}/{i}.nii.gz" for d in ("rp_im", "rp_msk", "rp_lung_msk") for i in (1, 2, 3)}
    assert files_under(tmp_path) == names
    seen = set()
    for i in (1, 2, 3):
        lesion, lung = load(tmp_path / f"rp_msk/{i}.nii.gz"), load(tmp_path / f"rp_lung_msk/{i}.nii.gz")
        assert set(np.unique(lung)) == {0, 1}
        assert not (lesion.astype(bool) & (lung == 0)).any()
        seen |= set(np.unique(lesion).tolist())
        assert load(tmp_path / f"rp_im/{i}.nii.gz").min() <= -1000
    assert seen == {0, 1, 2}  # ground glass and consolidation


def test_covid_ct_seg_layout_and_labels(tmp_path):
    write_covid_ct_seg(tmp_path, n_coronacases=2, n_radiopaedia=2, seed=1)
    names = ["coronacases_001", "coronacases_002", "radiopaedia_4_85506_1", "radiopaedia_7_85703_0"]
    folders = ("COVID-19-CT-Seg_20cases", "Infection_Mask", "Lung_Mask", "Lung_and_Infection_Mask")
    assert files_under(tmp_path) == {f"{d}/{n}.nii.gz" for d in folders for n in names}
    for name in names:
        image = nib.load(str(tmp_path / f"COVID-19-CT-Seg_20cases/{name}.nii.gz"))
        pixels = np.asarray(image.dataobj)
        if name.startswith("radiopaedia"):
            assert image.get_data_dtype() == np.uint8 and pixels.max() > 200  # windowed, not HU
        else:
            assert image.get_data_dtype() == np.int16 and pixels.min() <= -1000
        infection = load(tmp_path / f"Infection_Mask/{name}.nii.gz")
        lungs = load(tmp_path / f"Lung_Mask/{name}.nii.gz")
        both = load(tmp_path / f"Lung_and_Infection_Mask/{name}.nii.gz")
        left_x, right_x = (np.argwhere(lungs == k)[:, 0].mean() for k in (1, 2))
        assert left_x > right_x  # 1 = left lung: higher x index
        assert np.array_equal(both == 3, infection == 1)
        assert np.array_equal(np.where(infection == 1, 0, both), np.where(infection == 1, 0, lungs))


def test_radiopaedia_window():
    hu = np.array([-2000, -1250, -500, 250, 3000], dtype=np.int16)
    assert window_to_uint8(hu).tolist() == [0, 0, 128, 255, 255]


def test_writers_refuse_a_folder_with_files(tmp_path):
    (tmp_path / "stale.txt").write_text("x")
    with pytest.raises(FileExistsError):
        write_sample(tmp_path, per_group=1)


# --- planning ------------------------------------------------------------------------------------------------


def test_default_plan_matches_mosmed_test():
    cases = plan_testset()
    assert [sum(c.group is g for c in cases) for g in Group] == [32, 30, 30, 31]
    assert {c.distribution for c in cases if c.group is Group.BACTERIAL_PNEUMONIA} == {Distribution.PRIVATE}
    assert {c.distribution for c in cases if c.group is not Group.BACTERIAL_PNEUMONIA} == {Distribution.PUBLIC}
    assert sum(c.n_raters == 2 for c in cases) == 11
    groups = [c.group for c in cases]
    assert sum(a is not b for a, b in pairwise(groups)) > 60  # ids in shuffled order, not grouped


@settings(max_examples=40, deadline=None)
@given(
    counts=st.dictionaries(st.sampled_from(list(Group)), st.integers(0, 40), min_size=1),
    seed=st.integers(0, 2**32 - 1),
    fraction=st.floats(0.0, 1.0),
)
def test_plan_invariants(counts, seed, fraction):
    cases = plan_testset(counts=counts, seed=seed, multi_rater_fraction=fraction)
    assert cases == plan_testset(counts=counts, seed=seed, multi_rater_fraction=fraction)
    assert {g: sum(c.group is g for c in cases) for g in counts} == counts
    ids = [c.case_id for c in cases]
    assert ids == sorted(set(ids)) and all(re.fullmatch(r"case_\d{3,}", i) for i in ids)
    n_covid = counts.get(Group.COVID, 0)
    assert sum(c.n_raters == 2 for c in cases) == round(fraction * n_covid)
    assert all(c.n_raters == 1 for c in cases if c.group is not Group.COVID)


def test_plan_can_set_the_covid_band_mix(tmp_path):
    """``covid_bands`` draws the COVID-19 severities from its own stream: the rest of the plan does not change,
    every severity lies in a band the mix allows, and the written phantoms have it."""
    default = plan_testset(seed=5)
    assert all(c.severity is None for c in default)
    severe = plan_testset(seed=5, covid_bands=(0.0, 0.0, 0.5, 0.5))
    assert [dataclasses.replace(c, severity=None) for c in severe] == default
    severities = [c.severity for c in severe if c.group is Group.COVID]
    assert all(s is not None and 0.52 <= s <= 0.93 for s in severities) and len(severities) == 32
    assert all(c.severity is None for c in severe if c.group is not Group.COVID)
    assert {s > 0.75 for s in severities} == {True, False}  # both bands drawn
    cases = write_testset(tmp_path, counts={"covid": 2}, seed=5, covid_bands=(0.0, 1.0, 0.0, 0.0), **SMALL)
    for case in cases:
        lungs = load(tmp_path / "lungs" / f"{case.case_id}.nii.gz")
        lesion_files = sorted((tmp_path / "lesions").glob(f"{case.case_id}*"))
        masks = [load(f) for f in lesion_files if f.is_file()] or [
            load(f) for f in sorted((tmp_path / "lesions" / case.case_id).iterdir())]
        worse = np.mean([max(lung_fractions(m.astype(bool), lungs)) for m in masks])
        assert case.severity is not None and 0.25 < case.severity < 0.5
        assert worse == pytest.approx(case.severity, abs=0.01)


def test_plan_follows_mosmed_test_cohorts():
    """Sec. 3.5: COVID-19 and 5 normals from the hospital's inpatients, pneumonia from inpatients, nodules and 26
    normals from the screening study; the cohorts change nothing else in the plan."""
    cases = plan_testset(seed=3)
    cohorts = {g: [c.cohort for c in cases if c.group is g] for g in Group}
    assert set(cohorts[Group.COVID]) == {Cohort.GROUP}
    assert set(cohorts[Group.BACTERIAL_PNEUMONIA]) == {Cohort.PNEUMONIA_INPATIENTS}
    assert set(cohorts[Group.NODULES]) == {Cohort.SCREENING_OVER_50}
    assert cohorts[Group.NORMAL] == [Cohort.GROUP] * 5 + [Cohort.SCREENING_CONTROLS] * 26  # in id order
    plain = [dataclasses.replace(c, cohort=Cohort.GROUP) for c in cases]
    assert [c.case_id for c in plain] == [c.case_id for c in cases]
    assert [(c.group, c.seed, c.n_raters) for c in plain] == [(c.group, c.seed, c.n_raters) for c in cases]
    assert {c.cohort for c in plan_testset(counts={"normal": 2}, seed=3)} == {Cohort.SCREENING_CONTROLS}


def test_cohort_changes_the_background_not_the_patient():
    """The same seed in another cohort is the same patient (lungs, trees, kernel): only chronic changes and the
    dependent band differ; without a cohort every group keeps its own background (the training sets')."""
    for seed in range(4):
        plain = generate_case(Group.NORMAL, seed=seed, **SMALL)
        assert np.array_equal(plain.image, generate_case(Group.NORMAL, seed=seed, cohort="group", **SMALL).image)
        older = generate_case(Group.NORMAL, seed=seed, cohort=Cohort.SCREENING_OVER_50, **SMALL)
        assert np.array_equal(plain.lungs, older.lungs) and plain.noise_hu == older.noise_hu
        assert plain.extra["chronic_changes"] <= GROUP_BACKGROUND[Group.NORMAL].chronic_most
        assert older.extra["chronic_changes"] <= COHORT_BACKGROUND[Cohort.SCREENING_OVER_50].chronic_most
    with pytest.raises(ValueError, match="unknown cohort 'elderly'.*screening-over-50"):
        generate_case(Group.NORMAL, seed=0, cohort="elderly", **SMALL)


@pytest.mark.parametrize(("cohort", "factor"), [(Cohort.SCREENING_CONTROLS, 1.1), (Cohort.SCREENING_OVER_50, 1.5)])
def test_screening_cohort_fools_thresholding(cohort, factor):
    """Older screening patients put more lung into thresholding's window than the group's own normals (the
    reason the paper's thresholding is near chance, Table 2); the controls, selected for no other pathology,
    less than the study's nodule patients."""
    seeds = range(10, 18)
    own = [thresholding_severity(generate_case(Group.NORMAL, seed=s, **SMALL)) for s in seeds]
    screening = [thresholding_severity(generate_case(Group.NORMAL, seed=s, cohort=cohort, **SMALL))
                 for s in seeds]
    assert np.mean(screening) > factor * np.mean(own)
    assert sum(b > a for a, b in zip(own, screening, strict=True)) >= 6
    assert COHORT_BACKGROUND[Cohort.SCREENING_CONTROLS].chronic_prevalence < COHORT_BACKGROUND[
        Cohort.SCREENING_OVER_50].chronic_prevalence


# --- labels --------------------------------------------------------------------------------------------------


def test_labels_are_consistent(phantoms):
    for group, cases in phantoms.items():
        for p in cases:
            assert p.image.dtype == np.int16 and p.lungs.dtype == np.uint8 and p.image.shape == SMALL["shape"]
            assert set(np.unique(p.lungs)) == {0, 1, 2}
            right_x, left_x = (np.argwhere(p.lungs == k)[:, 0].mean() for k in (1, 2))
            assert right_x < left_x  # 1 = the patient's right lung = lower x
            assert p.affine.shape == (4, 4) and p.affine.dtype == np.float64
            if group is Group.COVID:
                assert len(p.lesions) == 2
                assert all(m.dtype == bool and not (m & (p.lungs == 0)).any() for m in p.lesions)
                severities = [max(lung_fractions(m, p.lungs)) for m in p.lesions]
                assert p.severity == pytest.approx(np.mean(severities))
            else:
                assert p.lesions == [] and p.severity == 0.0
            if group in (Group.BACTERIAL_PNEUMONIA, Group.NODULES):
                assert p.findings is not None and not (p.findings & (p.lungs == 0)).any()
                assert p.findings.any()


@pytest.mark.parametrize("target", [0.03, 0.2, 0.45, 0.7, 0.9])
def test_requested_severity_is_hit(target):
    for seed in (0, 1):
        phantom = generate_case("covid", seed=seed, severity=target, n_raters=1, **SMALL)
        assert phantom.severity == pytest.approx(target, abs=0.02)


def test_two_raters_disagree_at_the_borders(phantoms):
    scores = [dice(*p.lesions) for p in phantoms[Group.COVID]]
    assert all(0.7 <= d <= 0.95 for d in scores), scores
    assert 0.78 <= float(np.mean(scores)) <= 0.93


def test_generate_checks_its_arguments():
    for kwargs in (dict(severity=1.2), dict(severity=0.0), dict(n_raters=0), dict(shape=(4, 64, 32)),
                   dict(spacing=(1.0, 0.0, 1.0))):
        with pytest.raises(ValueError):
            generate_case("covid", seed=0, **{**SMALL, **kwargs})
    with pytest.raises(ValueError):
        generate_case("flu", seed=0, **SMALL)
    with pytest.raises(ValueError):
        generate_case("normal", seed=0, severity=0.3, **SMALL)


# --- tissue HU -----------------------------------------------------------------------------------------------


def test_tissue_hu_ranges():
    normal = generate_case("normal", seed=4, **FINER)
    image, lungs = normal.image.astype(np.float32), normal.lungs > 0
    assert abs(float(image[:4, :4, :].mean()) + 1000) < 15  # air outside the body
    assert -900 < float(np.median(image[lungs])) < -780  # aerated lung (with vessels and noise)
    outside = ~ndimage.binary_dilation(lungs, iterations=2)
    soft_tissue = image[outside & (image > -150) & (image < 150)]
    hist, edges = np.histogram(soft_tissue, bins=30, range=(-150, 150))
    assert 10 <= edges[hist.argmax()] <= 80  # muscle, heart, blood: about +40 HU
    assert (image > 400).sum() > 100 and image.max() >= 600  # spine and ribs
    assert 8 <= normal.noise_hu <= 32

    covid = generate_case("covid", seed=4, severity=0.4, lesion_types=True, **FINER)
    ggo = covid.image[covid.lesion_types == 1]
    consolidation = covid.image[covid.lesion_types == 2]
    assert -750 < float(np.median(ggo)) < -300
    assert -250 < float(np.median(consolidation)) < 60
    pneumonia = generate_case("bacterial_pneumonia", seed=4, **FINER)
    core = ndimage.binary_erosion(pneumonia.findings, iterations=2)
    assert -40 < float(np.median(pneumonia.image[core])) < 60  # dense consolidation
    nodules = generate_case("nodules", seed=4, **FINER)
    assert -150 < float(np.median(nodules.image[nodules.findings])) < 60


# --- what triage relies on -----------------------------------------------------------------------------------


def test_covid_lesions_are_bilateral_and_peripheral(phantoms):
    bilateral = 0
    for p in phantoms[Group.COVID]:
        right, left = lung_fractions(p.lesions[0], p.lungs)
        bilateral += min(right, left) > 0
        if p.severity < 0.35:  # (severe cases fill most of the lung)
            depth = ndimage.distance_transform_edt(p.lungs > 0, sampling=SMALL["spacing"])
            assert depth[p.lesions[0]].mean() < 0.75 * depth[p.lungs > 0].mean()
    assert bilateral >= 7


def test_covid_lesions_touch_the_pleura(phantoms):
    for p in phantoms[Group.COVID]:
        lungs = p.lungs > 0
        surface = lungs & ~ndimage.binary_erosion(lungs)
        labels, count = ndimage.label(p.lesions[0])
        touching = np.unique(labels[surface & p.lesions[0]])
        share = float(np.isin(labels, touching[touching > 0]).sum()) / float(p.lesions[0].sum())
        assert share >= 0.9, (p.seed, share)


def test_bacterial_pneumonia_is_unilateral_and_contiguous(phantoms):
    for p in phantoms[Group.BACTERIAL_PNEUMONIA]:
        right, left = lung_fractions(p.findings, p.lungs)
        assert min(right, left) == 0.0 < max(right, left)  # one lung only
        assert (p.extra["pneumonia_lobe"] <= 3) == (right > 0)  # in the lobe it was drawn in
        labels, count = ndimage.label(p.findings, structure=np.ones((3, 3, 3)))
        sizes = np.bincount(labels.ravel())[1:]
        if not p.extra["effusion"]:  # an effusion may lie apart; the consolidation and its halo are one region
            assert sizes.max() >= 0.98 * sizes.sum(), (p.seed, sizes)
        assert not (p.findings & p.lesions[0]).any() if p.lesions else True


def test_bacterial_consolidation_is_one_region_in_one_lobe():
    from evaluator.phantoms.anatomy import build_fields, sample_anatomy
    from evaluator.phantoms.generate import _rngs
    from evaluator.phantoms.grid import CoarseGrid, Grid
    from evaluator.phantoms.pathology import bacterial_pneumonia

    grid = Grid(shape=(64, 64, 32), spacing=(5.5, 5.5, 4.0))
    lobar = 0
    for seed in range(10):
        rngs = _rngs(seed, Group.BACTERIAL_PNEUMONIA)
        anatomy = sample_anatomy(grid, rngs["anatomy"])
        fields = build_fields(anatomy, CoarseGrid.for_grid(grid), rngs["texture"])
        _, info = bacterial_pneumonia(fields, anatomy, rngs["pathology"])
        core = info.consolidation > 0.5
        assert core.any() and ndimage.label(core, structure=np.ones((3, 3, 3)))[1] == 1, seed
        lobes = fields.lobes[core & (fields.lobes > 0)]
        assert np.mean(lobes == info.lobe) >= 0.95, seed
        lobar += info.lobar
    assert 0 < lobar < 10  # both lobar and segmental pneumonia occur


def test_nodules_are_solid_round_and_4_to_30_mm():
    several = 0
    for seed in range(12):
        p = generate_case("nodules", seed=seed, **SMALL)
        assert 4.0 <= p.extra["nodule_min_mm"] <= p.extra["nodule_max_mm"] <= 30.0
        several += p.extra["nodule_count"] >= 2
    assert several >= 2  # sometimes several
    fine = generate_case("nodules", seed=1, shape=(160, 160, 100), spacing=(2.0, 2.0, 2.0))
    labels, count = ndimage.label(fine.findings)
    assert count == fine.extra["nodule_count"]
    for k in range(1, count + 1):
        extent = [(np.ptp(ix) + 1) * 2.0 for ix in np.nonzero(labels == k)]
        assert max(extent) <= fine.extra["nodule_max_mm"] + 2.0  # within its sphere, bar a voxel of partial volume
        assert min(extent) >= 0.6 * max(extent)  # round, not elongated


def test_covid_severities_are_mostly_mild():
    rng = np.random.default_rng(0)
    draws = np.array([draw_severity(rng) for _ in range(4000)])
    assert 0.5 <= float(np.mean(draws < 0.25)) <= 0.6  # CT-1 .55
    assert float(np.median(draws[draws < 0.25])) < 0.1  # and CT-1 cases are mostly small
    assert draws.min() >= 0.02 and draws.max() <= 0.93


def test_mild_covid_is_a_few_foci():
    counts = []
    for seed in range(5):
        p = generate_case("covid", seed=seed, severity=0.03, **SMALL)
        labels, _ = ndimage.label(p.lesions[0], structure=np.ones((3, 3, 3)))
        sizes = np.bincount(labels.ravel())[1:] * np.prod(SMALL["spacing"]) / 1000.0  # ml
        counts.append(int((sizes >= 1.0).sum()))  # foci of 1 ml or more
    assert min(counts) >= 1 and np.median(counts) <= 4 and max(counts) <= 10, counts


def test_spacing_varies_between_series_with_the_same_field_of_view():
    geometries = [scan_geometry(SMALL["shape"], SMALL["spacing"], seed=c.seed) for c in plan_testset(seed=0)]
    slices = {spacing[2] for _, spacing in geometries}
    assert slices == {8.0 * f for f in SLICE_FRACTIONS}  # 1, 2, 3, 5 and 8 mm
    pixels = [spacing[0] for _, spacing in geometries]
    assert 0.8 * 5.5 <= min(pixels) < 5.0 and 6.0 < max(pixels) <= 1.2 * 5.5
    for shape, spacing in geometries:
        fov = [n * s for n, s in zip(shape, spacing, strict=True)]
        nominal = [n * s for n, s in zip(SMALL["shape"], SMALL["spacing"], strict=True)]
        assert all(nominal[i] <= fov[i] < nominal[i] + spacing[i] + 1e-6 for i in range(3))
    assert scan_geometry(SMALL["shape"], SMALL["spacing"], seed=5) == scan_geometry(
        SMALL["shape"], SMALL["spacing"], seed=5)


def test_noise_and_sharpness_vary_between_series(phantoms):
    series = [p for cases in phantoms.values() for p in cases]
    noise = [p.noise_hu for p in series]
    assert min(noise) < 25 and max(noise) > 50
    sharp = [p.extra["kernel_sharpness"] for p in series]
    assert min(sharp) < 0.25 and max(sharp) > 0.75
    for p in series:  # a sharp kernel blurs less and is noisier
        assert p.extra["blur_mm"] == pytest.approx(1.4 - 1.1 * p.extra["kernel_sharpness"])
        gain = 1 + 3.5 * p.extra["kernel_sharpness"]
        assert 8.0 * gain <= p.noise_hu <= 20.0 * gain


def test_normal_lungs_are_denser_posteriorly_and_hold_dense_structures(phantoms):
    for p in phantoms[Group.NORMAL]:
        lungs = p.lungs > 0
        ys = np.nonzero(lungs)[1]
        front, back = np.percentile(ys, [25, 75])
        y = np.arange(p.image.shape[1])[None, :, None]
        anterior = np.median(p.image[lungs & (y <= front)])
        posterior = np.median(p.image[lungs & (y >= back)])
        assert posterior > anterior + 20, p.seed  # dependent density
        assert np.mean(p.image[lungs] > -300) > 0.01  # vessels and bronchial walls inside the lung mask


def thresholding_severity(phantom, *, sigma_mm: float = 2.8) -> float:
    """The paper's baseline (Sec. 2.2): HU in [-700, 300] inside the lungs, Gaussian blur (σ = 4 voxels of the
    paper's ~0.7 mm CT = 2.8 mm) re-thresholded at 0.5, components under 0.1% of the lung volume removed;
    severity = max over the lungs of the segmented fraction."""
    lungs = phantom.lungs > 0
    candidate = ((phantom.image >= -700) & (phantom.image <= 300) & lungs).astype(np.float32)
    sigma = [sigma_mm / s for s in phantom.spacing]
    segmented = ndimage.gaussian_filter(candidate, sigma) > 0.5
    labels, n = ndimage.label(segmented)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    segmented &= (sizes >= 0.001 * lungs.sum())[labels] & (labels > 0)
    return max(lung_fractions(segmented & lungs, phantom.lungs))


def test_thresholding_baseline_fails_like_table_2(phantoms):
    scores = {g: [thresholding_severity(p) for p in phantoms[g]] for g in Group}
    # Vessels, bronchial walls and dependent density pass the HU window: false positives in every normal lung.
    assert min(scores[Group.NORMAL]) > 0.02
    # Dense bacterial consolidation, and the nodule cohort's chronic changes, score above normal lungs.
    assert np.mean(scores[Group.BACTERIAL_PNEUMONIA]) > np.mean(scores[Group.NODULES]) > np.mean(scores[Group.NORMAL])
    covid = scores[Group.COVID]
    others = {g: v for g, v in scores.items() if g is not Group.COVID}

    def auc(negatives: list[float]) -> float:
        return float(roc_auc_score([1] * len(covid) + [0] * len(negatives), covid + negatives))

    assert auc(others[Group.BACTERIAL_PNEUMONIA]) < 0.75  # no separation from pneumonia
    assert auc([v for values in others.values() for v in values]) < 0.8  # a weak baseline against all
    # ... while it still finds the COVID-19 lesions themselves reasonably (Fig. 4, column A).
    assert np.mean([dice(p.lesions[0], _segment(p)) for p in phantoms[Group.COVID]]) > 0.4


def _segment(phantom) -> np.ndarray:
    lungs = phantom.lungs > 0
    candidate = ((phantom.image >= -700) & (phantom.image <= 300) & lungs).astype(np.float32)
    return (ndimage.gaussian_filter(candidate, [2.8 / s for s in phantom.spacing]) > 0.5) & lungs


# --- speed and CLI -------------------------------------------------------------------------------------------


def test_cli_writes_a_sample_and_reports(tmp_path, capsys):
    out = tmp_path / "sample"
    assert cli_main(["sample", str(out), "--per-group", "1", "--seed", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "images/" in printed
    assert len(list((out / "images").iterdir())) == 4
    assert cli_main(["sample", str(out), "--quiet"]) == 2  # not empty any more
    assert "not empty" in capsys.readouterr().err


def test_cli_counts_and_shape(tmp_path):
    out = tmp_path / "ts"
    argv = ["testset", str(out), "--counts", "covid=1,normal=1", "--shape", "32", "32", "16",
            "--spacing", "11", "11", "16", "--private-groups", "", "--quiet"]
    assert cli_main([*argv, "--fixed-spacing"]) == 0
    rows = list(csv.DictReader((out / "cases.csv").open()))
    assert sorted(r["group"] for r in rows) == ["covid", "normal"]
    assert {r["distribution"] for r in rows} == {"public"}
    assert nib.load(str(out / "images" / f"{rows[0]['case_id']}.nii.gz")).shape == (32, 32, 16)
    varied = tmp_path / "varied"
    assert cli_main([*argv[:1], str(varied), *argv[2:]]) == 0  # by default each series has its own grid
    cases = plan_testset(counts={"covid": 1, "normal": 1}, private_groups=())
    for case in cases:
        expected = scan_geometry((32, 32, 16), (11.0, 11.0, 16.0), seed=case.seed)[0]
        assert nib.load(str(varied / "images" / f"{case.case_id}.nii.gz")).shape == expected


def test_cli_sets_the_covid_band_mix(tmp_path):
    """``--covid-bands`` reaches the writer: a CT-3-only mix gives a severity in CT-3 (0.5..0.75)."""
    out = tmp_path / "ts"
    assert cli_main(["testset", str(out), "--counts", "covid=1", "--shape", "32", "32", "16", "--spacing", "11", "11",
                     "16", "--fixed-spacing", "--covid-bands", "0", "0", "1", "0", "--quiet"]) == 0
    case = next(c for c in plan_testset(counts={"covid": 1}, covid_bands=(0, 0, 1, 0)))
    lungs = load(out / "lungs" / f"{case.case_id}.nii.gz")
    lesions = load(out / "lesions" / f"{case.case_id}.nii.gz")
    assert 0.5 < max(lung_fractions(lesions.astype(bool), lungs)) < 0.75
    inpatient = tmp_path / "inpatient"
    argv = ["testset", str(inpatient), "--counts", "covid=1", "--shape", "32", "32", "16", "--spacing", "11", "11",
            "16", "--fixed-spacing", "--quiet", "--covid-bands"]
    assert cli_main([*argv, "inpatient"]) == 0
    case = plan_testset(counts={"covid": 1}, covid_bands=INPATIENT_BANDS)[0]
    lesions = load(inpatient / "lesions" / f"{case.case_id}.nii.gz")
    assert max(lung_fractions(lesions.astype(bool), load(inpatient / "lungs" / f"{case.case_id}.nii.gz"))) \
        == pytest.approx(case.severity, abs=0.01)
    assert cli_main([*argv[:1], str(tmp_path / "bad"), *argv[2:], "severe"]) == 2
    assert cli_main([*argv[:1], str(tmp_path / "bad"), *argv[2:], "0.5", "0.5"]) == 2
    assert not (tmp_path / "bad").exists()  # refused before anything is written
