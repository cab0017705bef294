"""Writing prediction archives in the participants' contract (docs/archive-format.md); the reader is next door.

``predictions.csv`` with ``case_id`` and the score columns the method provides (``covid_probability``,
``severity``; floats in [0, 1]), and, for methods that segment lesions, ``masks/<case_id>.nii.gz`` for every case
(binary uint8 on the case image's voxel grid, saved with the image's affine). Two destinations with the same
content: a ``.zip`` archive (:class:`ZipPredictionWriter`, for upload or ``evaluator score``) and a folder
(:class:`FolderPredictionWriter`, the container contract's ``/output``). Masks are written as soon as they are
added, so memory holds one mask at a time.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import nibabel as nib
import numpy as np

COLUMNS = ("covid_probability", "severity")


def mask_bytes(mask: np.ndarray, affine: np.ndarray) -> bytes:
    """A gzip-compressed NIfTI-1 file holding ``mask`` as binary uint8 with ``affine`` (sform and qform)."""
    image = nib.Nifti1Image(np.asarray(mask != 0, dtype=np.uint8), np.asarray(affine, dtype=np.float64))
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)


def _score_text(value: float, *, case_id: str, column: str) -> str:
    if value is None or not math.isfinite(value):
        raise ValueError(f"{case_id}: {column} must be a finite number, got {value!r}")
    if not -1e-6 <= value <= 1 + 1e-6:
        raise ValueError(f"{case_id}: {column} {value} is outside [0, 1]")
    return f"{min(1.0, max(0.0, float(value))):.9g}"


class PredictionWriter:
    """Collects rows and masks; subclasses decide where the files go. Use as a context manager."""

    def __init__(self, *, columns: Sequence[str], masks: bool) -> None:
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}; allowed: {COLUMNS}")
        if not columns and not masks:
            raise ValueError("a prediction needs a score column or masks")
        self.columns = tuple(c for c in COLUMNS if c in columns)
        self.masks = masks
        self.rows: list[dict[str, str]] = []
        self._seen: set[str] = set()

    def add(
        self,
        case_id: str,
        *,
        covid_probability: float | None = None,
        severity: float | None = None,
        mask: np.ndarray | None = None,
        affine: np.ndarray | None = None,
    ) -> None:
        """One case: its scores (those in ``columns`` are required) and, if ``masks``, its mask and image affine."""
        if self.masks and (mask is None or affine is None):
            raise ValueError(f"{case_id}: this prediction has masks, so every case needs one (and its affine)")
        self.add_encoded(case_id, covid_probability=covid_probability, severity=severity,
                         mask_file=mask_bytes(mask, affine) if self.masks else None)  # type: ignore[arg-type]

    def add_encoded(
        self,
        case_id: str,
        *,
        covid_probability: float | None = None,
        severity: float | None = None,
        mask_file: bytes | None = None,
    ) -> None:
        """:meth:`add` with the mask already encoded by :func:`mask_bytes` (e.g. in another process)."""
        if case_id in self._seen:
            raise ValueError(f"{case_id}: added twice")
        values = {"covid_probability": covid_probability, "severity": severity}
        row = {"case_id": case_id}
        for column in self.columns:
            row[column] = _score_text(values[column], case_id=case_id, column=column)  # type: ignore[arg-type]
        if self.masks:
            if mask_file is None:
                raise ValueError(f"{case_id}: this prediction has masks, so every case needs one (and its affine)")
            self._write_mask(case_id, mask_file)
        self._seen.add(case_id)
        self.rows.append(row)

    def csv_text(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["case_id", *self.columns], lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()

    def _write_mask(self, case_id: str, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close() if kind is None else self.abort()

    def abort(self) -> None:
        """Called when writing fails; the default leaves what was written."""


class ZipPredictionWriter(PredictionWriter):
    """``predictions.csv`` (deflated) and ``masks/*.nii.gz`` (stored: already compressed) in a new ``.zip``."""

    def __init__(self, path: Path | str, *, columns: Sequence[str], masks: bool) -> None:
        super().__init__(columns=columns, masks=masks)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(f".{self.path.name}.partial")
        self._zip = zipfile.ZipFile(self._partial, "w")

    def _write_mask(self, case_id: str, data: bytes) -> None:
        self._zip.writestr(f"masks/{case_id}.nii.gz", data, compress_type=zipfile.ZIP_STORED)

    def close(self) -> None:
        self._zip.writestr("predictions.csv", self.csv_text(), compress_type=zipfile.ZIP_DEFLATED)
        self._zip.close()
        self._partial.replace(self.path)

    def abort(self) -> None:
        self._zip.close()
        self._partial.unlink(missing_ok=True)


class FolderPredictionWriter(PredictionWriter):
    """``FOLDER/predictions.csv`` and ``FOLDER/masks/<case_id>.nii.gz`` (the container's ``/output``)."""

    def __init__(self, folder: Path | str, *, columns: Sequence[str], masks: bool) -> None:
        super().__init__(columns=columns, masks=masks)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if masks:
            (self.folder / "masks").mkdir(exist_ok=True)

    def _write_mask(self, case_id: str, data: bytes) -> None:
        (self.folder / "masks" / f"{case_id}.nii.gz").write_bytes(data)

    def close(self) -> None:
        tmp = self.folder / ".predictions.csv.partial"
        tmp.write_text(self.csv_text(), encoding="utf-8")
        tmp.replace(self.folder / "predictions.csv")


def open_writer(destination: Path | str, *, columns: Sequence[str], masks: bool) -> PredictionWriter:
    """A zip writer for a ``*.zip`` destination, else a folder writer."""
    destination = Path(destination)
    if destination.suffix.lower() == ".zip":
        return ZipPredictionWriter(destination, columns=columns, masks=masks)
    return FolderPredictionWriter(destination, columns=columns, masks=masks)


def restrict_archive(source: Path | str, target: Path | str, *, keep: set[str]) -> Path:
    """Copy a prediction archive this writer made, keeping only the rows and masks of the ``keep`` cases."""
    target = Path(target)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            if item.filename == "predictions.csv":
                rows = list(csv.reader(io.StringIO(src.read(item).decode("utf-8"))))
                text = io.StringIO()
                csv.writer(text, lineterminator="\n").writerows([rows[0], *(r for r in rows[1:] if r[0] in keep)])
                dst.writestr("predictions.csv", text.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
            elif item.filename.startswith("masks/"):
                case_id = item.filename[len("masks/"):].removesuffix(".gz").removesuffix(".nii")
                if case_id in keep:
                    dst.writestr(item, src.read(item))
    return target
