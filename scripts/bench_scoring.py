#!/usr/bin/env python
"""Benchmark of the scorer on a full-resolution archive (issue: scoring-core performance).

    python scripts/bench_scoring.py build   [--dir var/bench-scoring] [--cases 123] [--shape 512 512 400]
    python scripts/bench_scoring.py measure [--dir var/bench-scoring] [--workers 2] [--naive-cases 123]

``build`` writes, once, a Mosmed-Test-like test set of phantom labels (lungs and COVID-19 lesion masks from
``evaluator.phantoms``; one third of the COVID cases with two raters) and a prediction archive with a
512×512×400 uint8 mask for *every* case (nibabel's default ``.nii.gz`` compression, stored in a zip), plus a
``covid_probability`` column and no ``severity`` column, so severities must come from the masks (the costly path).
The test-set images are written as all-zero volumes: the scorer reads only their headers, and compressing 123
noisy 200 MB CT volumes would take the benchmark's machine half an hour without changing what is measured.

``measure`` runs, each in a fresh child process:
1. inflate-only baselines — every mask file fully inflated and discarded, nothing else: (a) ISA-L (the
   library the scorer uses) in the same number of processes as the scorer; (b) Python's stdlib gzip, same
   processes;
2. the scorer — ``python -m evaluator score`` on the archive (extraction, validation of every mask, overlap
   counting, all metrics and 2,000-resample bootstrap intervals);
3. the naive way — per case, nibabel ``get_fdata()`` of the submitted mask and of the hidden lung and lesion
   masks, Dice and severity with numpy (single process, as such code is usually written; ``--naive-cases``
   limits the number of cases and the time is then extrapolated, which the report says).
Peak RSS is the largest resident set of any single process of a step (``ru_maxrss`` of a wrapper's
waited-for process tree, so steps do not see each other's peaks).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMPOSITION = {"covid": 32, "bacterial_pneumonia": 30, "nodules": 30, "normal": 31}


def _build_case(args: tuple) -> tuple[str, str]:
    import nibabel as nib
    from scipy import ndimage

    from evaluator.phantoms.generate import generate_case

    index, group, shape, spacing, out = args
    out = Path(out)
    case_id = f"case_{index:03d}"
    n_raters = 2 if group == "covid" and index % 3 == 0 else 1
    phantom = generate_case(group, shape=shape, spacing=spacing, seed=1000 + index, n_raters=n_raters)
    affine = phantom.affine
    nib.save(nib.Nifti1Image(np.zeros(shape, np.int16), affine), str(out / "testset/images" / f"{case_id}.nii.gz"))
    nib.save(nib.Nifti1Image(phantom.lungs.astype(np.uint8), affine), str(out / "testset/lungs" / f"{case_id}.nii.gz"))
    if group == "covid":
        if n_raters == 1:
            nib.save(nib.Nifti1Image(phantom.lesions[0].astype(np.uint8), affine),
                     str(out / "testset/lesions" / f"{case_id}.nii.gz"))
        else:
            (out / "testset/lesions" / case_id).mkdir(exist_ok=True)
            for r, lesion in enumerate(phantom.lesions, start=1):
                nib.save(nib.Nifti1Image(lesion.astype(np.uint8), affine),
                         str(out / "testset/lesions" / case_id / f"rater{r}.nii.gz"))
        predicted = ndimage.binary_dilation(phantom.lesions[0], iterations=1)
    else:
        rng = np.random.default_rng(index)
        predicted = np.zeros(shape, bool)
        lung_voxels = np.argwhere(phantom.lungs[::8, ::8, ::8] > 0) * 8
        for centre in lung_voxels[rng.choice(len(lung_voxels), size=min(4, len(lung_voxels)), replace=False)]:
            sl = tuple(slice(max(0, c - 6), c + 6) for c in centre)
            predicted[sl] = True
        predicted &= phantom.lungs > 0
    nib.save(nib.Nifti1Image(predicted.astype(np.uint8), affine), str(out / "masks" / f"{case_id}.nii.gz"))
    return case_id, group


def build(args: argparse.Namespace) -> None:
    out = Path(args.dir)
    for sub in ("testset/images", "testset/lungs", "testset/lesions", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    groups = [g for g, n in COMPOSITION.items() for _ in range(n)]
    rng.shuffle(groups)
    groups = groups[: args.cases]
    jobs = [(i, g, tuple(args.shape), (0.7, 0.7, 1.0), str(out)) for i, g in enumerate(groups)]
    start = time.perf_counter()
    done = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for case_id, group in pool.map(_build_case, jobs):
            done.append((case_id, group))
            print(f"  {len(done)}/{len(jobs)} {case_id} {group} ({time.perf_counter() - start:.0f} s)", flush=True)
    (out / "testset/cases.csv").write_text("case_id,group,distribution\n" + "".join(
        f"{c},{g},public\n" for c, g in done))
    (out / "testset/testset.json").write_text(json.dumps(
        {"name": "bench", "version": "1", "description": "full-resolution scoring benchmark (zero images)"}))
    rows = ["case_id,covid_probability"] + [f"{c},{0.9 if g == 'covid' else 0.2:.2f}" for c, g in done]
    with zipfile.ZipFile(out / "archive.zip", "w") as archive:
        archive.writestr("predictions.csv", "\n".join(rows) + "\n")
        for case_id, _ in done:
            archive.write(out / "masks" / f"{case_id}.nii.gz", f"masks/{case_id}.nii.gz",
                          compress_type=zipfile.ZIP_STORED)
    print(f"built {len(done)} cases in {time.perf_counter() - start:.0f} s under {out}")


def _inflate(path: str, use_isal: bool) -> int:
    if use_isal:
        from isal.igzip import GzipFile
    else:
        from gzip import GzipFile
    buffer = bytearray(1 << 22)
    view = memoryview(buffer)
    total = 0
    with GzipFile(path, "rb") as stream:
        while n := stream.readinto(view):
            total += n
    return total


def inflate_only(directory: str, workers: int, use_isal: bool) -> None:
    files = sorted(str(p) for p in Path(directory).glob("*.nii.gz"))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        total = sum(pool.map(_inflate, files, [use_isal] * len(files)))
    print(f"inflated {len(files)} files, {total / 1e9:.2f} GB")


def naive(directory: str, cases: int) -> None:
    import nibabel as nib

    root = Path(directory)
    lines = (root / "testset/cases.csv").read_text().splitlines()[1:][:cases]
    for line in lines:
        case_id, group, _ = line.split(",")
        pred = nib.load(str(root / "masks" / f"{case_id}.nii.gz")).get_fdata() > 0.5
        lungs = nib.load(str(root / "testset/lungs" / f"{case_id}.nii.gz")).get_fdata()
        severity = max((pred & (lungs == k)).sum() / (lungs == k).sum() for k in (1, 2))
        if group == "covid":
            files = sorted((root / "testset/lesions").glob(f"{case_id}*"))
            if files and files[0].is_dir():
                files = sorted(files[0].glob("*.nii.gz"))
            dices = []
            for f in files:
                truth = nib.load(str(f)).get_fdata() > 0.5
                dices.append(2 * (pred & truth).sum() / max(1, pred.sum() + truth.sum()))
        del pred, lungs
    print(f"naive: {len(lines)} cases; last severity {severity:.3f}")


def _wrapped(command: list[str]) -> None:
    """Run ``command`` as our only child and print its tree's peak RSS (isolates the measurement)."""
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"returncode": completed.returncode, "stdout": completed.stdout, "stderr": completed.stderr,
                      "peak_rss_mb": usage.ru_maxrss / 1024,
                      "cpu_seconds": usage.ru_utime + usage.ru_stime}))


def warm_score(directory: str, workers: int) -> None:
    """Time ``score_archive`` inside one process that has already imported everything and scored once.

    This is what a scoring worker of the site experiences: it imports numpy/scipy/scikit-learn once
    at start-up, not per evaluation.
    """
    from evaluator.scoring import ScoringOptions, score_archive
    from evaluator.testset import load_testset
    from evaluator.truth import build_truth

    root = Path(directory)
    options = ScoringOptions(workers=workers)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        testset = load_testset(root / "testset")
        truth = build_truth(testset)
        score_archive(root / "archive.zip", testset=testset, truth=truth, options=options)
        times.append(time.perf_counter() - start)
    print(json.dumps({"warm_seconds": times[1:]}))


def _run(label: str, command: list[str]) -> dict:
    start = time.perf_counter()
    wrapper = subprocess.run([sys.executable, __file__, "_wrap", "--", *command], capture_output=True, text=True,
                             cwd=ROOT)
    seconds = time.perf_counter() - start
    report = json.loads(wrapper.stdout)
    if report["returncode"] != 0:
        raise SystemExit(f"{label} failed:\n{report['stdout']}\n{report['stderr']}")
    print(f"{label:40} {seconds:8.2f} s wall  {report['cpu_seconds']:8.2f} s CPU  "
          f"peak RSS {report['peak_rss_mb']:7.0f} MB", flush=True)
    return {"seconds": seconds, **report}


def measure(args: argparse.Namespace) -> None:
    out = Path(args.dir)
    masks = out / "extracted"
    if not masks.is_dir():
        with zipfile.ZipFile(out / "archive.zip") as archive:
            archive.extractall(masks)  # our own benchmark archive, not participant input
    me = [sys.executable, __file__]
    python = sys.executable
    # warm the ground-truth cache first so every step below sees the same state
    _run("ground-truth cache (once)", [python, "-m", "evaluator", "check-testset", str(out / "testset"),
                                       "--workers", str(args.workers)])
    results = {}
    results["scorer"] = _run(f"scorer ({args.workers} processes)", [
        python, "-m", "evaluator", "score", str(out / "archive.zip"), "--test-set", str(out / "testset"),
        "--workers", str(args.workers), "--json", str(out / "result.json")])
    results["warm"] = _run(f"scorer in a warm worker ({args.workers} proc.)",
                           me + ["_warm", str(out), str(args.workers)])
    warm = min(json.loads(results["warm"]["stdout"])["warm_seconds"])
    print(f"{'  one evaluation in a warm worker (best of 2)':40} {warm:8.2f} s", flush=True)
    results["isal"] = _run(f"inflate only, ISA-L ({args.workers} proc.)",
                           me + ["_inflate", str(masks / "masks"), str(args.workers), "isal"])
    results["zlib"] = _run(f"inflate only, stdlib gzip ({args.workers} proc.)",
                           me + ["_inflate", str(masks / "masks"), str(args.workers), "zlib"])
    n_cases = len((out / "testset/cases.csv").read_text().splitlines()) - 1
    naive_cases = min(args.naive_cases, n_cases)
    results["naive"] = _run(f"naive get_fdata, {naive_cases} case(s)", me + ["_naive", str(out), str(naive_cases)])
    naive_total = results["naive"]["seconds"] * n_cases / naive_cases
    scorer = results["scorer"]["seconds"]
    print()
    print(f"cases: {n_cases}; mask bytes inflated: {results['isal']['stdout'].strip()}")
    print(f"scorer / inflate-only (ISA-L, same processes): {scorer / results['isal']['seconds']:.2f}x cold CLI, "
          f"{warm / results['isal']['seconds']:.2f}x warm worker  (target <= 1.3)")
    print(f"scorer / inflate-only (stdlib gzip):          {scorer / results['zlib']['seconds']:.2f}x")
    extrapolated = "" if naive_cases == n_cases else f" (extrapolated from {naive_cases} cases)"
    print(f"naive / scorer: {naive_total / scorer:.1f}x faster{extrapolated}  (target >= 5)")
    print(f"scorer peak RSS (largest process): {results['scorer']['peak_rss_mb']:.0f} MB (target <= 1.5 GB)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_inflate":
        inflate_only(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "isal")
        return
    if len(sys.argv) > 2 and sys.argv[1] == "_wrap":
        _wrapped(sys.argv[3:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_warm":
        warm_score(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_naive":
        naive(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--dir", default=str(ROOT / "var/bench-scoring"))
    b.add_argument("--cases", type=int, default=123)
    b.add_argument("--shape", type=int, nargs=3, default=[512, 512, 400])
    b.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    b.set_defaults(func=build)
    m = sub.add_parser("measure")
    m.add_argument("--dir", default=str(ROOT / "var/bench-scoring"))
    m.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    m.add_argument("--naive-cases", type=int, default=123)
    m.set_defaults(func=measure)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
