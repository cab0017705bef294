"""Container entrypoint: predict every case of ``/input`` and write ``/output`` (the container contract).

Input: ``INPUT/cases.csv`` (column ``case_id``) and ``INPUT/<case_id>.nii.gz`` (CT in HU). Output:
``OUTPUT/predictions.csv`` (``case_id`` and the method's score columns) and, for methods that segment lesions,
``OUTPUT/masks/<case_id>.nii.gz`` (binary uint8 on the case image's grid, with its affine). Exit status 0 when
every case was written; 2 with a message on stderr otherwise (nothing half-written is left as
``predictions.csv``). No network access is needed: the weights are inside the image, under ``WEIGHTS/<method>/``
and ``WEIGHTS/lungs/`` (``best.pt`` each).

    python -m reference_models.container.entrypoint --method multitask_spatial1 --weights /opt/weights \\
        --input /input --output /output

``--method`` defaults to the ``METHOD`` environment variable (set by the Dockerfile).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from reference_models.pipeline import cases_in_folder, load_method, output_columns, predict_cases
from reference_models.registry import METHODS
from reference_models.training.loop import resolve_device


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference_models.container.entrypoint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default=os.environ.get("METHOD"), choices=[m for m in METHODS if m != "lungs"])
    parser.add_argument("--weights", type=Path, default=Path(os.environ.get("WEIGHTS", "/opt/weights")))
    parser.add_argument("--input", type=Path, default=Path("/input"))
    parser.add_argument("--output", type=Path, default=Path("/output"))
    parser.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.method is None:
        print("error: no method (--method or the METHOD environment variable)", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    try:
        device = resolve_device(args.device)
        method_dir = args.weights / args.method
        weights = load_method(args.method, method_dir if method_dir.exists() else None, device=device)
        lungs = load_method("lungs", args.weights / "lungs", device=device)
        cases = cases_in_folder(args.input)
        args.output.mkdir(parents=True, exist_ok=True)
        predict_cases(weights, cases, args.output, lungs=lungs)
    except (FileNotFoundError, ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    columns, masks = output_columns(args.method)
    print(f"{args.method}: {len(cases)} cases in {time.perf_counter() - started:.1f} s on {device} "
          f"(columns: {', '.join(columns) or 'none'}{'; masks' if masks else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
