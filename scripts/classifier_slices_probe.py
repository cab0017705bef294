#!/usr/bin/env python
"""A trained classifier's validation ROC-AUC when its head sees all slices or every k-th slice down to N
(docs/reference-models.md §12, "Why Latent and Spatial-4 did not learn").

    python scripts/classifier_slices_probe.py --work var/reference-benchmark \
        --run var/reference-benchmark/weights/multitask_latent

WORK is the reference-table folder the run was trained in (its training sets and lung network); RUN a classifier's
run folder (ResNet50 or a multitask model). The probe rebuilds the run's validation split (its seed), scores every
validation series with ``classifier_slices`` None (all), 8, 16 and 32, and prints the ROC-AUC of each, over all
validation series and over the MosMed ones only, then one line per series: label, slices, id, the four
probabilities; and how many hidden units of the classification head are active on any of them. One thread.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reference_models.provision import DEFAULT_TRAINING_DATA, ensure_training_data, load_records  # noqa: E402
from reference_models.training.config import TrainConfig  # noqa: E402
from reference_models.training.loop import prepare_all, split_validation, training_records  # noqa: E402
from reference_models.training.objectives import head_units, roc_auc, series_probability  # noqa: E402
from reference_models.weights import load_model  # noqa: E402

LIMITS: tuple[int | None, ...] = (None, 8, 16, 32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="the reference-table folder of the run")
    parser.add_argument("--run", type=Path, required=True, help="a classifier's run folder (best.pt, config.json)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = TrainConfig.from_dict(json.loads((args.run / "config.json").read_text()))
    records = load_records(ensure_training_data(args.work / "training-data", DEFAULT_TRAINING_DATA))
    pool, _ = training_records(config.method, records)
    _, validation = split_validation(config.method, pool, val_size=config.val_size, seed=config.seed)
    lungs = load_model(args.work / "weights" / "lungs", device="cpu", expected_method="lungs")
    items = prepare_all(validation, method=config.method, lung_model=lungs, cache_dir=args.work / "prepared-cache",
                        progress=False, desc="validation series")
    model = load_model(args.run, device="cpu").model
    rows = []
    with head_units(model) as live:
        for record, item in zip(validation, items, strict=True):
            scores = [series_probability(model, np.asarray(item.image), slice_batch=config.slice_batch,
                                         classifier_slices=limit)[0] for limit in LIMITS]
            rows.append((int(item.label), item.image.shape[2], record.series_id, scores))
    print(f"{config.method}: {live.count} of {live.active.numel()} hidden units of the classification head are "
          "active on some validation series (the others output 0 for every input: dead ReLUs)")
    names = ["all" if limit is None else f"every k-th down to {limit}" for limit in LIMITS]
    for subset, chosen in (("all validation series", rows),
                           ("MosMed only", [r for r in rows if r[2].startswith("study_")])):
        labels = [r[0] for r in chosen]
        aucs = [roc_auc(labels, [r[3][k] for r in chosen]) for k in range(len(LIMITS))]
        cells = [f"{name} {'-' if auc is None else f'{auc:.3f}'}" for name, auc in zip(names, aucs, strict=True)]
        print(f"{config.method} ROC-AUC, {subset} ({len(chosen)}): " + ", ".join(cells))
    for label, slices, series_id, scores in sorted(rows, key=lambda r: (r[0], r[1])):
        print(label, slices, series_id, *(f"{s:.3f}" for s in scores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
