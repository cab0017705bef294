"""Command line: ``python -m reference_models {list,data,train,predict,import-authors} ...``
(see docs/reference-models.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from reference_models.data.layouts import list_dataset
from reference_models.data.records import label_counts
from reference_models.pipeline import cases_in_folder, cases_in_testset, load_method, output_columns, predict_cases
from reference_models.registry import METHODS
from reference_models.training.config import PAPER_BATCHING, PAPER_SCHEDULES, SCALES, default_config
from reference_models.training.grid_search import PAPER_PARAMETERS, grid_search_thresholding
from reference_models.training.loop import resolve_device, train, training_records
from reference_models.training.prepare import prepare_series
from reference_models.weights import BEST, load_model, save_checkpoint, write_json


def cmd_list(args: argparse.Namespace) -> int:
    for name, method in METHODS.items():
        schedule = PAPER_SCHEDULES.get(name)
        batching = PAPER_BATCHING.get(name)
        plan = (f"{schedule.optimizer} lr {schedule.lr:g}, {schedule.steps} batches of {batching.size} "
                f"{batching.unit}"
                + "".join(f", lr {lr:g} after {round(f * schedule.steps)}" for f, lr in schedule.drops)
                if schedule and batching else "no training (paper parameters; optional grid search)")
        print(f"{name:20s} {method.title:22s} outputs: {', '.join(sorted(method.outputs)):36s} {plan}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    for spec in args.specs:
        records = list_dataset(spec)
        print(f"{spec}: {records[0].layout if records else '?'} {json.dumps(label_counts(records))}")
        if args.load:
            for record in records:
                series = record.load()
                spacing = tuple(round(s, 3) for s in series.spacing)
                print(f"  {series.series_id}: {series.image_hu.shape} spacing {spacing}"
                      f" label {series.label} intensity {series.provenance['intensity']}")
    return 0


def _lungs_dir(weights: str | None, explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    if weights:
        sibling = Path(weights).resolve().parent / "lungs"
        if sibling.is_dir() and sibling != Path(weights).resolve():
            return sibling
    return None


def cmd_train(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    records = [record for spec in args.data for record in list_dataset(spec)]
    out = Path(args.out)
    lungs_dir = Path(args.lungs_weights) if args.lungs_weights else None
    lung_model = load_model(lungs_dir, device=device, expected_method="lungs") if lungs_dir else None
    if args.method == "thresholding":
        parameters, report = dict(PAPER_PARAMETERS), dict[str, Any](source="paper")
        if args.grid_search:
            pool, _ = training_records("thresholding", records)
            items = [prepare_series(r, purpose="hu", lung_model=lung_model.model if lung_model else None,
                                    lungs_digest=lung_model.digest if lung_model else None,
                                    cache_dir=Path(args.cache_dir) if args.cache_dir else None) for r in pool]
            grid = grid_search_thresholding(items, progress=not args.quiet)
            parameters, report = grid.parameters, {"source": "grid search", "mean_dice": grid.mean_dice,
                                                     "series": [i.series_id for i in items], "table": grid.table}
        save_checkpoint(out / BEST, {"method": "thresholding", "model_kwargs": {}, "state_dict": None,
                                     "predict_options": parameters, "config": report, "step": 0, "metrics": {},
                                     "data": {"datasets": args.data}})
        write_json(out / "config.json", {"predict_options": parameters, **report})
        print(f"thresholding parameters {parameters} → {out / BEST}")
        return 0
    config = default_config(args.method, scale=args.scale, steps=args.steps, seed=args.seed,
                            batch_size=args.batch_size, max_slices=args.max_slices, epoch_steps=args.epoch_steps,
                            val_size=args.val_size)
    result = train(config, records=records, out_dir=out, lung_model=lung_model, resume=args.resume, device=device,
                   cache_dir=Path(args.cache_dir) if args.cache_dir else out / "prepared-cache",
                   progress=not args.quiet, datasets=args.data, log=print if args.quiet else None)
    print(f"{args.method}: {result.steps} batches in {result.seconds:.0f} s; best {result.best_metric} at batch "
          f"{result.best_step} → {out / BEST}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    started = time.perf_counter()
    weights = load_method(args.method, args.weights, device=device)
    lungs_dir = _lungs_dir(args.weights, args.lungs_weights)
    if lungs_dir is None:
        print("error: give --lungs-weights (the trained lung network)", file=sys.stderr)
        return 2
    lungs = load_method("lungs", lungs_dir, device=device)
    cases = cases_in_testset(args.test_set, track=args.track) if args.test_set else cases_in_folder(args.input)
    predict_cases(weights, cases, args.out, lungs=lungs, progress=not args.quiet)
    columns, masks = output_columns(args.method)
    print(f"{args.method}: {len(cases)} cases → {args.out} (columns {', '.join(columns) or 'none'}"
          f"{', masks' if masks else ''}) in {time.perf_counter() - started:.0f} s")
    return 0


def cmd_import_authors(args: argparse.Namespace) -> int:
    """``evaluator import-authors`` with the lung masks computed by the trained reference lung segmentation."""
    from evaluator.authors_layout import import_authors_layout
    from reference_models.pipeline import lung_segmenter

    testset = import_authors_layout(Path(args.source), Path(args.destination), name=args.name,
                                    version=args.version, description=args.description,
                                    lung_segmenter=lung_segmenter(args.lung_weights, device=args.device))
    print(f"imported {len(testset.cases)} cases into {args.destination}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference_models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the methods, their outputs and the paper's training schedules")
    p = sub.add_parser("data", help="count the series of datasets (LAYOUT:PATH or PATH)")
    p.add_argument("specs", nargs="+")
    p.add_argument("--load", action="store_true", help="also read every series")

    p = sub.add_parser("train", help="train one method with the paper's settings")
    p.add_argument("method", choices=list(METHODS))
    p.add_argument("--data", action="append", required=True, metavar="[LAYOUT:]PATH",
                   help="a dataset (repeatable): mosmed, medseg, covid-ct-seg, testset, authors, nifti-negative, "
                        "nifti-positive; the layout is detected when omitted")
    p.add_argument("--out", required=True, help="run folder for best.pt, last.pt, config.json, history.jsonl")
    p.add_argument("--scale", choices=SCALES, default="paper")
    p.add_argument("--steps", type=int, help="batches (the schedule's drop points scale with it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ... (default auto)")
    p.add_argument("--lungs-weights", help="trained lung network: its predicted lungs crop every series")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-slices", type=int, help="slices per series crop")
    p.add_argument("--epoch-steps", type=int, help="batches between validations (default: one pass)")
    p.add_argument("--val-size", type=int, help="validation series (default: 30 / 10 %%, see docs)")
    p.add_argument("--cache-dir", help="where preprocessed series are cached (default OUT/prepared-cache)")
    p.add_argument("--grid-search", action="store_true", help="thresholding: search its parameters on training Dice")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("predict", help="write a prediction archive (or output folder)")
    p.add_argument("method", choices=[m for m in METHODS if m != "lungs"])
    p.add_argument("--weights", help="the method's run folder or checkpoint (thresholding: optional)")
    p.add_argument("--lungs-weights", help="the lung network (default: a 'lungs' folder next to --weights)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--test-set", help="a test set folder (testset.json, cases.csv, images/ ...)")
    source.add_argument("--input", help="a folder of <case_id>.nii.gz images (with cases.csv, optional)")
    p.add_argument("--track", choices=["container", "archive"], default="container",
                   help="with --test-set: all cases (container) or only the public ones (archive)")
    p.add_argument("--out", required=True, help="ARCHIVE.zip, or a folder")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("import-authors", help="import the paper authors' test layout, segmenting its lungs with the "
                                              "reference lung network (python -m evaluator import-authors --lungs "
                                              "when masks exist)")
    p.add_argument("source", help="the authors' folder (holding test/ or being it)")
    p.add_argument("destination", help="new test-set directory")
    p.add_argument("--name", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--lung-weights", required=True, help="trained reference lung segmentation (a run folder)")
    p.add_argument("--device", default="auto")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"list": cmd_list, "data": cmd_data, "train": cmd_train, "predict": cmd_predict,
                "import-authors": cmd_import_authors}
    try:
        return commands[args.command](args)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
