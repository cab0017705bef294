"""Example prediction archives built from a test set's own labels (for the sample set, docs and tests).

They show the archive format end to end and give known answers: ``perfect`` scores 1 on
every ROC-AUC, ρ = 1 and Dice = 1 on single-rater cases; ``shuffled`` scores near 0.5.
They need the labels, so they can only be made for the public sample set or by maintainers.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from enum import StrEnum
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from .groups import Group
from .scoring import Track, visible_cases
from .testset import TestCase, TestSet
from .truth import severity_from_counts


class ExampleKind(StrEnum):
    PERFECT = "perfect"  # true labels, first rater's mask
    NOISY = "noisy"  # plausible but imperfect predictions and masks
    SHUFFLED = "shuffled"  # scores permuted between cases: ROC-AUC near 0.5
    PROBABILITY_ONLY = "probability-only"  # covid_probability column only
    SEVERITY_ONLY = "severity-only"  # severity column only
    MASKS_ONLY = "masks-only"  # masks only: severity and identification come from them


def _lesion(case: TestCase) -> np.ndarray:
    if not case.lesions:
        return np.zeros(case.geometry.shape, np.uint8)
    first = case.lesions[sorted(case.lesions)[0]]
    return (np.asanyarray(nib.load(str(first)).dataobj) != 0).astype(np.uint8)


def _noisy_mask(lesion: np.ndarray, lungs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mask = ndimage.binary_dilation(lesion, iterations=1) if rng.random() < 0.5 else ndimage.binary_erosion(lesion)
    specks = (rng.random(lesion.shape) < 0.002) & (lungs > 0)
    return (mask | specks).astype(np.uint8)


def write_example_archive(out: Path, *, testset: TestSet, kind: ExampleKind, seed: int = 0,
                          track: Track = Track.ARCHIVE) -> Path:
    """Write a ``.zip`` prediction archive for the cases visible in ``track``."""
    rng = np.random.default_rng(seed)
    cases = visible_cases(testset, track)
    with_masks = kind in (ExampleKind.PERFECT, ExampleKind.NOISY, ExampleKind.MASKS_ONLY)
    rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(out, "w") as archive:
        for case in cases:
            lungs = np.asanyarray(nib.load(str(case.lungs)).dataobj)
            lesion = _lesion(case)
            sizes = [int(np.count_nonzero(lungs == k)) for k in (1, 2)]
            true_sev = severity_from_counts([int(np.count_nonzero(lesion & (lungs == k))) for k in (1, 2)], sizes)
            is_covid = case.group is Group.COVID
            if kind is ExampleKind.PERFECT:
                probability, severity, mask = float(is_covid), true_sev, lesion
            else:
                probability = float(np.clip(rng.normal(0.75 if is_covid else 0.3, 0.2), 0, 1))
                severity = float(np.clip(true_sev * rng.uniform(0.7, 1.3) + rng.uniform(0, 0.02), 0, 1))
                mask = _noisy_mask(lesion, lungs, rng)
            rows.append({"case_id": case.case_id, "covid_probability": f"{probability:.6f}",
                         "severity": f"{severity:.6f}"})
            if with_masks:
                image = nib.load(str(case.image))
                path = Path(tmp) / f"{case.case_id}.nii.gz"
                nib.save(nib.Nifti1Image(mask.astype(np.uint8), image.affine), str(path))
                archive.write(path, f"masks/{case.case_id}.nii.gz", compress_type=zipfile.ZIP_STORED)
        if kind is ExampleKind.SHUFFLED:
            for column in ("covid_probability", "severity"):
                values = [row[column] for row in rows]
                rng.shuffle(values)
                for row, value in zip(rows, values):
                    row[column] = value
        columns = {"case_id": True, "covid_probability": kind is not ExampleKind.SEVERITY_ONLY,
                   "severity": kind is not ExampleKind.PROBABILITY_ONLY}
        if kind is ExampleKind.MASKS_ONLY:
            columns["covid_probability"] = columns["severity"] = False
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=[c for c, keep in columns.items() if keep], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr("predictions.csv", text.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    return out
