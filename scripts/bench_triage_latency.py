#!/usr/bin/env python
"""Per-study latency of the triage pipeline: preprocessing + lung segmentation + Multitask-Spatial-1.

Paper-size networks with untrained weights (their cost does not depend on the weights) on a synthetic
512 × 512 × ~400 chest phantom (evaluator.phantoms). Stages, each timed separately:

  read        the NIfTI file (gzip) into HU, standard orientation   (--no-io: read once, untimed)
  lung_net    preprocessing (2 mm, window) + lung U-Net over all slices + resizing back + threshold
  lung_split  k-means (k = 2) left/right split of the lung mask
  multitask   preprocessing (crop to the lungs) + Multitask-Spatial-1 (segmentation + classification)
              + resizing back + severity

An untrained lung network predicts an arbitrary mask, which would make the k-means split and the crop (and so
the multitask stage) unrepresentative; by default (--lungs phantom) the split and everything after it use the
phantom's true lung mask, as a trained network would give, while the lung network still runs in full.
--lungs network uses the untrained network's own mask instead.

Resampling, restoring to the original grid, thresholding, the voxel-wise part of the split and the severity run on
--device (the networks' device); the k-means fit runs on the host. Slices go through the networks --slice-batch
at a time, so memory stays bounded for long series. Prints each
run's timings, the median over --repeats, the peak resident memory of this process (the phantom and its copies
included) and, on CUDA, the peak GPU memory.

    python scripts/bench_triage_latency.py --repeats 3                    # CPU, 1 thread
    python scripts/bench_triage_latency.py --device cuda --repeats 5
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluator.phantoms import generate_case, write_nifti  # noqa: E402
from reference_models.inference import evaluating, predict_slicewise  # noqa: E402
from reference_models.networks.lungs import LUNG_THRESHOLD, split_lungs  # noqa: E402
from reference_models.pipeline import load_case  # noqa: E402
from reference_models.preprocessing import preprocess, restore_mask  # noqa: E402
from reference_models.registry import METHODS  # noqa: E402


def _peak_rss_mib() -> float:
    """This process's peak resident memory (since the last :func:`_reset_peak_rss`, where Linux allows it)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ``clear_refs`` 5); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _write_phantom(folder: str, shape: tuple[int, ...], spacing: tuple[float, ...]) -> None:
    """Generate the phantom in a child process, so its memory does not count in the pipeline's peak."""
    phantom = generate_case("covid", shape=tuple(shape), spacing=tuple(spacing), seed=0)
    write_nifti(Path(folder) / "study.nii.gz", phantom.image, phantom.affine)
    write_nifti(Path(folder) / "lungs.nii.gz", phantom.lungs, phantom.affine)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=int, nargs=3, default=[512, 512, 400], metavar=("X", "Y", "Z"))
    parser.add_argument("--spacing", type=float, nargs=3, default=[0.7, 0.7, 0.8], metavar=("SX", "SY", "SZ"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs (the first one also warms up)")
    parser.add_argument("--slice-batch", type=int, default=16, help="slices per network call")
    parser.add_argument("--no-io", action="store_true", help="read the study once, outside the timed runs")
    parser.add_argument("--lungs", choices=["phantom", "network"], default="phantom",
                        help="which lung mask the split and the multitask stage use (see above)")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    torch.manual_seed(0)
    lung_net = METHODS["lungs"].build_model().to(device).eval()
    multitask = METHODS["multitask_spatial1"].build_model().to(device).eval()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(
            target=_write_phantom, args=(tmp, tuple(args.shape), tuple(args.spacing)))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit("generating the phantom failed")
        print(f"phantom {tuple(args.shape)} at {tuple(args.spacing)} mm written in "
              f"{time.perf_counter() - started:.1f} s")
        path = Path(tmp) / "study.nii.gz"
        true_lungs = load_case(Path(tmp) / "lungs.nii.gz").volume.array > 0
        cached = load_case(path) if args.no_io else None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for run in range(args.repeats):
            timings = {}
            peak_reset = _reset_peak_rss()
            t0 = time.perf_counter()
            case = cached if cached is not None else load_case(path)
            image, spacing = case.volume.array, case.volume.spacing
            timings["read"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            prepared = preprocess(image, spacing, device=device)
            with evaluating(lung_net):
                probabilities = predict_slicewise(lung_net, prepared.image, device=device,
                                                  slice_batch=args.slice_batch)
            mask = restore_mask(probabilities, prepared.geometry, threshold=LUNG_THRESHOLD, device=device)
            del probabilities, prepared
            _sync(device)
            timings["lung_net"] = time.perf_counter() - t1
            if args.lungs == "phantom":
                mask = true_lungs
            t2 = time.perf_counter()
            lungs = split_lungs(mask, spacing=spacing, device=device)
            _sync(device)
            timings["lung_split"] = time.perf_counter() - t2
            t3 = time.perf_counter()
            prediction = METHODS["multitask_spatial1"].predict(multitask, image, spacing, lungs=lungs,
                                                                slice_batch=args.slice_batch)
            _sync(device)
            timings["multitask"] = time.perf_counter() - t3
            timings["total"] = time.perf_counter() - t0
            timings["total_without_read"] = timings["total"] - timings["read"]
            timings["peak_rss_mib"] = round(_peak_rss_mib(), 1) if peak_reset or run == 0 else None
            runs.append(timings)
            print(f"run {run + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items() if k != "peak_rss_mib")
                  + f"; peak RSS {timings['peak_rss_mib']} MiB"
                  + f" (probability {prediction.probability:.3f}, severity {prediction.severity:.3f})")
            del case, image, lungs, mask, prediction
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "peak_rss_mib"}
    report = {
        "lungs": args.lungs,
        "shape": args.shape, "spacing": args.spacing, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": args.threads, "slice_batch": args.slice_batch, "runs": runs, "median": median,
        "peak_rss_mib": max((r["peak_rss_mib"] for r in runs if r["peak_rss_mib"] is not None), default=None),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None,
        "torch": torch.__version__,
    }
    print("median: " + ", ".join(f"{k} {v:.2f} s" for k, v in median.items()))
    print(f"peak RSS of the pipeline (model weights and the loaded study included) {report['peak_rss_mib']} MiB"
          + (f", peak GPU memory {report['peak_gpu_mib']} MiB"
                                                     if report["peak_gpu_mib"] is not None else ""))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
