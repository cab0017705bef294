"""Example prediction archives built from a test set's own labels (for the sample set, docs and tests).

They show the archive format end to end and give known answers: ``perfect`` scores 1 on
every ROC-AUC, ρ = 1 and Dice = 1 on single-rater cases; ``shuffled`` scores near 0.5.
They need the labels, so they can only be made for the public sample set or by maintainers.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from .archive.writer import ZipPredictionWriter
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
    """Write a ``.zip`` prediction archive for the cases visible in ``track`` (with :mod:`.archive.writer`)."""
    rng = np.random.default_rng(seed)
    with_masks = kind in (ExampleKind.PERFECT, ExampleKind.NOISY, ExampleKind.MASKS_ONLY)
    columns = [column for column, keep in (("covid_probability", kind not in (ExampleKind.SEVERITY_ONLY,
                                                                               ExampleKind.MASKS_ONLY)),
                                           ("severity", kind not in (ExampleKind.PROBABILITY_ONLY,
                                                                     ExampleKind.MASKS_ONLY))) if keep]
    scores: list[tuple[str, float, float]] = []  # shuffled: written once all scores are drawn
    with ZipPredictionWriter(out, columns=columns, masks=with_masks) as writer:
        for case in visible_cases(testset, track):
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
            if kind is ExampleKind.SHUFFLED:
                scores.append((case.case_id, probability, severity))
                continue
            writer.add(case.case_id, covid_probability=probability, severity=severity,
                       mask=mask if with_masks else None,
                       affine=nib.load(str(case.image)).affine if with_masks else None)
        if scores:
            case_ids, probabilities, severities = (list(column) for column in zip(*scores, strict=True))
            rng.shuffle(probabilities)
            rng.shuffle(severities)
            for case_id, probability, severity in zip(case_ids, probabilities, severities, strict=True):
                writer.add(case_id, covid_probability=probability, severity=severity)
    return out
