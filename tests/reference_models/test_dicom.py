"""NSCLC-Radiomics as TCIA distributes it: DICOM CT series read into HU on the right grid, PleThora masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluator.groups import Group
from evaluator.phantoms import generate_case
from evaluator.phantoms.dicom import write_dicom_series, write_nsclc_radiomics
from evaluator.phantoms.seeds import case_seed
from reference_models.data import detect_layout, list_dataset
from reference_models.data.dicom import read_dicom_series
from reference_models.data.volumes import load_image

SHAPE, SPACING = (40, 36, 14), (4.0, 4.5, 8.0)


@pytest.fixture(scope="module")
def nsclc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nsclc")
    write_nsclc_radiomics(root, n=2, shape=SHAPE, spacing=SPACING, seed=5)
    return root


def test_series_reads_back_the_phantom_in_hu_on_its_grid(nsclc: Path) -> None:
    records = list_dataset(nsclc)  # layout detected from NSCLC-Radiomics/
    assert detect_layout(nsclc) == "nsclc" and [r.series_id for r in records] == ["LUNG1-001", "LUNG1-002"]
    assert all(r.label == 0 and r.layout == "nsclc" for r in records)
    assert records[0].image.name.startswith("0.000000-NA")  # the CT folder, not the RTSTRUCT beside it
    phantom = generate_case(Group.NODULES, shape=SHAPE, spacing=SPACING, seed=case_seed(5, "nsclc-radiomics", 1))
    series = records[0].load()
    assert series.image_hu.shape == SHAPE
    np.testing.assert_array_equal(series.image_hu, phantom.image.astype(np.float32))
    np.testing.assert_allclose(series.affine, phantom.affine, atol=1e-3)
    # the PleThora-style mask is stored with x and z reversed; it lands on the image's grid, binary (split later)
    np.testing.assert_array_equal(series.lungs, (phantom.lungs > 0).astype(np.uint8))


def test_file_order_is_not_slice_order(nsclc: Path) -> None:
    folder = list_dataset(f"nsclc:{nsclc}")[1].image
    image = read_dicom_series(folder)
    volume, intensity = load_image(folder)
    assert intensity == "hu" and volume.array.shape == SHAPE
    phantom = generate_case(Group.NODULES, shape=SHAPE, spacing=SPACING, seed=case_seed(5, "nsclc-radiomics", 2))
    np.testing.assert_array_equal(np.asarray(image.dataobj), phantom.image.astype(np.float32))


def test_broken_series_lists_every_problem(tmp_path: Path) -> None:
    phantom = generate_case(Group.NORMAL, shape=SHAPE, spacing=SPACING, seed=1)
    folder = tmp_path / "series"
    paths = write_dicom_series(folder, phantom.image, phantom.affine, patient_id="LUNG1-009", seed=1)
    (folder / "README.txt").write_text("not DICOM, ignored")
    paths[5].unlink()  # a missing slice
    (folder / "junk.dcm").write_bytes(b"\0" * 200)
    with pytest.raises(ValueError) as error:
        read_dicom_series(folder)
    message = str(error.value)
    assert "junk.dcm: not a readable DICOM file" in message
    assert "a missing slice?" in message and "README" not in message


def test_patient_without_ct_is_named(tmp_path: Path) -> None:
    root = tmp_path / "set"
    write_nsclc_radiomics(root, n=2, shape=SHAPE, spacing=SPACING, seed=2)
    for series in (root / "NSCLC-Radiomics" / "LUNG1-002").glob("*/0.000000-NA-*"):
        for f in series.iterdir():
            f.unlink()
        series.rmdir()
    with pytest.raises(ValueError, match="no CT series .* for LUNG1-002"):
        list_dataset(f"nsclc:{root}")


def test_the_lung_network_trains_on_the_dicom_layout(nsclc: Path, tmp_path: Path) -> None:
    from reference_models.cli import main

    out = tmp_path / "lungs"
    assert main(["train", "lungs", "--data", f"nsclc:{nsclc}", "--out", str(out), "--scale", "tiny", "--steps", "2",
                 "--quiet"]) == 0
    assert (out / "best.pt").is_file()
    assert '"nsclc"' in (out / "data.json").read_text()


def test_scouts_are_skipped_and_mixed_or_undecodable_series_are_refused(tmp_path: Path) -> None:
    import pydicom
    from pydicom.uid import JPEGBaseline8Bit

    phantom = generate_case(Group.NORMAL, shape=SHAPE, spacing=SPACING, seed=3)
    folder = tmp_path / "series"
    paths = write_dicom_series(folder, phantom.image, phantom.affine, patient_id="LUNG1-010", seed=3)
    scout = pydicom.dcmread(paths[0])
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]  # a coronal scout
    scout.save_as(folder / "scout.dcm")
    np.testing.assert_array_equal(np.asarray(read_dicom_series(folder).dataobj), phantom.image.astype(np.float32))

    other = tmp_path / "other"
    write_dicom_series(other, phantom.image, phantom.affine, patient_id="LUNG1-011", seed=4)
    for path in sorted(other.iterdir())[:3]:
        path.rename(folder / f"x-{path.name}")
    with pytest.raises(ValueError, match=r"several CT series in one folder .*: 3 files"):
        read_dicom_series(folder)
    for path in folder.glob("x-*"):
        path.unlink()

    from pydicom.encaps import encapsulate

    broken = pydicom.dcmread(paths[4])
    broken.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    broken.PixelData = encapsulate([b"\xff\xd8 not a JPEG stream"])
    broken.save_as(paths[4], enforce_file_format=True)
    with pytest.raises(ValueError, match=rf"{paths[4].name}: pixel data cannot be decoded"):
        read_dicom_series(folder)
