"""Phantoms as NSCLC-Radiomics is distributed by TCIA: DICOM CT series, with PleThora thoracic-cavity masks.

Layout (what the NBIA Data Retriever writes with descriptive folder names, and PleThora's archive)::

    NSCLC-Radiomics/LUNG1-001/<study date>-NA-<n>/0.000000-NA-<n>/1-001.dcm …     the CT series
    NSCLC-Radiomics/LUNG1-001/<study date>-NA-<n>/3.000000-NA-<n>/1-1.dcm         an RTSTRUCT (no pixels)
    Thoracic_Cavities/LUNG1-001/LUNG1-001_thor_cav_primary_reviewer.nii.gz        both hemithoraces = 1

Slices are stored as ``uint16`` = HU + 1024 with ``RescaleIntercept`` −1024, file ``1-001.dcm`` being the most
superior slice (file order is not spatial order, as in the real files). The masks are stored in another voxel
order than the DICOM series (x and z reversed, with an affine that says so), as PleThora's masks are: a reader
must go through the affines. UIDs are derived from the seed, so the files are reproducible.

Needs ``pydicom`` (imported only here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluator.groups import Group
from evaluator.phantoms.generate import DEFAULT_SHAPE, generate_case
from evaluator.phantoms.jobs import prepare_output_dir, run_jobs
from evaluator.phantoms.nifti import write_nifti
from evaluator.phantoms.seeds import case_seed

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _dataset(sop_class: str, instance: str, *, patient_id: str, modality: str) -> Any:
    """A DICOM dataset with its file meta (explicit VR little endian), SOP identity, patient and modality."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, instance
    ds.PatientID = ds.PatientName = patient_id
    ds.Modality = modality
    return ds


def write_dicom_series(
    folder: Path | str, image_hu: np.ndarray, affine: np.ndarray, *, patient_id: str, seed: int
) -> list[Path]:
    """``image_hu [x, y, z]`` (RAS ``affine``, axis-aligned) as one CT DICOM file per slice in ``folder``."""
    from pydicom.uid import CTImageStorage, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lps = RAS_TO_LPS @ np.asarray(affine, dtype=float)
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    row_cosine, column_cosine = lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]
    study, series = (generate_uid(entropy_srcs=[patient_id, str(seed), part]) for part in ("study", "series"))
    stored = np.clip(np.rint(np.asarray(image_hu, dtype=np.float64)) + 1024, 0, 65535).astype(np.uint16)
    n = stored.shape[2]
    paths = []
    for k in range(n):
        instance = generate_uid(entropy_srcs=[patient_id, str(seed), "slice", str(k)])
        ds = _dataset(CTImageStorage, instance, patient_id=patient_id, modality="CT")
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.InstanceNumber = n - k
        ds.ImagePositionPatient = [f"{v:.4f}" for v in lps[:3, :3] @ np.array([0.0, 0.0, k]) + lps[:3, 3]]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*row_cosine, *column_cosine)]
        ds.PixelSpacing = [f"{spacing[1]:.4f}", f"{spacing[0]:.4f}"]  # row spacing (y), column spacing (x)
        ds.SliceThickness = f"{spacing[2]:.4f}"
        ds.Rows, ds.Columns = stored.shape[1], stored.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()  # rows = y, columns = x
        path = folder / f"1-{n - k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _write_rtstruct(folder: Path, *, patient_id: str, seed: int) -> Path:
    """A header-only RTSTRUCT file, as sits beside the CT series (readers must skip it)."""
    from pydicom.uid import RTStructureSetStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    instance = generate_uid(entropy_srcs=[patient_id, str(seed), "rtstruct"])
    ds = _dataset(RTStructureSetStorage, instance, patient_id=patient_id, modality="RTSTRUCT")
    ds.StructureSetLabel = "phantom"
    path = folder / "1-1.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@dataclass(frozen=True, slots=True)
class _Job:
    root: str
    index: int
    seed: int
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]


def _write_patient(job: _Job) -> list[str]:
    root = Path(job.root)
    patient = f"LUNG1-{job.index:03d}"
    phantom = generate_case(Group.NODULES, shape=job.shape, spacing=job.spacing, seed=job.seed)
    study = root / "NSCLC-Radiomics" / patient / f"01-01-2014-StudyID-NA-{10000 + job.index}"
    written = write_dicom_series(study / f"0.000000-NA-{20000 + job.index}", phantom.image, phantom.affine,
                                 patient_id=patient, seed=job.seed)
    written.append(_write_rtstruct(study / f"3.000000-NA-{30000 + job.index}", patient_id=patient, seed=job.seed))
    # PleThora's masks: another voxel order (x and z reversed) with an affine that says so
    flipped = np.ascontiguousarray((phantom.lungs > 0).astype(np.uint8)[::-1, :, ::-1])
    shape = np.asarray(phantom.lungs.shape)
    flip = np.eye(4)
    flip[[0, 2], [0, 2]] = -1
    flip[[0, 2], 3] = shape[[0, 2]] - 1
    mask = root / "Thoracic_Cavities" / patient / f"{patient}_thor_cav_primary_reviewer.nii.gz"
    write_nifti(mask, flipped, phantom.affine @ flip)
    return [str(p.relative_to(root)) for p in (*written, mask)]


def write_nsclc_radiomics(
    out_dir: Path | str,
    *,
    n: int = 4,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] = (5.5, 5.5, 8.0),
    seed: int = 0,
    workers: int = 1,
    progress: bool = False,
) -> list[str]:
    """``n`` nodule phantoms as NSCLC-Radiomics DICOM series with PleThora-style thoracic-cavity masks."""
    out = prepare_output_dir(out_dir)
    jobs = [_Job(str(out), i, case_seed(seed, "nsclc-radiomics", i), (*shape,), (*spacing,))
            for i in range(1, n + 1)]
    written = run_jobs(_write_patient, jobs, workers=workers, progress=progress, desc="NSCLC-Radiomics")
    return [f for files in written for f in files]
