"""Measure a submitted lesion mask against the hidden masks of its case, in one streaming pass.

The mask file is untrusted: its header must match the case's image (shape; affine within
1e-3 mm), its voxels must be 0 or 1 (any integer type, or a float type holding only 0.0
and 1.0 — probability maps are rejected: threshold them before submitting), and its
decompressed size must equal what the header describes. Memory stays at one chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .nifti_stream import DEFAULT_CHUNK_BYTES, MASK_DTYPES, Geometry, SizeMismatch, header_stream, iter_voxel_chunks
from .problems import Problem
from .runs import BoundaryCounter
from .truth import LUNG_LABELS, CaseMasks


@dataclass(frozen=True, slots=True)
class MaskMeasurement:
    """Voxel counts of one submitted mask: in total, inside each lung, inside each rater's lesion."""

    case_id: str
    predicted_voxels: int
    lung_overlap: tuple[int, int]
    lesion_overlap: tuple[int, ...]


def _shape3(shape: tuple[int, ...]) -> tuple[int, ...]:
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def measure_mask(path: Path, *, file: str, case_id: str, geometry: Geometry, masks: CaseMasks,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> MaskMeasurement | list[Problem]:
    """Validate ``path`` and count its overlaps; returns the measurement or every problem found."""
    stream, layout, problems = header_stream(path, file=file, case_id=case_id)
    if stream is None or layout is None:
        return problems
    with stream:
        problems = []
        shape = _shape3(layout.shape)
        if shape != geometry.shape:
            problems.append(Problem(f"has shape {layout.shape}", file=file, case_id=case_id,
                                    expected=f"the case image's shape {geometry.shape}"))
        elif not geometry.matches_affine(layout.affine):
            problems.append(Problem("has an affine that differs from the case image's", file=file, case_id=case_id,
                                    expected="the image's affine (copy the image header when writing the mask)"))
        if layout.dtype.name not in MASK_DTYPES:
            problems.append(Problem(f"has voxel type {layout.dtype}", file=file, case_id=case_id,
                                    expected="an integer type or float32/float64 holding 0 and 1"))
        if problems:
            return problems
        index = masks.index
        counter = BoundaryCounter(index.boundaries)
        itemsize = layout.dtype.itemsize
        chunk_bytes -= chunk_bytes % (8 * itemsize)
        buffer = np.empty(chunk_bytes, np.uint8)
        try:
            for chunk in iter_voxel_chunks(stream, nbytes=layout.data_bytes, buffer=buffer):
                values = np.frombuffer(chunk, dtype=layout.dtype)
                if layout.dtype == np.uint8:
                    binary = values
                    peak = int(values.max(initial=0))
                    bad, all_zero = peak > 1, peak == 0
                else:
                    binary = (values != 0).view(np.uint8)
                    ones = np.count_nonzero(binary)
                    bad, all_zero = bool(ones != np.count_nonzero(values == 1)), ones == 0
                if bad:
                    return [Problem("is not binary: it holds values other than 0 and 1", file=file, case_id=case_id,
                                    expected="a binary mask (0 = no lesion, 1 = lesion); threshold probability "
                                             "maps before submitting")]
                counter.feed(binary, all_zero=all_zero)
        except SizeMismatch as exc:
            return [Problem(str(exc), file=file, case_id=case_id,
                            expected=f"{layout.data_bytes} bytes of voxel data for shape {layout.shape}")]
        except Exception as exc:  # corrupt deflate stream, CRC error, truncated gzip member
            return [Problem(f"has corrupt compressed data ({type(exc).__name__}: {exc})", file=file,
                            case_id=case_id, expected="a valid .nii or .nii.gz file")]
    overlaps = index.overlaps(counter.prefix())
    return MaskMeasurement(
        case_id=case_id,
        predicted_voxels=counter.total,
        lung_overlap=tuple(overlaps[f"lung{label}"] for label in LUNG_LABELS),  # type: ignore[arg-type]
        lesion_overlap=tuple(overlaps[f"lesion{i}"] for i in range(masks.n_lesions)),
    )
