#!/usr/bin/env python
"""Retrain the shipped reference weights (reference_weights/) and write their manifest.

    python scripts/ship_reference_weights.py              # train seed 0 of the reference table (or reuse its
                                                          # finished run), score it, export the weights
    python scripts/ship_reference_weights.py --retrain    # discard the run's cached weights first
    python scripts/ship_reference_weights.py --check      # verify reference_weights/ against its manifest
    python scripts/ship_reference_weights.py --rebenchmark --workers 2
                                                          # only re-measure the shipped files (no training)

The shipped weights are the networks of one run of the reference table (`scripts/reference_table.py --seed 0`:
the small scale, the benchmark's schedule and synthetic training sets), so the demo's board and docs/
reference-models.md §12 come from the same networks. The run's folder (default var/reference-benchmark) keeps
the full checkpoints, the training histories and the table; reference_weights/ gets the selected weights only,
compacted (reference_models/shipped.py), with each file's SHA-256, the command, the seed and the commit.
Then the shipped files themselves predict every case of the benchmark's test set, as the demo does (float16
weights, one torch thread per prediction process), and their metrics become the manifest's ``benchmark``: the
numbers the demo's board shows (the training run's float32 numbers stay as ``run_benchmark``).
Takes about 90 minutes on one CPU thread when nothing is cached.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reference_models.benchmark import BenchmarkSettings, ensure_testset, run_benchmark  # noqa: E402
from reference_models.shipped import (  # noqa: E402
    SHIPPED_DIR,
    SHIPPED_METHODS,
    benchmark_shipped,
    export_run,
    read_manifest,
    record_benchmark,
    verify_shipped,
)


def git_commit() -> str:
    """HEAD's hash, with ``+dirty`` when tracked files differ from it (the weights would not be reproducible)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                              ":(exclude)reference_weights"], cwd=ROOT, capture_output=True, text=True, check=True)
    return head.stdout.strip() + ("+dirty" if changed.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("var/reference-benchmark"),
                        help="the training run's folder (default var/reference-benchmark, seed 0's)")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR, help="where the weights go (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--retrain", action="store_true", help="discard the run's cached weights first")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--check", action="store_true", help="only verify the shipped folder against its manifest")
    parser.add_argument("--rebenchmark", action="store_true",
                        help="only measure the shipped files on the benchmark's test set again (no training)")
    parser.add_argument("--workers", type=int, default=1,
                        help="prediction processes of one torch thread each for the shipped files' benchmark")
    args = parser.parse_args(argv)
    if args.check or args.rebenchmark:
        problems = verify_shipped(args.out)
        print("\n".join(problems) if problems else f"{args.out}: every file matches {args.out / 'MANIFEST.json'}")
        if args.check or problems:
            return 1 if problems else 0
    torch.set_num_threads(args.threads)
    commit = git_commit()
    command = "python scripts/ship_reference_weights.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.rebenchmark:
        return measure_shipped(args.out, work=args.work, seed=read_manifest(args.out)["seed"], commit=commit,
                               command=command, workers=args.workers)
    if args.retrain and (args.work / "weights").exists():
        shutil.rmtree(args.work / "weights")
    settings = BenchmarkSettings(seed=args.seed)
    started = time.perf_counter()
    results = run_benchmark(args.work, settings=settings, progress=False)
    provenance = {
        "command": command,
        "seed": args.seed,
        "commit": commit,
        "scale": settings.scale,
        "steps": dict(settings.steps),
        "training_data": json.loads(json.dumps(dataclasses.asdict(settings.training_data), default=list)),
        "torch": torch.__version__,
        "benchmark": {name: results["scores"][name]["metrics"] for name in results["scores"]},
    }
    if args.out.exists():
        shutil.rmtree(args.out)
    manifest = export_run(args.work / "weights", args.out, methods=SHIPPED_METHODS, provenance=provenance)
    print(f"exported {len(manifest['files'])} files, {manifest['total_bytes'] / 1e6:.1f} MB, to {args.out} "
          f"in {time.perf_counter() - started:.0f} s (commit {commit})")
    problems = verify_shipped(args.out)
    print("\n".join(problems) if problems else "manifest verified")
    if problems:
        return 1
    return measure_shipped(args.out, work=args.work, seed=args.seed, commit=commit, command=command,
                           workers=args.workers)


def measure_shipped(out: Path, *, work: Path, seed: int, commit: str, command: str, workers: int) -> int:
    """The shipped files' own benchmark (every case of the run's test set) into the manifest's ``benchmark``."""
    started = time.perf_counter()
    settings = BenchmarkSettings(seed=seed)
    testset_dir = ensure_testset(work / "testset", settings)
    metrics = benchmark_shipped(out, testset_dir=testset_dir, out_dir=work / "shipped-archives", workers=workers)
    record_benchmark(out, metrics, how={
        "what": "the shipped files (float16 weights) on every case of the benchmark's test set, container track, "
                "predicted as the demo does (reference_models.pipeline.run_references, one torch thread per process)",
        "command": command, "commit": commit, "testset": {"seed": settings.test_seed,
                                                          "covid_bands": list(settings.test_covid_bands or [])},
    })
    for name, values in metrics.items():
        print(f"{name:20} " + "  ".join(f"{k} {'N/A' if v is None else f'{v:.3f}'}" for k, v in sorted(values.items())))
    print(f"measured the shipped weights in {time.perf_counter() - started:.0f} s (commit {commit})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
