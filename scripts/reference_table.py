#!/usr/bin/env python
"""One command for the reference table: train (or reuse) all methods on the synthetic benchmark, predict, score.

    python scripts/reference_table.py                # the default benchmark (about 80 CPU-minutes, one thread)
    python scripts/reference_table.py --fast         # a smoke run: tiny sets, a few batches (~5 min)
    python scripts/reference_table.py --seed 1       # another training seed (work folder …-seed1)
    python scripts/reference_table.py --seeds 0 1 2 --jobs 2
                                                     # three training seeds side by side on two cores, one lung
                                                     # network for all (WORK/seed-S; 2 h 10 measured on two
                                                     # cores, a CI run beside it for 35 min), then mean ± std
    python scripts/reference_table.py --combine var/reference-benchmark var/reference-benchmark-seed1 …
                                                     # mean ± std over seeds, as the paper reports
    python scripts/reference_table.py --combine docs/reference-table/seed-*.json
                                                     # the recorded seeds of docs/reference-models.md §12
    python scripts/reference_table.py --update docs/reference-table/…/seed-*.json --from var/u2p/seed-* \
        --methods unet2d_plus                        # put a retrained method's scores into recorded seeds: each
                                                     # record takes them from the run of its seed, which must have
                                                     # scored thresholding too, exactly as recorded (same lungs)

Writes WORK/results.json and WORK/table.md (default WORK: var/reference-benchmark, or …-fast) and prints the
table. Weights are cached in WORK/weights/<method>/: delete a folder (or pass --retrain) to train it again.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import json  # noqa: E402

from reference_models.benchmark import (  # noqa: E402
    FAST_SETTINGS,
    TABLE_METHODS,
    BenchmarkSettings,
    combined_table,
    markdown_table,
    run_benchmark,
    update_record,
)
from reference_models.seed_runs import run_seeds  # noqa: E402
from reference_models.training.loop import resolve_device  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, help="work folder (default var/reference-benchmark[-fast])")
    parser.add_argument("--fast", action="store_true", help="tiny data and a few batches: a smoke run")
    parser.add_argument("--methods", nargs="+", choices=TABLE_METHODS,
                        help="the methods to run (default: all), or with --update the ones to replace")
    parser.add_argument("--retrain", action="store_true", help="discard cached weights first")
    parser.add_argument("--steps-multiplier", type=float, default=1.0,
                        help="scale every network's number of batches (e.g. 20 on a GPU; default 1)")
    parser.add_argument("--steps", nargs="+", default=[], metavar="NAME=N",
                        help="batches for one network instead of the benchmark's (after --steps-multiplier), "
                             "e.g. lungs=400")
    parser.add_argument("--scale", choices=["small", "paper", "tiny"], default="small",
                        help="network size (default small: the CPU benchmark; paper: the paper's networks)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--test-covid-bands", type=float, nargs=4, metavar=("CT1", "CT2", "CT3", "CT4"),
                        help="the test set's COVID-19 CT-band mix (default: the benchmark's)")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed: initialisation, sampling, validation split (default 0)")
    parser.add_argument("--seeds", type=int, nargs="+", metavar="S",
                        help="several training seeds side by side (reference_models.seed_runs; work folder "
                             "var/reference-benchmark-seeds by default, one seed-S folder each), then their "
                             "mean ± std")
    parser.add_argument("--jobs", type=int, default=2,
                        help="with --seeds: networks trained at once, one process each (default 2)")
    parser.add_argument("--combine", type=Path, nargs="+", metavar="WORK",
                        help="print mean ± std over finished runs (a work folder's results.json, or such a file, "
                             "e.g. docs/reference-table/seed-0.json) instead of running")
    parser.add_argument("--update", type=Path, nargs="+", metavar="RECORD",
                        help="recorded results documents to rewrite with --methods' scores from the --from runs "
                             "(reference_models.benchmark.update_record)")
    parser.add_argument("--from", dest="update_from", type=Path, nargs="+", metavar="WORK",
                        help="with --update: finished runs (work folders or results.json), matched by seed")
    args = parser.parse_args(argv)
    if args.update or args.update_from:
        return _update(parser, args)
    args.methods = args.methods or list(TABLE_METHODS)
    if args.combine:
        documents = [_document(w) for w in args.combine]
        missing = [str(w) for w, d in zip(args.combine, documents, strict=True) if not d.is_file()]
        if missing:
            parser.error(f"no results.json in {', '.join(missing)}")
        try:
            print(combined_table([json.loads(d.read_text()) for d in documents]))
        except ValueError as error:
            parser.error(str(error))
        return 0
    torch.set_num_threads(args.threads)
    default_work = "reference-benchmark-fast" if args.fast else "reference-benchmark"
    if args.seeds:
        default_work += "-seeds"
    work = args.work or Path("var") / (default_work + (f"-seed{args.seed}" if args.seed and not args.seeds else ""))
    if args.retrain and (work / "weights").exists():
        shutil.rmtree(work / "weights")
    settings = FAST_SETTINGS if args.fast else BenchmarkSettings()
    steps = {name: max(1, round(n * args.steps_multiplier)) for name, n in settings.steps.items()}
    for item in args.steps:
        name, _, value = item.partition("=")
        if name not in steps or not value.isdigit() or int(value) < 1:
            parser.error(f"--steps wants NAME=N with NAME one of {', '.join(steps)} and N ≥ 1, got {item!r}")
        steps[name] = int(value)
    settings = dataclasses.replace(settings, scale=args.scale, seed=args.seed, steps=steps)
    if args.test_covid_bands:
        settings = dataclasses.replace(settings, test_covid_bands=tuple(args.test_covid_bands))
    started = time.perf_counter()
    if args.seeds:
        if args.retrain:
            for folder in work.glob("seed-*/weights"):
                shutil.rmtree(folder)
        try:
            runs = run_seeds(work, settings=settings, seeds=args.seeds, methods=args.methods, jobs=args.jobs,
                             threads=args.threads, device=str(resolve_device(args.device)),
                             progress=not args.quiet)
        except ValueError as error:
            parser.error(str(error))
        table = combined_table(runs)
        (work / "table.md").write_text(table + "\n")
        print(table)
        print(f"done in {time.perf_counter() - started:.0f} s; results in {work}/seed-*/results.json, "
              f"table in {work / 'table.md'}")
        return 0
    results = run_benchmark(work, settings=settings, methods=args.methods, device=resolve_device(args.device),
                            progress=not args.quiet)
    print(markdown_table(results))
    print("\ntimings: " + ", ".join(f"{k} {v:.0f}" for k, v in results["timings"].items()))
    print(f"done in {time.perf_counter() - started:.0f} s; results in {work / 'results.json'}, "
          f"table in {work / 'table.md'}")
    return 0


def _document(path: Path) -> Path:
    """A results document given as itself or as its work folder."""
    return path if path.is_file() else path / "results.json"


def _update(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if not (args.update and args.update_from and args.methods):
        parser.error("--update needs --from and --methods (the methods to replace)")
    missing = [str(p) for p in [*args.update, *args.update_from] if not _document(p).is_file()]
    if missing:
        parser.error(f"no results document at {', '.join(missing)}")
    runs: dict[int, tuple[Path, dict[str, Any]]] = {}
    for path in args.update_from:
        run = json.loads(_document(path).read_text())
        seed = int(run["settings"]["seed"])
        if seed in runs:
            parser.error(f"two runs of seed {seed}: {runs[seed][0]} and {path}")
        runs[seed] = path, run
    updated, problems = {}, []
    for record_path in args.update:
        record = json.loads(_document(record_path).read_text())
        seed = int(record["settings"]["seed"])
        if seed not in runs:
            problems.append(f"{record_path}: no run of seed {seed} among --from")
            continue
        run_path, run = runs[seed]
        try:
            updated[record_path] = update_record(record, run, methods=args.methods)
        except ValueError as error:
            problems.append(f"{record_path} from {run_path}: {error}")
    if problems:
        parser.error("nothing written:\n" + "\n".join(problems))
    for record_path, document in updated.items():
        _document(record_path).write_text(json.dumps(document, indent=2, default=str) + "\n")
        print(f"updated {', '.join(args.methods)} in {record_path}")
    print(combined_table(list(updated.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
