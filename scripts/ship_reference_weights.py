#!/usr/bin/env python
"""Retrain the shipped reference weights (reference_weights/) and write their manifest.

    python scripts/ship_reference_weights.py              # train seed 0 of the reference table (or reuse its
                                                          # finished run), score it, export the weights
    python scripts/ship_reference_weights.py --retrain    # discard the run's cached weights first
    python scripts/ship_reference_weights.py --check      # verify reference_weights/ against its manifest

The shipped weights are the networks of one run of the reference table (`scripts/reference_table.py --seed 0`:
the small scale, the benchmark's schedule and synthetic training sets), so the demo's board and docs/
reference-models.md §12 come from the same networks. The run's folder (default var/reference-benchmark) keeps
the full checkpoints, the training histories and the table; reference_weights/ gets the selected weights only,
compacted (reference_models/shipped.py), with each file's SHA-256, the command, the seed and the commit.
Takes about 20 minutes on one CPU thread when nothing is cached.
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

from reference_models.benchmark import BenchmarkSettings, run_benchmark  # noqa: E402
from reference_models.shipped import SHIPPED_DIR, SHIPPED_METHODS, export_run, verify_shipped  # noqa: E402


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
    args = parser.parse_args(argv)
    if args.check:
        problems = verify_shipped(args.out)
        print("\n".join(problems) if problems else f"{args.out}: every file matches {args.out / 'MANIFEST.json'}")
        return 1 if problems else 0
    torch.set_num_threads(args.threads)
    commit = git_commit()
    if args.retrain and (args.work / "weights").exists():
        shutil.rmtree(args.work / "weights")
    settings = BenchmarkSettings(seed=args.seed)
    started = time.perf_counter()
    results = run_benchmark(args.work, settings=settings, progress=False)
    provenance = {
        "command": "python scripts/ship_reference_weights.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
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
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
