"""Test sets in the leaderboard's layout, the small public sample set, and the authors' released layout.

Test-set layout (hidden labels)::

    TESTSET/testset.json               {"name", "version", "description"}
    TESTSET/cases.csv                  case_id,group,distribution
    TESTSET/images/<case_id>.nii.gz    int16 HU
    TESTSET/lungs/<case_id>.nii.gz     uint8: 0 background, 1 right lung, 2 left lung
    TESTSET/lesions/<case_id>.nii.gz   uint8 0/1, COVID-19 cases with one rater
    TESTSET/lesions/<case_id>/<rater>.nii.gz   COVID-19 cases with several raters (rater1, rater2, ...)

Authors' layout: ``test/<group>/images/<id>.nii.gz`` and ``test/covid/masks/<id>.nii.gz`` (one rater) or
``test/covid/masks/<id>/<rater>.nii.gz``; no lung masks. With the same arguments it holds the same
phantoms, under the same ids, as the test set.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluator.groups import Distribution, Group
from evaluator.phantoms.cohorts import Cohort, testset_cohort
from evaluator.phantoms.generate import DEFAULT_SHAPE, DEFAULT_SPACING, generate_case
from evaluator.phantoms.jobs import prepare_output_dir, run_jobs
from evaluator.phantoms.nifti import write_nifti
from evaluator.phantoms.pathology import draw_severity
from evaluator.phantoms.protocols import scan_geometry
from evaluator.phantoms.seeds import case_seed, set_rng

#: Mosmed-Test's group sizes (Sec. 3.5 of the paper).
MOSMED_TEST_COUNTS: dict[Group, int] = {
    Group.COVID: 32,
    Group.BACTERIAL_PNEUMONIA: 30,
    Group.NODULES: 30,
    Group.NORMAL: 31,
}
#: The real bacterial-pneumonia images cannot be distributed.
DEFAULT_PRIVATE_GROUPS: tuple[Group, ...] = (Group.BACTERIAL_PNEUMONIA,)
_TAG = "testset"


@dataclass(frozen=True, slots=True)
class PlannedCase:
    """One case of a test set: its id, group, visibility, phantom seed and number of lesion raters, the
    COVID-19 target severity (``None``: the phantom draws it, ``generate_case``) and the patient's cohort."""

    case_id: str
    group: Group
    distribution: Distribution
    seed: int
    n_raters: int
    severity: float | None = None
    cohort: Cohort = Cohort.GROUP


def plan_testset(
    *,
    counts: Mapping[Group, int] | Mapping[str, int] = MOSMED_TEST_COUNTS,
    seed: int = 0,
    multi_rater_fraction: float = 1 / 3,
    private_groups: Iterable[Group | str] = DEFAULT_PRIVATE_GROUPS,
    id_prefix: str = "case",
    covid_bands: Sequence[float] | None = None,
) -> list[PlannedCase]:
    """Cases in id order; ids ``case_000``… (``<id_prefix>_000``…) are assigned in a seeded shuffled order, so they
    hide the group. The voxels do not depend on the prefix.

    ``multi_rater_fraction`` of the COVID-19 cases (rounded) get two raters. ``covid_bands``: the probabilities of
    CT-1..CT-4 for the COVID-19 cases' severities (``pathology.draw_severity``, from a stream of their own); ``None``:
    each phantom draws its own from the population's mix (``pathology.POPULATION_BANDS``). Each case's cohort follows
    Mosmed-Test's sources (``cohorts.testset_cohort``; normals in id order).
    """
    counts = {Group(g): int(n) for g, n in counts.items()}
    if any(n < 0 for n in counts.values()):
        raise ValueError(f"counts must not be negative: {counts}")
    if not 0.0 <= multi_rater_fraction <= 1.0:
        raise ValueError(f"multi_rater_fraction must lie in [0, 1], got {multi_rater_fraction}")
    private = {Group(g) for g in private_groups}
    rng = set_rng(seed, _TAG)
    groups = [g for g in Group for _ in range(counts.get(g, 0))]
    order = rng.permutation(len(groups))
    shuffled = [groups[i] for i in order]
    covid_positions = [i for i, g in enumerate(shuffled) if g is Group.COVID]
    n_multi = int(round(multi_rater_fraction * len(covid_positions)))
    multi = set(rng.choice(covid_positions, size=n_multi, replace=False).tolist()) if n_multi else set()
    width = max(3, len(str(max(len(groups) - 1, 0))))
    severities: dict[int, float] = {}
    if covid_bands is not None:
        severity_rng = set_rng(seed, _TAG + "-severity")
        severities = {i: draw_severity(severity_rng, band_probabilities=covid_bands) for i in covid_positions}
    normal_rank = {i: k for k, i in enumerate(i for i, g in enumerate(shuffled) if g is Group.NORMAL)}
    cohorts = {
        i: testset_cohort(g, normal_index=normal_rank.get(i, 0), normal_count=len(normal_rank))
        for i, g in enumerate(shuffled)
    }
    return [
        PlannedCase(
            case_id=f"{id_prefix}_{i:0{width}d}",
            group=g,
            distribution=Distribution.PRIVATE if g in private else Distribution.PUBLIC,
            seed=case_seed(seed, _TAG, i),
            n_raters=2 if i in multi else 1,
            severity=severities.get(i),
            cohort=cohorts[i],
        )
        for i, g in enumerate(shuffled)
    ]


@dataclass(frozen=True, slots=True)
class _CaseJob:
    root: str
    case: PlannedCase
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    layout: str  # "testset" or "authors"
    vary_spacing: bool = True


def _write_case(job: _CaseJob) -> list[str]:
    case, root = job.case, Path(job.root)
    shape, spacing = job.shape, job.spacing
    if job.vary_spacing:
        shape, spacing = scan_geometry(shape, spacing, seed=case.seed)
    phantom = generate_case(case.group, shape=shape, spacing=spacing, seed=case.seed, severity=case.severity,
                            n_raters=case.n_raters, cohort=case.cohort)
    affine = phantom.affine
    if job.layout == "testset":
        files = {
            f"images/{case.case_id}.nii.gz": phantom.image,
            f"lungs/{case.case_id}.nii.gz": phantom.lungs,
        }
        masks_dir = "lesions"
    else:
        files = {f"test/{case.group.value}/images/{case.case_id}.nii.gz": phantom.image}
        masks_dir = "test/covid/masks"
    if case.group is Group.COVID:
        if len(phantom.lesions) == 1:
            files[f"{masks_dir}/{case.case_id}.nii.gz"] = phantom.lesions[0]
        else:
            for k, mask in enumerate(phantom.lesions, start=1):
                files[f"{masks_dir}/{case.case_id}/rater{k}.nii.gz"] = mask
    for name, array in files.items():
        write_nifti(root / name, array, affine)
    return sorted(files)


def write_testset(
    out_dir: Path | str,
    *,
    counts: Mapping[Group, int] | Mapping[str, int] = MOSMED_TEST_COUNTS,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] = DEFAULT_SPACING,
    seed: int = 0,
    name: str = "Synthetic Mosmed-Test",
    version: str = "1",
    description: str | None = None,
    multi_rater_fraction: float = 1 / 3,
    private_groups: Iterable[Group | str] = DEFAULT_PRIVATE_GROUPS,
    id_prefix: str = "case",
    covid_bands: Sequence[float] | None = None,
    vary_spacing: bool = True,
    workers: int = 1,
    progress: bool = False,
) -> list[PlannedCase]:
    """Write a phantom test set in the leaderboard's layout into the new or empty ``out_dir``; return its cases.

    ``shape``/``spacing`` are nominal: with ``vary_spacing`` each series gets its own grid of the same field of view
    (``protocols.scan_geometry``: slices of 1/8 to 1 × the nominal slice spacing, pixels 0.8–1.2 × the nominal).
    ``covid_bands``: the COVID-19 cases' CT-band mix (:func:`plan_testset`).
    """
    out = prepare_output_dir(out_dir)
    cases = plan_testset(
        counts=counts, seed=seed, multi_rater_fraction=multi_rater_fraction, private_groups=private_groups,
        id_prefix=id_prefix, covid_bands=covid_bands,
    )
    shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
    spacing = tuple(float(s) for s in spacing)  # type: ignore[assignment]
    if description is None:
        description = (
            f"Synthetic chest-CT phantoms (evaluator.phantoms, seed {seed}): {len(cases)} cases of "
            f"{'×'.join(map(str, shape))} voxels at {'×'.join(f'{s:g}' for s in spacing)} mm"
            + (" (nominal; the slice spacing and pixel size vary between series)." if vary_spacing else ".")
        )
    meta = {"name": name, "version": version, "description": description}
    (out / "testset.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["case_id", "group", "distribution"])
    for case in cases:
        writer.writerow([case.case_id, case.group.value, case.distribution.value])
    (out / "cases.csv").write_text(buffer.getvalue(), encoding="utf-8")
    for sub in ("images", "lungs", "lesions"):
        (out / sub).mkdir(exist_ok=True)
    jobs = [_CaseJob(str(out), case, shape, spacing, "testset", vary_spacing) for case in cases]
    run_jobs(_write_case, jobs, workers=workers, progress=progress, desc="test set")
    return cases


def write_sample(
    out_dir: Path | str,
    *,
    per_group: int = 2,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] = DEFAULT_SPACING,
    seed: int = 0,
    vary_spacing: bool = True,
    workers: int = 1,
    progress: bool = False,
) -> list[PlannedCase]:
    """A small public set in the test-set layout (every case public, half the COVID-19 cases with two raters).

    Its ids are ``sample_000``…, so that they never name a case of a benchmark (whose phantom ids are ``case_…``).
    """
    return write_testset(
        out_dir,
        counts={g: per_group for g in Group},
        shape=shape,
        spacing=spacing,
        seed=seed,
        name="Synthetic sample",
        version="1",
        description=(
            f"A public sample of {per_group} synthetic phantoms per group in the test-set layout, "
            "for checking an archive locally; not part of any leaderboard."
        ),
        multi_rater_fraction=0.5,
        private_groups=(),
        id_prefix="sample",
        vary_spacing=vary_spacing,
        workers=workers,
        progress=progress,
    )


def write_authors_layout(
    out_dir: Path | str,
    *,
    counts: Mapping[Group, int] | Mapping[str, int] = MOSMED_TEST_COUNTS,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] = DEFAULT_SPACING,
    seed: int = 0,
    multi_rater_fraction: float = 1 / 3,
    covid_bands: Sequence[float] | None = None,
    vary_spacing: bool = True,
    workers: int = 1,
    progress: bool = False,
) -> list[PlannedCase]:
    """Write the same phantoms as :func:`write_testset` in the paper authors' released layout under ``out_dir/test``."""
    out = prepare_output_dir(out_dir)
    cases = plan_testset(counts=counts, seed=seed, multi_rater_fraction=multi_rater_fraction, private_groups=(),
                         covid_bands=covid_bands)
    shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
    spacing = tuple(float(s) for s in spacing)  # type: ignore[assignment]
    for group in Group:
        (out / "test" / group.value / "images").mkdir(parents=True, exist_ok=True)
    jobs = [_CaseJob(str(out), case, shape, spacing, "authors", vary_spacing) for case in cases]
    run_jobs(_write_case, jobs, workers=workers, progress=progress, desc="authors' layout")
    return cases
