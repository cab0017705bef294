"""Ground truth of a test set: severities, and a compact cache of its masks.

Severity of a case (Sec. 2.2 of the paper) = max over the two lungs of
``|lesion ∩ lung| / |lung|``; with several raters the ground-truth severity is the mean
of the raters' severities. Lung and lesion masks are kept as run-length encodings
(:mod:`evaluator.runs`) in a private on-disk cache keyed by a digest of the label files,
so scoring never re-reads the hidden volumes and workers load one case at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import nibabel as nib
import numpy as np

from .groups import Group
from .problems import InvalidInput, Problem
from .runs import RunIndex, Runs, encode_runs
from .testset import TestCase, TestSet

CACHE_FORMAT = 2
LUNG_LABELS = (1, 2)

_T = TypeVar("_T")
#: ``progress(iterable, total=n)`` wraps the iteration over the cases (e.g. ``tqdm``) to show progress.
Progress = Callable[..., Iterable[Any]]


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """What scoring needs of a case without its masks."""

    case_id: str
    group: Group
    lung_voxels: tuple[int, int]
    raters: tuple[str, ...]
    lesion_voxels: tuple[int, ...]
    rater_severities: tuple[float, ...]

    @property
    def severity(self) -> float | None:
        """Mean over raters of the rater's severity; ``None`` for a case without lesion files."""
        return float(np.mean(self.rater_severities)) if self.rater_severities else None


@dataclass(frozen=True, slots=True)
class CaseMasks:
    """One case's lungs (``lung1``, ``lung2``) and raters' lesions (``lesion0``…) as one run index.

    The index (sorted run boundaries shared by all masks) is built once, with the cache, so a
    worker only loads it: see :class:`evaluator.runs.RunIndex`.
    """

    index: RunIndex
    n_lesions: int

    @classmethod
    def from_runs(cls, lungs: tuple[Runs, Runs], lesions: tuple[Runs, ...]) -> CaseMasks:
        named = {f"lung{label}": runs for label, runs in zip(LUNG_LABELS, lungs, strict=True)}
        named |= {f"lesion{i}": runs for i, runs in enumerate(lesions)}
        return cls(index=RunIndex.build(named), n_lesions=len(lesions))


#: What a mask is measured against when there are no labels (validation against the public images only):
#: empty lungs, no raters, so every overlap is zero while the shape, affine, type and binariness are checked.
NO_MASKS = CaseMasks.from_runs((Runs.empty(), Runs.empty()), ())


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Summaries of all cases plus where their encoded masks are cached."""

    digest: str
    cache_dir: Path
    summaries: dict[str, CaseSummary]

    def masks(self, case_id: str) -> CaseMasks:
        return load_case_masks(self.cache_dir / f"{case_id}.npz")


def severity_from_counts(lesion_in_lung: Iterable[int], lung_voxels: Iterable[int]) -> float:
    """max over lungs of lesion-in-lung / lung voxels (a lung of 0 voxels contributes 0)."""
    ratios = [hit / size if size else 0.0 for hit, size in zip(lesion_in_lung, lung_voxels, strict=True)]
    return float(max(ratios, default=0.0))


def labels_digest(testset: TestSet) -> str:
    """SHA-256 over ``cases.csv`` and every lung and lesion file (the label version's identity)."""
    digest = hashlib.sha256()
    digest.update((testset.root / "cases.csv").read_bytes())
    for case in testset.cases:
        for path in [case.lungs, *(case.lesions[r] for r in sorted(case.lesions))]:
            digest.update(str(path.relative_to(testset.root)).encode())
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def _read_labels(path: Path) -> np.ndarray:
    image = nib.load(str(path))
    data = np.asanyarray(image.dataobj)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    return data


def _only_values(data: np.ndarray, allowed: tuple[int, ...]) -> np.ndarray | None:
    """``None`` when ``data`` holds only ``allowed`` (consecutive from 0) values, else its distinct values.

    Integer volumes are checked with min/max (no sort of a 100-million-voxel array); others with ``unique``.
    """
    if np.issubdtype(data.dtype, np.integer) and data.size:
        if int(data.min()) >= allowed[0] and int(data.max()) <= allowed[-1]:
            return None
    values = np.unique(data)
    return None if np.isin(values, allowed).all() else values


def _encode_case(case: TestCase, root: Path) -> tuple[CaseSummary | None, dict[str, np.ndarray], list[Problem]]:
    problems: list[Problem] = []
    lung_file = str(case.lungs.relative_to(root))
    try:
        lungs = _read_labels(case.lungs)
    except Exception as exc:  # unreadable voxel data
        return None, {}, [Problem(f"cannot be read ({exc})", file=lung_file, case_id=case.case_id)]
    values = _only_values(lungs, (0, 1, 2))
    if values is not None:
        problems.append(Problem(f"holds values {values[:10].tolist()}", file=lung_file, case_id=case.case_id,
                                expected="0 background, 1 and 2 the two lungs"))
    lung_runs = tuple(encode_runs(lungs == label) for label in LUNG_LABELS)
    lung_voxels = tuple(runs.voxels for runs in lung_runs)
    for label, size in zip(LUNG_LABELS, lung_voxels, strict=True):
        if size == 0:
            problems.append(Problem(f"has no voxel labelled {label}", file=lung_file, case_id=case.case_id,
                                    expected="two non-empty lungs labelled 1 and 2"))
    raters = tuple(sorted(case.lesions))
    lesion_runs: list[Runs] = []
    severities: list[float] = []
    for rater in raters:
        path = case.lesions[rater]
        rel = str(path.relative_to(root))
        try:
            lesion = _read_labels(path)
        except Exception as exc:
            problems.append(Problem(f"cannot be read ({exc})", file=rel, case_id=case.case_id))
            continue
        values = _only_values(lesion, (0, 1))
        if values is not None:
            problems.append(Problem(f"is not binary (values {values[:10].tolist()})", file=rel,
                                    case_id=case.case_id, expected="0 and 1 only"))
            continue
        inside = [int(np.count_nonzero((lesion != 0) & (lungs == label))) for label in LUNG_LABELS]
        lesion_runs.append(encode_runs(lesion))
        severities.append(severity_from_counts(inside, lung_voxels))
    if problems:
        return None, {}, problems
    index = CaseMasks.from_runs(lung_runs, tuple(lesion_runs)).index  # type: ignore[arg-type]
    arrays: dict[str, np.ndarray] = {"boundaries": index.boundaries.astype(np.int64)}
    for name, (starts, ends) in index.members.items():
        # positions into ``boundaries``, which has fewer than 2**32 entries
        arrays[f"{name}_s"], arrays[f"{name}_e"] = starts.astype(np.uint32), ends.astype(np.uint32)
    summary = CaseSummary(case.case_id, case.group, lung_voxels, raters,  # type: ignore[arg-type]
                          tuple(r.voxels for r in lesion_runs), tuple(severities))
    return summary, arrays, []


def _encode_and_store(case: TestCase, root: Path, target: Path) -> tuple[CaseSummary | None, list[Problem]]:
    summary, arrays, problems = _encode_case(case, root)
    if summary is not None:
        tmp = target.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy stubs: keyword arrays
        os.replace(tmp, target)
    return summary, problems


def load_case_masks(path: Path) -> CaseMasks:
    with np.load(path) as data:
        names = [key[:-2] for key in data.files if key.endswith("_s")]
        members = {name: (data[f"{name}_s"].astype(np.intp), data[f"{name}_e"].astype(np.intp)) for name in names}
        index = RunIndex(boundaries=data["boundaries"], members=members)
    return CaseMasks(index=index, n_lesions=sum(1 for name in names if name.startswith("lesion")))


def default_cache_root(testset: TestSet) -> Path:
    """``TESTSET/.truth-cache`` when writable, else a per-user folder in the temp dir."""
    preferred = testset.root / ".truth-cache"
    try:
        preferred.mkdir(exist_ok=True)
        return preferred
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"covid-triage-truth-{os.getuid()}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        return fallback


def build_truth(testset: TestSet, *, cache_root: Path | None = None, workers: int = 1,
                progress: Progress | None = None) -> GroundTruth:
    """Check the label voxels, compute severities and cache run-length encoded masks.

    Reuses an existing cache for the same label digest. Raises InvalidInput listing every
    voxel-level problem (non-binary lesions, bad lung labels, missing lungs).
    """
    digest = labels_digest(testset)
    cache_dir = (cache_root or default_cache_root(testset)) / digest[:24]
    summary_path = cache_dir / "summary.json"
    if summary_path.is_file():
        stored = json.loads(summary_path.read_text())
        if stored.get("format") == CACHE_FORMAT and stored.get("digest") == digest:
            cached = {s["case_id"]: _summary_from_json(s) for s in stored["cases"]}
            return GroundTruth(digest=digest, cache_dir=cache_dir, summaries=cached)
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(case, testset.root, cache_dir / f"{case.case_id}.npz") for case in testset.cases]
    problems: list[Problem] = []
    summaries: dict[str, CaseSummary] = {}
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_encode_and_store, *zip(*jobs, strict=True))
            for summary, found in _progress(results, progress, len(jobs)):
                problems += found
                if summary:
                    summaries[summary.case_id] = summary
    else:
        for summary, found in _progress((_encode_and_store(*job) for job in jobs), progress, len(jobs)):
            problems += found
            if summary:
                summaries[summary.case_id] = summary
    if problems:
        raise InvalidInput(problems, what=f"test set {testset.root}")
    document = {"format": CACHE_FORMAT, "digest": digest,
                "cases": [_summary_to_json(summaries[c.case_id]) for c in testset.cases]}
    tmp = summary_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document))
    os.replace(tmp, summary_path)
    return GroundTruth(digest=digest, cache_dir=cache_dir, summaries={c.case_id: summaries[c.case_id]
                                                                       for c in testset.cases})


def _progress(iterable: Iterable[_T], progress: Progress | None, total: int) -> Iterable[_T]:
    return progress(iterable, total=total) if progress else iterable


def _summary_to_json(s: CaseSummary) -> dict:
    return {"case_id": s.case_id, "group": s.group.value, "lung_voxels": list(s.lung_voxels),
            "raters": list(s.raters), "lesion_voxels": list(s.lesion_voxels),
            "rater_severities": list(s.rater_severities)}


def _summary_from_json(d: dict) -> CaseSummary:
    return CaseSummary(d["case_id"], Group(d["group"]), tuple(d["lung_voxels"]), tuple(d["raters"]),
                       tuple(d["lesion_voxels"]), tuple(d["rater_severities"]))
