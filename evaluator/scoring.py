"""Score a prediction archive against a test set: the one path every submission takes.

Steps: safe extraction into a private work folder (:mod:`evaluator.archive`), streaming
measurement of every submitted mask against the hidden masks (cases in parallel across
processes, one chunk of one mask in memory per process), then the metrics of the paper
(Sec. 2.5) with stratified bootstrap intervals, assembled into one JSON-ready result
document whose ``private`` part (per-case values) is for the team and the maintainers only.

Which score drives identification: ``covid_probability`` when the archive has it, else the
predicted severity (as the paper does for segmentation-only methods). Predicted severity:
the ``severity`` column when present, else derived from the submitted mask and the hidden
lung masks (max over the two lungs of predicted-lesion-in-lung / lung volume).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from . import SCORER_VERSION, metrics
from .archive import ArchiveLimits, ExtractedArchive, read_archive
from .groups import Distribution, Group
from .mask_stats import MaskMeasurement, measure_mask
from .metrics import smoothed
from .nifti_stream import DEFAULT_CHUNK_BYTES, Geometry
from .problems import InvalidInput, Problem
from .testset import TestCase, TestSet
from .truth import NO_MASKS, GroundTruth, load_case_masks, severity_from_counts
from .worklist import SimulationSize, WorklistParameters, triage_impact


class Track(StrEnum):
    """Which cases a submission sees and is scored on.

    ``archive``: uploaded predictions, only the ``public`` cases (teams cannot see private
    images). ``container``: models run by the server, every case.
    """

    ARCHIVE = "archive"
    CONTAINER = "container"


def visible_cases(testset: TestSet, track: Track) -> list[TestCase]:
    if track is Track.CONTAINER:
        return list(testset.cases)
    return [c for c in testset.cases if c.distribution is Distribution.PUBLIC]


@dataclass(frozen=True, slots=True)
class ScoringOptions:
    """Knobs of one scoring run (defaults are the leaderboard's)."""

    n_resamples: int = metrics.DEFAULT_RESAMPLES
    seed: int = metrics.DEFAULT_SEED
    confidence: float = metrics.DEFAULT_CONFIDENCE
    threshold: float = 0.5
    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    worklist: WorklistParameters = field(default_factory=WorklistParameters)
    worklist_size: SimulationSize = field(default_factory=SimulationSize)


def _measure_job(path: Path, file: str, case_id: str, geometry: Geometry, masks_path: Path | None,
                 chunk_bytes: int) -> MaskMeasurement | list[Problem]:
    masks = load_case_masks(masks_path) if masks_path is not None else NO_MASKS
    return measure_mask(path, file=file, case_id=case_id, geometry=geometry, masks=masks, chunk_bytes=chunk_bytes)


def measure_masks(mask_paths: Mapping[str, Path], *, geometries: Mapping[str, Geometry], masks_dir: Path | None,
                  workers: int, chunk_bytes: int) -> tuple[dict[str, MaskMeasurement], list[Problem]]:
    """Measure every submitted mask (cases in parallel); returns the measurements and all mask problems.

    ``geometries``: the image grid of each case that may have a mask; ``masks_dir``: the ground-truth cache
    (``<case_id>.npz``), or ``None`` to check the masks without labels (the overlaps are then all zero).
    """
    jobs = [
        (mask_paths[case_id], f"masks/{mask_paths[case_id].name}", case_id, geometry,
         masks_dir / f"{case_id}.npz" if masks_dir is not None else None, chunk_bytes)
        for case_id, geometry in geometries.items() if case_id in mask_paths
    ]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            results = list(pool.map(_measure_job, *zip(*jobs, strict=True)))
    else:
        results = [_measure_job(*job) for job in jobs]
    problems = [p for r in results if isinstance(r, list) for p in r]
    return {r.case_id: r for r in results if isinstance(r, MaskMeasurement)}, problems


def read_and_measure(archive: Path, workdir: Path, *, geometries: Mapping[str, Geometry],
                     known_case_ids: Collection[str], masks_dir: Path | None, options: ScoringOptions,
                     ) -> tuple[ExtractedArchive, dict[str, MaskMeasurement]]:
    """Extract and fully validate an archive, measuring its masks on the way; raises InvalidInput.

    The checks every archive gets, on the server and locally: ``geometries`` holds the cases that need a
    prediction (and their image grids), ``known_case_ids`` every case id of the test set.
    """
    measured: dict[str, MaskMeasurement] = {}

    def check_masks(mask_paths: Mapping[str, Path]) -> list[Problem]:
        found, problems = measure_masks(mask_paths, geometries=geometries, masks_dir=masks_dir,
                                        workers=options.workers, chunk_bytes=options.chunk_bytes)
        measured.update(found)
        return problems

    extracted = read_archive(archive, workdir=workdir, expected_case_ids=list(geometries),
                             known_case_ids=known_case_ids, limits=options.limits, check_masks=check_masks)
    return extracted, measured


def _read(archive: Path, workdir: Path, *, testset: TestSet, truth: GroundTruth, track: Track,
          options: ScoringOptions) -> tuple[ExtractedArchive, dict[str, MaskMeasurement]]:
    return read_and_measure(archive, workdir, geometries={c.case_id: c.geometry for c in visible_cases(testset, track)},
                            known_case_ids=[c.case_id for c in testset.cases], masks_dir=truth.cache_dir,
                            options=options)


def _optional(values: list[float | None]) -> list[float | None] | None:
    return None if all(v is None for v in values) else values


def _interval_dict(interval: metrics.Interval | None) -> dict[str, Any] | None:
    return interval.to_dict() if interval is not None else None


def score_cases(*, groups: Sequence[Group], scores: Sequence[float | None], score_source: str | None,
                severities: Sequence[float | None], true_severity: Sequence[float | None],
                dice: Sequence[float | None], has_masks: bool, options: ScoringOptions) -> dict[str, Any]:
    """Metrics, intervals and chart data of a set of cases (one value per case, in case order).

    Returns ``{"metrics", "intervals", "triage", "bootstrap", "extras", "_curves"}`` (``_curves``: the exact
    :class:`~evaluator.metrics.RocCurve` per subset, for the private part). Used for the full
    document and, by :mod:`evaluator.feedback`, for any part of the cases a feedback policy scores.
    """
    score_values = _optional(list(scores))
    severity_values = _optional(list(severities))
    covid = [i for i, g in enumerate(groups) if g is Group.COVID]
    covid_true = [true_severity[i] for i in covid]
    covid_pred = [severities[i] for i in covid] if severity_values is not None else None
    covid_dice = [dice[i] for i in covid] if has_masks else None

    values: dict[str, float | None] = {
        f"roc_auc_{subset}": auc for subset, auc in metrics.subset_roc_aucs(groups, score_values).items()
    }
    values["spearman_rho"] = metrics.spearman_rho(covid_true, covid_pred) if covid_pred is not None else None
    values["mean_dice"] = metrics.mean_dice(covid_dice) if covid_dice is not None else None
    intervals = metrics.bootstrap_intervals(
        groups=groups, scores=score_values, true_severity=covid_true, pred_severity=covid_pred,
        case_dice=covid_dice, n_resamples=options.n_resamples, seed=options.seed, confidence=options.confidence,
    )
    curves = metrics.roc_points(groups, score_values)
    ranked = metrics.ranked_severity_chart(groups, severity_values) if severity_values is not None else None
    all_true = [s if s is not None else 0.0 for s in true_severity]  # non-COVID cases: no COVID-19 lesion
    triage = triage_impact(
        groups=groups, true_severity=all_true, scores=score_values, severity=severity_values,
        threshold=options.threshold if score_source == "covid_probability" else None,
        parameters=options.worklist, size=options.worklist_size, seed=options.seed, confidence=options.confidence,
    )
    smoothing = min(options.n_resamples, smoothed.SMOOTHING_RESAMPLES)
    return {
        "metrics": values,
        "intervals": {key: _interval_dict(intervals[key]) for key in values},
        "triage": triage,
        "bootstrap": {"resamples": options.n_resamples, "seed": options.seed, "confidence": options.confidence,
                      "method": "percentile, cases resampled with replacement within each group"},
        "extras": {
            "confusion": metrics.confusion_at_threshold(groups, score_values, threshold=options.threshold)
            if score_source == "covid_probability" else None,
            "severity_categories": metrics.category_agreement(all_true, severity_values)
            if severity_values is not None else None,
            "roc_curves": {k: ({"fpr": list(c.fpr), "tpr": list(c.tpr)} if c else None) for k, c in curves.items()},
            "ranked_severity": [{"rank": r.rank, "severity": r.severity, "group": r.group.value} for r in ranked]
            if ranked is not None else None,
            "roc_averaged": smoothed.averaged_roc(groups, score_values, n_resamples=smoothing, seed=options.seed),
            "severity_summaries": smoothed.severity_summaries(groups, severity_values, n_resamples=smoothing,
                                                              seed=options.seed),
        },
        "_curves": curves,
    }


def compute_result(*, testset: TestSet, truth: GroundTruth, track: Track, extracted: ExtractedArchive,
                   measurements: dict[str, MaskMeasurement], options: ScoringOptions) -> dict[str, Any]:
    """The result document from already validated predictions and mask measurements."""
    cases = visible_cases(testset, track)
    groups = [c.group for c in cases]
    has_probability = "covid_probability" in extracted.columns
    has_severity = "severity" in extracted.columns
    has_masks = bool(measurements)

    per_case: list[dict[str, Any]] = []
    probabilities, severities, dice_values, true_severity = [], [], [], []
    for case in cases:
        summary = truth.summaries[case.case_id]
        prediction = extracted.predictions[case.case_id]
        measurement = measurements.get(case.case_id)
        mask_severity = (severity_from_counts(measurement.lung_overlap, summary.lung_voxels)
                         if measurement else None)
        severity = prediction.severity if has_severity else mask_severity
        dice = None
        if measurement is not None and case.group is Group.COVID:
            dice = metrics.case_dice([
                metrics.DiceCounts(intersection=hit, pred_count=measurement.predicted_voxels, true_count=size)
                for hit, size in zip(measurement.lesion_overlap, summary.lesion_voxels, strict=True)
            ])
        probabilities.append(prediction.covid_probability)
        severities.append(severity)
        dice_values.append(dice)
        true_severity.append(summary.severity)
        per_case.append({
            "case_id": case.case_id, "group": case.group.value, "distribution": case.distribution.value,
            "covid_probability": prediction.covid_probability, "predicted_severity": severity,
            "mask_severity": mask_severity, "true_severity": summary.severity,
            "rater_severities": list(summary.rater_severities), "dice": dice,
            "predicted_voxels": measurement.predicted_voxels if measurement else None,
        })

    if has_probability:
        scores, score_source = probabilities, "covid_probability"
    elif has_severity or has_masks:
        scores, score_source = severities, "severity" if has_severity else "mask"
    else:  # read_archive refuses archives without any score; kept for direct callers
        scores, score_source = [None] * len(cases), None
    scored = score_cases(groups=groups, scores=scores, score_source=score_source, severities=severities,
                         true_severity=true_severity, dice=dice_values, has_masks=has_masks, options=options)
    curves = scored.pop("_curves")
    return {
        "scorer_version": SCORER_VERSION,
        "testset": {"name": testset.name, "version": testset.version, "labels_digest": truth.digest},
        "track": track.value,
        "n_cases": len(cases),
        "group_sizes": {g.value: sum(1 for x in groups if x is g) for g in Group},
        "inputs": {"identification_score": score_source, "severity": ("column" if has_severity else
                                                                       "mask" if has_masks else None),
                   "masks": has_masks},
        **scored,
        "private": {
            "note": "per-case values: visible to the submitting team and the maintainers only",
            "per_case": per_case,
            "roc_thresholds": {k: (c.to_dict()["thresholds"] if c else None) for k, c in curves.items()},
        },
    }


def public_view(document: dict[str, Any]) -> dict[str, Any]:
    """The result document without its private, per-case part."""
    return {key: value for key, value in document.items() if key != "private"}


def score_archive(archive: Path | str, *, testset: TestSet, truth: GroundTruth, track: Track = Track.ARCHIVE,
                  options: ScoringOptions | None = None, workdir: Path | None = None,
                  on_stage: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Validate and score one archive; raises InvalidInput listing every problem.

    ``workdir``: a private folder for the extracted files (a temporary one by default,
    always removed afterwards). ``on_stage`` is told ``"validating"`` and ``"scoring"``.
    """
    options = options or ScoringOptions()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="covid-triage-score-", dir=workdir) as tmp:
        start = time.perf_counter()
        if on_stage:
            on_stage("validating")
        extracted, measurements = _read(Path(archive), Path(tmp), testset=testset, truth=truth, track=track,
                                        options=options)
        timings["validate_seconds"] = time.perf_counter() - start
        if on_stage:
            on_stage("scoring")
        start = time.perf_counter()
        document = compute_result(testset=testset, truth=truth, track=track, extracted=extracted,
                                  measurements=measurements, options=options)
        timings["metrics_seconds"] = time.perf_counter() - start
    document["timings"] = {k: round(v, 4) for k, v in timings.items()}
    return document


def validate_archive(archive: Path | str, *, testset: TestSet, truth: GroundTruth, track: Track = Track.ARCHIVE,
                     options: ScoringOptions | None = None, workdir: Path | None = None) -> list[Problem]:
    """Every problem of an archive (empty list = valid), without computing metrics."""
    options = options or ScoringOptions()
    try:
        with tempfile.TemporaryDirectory(prefix="covid-triage-validate-", dir=workdir) as tmp:
            _read(Path(archive), Path(tmp), testset=testset, truth=truth, track=track, options=options)
    except InvalidInput as exc:
        return exc.problems
    return []


__all__ = ["ScoringOptions", "Track", "compute_result", "measure_masks", "public_view", "read_and_measure",
           "score_archive", "score_cases", "validate_archive", "visible_cases"]
