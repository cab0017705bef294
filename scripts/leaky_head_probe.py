#!/usr/bin/env python
"""One-off experiment: a multitask classifier of a reference-table run retrained with a leaky hidden layer in its
classification head, then scored on the run's test set (docs/reference-models.md §12, "Seed 2").

    OMP_NUM_THREADS=1 python scripts/leaky_head_probe.py --work var/s2 --seed 2 --method multitask_latent \
        --out var/leaky

The head's ``ReLU`` (``blocks.classification_mlp``) becomes ``leaky_relu(x, 0.01)`` in this process only (a unit
whose pre-activation is negative for every series still gets a gradient); everything else is the benchmark's:
the run's training sets, lung network, schedule and seed. Prints the validation ROC-AUC and the units with a
positive output at each validation, then the test metrics (container track, every case).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import reference_models.networks.multitask as multitask  # noqa: E402
from evaluator.scoring import ScoringOptions, Track, score_archive  # noqa: E402
from evaluator.testset import load_testset  # noqa: E402
from evaluator.truth import build_truth  # noqa: E402
from evaluator.worklist import SimulationSize  # noqa: E402
from reference_models.benchmark import BenchmarkSettings, ensure_testset  # noqa: E402
from reference_models.networks import blocks  # noqa: E402
from reference_models.pipeline import run_references  # noqa: E402
from reference_models.provision import ensure_training_data, load_records, train_one  # noqa: E402


class LeakyAsReLU(nn.ReLU):
    """Leaky in the forward pass; still a ``ReLU`` for the live-unit count (``objectives.head_units``: output > 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.01, inplace=self.inplace)


def leaky_mlp(in_features: int, *, hidden: int = 1024, dropout: float = 0.5) -> nn.Sequential:
    layers = blocks.classification_mlp(in_features, hidden=hidden, dropout=dropout)
    layers[2] = LeakyAsReLU(inplace=True)
    return layers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="a finished reference-table run's folder")
    parser.add_argument("--seed", type=int, required=True, help="that run's training seed")
    parser.add_argument("--method", choices=["multitask_latent", "multitask_spatial4", "multitask_spatial1"],
                        required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    multitask.classification_mlp = leaky_mlp  # type: ignore[assignment]
    settings = BenchmarkSettings(seed=args.seed)
    specs = ensure_training_data(args.work / "training-data", settings.training_data)
    weights = args.out / "weights"
    if not (weights / "lungs").exists():
        shutil.copytree(args.work / "weights" / "lungs", weights / "lungs")
    if (weights / args.method).exists():
        shutil.rmtree(weights / args.method)
    train_one(args.method, records=load_records(specs), out_dir=weights / args.method,
              lungs_dir=weights / "lungs", scale=settings.scale, steps=settings.steps.get(args.method),
              seed=args.seed, device="cpu", cache_dir=args.work / "prepared-cache", progress=False, datasets=specs)
    for line in (weights / args.method / "history.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "roc_auc" in entry:
            print(f"batch {entry['step']}: validation ROC-AUC {entry['roc_auc']}, "
                  f"units with a positive output {entry.get('live_head_units')}")
    testset_dir = ensure_testset(args.work / "testset", settings)
    archive = run_references([args.method], testset_dir=testset_dir,
                             out_archives={args.method: args.out / f"{args.method}.zip"}, weights_dir=weights,
                             train_if_missing=False, scale=settings.scale, device="cpu")[args.method]
    testset = load_testset(testset_dir)
    metrics = score_archive(archive, testset=testset, truth=build_truth(testset, cache_root=args.out / "truth"),
                            track=Track.CONTAINER, options=ScoringOptions(
                                n_resamples=50, workers=1,
                                worklist_size=SimulationSize(days=5, resamples=3, days_per_resample=1)))["metrics"]
    print("test: " + ", ".join(f"{k} {'N/A' if v is None else f'{v:.3f}'}" for k, v in metrics.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
