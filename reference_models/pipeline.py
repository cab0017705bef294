"""Running a trained method over a folder of images or a test set, and writing its prediction archive.

For every case: the image is read (HU) and brought to the standard orientation
(:mod:`reference_models.data.volumes`), the lung network segments and splits the lungs, the method predicts, and
the lesion mask is mapped back onto the file's own voxel grid. Columns and masks follow the method's outputs:
classifiers write ``covid_probability``, segmenters ``severity`` and masks, the multitask models all three;
segmentation-only methods write no probability column, so the scorer ranks them by severity (as the paper).

:func:`run_references` is the one call the leaderboard's ``seed_reference`` needs: it trains (or reuses cached)
weights, predicts every case of an installed test set with all the methods at once and writes their archives.
"""

from __future__ import annotations

import csv
import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from evaluator.archive.writer import mask_bytes, open_writer
from evaluator.scoring import Track, visible_cases
from evaluator.testset import load_testset
from reference_models.data.volumes import Volume, from_standard, read_nifti, squeeze_3d, to_hu, to_standard
from reference_models.provision import ensure_weights
from reference_models.registry import LESIONS, METHODS, PROBABILITY, SEVERITY
from reference_models.training.loop import resolve_device
from reference_models.weights import LoadedModel, checkpoint_path, load_model

_NIFTI = (".nii.gz", ".nii")


@dataclass(frozen=True, slots=True)
class CaseImage:
    case_id: str
    path: Path


@dataclass(frozen=True, slots=True, eq=False)
class CaseResult:
    """One case's prediction on the file's own voxel grid (``mask``: bool, or ``None``)."""

    case_id: str
    probability: float | None
    severity: float | None
    mask: np.ndarray | None
    affine: np.ndarray
    seconds: float


def _image_file(folder: Path, case_id: str) -> Path | None:
    for suffix in _NIFTI:
        if (folder / f"{case_id}{suffix}").is_file():
            return folder / f"{case_id}{suffix}"
    return None


def cases_in_folder(folder: Path | str) -> list[CaseImage]:
    """The cases of an input folder: the ids of ``cases.csv`` (column ``case_id``) when present, each with its
    ``<case_id>.nii.gz`` (or ``.nii``); otherwise every NIfTI file of the folder, by name."""
    folder = Path(folder)
    listing = folder / "cases.csv"
    if not listing.is_file():
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_NIFTI))
        if not files:
            raise FileNotFoundError(f"{folder}: no cases.csv and no NIfTI images")
        return [CaseImage(p.name[: -len(next(s for s in _NIFTI if p.name.endswith(s)))], p) for p in files]
    with open(listing, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "case_id" not in [c.strip() for c in reader.fieldnames or []]:
            raise ValueError(f"{listing}: needs a case_id column, has {reader.fieldnames}")
        ids = [row["case_id"].strip() for row in reader if (row.get("case_id") or "").strip()]
    cases, missing = [], []
    for case_id in ids:
        path = _image_file(folder, case_id)
        if path is None:
            missing.append(case_id)
        else:
            cases.append(CaseImage(case_id, path))
    if missing:
        raise FileNotFoundError(f"{folder}: no image for {len(missing)} case(s) of cases.csv: "
                                f"{', '.join(missing[:10])}")
    return cases


def cases_in_testset(testset_dir: Path | str, *, track: str = "container") -> list[CaseImage]:
    """The cases of a test set the given track sees (``container``: all; ``archive``: the public ones)."""
    testset = load_testset(Path(testset_dir))
    return [CaseImage(c.case_id, c.image) for c in visible_cases(testset, Track(track))]


def load_method(
    method: str, weights: Path | str | None, *, device: torch.device | str = "cpu"
) -> LoadedModel:
    """The method's trained weights (a run folder or checkpoint file); thresholding needs none (paper values)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if weights is None or (METHODS[method].build is None and not checkpoint_path(weights).is_file()):
        if METHODS[method].build is not None:
            raise ValueError(f"{method} needs trained weights")
        return LoadedModel(method=METHODS[method], model=None)
    return load_model(weights, device=device, expected_method=method)


@dataclass(frozen=True, slots=True, eq=False)
class CaseVolume:
    """A case image in HU and standard orientation, with what is needed to write its mask back."""

    volume: Volume
    affine: np.ndarray
    """The file's own affine (masks are written on the file's grid with it)."""


def load_case(image_path: Path | str) -> CaseVolume:
    """Read a NIfTI image in Hounsfield units (the contract of test sets and containers)."""
    image = read_nifti(image_path)
    hu, _ = to_hu(squeeze_3d(image.get_fdata(dtype=np.float32), path=image_path), intensity="hu")
    return CaseVolume(volume=to_standard(hu, image.affine), affine=image.affine)


def predict_lung_mask(lungs: LoadedModel | None, case: CaseVolume) -> np.ndarray:
    """The lungs of a case (labels 1/2, standard orientation) by the lung network."""
    if lungs is None or lungs.model is None:
        raise ValueError("the methods need the lung network's weights")
    labels = METHODS["lungs"].predict(lungs.model, case.volume.array, case.volume.spacing).lungs
    assert labels is not None  # the lung method always returns its labels
    return labels


def predict_volume(weights: LoadedModel, case: CaseVolume, *, lung_mask: np.ndarray, case_id: str) -> CaseResult:
    """One method on one loaded case whose lungs are known; the mask comes back on the file's grid."""
    started = time.perf_counter()
    method = weights.method
    if method.name == "lungs":
        raise ValueError("the lung segmentation is not a Table 2 method: it has no COVID-19 prediction to write")
    volume = case.volume
    prediction = method.predict(weights.model, volume.array, volume.spacing, lungs=lung_mask, **weights.predict_options)
    mask = None if prediction.lesions is None else from_standard(prediction.lesions, volume.source_orientation)
    return CaseResult(case_id=case_id, probability=prediction.probability, severity=prediction.severity, mask=mask,
                      affine=case.affine, seconds=time.perf_counter() - started)


def output_columns(method: str) -> tuple[list[str], bool]:
    """``(score columns, writes masks)`` of a method's predictions."""
    outputs = METHODS[method].outputs
    columns = [c for c, o in (("covid_probability", PROBABILITY), ("severity", SEVERITY)) if o in outputs]
    return columns, LESIONS in outputs


def predict_cases(
    weights: LoadedModel,
    cases: Sequence[CaseImage],
    destination: Path | str,
    *,
    lungs: LoadedModel | None,
    progress: bool = False,
) -> Path:
    """Predict ``cases`` and write them to ``destination`` (a ``.zip`` archive or an output folder)."""
    predict_many({weights.method.name: weights}, cases, {weights.method.name: destination}, lungs=lungs,
                 progress=progress)
    return Path(destination)


def predict_many(
    methods: Mapping[str, LoadedModel],
    cases: Sequence[CaseImage],
    destinations: Mapping[str, Path | str],
    *,
    lungs: LoadedModel | None,
    progress: bool = False,
    on_case: Callable[[str, CaseVolume, np.ndarray, dict[str, CaseResult]], None] | None = None,
    workers: int = 1,
) -> dict[str, list[CaseResult]]:
    """Several methods over the same cases: each image is read and its lungs segmented once.

    Writes one archive (or folder) per method to ``destinations[name]``; returns the per-case results without
    their masks. ``on_case(case_id, case, lung_mask, results)`` sees every case as it is done (one process only).
    ``workers`` > 1 predicts the cases in that many processes of one torch thread each (the same numbers as one
    process of one thread: every case is predicted whole by one of them) while this process writes the archives
    in the cases' order.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1 and on_case is not None:
        raise ValueError("on_case needs the cases' volumes, which stay in the worker processes: use workers=1")
    results: dict[str, list[CaseResult]] = {name: [] for name in methods}
    with ExitStack() as stack:
        writers = {}
        for name, weights in methods.items():
            columns, masks = output_columns(weights.method.name)
            writers[name] = stack.enter_context(open_writer(destinations[name], columns=columns, masks=masks))
        if workers > 1:
            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(
                min(workers, max(1, len(cases))), initializer=_start_worker,
                initargs=({name: _weights_source(w) for name, w in methods.items()},
                          None if lungs is None else _weights_source(lungs))))
            for case_id, encoded in tqdm(pool.imap(_predict_encoded, cases), total=len(cases),
                                         desc=f"predict {', '.join(methods)}", disable=not progress):
                for name, (result, mask_file) in encoded.items():
                    writers[name].add_encoded(case_id, covid_probability=result.probability,
                                              severity=result.severity, mask_file=mask_file)
                    results[name].append(result)
            return results
        for item in tqdm(cases, desc=f"predict {', '.join(methods)}", disable=not progress):
            case, lung_mask, done = _predict_case(methods, lungs, item)
            for name, result in done.items():
                writers[name].add(item.case_id, covid_probability=result.probability, severity=result.severity,
                                  mask=result.mask, affine=result.affine)
                results[name].append(dataclasses.replace(result, mask=None))
            if on_case is not None:
                on_case(item.case_id, case, lung_mask, done)
    return results


def _predict_case(methods: Mapping[str, LoadedModel], lungs: LoadedModel | None,
                  item: CaseImage) -> tuple[CaseVolume, np.ndarray, dict[str, CaseResult]]:
    """One case by every method: the loaded case, its lungs, and each method's result (masks included)."""
    case = load_case(item.path)
    lung_mask = predict_lung_mask(lungs, case)
    return case, lung_mask, {name: predict_volume(weights, case, lung_mask=lung_mask, case_id=item.case_id)
                             for name, weights in methods.items()}


_WORKER: dict[str, Any] = {}


def _weights_source(weights: LoadedModel) -> tuple[str, str | None, str]:
    """What a worker process needs to load the same weights: ``(method, checkpoint file or None, device)``."""
    device = "cpu" if weights.model is None else str(next(weights.model.parameters()).device)
    return weights.method.name, None if weights.path is None else str(weights.path), device


def _start_worker(methods: dict[str, tuple[str, str | None, str]], lungs: tuple[str, str | None, str] | None) -> None:
    """A prediction process of :func:`predict_many`: one torch thread, the same weights loaded from their files."""
    torch.set_num_threads(1)
    _WORKER.update(methods={name: load_method(method, path, device=device)
                            for name, (method, path, device) in methods.items()},
                   lungs=None if lungs is None else load_method(lungs[0], lungs[1], device=lungs[2]))


def _predict_encoded(item: CaseImage) -> tuple[str, dict[str, tuple[CaseResult, bytes | None]]]:
    """One case by every method in a worker: results without masks, and each mask as the archive's file."""
    _, _, done = _predict_case(_WORKER["methods"], _WORKER["lungs"], item)
    return item.case_id, {name: (dataclasses.replace(result, mask=None),
                                 None if result.mask is None else mask_bytes(result.mask, result.affine))
                          for name, result in done.items()}


def run_references(
    methods: Sequence[str],
    *,
    testset_dir: Path | str,
    out_archives: Mapping[str, Path | str],
    weights_dir: Path | str,
    train_if_missing: bool = True,
    train_data: Sequence[str] | None = None,
    data_dir: Path | str | None = None,
    scale: str = "small",
    steps: int | None = None,
    lung_steps: int | None = None,
    seed: int = 0,
    device: str = "auto",
    track: str = "container",
    progress: bool = False,
    workers: int = 1,
) -> dict[str, Path]:
    """Write the prediction archive of each of ``methods`` (to ``out_archives[method]``) for the test set at
    ``testset_dir``; every image is read and its lungs segmented once for all of them.

    Weights live in ``weights_dir/<method>/`` and ``weights_dir/lungs/``. Missing ones are trained first when
    ``train_if_missing`` (else ``FileNotFoundError``): on ``train_data`` (dataset specs, ``LAYOUT:PATH``), by
    default on the synthetic benchmark's training sets, written once to ``data_dir`` (default
    ``weights_dir/training-data``), at ``scale`` with the benchmark's step counts unless ``steps`` (every
    network) or ``lung_steps`` (the lung network) is given. ``workers``: prediction processes
    (:func:`predict_many`).
    """
    missing = [m for m in methods if m not in out_archives]
    if missing:
        raise ValueError(f"no output archive given for {', '.join(missing)}")
    resolved = resolve_device(device)
    weights_root = Path(weights_dir)
    for method in methods:
        ensure_weights(
            method,
            weights_dir=weights_root,
            train_if_missing=train_if_missing,
            train_data=train_data,
            data_dir=Path(data_dir) if data_dir is not None else weights_root / "training-data",
            scale=scale,
            steps=steps,
            lung_steps=lung_steps,
            seed=seed,
            device=resolved,
            progress=progress,
        )
    loaded = {m: load_method(m, weights_root / m if METHODS[m].build else None, device=resolved) for m in methods}
    lungs = load_method("lungs", weights_root / "lungs", device=resolved)
    predict_many(loaded, cases_in_testset(testset_dir, track=track), {m: out_archives[m] for m in methods},
                 lungs=lungs, progress=progress, workers=workers)
    return {m: Path(out_archives[m]) for m in methods}


def run_reference(method: str, *, out_archive: Path | str, **options: Any) -> Path:
    """:func:`run_references` for one method: its archive at ``out_archive``."""
    return run_references([method], out_archives={method: out_archive}, **options)[method]


def lung_segmenter(weights: Path | str, *, device: str = "auto") -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``segment(image_hu, affine) -> labels`` on the image's own grid (0, 1, 2), from trained lung weights.

    For importing test sets that come without lung masks (``python -m evaluator import-authors --lung-weights``).
    """
    model = load_method("lungs", weights, device=resolve_device(device))

    def segment(image_hu: np.ndarray, affine: np.ndarray) -> np.ndarray:
        volume = to_standard(np.asarray(image_hu, dtype=np.float32), affine)
        labels = predict_lung_mask(model, CaseVolume(volume=volume, affine=affine))
        return from_standard(labels, volume.source_orientation)

    return segment
