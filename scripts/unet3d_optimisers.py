#!/usr/bin/env python
"""3D U-Net at the small scale: validation Dice of one training setting at a time (docs/reference-models.md §12).

    python scripts/unet3d_optimisers.py --work var/reference-benchmark --run sgd-0.01 --steps 120
    python scripts/unet3d_optimisers.py --work var/reference-benchmark --run adam-1e-3-lesions --steps 400

WORK is a reference-table folder whose training sets and lung network exist (`scripts/reference_table.py` writes
them first); the run trains into WORK/unet3d-experiments/RUN with the small scale's 3D U-Net and batches, the
given optimiser and learning rate, and validates `--validations` times on the same held-out series as the table's
segmenters (seed 0). One thread; prints the history and the best Dice.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reference_models.provision import DEFAULT_TRAINING_DATA, ensure_training_data, load_records  # noqa: E402
from reference_models.training.config import Schedule, default_config  # noqa: E402
from reference_models.training.loop import train  # noqa: E402
from reference_models.weights import load_model  # noqa: E402

RUNS = {
    "sgd-0.01": (Schedule("sgd", 0.01, 1), 0.0),  # the paper's (previous small-scale default)
    "sgd-0.1": (Schedule("sgd", 0.1, 1), 0.0),
    "sgd-1": (Schedule("sgd", 1.0, 1), 0.0),
    "adam-3e-4": (Schedule("adam", 3e-4, 1), 0.0),  # 2D U-Net's
    "adam-1e-3": (Schedule("adam", 1e-3, 1), 0.0),
    "adam-1e-3-lesions": (Schedule("adam", 1e-3, 1), 0.5),  # the small scale's default now
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--run", choices=RUNS, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--validations", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    schedule, lesion_patches = RUNS[args.run]
    config = default_config("unet3d", scale="small", steps=args.steps, seed=args.seed,
                            epoch_steps=max(1, args.steps // args.validations))
    config = dataclasses.replace(config, schedule=schedule.with_steps(args.steps),
                                 batching=dataclasses.replace(config.batching, lesion_patches=lesion_patches))
    specs = ensure_training_data(args.work / "training-data", DEFAULT_TRAINING_DATA)
    lungs = load_model(args.work / "weights" / "lungs", expected_method="lungs")
    started = time.perf_counter()
    result = train(config, records=load_records(specs), out_dir=args.work / "unet3d-experiments" / args.run,
                   lung_model=lungs, device="cpu", cache_dir=args.work / "prepared-cache", progress=False,
                   log=print)
    print(json.dumps({"run": args.run, "steps": args.steps, "best_dice": result.best_metric,
                      "best_step": result.best_step, "seconds": round(time.perf_counter() - started)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
