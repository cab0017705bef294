"""Phantoms in the layouts of the public training datasets the paper uses (for importer tests and training).

* MosMedData COVID19_1110: ``studies/CT-k/study_NNNN.nii.gz`` with the real numbering per category,
  ``masks/study_NNNN_mask.nii.gz`` for the first CT-1 studies; 8 mm apart by default, but thin: every 10th slice
  of a series with a tenth of that spacing, as the public set keeps every 10th slice of 0.8 mm series.
* MedSeg (9 Radiopaedia volumes): ``rp_im/i.nii.gz``, ``rp_msk/i.nii.gz`` (1 ground glass, 2 consolidation),
  ``rp_lung_msk/i.nii.gz`` (both lungs = 1).
* COVID-19-CT-Seg (Jun Ma, 20 volumes): ``COVID-19-CT-Seg_20cases/``, ``Infection_Mask/``, ``Lung_Mask/``
  (1 left, 2 right), ``Lung_and_Infection_Mask/`` (1 left, 2 right, 3 infection), same file names in each;
  ``coronacases_*`` in HU, ``radiopaedia_*`` windowed [-1250, 250] HU → 0..255 (uint8), not HU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluator.groups import Group
from evaluator.phantoms.generate import DEFAULT_SHAPE, generate_case
from evaluator.phantoms.jobs import prepare_output_dir, run_jobs
from evaluator.phantoms.nifti import write_nifti
from evaluator.phantoms.pathology import draw_severity
from evaluator.phantoms.protocols import scan_geometry
from evaluator.phantoms.seeds import case_seed, set_rng

#: Study numbers of each MosMedData category: CT-k → (first, last).
MOSMED_RANGES: dict[int, tuple[int, int]] = {
    0: (1, 254),
    1: (255, 938),
    2: (939, 1063),
    3: (1064, 1108),
    4: (1109, 1110),
}
#: The real set's masks cover CT-1 studies 0255–0304.
MOSMED_MASKED = (255, 304)
MOSMED_SPACING = (5.5, 5.5, 8.0)
MOSMED_SLICE_STEP = 10
"""The public MosMedData keeps every 10th slice of each 0.8 mm series (paper, Sec. 3.1): its slices are thin, only
far apart. :func:`write_mosmed` generates each study with a tenth of the slice spacing and keeps every 10th slice."""
RADIOPAEDIA_NAMES = (
    "radiopaedia_4_85506_1",
    "radiopaedia_7_85703_0",
    "radiopaedia_10_85902_1",
    "radiopaedia_10_85902_3",
    "radiopaedia_14_85914_0",
    "radiopaedia_27_86410_0",
    "radiopaedia_29_86490_1",
    "radiopaedia_29_86491_1",
    "radiopaedia_36_86526_0",
    "radiopaedia_40_86625_0",
)
#: Window of the Radiopaedia half of COVID-19-CT-Seg: HU in [lo, hi] stored as 0..255.
RADIOPAEDIA_WINDOW = (-1250.0, 250.0)


@dataclass(frozen=True, slots=True)
class _Job:
    root: str
    layout: str
    name: str
    group: Group
    seed: int
    severity: float | None
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    with_mask: bool = True
    vary_spacing: bool = False
    slice_step: int = 1
    """Keep every ``slice_step``-th slice of a series generated with ``slice_step`` times thinner slices."""


def window_to_uint8(image: np.ndarray, window: tuple[float, float] = RADIOPAEDIA_WINDOW) -> np.ndarray:
    """HU clipped to ``window`` and scaled to 0..255 (rounded), as the Radiopaedia volumes are stored."""
    lo, hi = window
    scaled = (np.clip(image.astype(np.float32), lo, hi) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    return np.rint(scaled).astype(np.uint8)


def _write(job: _Job) -> list[str]:
    root = Path(job.root)
    shape, spacing = job.shape, job.spacing
    if job.vary_spacing:
        shape, spacing = scan_geometry(shape, spacing, seed=job.seed)
    step = job.slice_step
    phantom = generate_case(
        job.group,
        shape=(shape[0], shape[1], shape[2] * step),
        spacing=(spacing[0], spacing[1], spacing[2] / step),
        seed=job.seed,
        severity=job.severity,
        lesion_types=job.layout == "medseg",
    )
    files: dict[str, np.ndarray] = {}
    lesion = phantom.lesions[0] if phantom.lesions else np.zeros(phantom.lungs.shape, dtype=bool)
    offset = job.seed % step  # keep every step-th slice from an offset set by the seed; the affine follows
    kept = (slice(None), slice(None), slice(offset, None, step))
    affine = phantom.affine.copy()
    affine[:3, 3] += affine[:3, 2] * offset
    affine[:3, 2] *= step
    if job.layout == "mosmed":
        category = job.name.split("/")[0]
        number = job.name.split("/")[1]
        files[f"studies/{category}/study_{number}.nii.gz"] = phantom.image[kept]
        if job.with_mask:
            files[f"masks/study_{number}_mask.nii.gz"] = lesion[kept]
    elif job.layout == "medseg":
        assert phantom.lesion_types is not None  # asked for (lesion_types=True)
        files[f"rp_im/{job.name}.nii.gz"] = phantom.image
        files[f"rp_msk/{job.name}.nii.gz"] = phantom.lesion_types
        files[f"rp_lung_msk/{job.name}.nii.gz"] = (phantom.lungs > 0).astype(np.uint8)
    else:
        radiopaedia = job.name.startswith("radiopaedia")
        image = window_to_uint8(phantom.image) if radiopaedia else phantom.image
        lungs = np.zeros(phantom.lungs.shape, dtype=np.uint8)
        lungs[phantom.lungs == 2] = 1  # left
        lungs[phantom.lungs == 1] = 2  # right
        combined = lungs.copy()
        combined[lesion] = 3
        files[f"COVID-19-CT-Seg_20cases/{job.name}.nii.gz"] = image
        files[f"Infection_Mask/{job.name}.nii.gz"] = lesion
        files[f"Lung_Mask/{job.name}.nii.gz"] = lungs
        files[f"Lung_and_Infection_Mask/{job.name}.nii.gz"] = combined
    for name, array in files.items():
        write_nifti(root / name, array, affine)
    return sorted(files)


def _category_counts(per_category: int | Mapping[int, int] | Mapping[str, int]) -> dict[int, int]:
    if isinstance(per_category, int):
        raw = {k: per_category for k in MOSMED_RANGES}
    else:
        raw = {int(str(k).upper().removeprefix("CT-")): int(n) for k, n in per_category.items()}
    out = {}
    for k, n in raw.items():
        if k not in MOSMED_RANGES or n < 0:
            raise ValueError(f"MosMed categories are CT-0..CT-4 with counts >= 0, got CT-{k}={n}")
        first, last = MOSMED_RANGES[k]
        out[k] = min(n, last - first + 1)
    return out


def write_mosmed(
    out_dir: Path | str,
    *,
    per_category: int | Mapping[int, int] | Mapping[str, int] = 2,
    n_masks: int = 2,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] = MOSMED_SPACING,
    seed: int = 0,
    slice_step: int = MOSMED_SLICE_STEP,
    workers: int = 1,
    progress: bool = False,
) -> list[str]:
    """MosMedData COVID19_1110: the first ``per_category`` studies of each CT-k (real numbering; CT-0 normal,
    CT-k severities inside the k-th 25% band) and masks for the first ``n_masks`` CT-1 studies (at most 50).

    Every study has the given grid. Like the public set, which keeps every 10th slice of each series, a study is
    generated with ``slice_step`` times thinner slices and every ``slice_step``-th is kept (1: contiguous slices)."""
    if slice_step < 1:
        raise ValueError(f"slice_step must be at least 1, got {slice_step}")
    out = prepare_output_dir(out_dir)
    counts = _category_counts(per_category)
    rng = set_rng(seed, "mosmed")
    jobs = []
    masked_last = MOSMED_MASKED[0] + min(max(n_masks, 0), MOSMED_MASKED[1] - MOSMED_MASKED[0] + 1) - 1
    for category, n in sorted(counts.items()):
        first = MOSMED_RANGES[category][0]
        for number in range(first, first + n):
            jobs.append(
                _Job(
                    root=str(out),
                    layout="mosmed",
                    name=f"CT-{category}/{number:04d}",
                    group=Group.NORMAL if category == 0 else Group.COVID,
                    seed=case_seed(seed, "mosmed", number),
                    severity=None if category == 0 else draw_severity(rng, category),
                    shape=shape,
                    spacing=spacing,
                    with_mask=category == 1 and number <= masked_last,
                    slice_step=slice_step,
                )
            )
    return [f for files in run_jobs(_write, jobs, workers=workers, progress=progress, desc="MosMed") for f in files]


def write_medseg(
    out_dir: Path | str,
    *,
    n: int = 9,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] = (5.5, 5.5, 8.0),
    seed: int = 0,
    vary_spacing: bool = True,
    workers: int = 1,
    progress: bool = False,
) -> list[str]:
    """MedSeg's Radiopaedia volumes ``1..n`` (COVID-19), with ground-glass/consolidation and lung masks.

    With ``vary_spacing`` each volume gets its own grid around the nominal one (``protocols.scan_geometry``).
    """
    out = prepare_output_dir(out_dir)
    rng = set_rng(seed, "medseg")
    jobs = [
        _Job(str(out), "medseg", str(i), Group.COVID, case_seed(seed, "medseg", i), draw_severity(rng), shape, spacing,
             vary_spacing=vary_spacing)
        for i in range(1, n + 1)
    ]
    return [f for files in run_jobs(_write, jobs, workers=workers, progress=progress, desc="MedSeg") for f in files]


def write_covid_ct_seg(
    out_dir: Path | str,
    *,
    n_coronacases: int = 10,
    n_radiopaedia: int = 10,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] = (5.5, 5.5, 8.0),
    seed: int = 0,
    vary_spacing: bool = True,
    workers: int = 1,
    progress: bool = False,
) -> list[str]:
    """COVID-19-CT-Seg: ``coronacases_001``… in HU and ``radiopaedia_*`` windowed to 0..255, with lung
    (1 left, 2 right), infection and combined masks; with ``vary_spacing`` each volume gets its own grid."""
    out = prepare_output_dir(out_dir)
    rng = set_rng(seed, "covid-ct-seg")
    names = [f"coronacases_{i:03d}" for i in range(1, n_coronacases + 1)]
    names += [
        RADIOPAEDIA_NAMES[i] if i < len(RADIOPAEDIA_NAMES) else f"radiopaedia_{100 + i}_{90000 + i}_0"
        for i in range(n_radiopaedia)
    ]
    jobs = [
        _Job(str(out), "covid-ct-seg", name, Group.COVID, case_seed(seed, "covid-ct-seg", i), draw_severity(rng),
             shape, spacing, vary_spacing=vary_spacing)
        for i, name in enumerate(names)
    ]
    written = run_jobs(_write, jobs, workers=workers, progress=progress, desc="COVID-19-CT-Seg")
    return [f for files in written for f in files]
