"""Reading a CT series stored as DICOM files (NSCLC-Radiomics as TCIA distributes it) into a NIfTI-like image.

Conventions:

* A series is the CT files of one folder (other modalities, e.g. an RTSTRUCT or SEG file, scout images
  (``ImageType`` LOCALIZER) and files that are not DICOM are left out); two series in one folder are an error.
  Slices are ordered by their position along the slice normal (``ImagePositionPatient`` · (row cosine × column
  cosine)), not by file name.
* Voxels are ``stored · RescaleSlope + RescaleIntercept`` (Hounsfield units for CT), float32, on an array
  ``[x, y, z]``: ``x`` the column index of a slice, ``y`` its row index, ``z`` the sorted slice index.
* The affine maps voxel indices to millimetres in nibabel's RAS convention (DICOM's patient coordinates are LPS:
  the first two axes change sign).

Everything that stops a series from being one regular volume (several series, mixed orientations or sizes,
missing or undecodable pixel data, two slices at one position, uneven slice steps) is reported at once, naming
the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
SLICE_STEP_TOLERANCE = 0.01
"""Largest relative deviation of one slice step from the series' median step."""


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError as missing:  # pragma: no cover - pydicom is in requirements.txt
        raise ImportError("reading DICOM series needs pydicom (pip install pydicom)") from missing
    return pydicom


def read_header(path: Path) -> Any:
    """The DICOM header of ``path`` without its pixels, or ``None`` if the file is not DICOM."""
    pydicom = _pydicom()
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError, ValueError):
        return None


def series_modality(folder: Path | str) -> str | None:
    """The ``Modality`` of the first DICOM file of ``folder`` (``None`` if it holds none)."""
    for path in sorted(Path(folder).iterdir()):
        if path.is_file():
            header = read_header(path)
            if header is not None:
                return str(getattr(header, "Modality", "")) or None
    return None


def read_dicom_series(folder: Path | str) -> nib.Nifti1Image:
    """The CT series in ``folder`` as an in-memory NIfTI image (HU, float32; see the module doc)."""
    pydicom = _pydicom()
    folder = Path(folder)
    slices, problems = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            dataset = pydicom.dcmread(path)
        except (pydicom.errors.InvalidDicomError, OSError, ValueError):
            if path.suffix.lower() == ".dcm":
                problems.append(f"{path.name}: not a readable DICOM file")
            continue
        if str(getattr(dataset, "Modality", "")) != "CT":
            continue
        if "LOCALIZER" in _image_type(dataset):
            continue  # a scout image: not part of the axial series
        missing = [k for k in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "PixelData")
                   if k not in dataset]
        if missing:
            problems.append(f"{path.name}: no {', '.join(missing)}")
            continue
        slices.append((path, dataset))
    if not slices and not problems:
        raise ValueError(f"{folder}: no CT slices (DICOM files with Modality CT)")
    series = sorted({str(getattr(d, "SeriesInstanceUID", "")) for _, d in slices})
    several = len(series) > 1
    if several:
        counts = {uid: sum(1 for _, d in slices if str(getattr(d, "SeriesInstanceUID", "")) == uid) for uid in series}
        problems.append("several CT series in one folder (SeriesInstanceUID: "
                        + ", ".join(f"{uid or '(none)'}: {n} files" for uid, n in counts.items())
                        + "); give each series its own folder")
    pixels: list[np.ndarray] = []
    if slices and not several:
        normal = _normal(slices[0][1])
        slices.sort(key=lambda item: _position(item[1], normal))
        problems += _geometry_problems(slices, normal)
        if not problems:
            pixels = _decode(slices, problems)
    if problems:
        raise ValueError(f"{folder}: not one regular CT series:\n  " + "\n  ".join(problems))
    return _to_image(slices, pixels, normal)


def _image_type(dataset: Any) -> list[str]:
    value = dataset.get("ImageType")
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    return [str(v).upper() for v in values]


def _orientation(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    cosines = np.asarray([float(v) for v in dataset.ImageOrientationPatient], dtype=float)
    return cosines[:3], cosines[3:]


def _normal(dataset: Any) -> np.ndarray:
    row, column = _orientation(dataset)
    return np.cross(row, column)


def _position(dataset: Any, normal: np.ndarray) -> float:
    """Where a slice lies along the series' slice normal (mm)."""
    return float(np.dot(normal, [float(v) for v in dataset.ImagePositionPatient]))


def _geometry_problems(slices: Sequence[tuple[Path, Any]], normal: np.ndarray) -> list[str]:
    """What keeps ``slices`` (sorted by position) from being one regular volume."""
    first_path, first = slices[0]
    reference = (tuple(np.round(np.concatenate(_orientation(first)), 4)), int(first.Rows), int(first.Columns),
                 tuple(round(float(v), 4) for v in first.PixelSpacing))
    problems = []
    for path, dataset in slices[1:]:
        found = (tuple(np.round(np.concatenate(_orientation(dataset)), 4)), int(dataset.Rows), int(dataset.Columns),
                 tuple(round(float(v), 4) for v in dataset.PixelSpacing))
        for name, want, got in zip(("orientation", "rows", "columns", "pixel spacing"), reference, found, strict=True):
            if want != got:
                problems.append(f"{path.name}: {name} {got} differs from {first_path.name}'s {want}")
    if problems:
        return problems
    positions = [(_position(d, normal), p.name) for p, d in slices]
    steps = np.diff([position for position, _ in positions])
    for (position, name), (_, previous), step in zip(positions[1:], positions[:-1], steps, strict=True):
        if step < 1e-6:
            problems.append(f"{name}: at the same position ({position:g} mm) as {previous}")
    if len(steps) > 1 and not problems:
        median = float(np.median(steps))
        for (_, name), step in zip(positions[1:], steps, strict=True):
            if abs(step - median) > SLICE_STEP_TOLERANCE * median:
                problems.append(f"{name}: {step:g} mm from the previous slice (the series' step is {median:g} mm: "
                                f"a missing slice?)")
    return problems


def _decode(slices: Sequence[tuple[Path, Any]], problems: list[str]) -> list[np.ndarray]:
    """The pixel arrays of ``slices``; a slice that cannot be decoded adds a problem naming its file."""
    pixels = []
    for path, dataset in slices:
        try:
            pixels.append(dataset.pixel_array)
        except Exception as error:  # noqa: BLE001 - pydicom raises many types for undecodable pixel data
            problems.append(f"{path.name}: pixel data cannot be decoded ({type(error).__name__}: {error}; "
                            f"transfer syntax {getattr(dataset.file_meta, 'TransferSyntaxUID', '?')})")
    return pixels


def _to_image(
    slices: Sequence[tuple[Path, Any]], pixels: Sequence[np.ndarray], normal: np.ndarray
) -> nib.Nifti1Image:
    """``slices`` (sorted by position) and their decoded ``pixels`` as one image."""
    first = slices[0][1]
    columns, rows = int(first.Columns), int(first.Rows)
    volume = np.empty((columns, rows, len(slices)), dtype=np.float32, order="F")
    for k, (_, dataset) in enumerate(slices):
        slope = float(getattr(dataset, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(dataset, "RescaleIntercept", 0.0) or 0.0)
        volume[:, :, k] = pixels[k].T.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    row_cosine, column_cosine = _orientation(first)
    row_spacing, column_spacing = (float(v) for v in first.PixelSpacing)
    origin = np.asarray([float(v) for v in first.ImagePositionPatient])
    if len(slices) > 1:
        last = np.asarray([float(v) for v in slices[-1][1].ImagePositionPatient])
        step = (last - origin) / (len(slices) - 1)
    else:
        thickness = float(getattr(first, "SliceThickness", 1.0) or 1.0)
        step = normal * thickness
    lps = np.eye(4)
    lps[:3, 0] = row_cosine * column_spacing  # along a row: the column index (x) grows
    lps[:3, 1] = column_cosine * row_spacing  # down a column: the row index (y) grows
    lps[:3, 2] = step
    lps[:3, 3] = origin
    return nib.Nifti1Image(volume, LPS_TO_RAS @ lps)
