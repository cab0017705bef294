"""Reference weights shipped in the repository (``reference_weights/``), so that a fresh clone's demo board shows
the paper's pattern without training first.

The folder has the layout every loader reads (``<method>/best.pt`` for the lung network, the seven networks of
Table 2 and thresholding's parameters, which ``seed_reference`` expects like any method's) and ``MANIFEST.json``:
for each file its SHA-256 and size, the method, and the run it comes from (seed, selected batch and validation
metric), plus the command, the commit and the settings that trained them all. :func:`export_run` writes it from
a training run's folders; ``scripts/ship_reference_weights.py`` retrains everything and exports.
:func:`verify_shipped` checks the files against the manifest (every problem at once) before anything loads them.
:func:`benchmark_shipped` predicts the benchmark's test set with the shipped files themselves, as the demo does, and
:func:`record_benchmark` stores those metrics as the manifest's ``benchmark`` (what the demo's board shows); the
training run's own metrics (float32 weights) stay as ``run_benchmark``.

Storage: the weights of convolutions and linear layers (tensors of two or more dimensions) are stored as float16,
everything else (BatchNorm statistics and affine parameters, biases) as float32; loading casts them back into the
float32 network (``load_state_dict`` copies with a cast). This halves the files (Multitask-Latent's first linear
layer alone has 4.8 M weights at the small scale) at a relative rounding error of at most 2⁻¹¹ per weight.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from reference_models.weights import BEST, file_digest, read_checkpoint, save_checkpoint

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "reference_weights"
"""The repository's ``reference_weights/`` folder."""
MANIFEST = "MANIFEST.json"
MANIFEST_FORMAT = 1
SIZE_LIMIT_BYTES = 30_000_000
"""The shipped files together stay within 30 MB (the repository's budget for them)."""
SHIPPED_METHODS = ("lungs", "thresholding", "unet3d", "unet2d", "unet2d_plus", "resnet50", "multitask_latent",
                   "multitask_spatial4", "multitask_spatial1")
"""Everything the demo loads: the lung network, Table 2's networks and thresholding's parameters (no weights)."""


def compact_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convolution and linear weights (floating tensors with ≥ 2 dimensions) as float16; the rest unchanged."""
    return {
        key: value.to(torch.float16) if value.is_floating_point() and value.ndim >= 2 else value
        for key, value in state_dict.items()
    }


def export_run(
    weights_root: Path | str,
    out_dir: Path | str,
    *,
    methods: Sequence[str] = SHIPPED_METHODS,
    provenance: Mapping[str, Any],
) -> dict[str, Any]:
    """Copy ``weights_root/<method>/best.pt`` of every method to ``out_dir/<method>/best.pt`` (compacted, without
    the per-series provenance) and write ``out_dir/MANIFEST.json``; returns the manifest.

    ``provenance``: what trained them (``command``, ``seed``, ``commit``, settings), stored in the manifest as is.
    """
    root, out = Path(weights_root), Path(out_dir)
    files: dict[str, Any] = {}
    for method in methods:
        payload = read_checkpoint(root / method / BEST)
        shipped: dict[str, Any] = {key: payload[key] for key in ("method", "model_kwargs", "predict_options",
                                                                 "config", "step", "metrics") if key in payload}
        state = payload["state_dict"]
        shipped["state_dict"] = None if state is None else compact_state_dict(state)
        shipped["data"] = {"counts": (payload.get("data") or {}).get("counts"),
                           "lungs": (payload.get("data") or {}).get("lungs")}
        target = out / method / BEST
        save_checkpoint(target, shipped)
        files[f"{method}/{BEST}"] = {
            "method": method,
            "sha256": file_digest(target),
            "bytes": target.stat().st_size,
            "selected_step": payload.get("step"),
            "steps": (payload.get("config") or {}).get("schedule", {}).get("steps"),
            "validation": {k: v for k, v in (payload.get("metrics") or {}).items() if k in ("dice", "roc_auc", "n")},
        }
    manifest = {
        "format": MANIFEST_FORMAT,
        "storage": "convolution and linear weights float16, everything else float32 (reference_models/shipped.py)",
        **dict(provenance),
        "total_bytes": sum(entry["bytes"] for entry in files.values()),
        "files": files,
    }
    _write_manifest(out, manifest)
    return manifest


def _write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """``folder/MANIFEST.json``, replaced atomically."""
    tmp = folder / f".{MANIFEST}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / MANIFEST)


def benchmark_shipped(
    folder: Path | str,
    *,
    testset_dir: Path | str,
    out_dir: Path | str,
    workers: int = 1,
    methods: Sequence[str] = SHIPPED_METHODS,
) -> dict[str, dict[str, float | None]]:
    """Every Table 2 method of ``methods`` with the shipped weights in ``folder``: predictions of every case of the
    test set at ``testset_dir`` (archives in ``out_dir``; ``workers`` processes of one torch thread each, as the
    demo predicts), scored on the container track; returns each method's metrics."""
    from evaluator.scoring import ScoringOptions, Track, score_archive
    from evaluator.testset import load_testset
    from evaluator.truth import build_truth
    from evaluator.worklist import SimulationSize
    from reference_models.pipeline import run_references

    manifest = read_manifest(folder)
    table = [m for m in methods if m != "lungs"]
    out = Path(out_dir)
    archives = run_references(table, testset_dir=testset_dir, out_archives={m: out / f"{m}.zip" for m in table},
                              weights_dir=folder, train_if_missing=False, scale=manifest["scale"], device="cpu",
                              workers=workers)
    testset = load_testset(testset_dir)
    truth = build_truth(testset, cache_root=out / "truth-cache")
    # only the point metrics are kept: few resamples, a short worklist simulation
    options = ScoringOptions(n_resamples=100, workers=1,
                             worklist_size=SimulationSize(days=5, resamples=3, days_per_resample=1))
    return {m: dict(score_archive(archives[m], testset=testset, truth=truth, track=Track.CONTAINER,
                                  options=options)["metrics"]) for m in table}


def record_benchmark(folder: Path | str, metrics: Mapping[str, Mapping[str, float | None]], *,
                     how: Mapping[str, Any]) -> dict[str, Any]:
    """Store :func:`benchmark_shipped`'s ``metrics`` as the manifest's ``benchmark`` and ``how`` (command, commit,
    test set) as ``benchmark_source``; the manifest's earlier ``benchmark``, if it came from the training run,
    moves to ``run_benchmark``. The files' digests are untouched. Returns the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if "run_benchmark" not in manifest and "benchmark" in manifest:
        manifest["run_benchmark"] = manifest["benchmark"]
    manifest["benchmark"] = {name: dict(values) for name, values in metrics.items()}
    manifest["benchmark_source"] = dict(how)
    _write_manifest(folder, manifest)
    return manifest


def read_manifest(folder: Path | str = SHIPPED_DIR) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {folder}")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def verify_shipped(folder: Path | str = SHIPPED_DIR, *, methods: Sequence[str] = SHIPPED_METHODS) -> list[str]:
    """Every problem of the shipped folder at once (``[]``: usable): a missing manifest or file, a method the
    manifest does not list, a SHA-256 or size that differs from it (e.g. a Git LFS pointer instead of the file),
    a total over :data:`SIZE_LIMIT_BYTES`."""
    folder = Path(folder)
    try:
        manifest = read_manifest(folder)
    except (FileNotFoundError, ValueError) as error:
        return [str(error)]
    problems = []
    if manifest.get("format") != MANIFEST_FORMAT:
        problems.append(f"{folder / MANIFEST}: format {manifest.get('format')!r}, expected {MANIFEST_FORMAT}")
    files = manifest.get("files") or {}
    listed = {entry.get("method") for entry in files.values()}
    problems += [f"{folder / MANIFEST}: no weights listed for {m}" for m in methods if m not in listed]
    total = 0
    for name, entry in sorted(files.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        size = path.stat().st_size
        total += size
        if size != entry.get("bytes"):
            problems.append(f"{path}: {size} bytes, the manifest says {entry.get('bytes')}")
        elif file_digest(path) != entry.get("sha256"):
            problems.append(f"{path}: SHA-256 differs from the manifest's")
    if total > SIZE_LIMIT_BYTES:
        problems.append(f"{folder}: {total} bytes of weights, over the {SIZE_LIMIT_BYTES} limit")
    return problems
