"""What a dataset loader yields: :class:`SeriesRecord` (files and labels, nothing loaded) and :class:`Series`.

``label``: 1 for COVID-19, 0 for a series without COVID-19, ``None`` when the dataset does not say.
``lesions``: a boolean COVID-19 lesion mask, or ``None`` when the series has no annotation (which is *not* the same
as an empty mask; trainers decide when to assume one, e.g. for 2D U-Net+'s negatives).
``lungs``: uint8, 0 background and either 1/2 (two lungs, 1 the lower mean x index) or 1 (both lungs, not split);
``None`` when the dataset has no lung mask. All arrays are in the standard orientation of
:mod:`reference_models.data.volumes`, the image in Hounsfield units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reference_models.data.volumes import load_image, load_labels, read_image, relabel_lungs
from reference_models.preprocessing import spacing_from_affine


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """One series of a dataset, as its file names and folder say (cheap to list; :meth:`load` reads it)."""

    layout: str
    root: Path
    series_id: str
    image: Path
    label: int | None
    lesions: Path | None = None
    lesion_values: tuple[int, ...] = (1,)
    """Voxel values of the lesion file that are COVID-19 lesions (e.g. MedSeg: 1 ground glass, 2 consolidation)."""
    lungs: Path | None = None
    lung_values: tuple[int, ...] = (1, 2)
    """Voxel values of the lung file that are lung; two values are two lungs, relabelled by position."""
    intensity: str = "auto"
    group: str | None = None
    """Finer diagnosis when the dataset gives it (test-set group, MosMed category CT-0..CT-4)."""

    @property
    def has_mask(self) -> bool:
        return self.lesions is not None

    def provenance(self) -> dict[str, Any]:
        """JSON-ready description of where the series comes from (files relative to the dataset root)."""

        def rel(path: Path | None) -> str | None:
            if path is None:
                return None
            try:
                return str(path.relative_to(self.root))
            except ValueError:
                return str(path)

        return {
            "layout": self.layout,
            "root": str(self.root),
            "series_id": self.series_id,
            "image": rel(self.image),
            "lesions": rel(self.lesions),
            "lungs": rel(self.lungs),
            "label": self.label,
            "group": self.group,
        }

    def load(self) -> Series:
        """Read the image (in HU, standard orientation) and its masks."""
        reference = read_image(self.image)
        image, intensity = load_image(self.image, intensity=self.intensity, image=reference)
        lesions = lungs = None
        if self.lesions is not None:
            labels = load_labels(self.lesions, reference=reference, image_path=self.image).array
            lesions = np.isin(labels, self.lesion_values)
        if self.lungs is not None:
            labels = load_labels(self.lungs, reference=reference, image_path=self.image).array
            lungs = relabel_lungs(labels, lung_values=self.lung_values)
        return Series(
            series_id=self.series_id,
            image_hu=image.array,
            affine=image.affine,
            lesions=lesions,
            lungs=lungs,
            label=self.label,
            provenance={**self.provenance(), "intensity": intensity, "source_axcodes": list(image.source_axcodes)},
        )


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """A loaded series (see the module doc for the conventions)."""

    series_id: str
    image_hu: np.ndarray
    affine: np.ndarray
    lesions: np.ndarray | None
    lungs: np.ndarray | None
    label: int | None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def spacing(self) -> tuple[float, float, float]:
        return spacing_from_affine(self.affine)


def nifti_files(folder: Path) -> list[Path]:
    """``*.nii.gz`` and ``*.nii`` files of ``folder`` (not recursive), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith((".nii.gz", ".nii")))


def nifti_stem(path: Path) -> str:
    """File name without ``.nii.gz`` / ``.nii``."""
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def find_nifti(folder: Path, stem: str) -> Path | None:
    """``folder/stem.nii.gz`` or ``folder/stem.nii`` if one exists."""
    for suffix in (".nii.gz", ".nii"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def label_counts(records: Sequence[SeriesRecord]) -> dict[str, int]:
    """How many records are positive, negative, unlabelled and have a lesion mask."""
    return {
        "series": len(records),
        "positive": sum(r.label == 1 for r in records),
        "negative": sum(r.label == 0 for r in records),
        "unlabelled": sum(r.label is None for r in records),
        "with_mask": sum(r.has_mask for r in records),
        "with_lungs": sum(r.lungs is not None for r in records),
    }
