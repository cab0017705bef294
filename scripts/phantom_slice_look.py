#!/usr/bin/env python
"""How thin and thick slices of the same normal phantom look: dense voxels inside the lungs per slice geometry.

    OMP_NUM_THREADS=1 python scripts/phantom_slice_look.py [--seeds 12]

For seeds 0..N-1, a normal phantom on the default in-plane grid (64 × 64 pixels of 5.5 mm, 256 mm along z) is made
with contiguous slices of 8, 3 and 1 mm, and as the MosMed writer makes it (0.8 mm slices, every 10th kept:
thin slices 8 mm apart). It prints, averaged over the seeds, the 99th percentile and the standard deviation of HU in
the lungs (eroded by one voxel) and the number of slices. Vessels and airway walls are partial-volumed over the
geometric mean of the voxel's sides, so thick slices show them fainter than thin ones. A quick check, not a test.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator.phantoms import generate_case  # noqa: E402
from evaluator.phantoms.datasets import MOSMED_SLICE_STEP  # noqa: E402

GEOMETRIES = (("contiguous 8 mm", 8.0, 1), ("contiguous 3 mm", 3.0, 1), ("contiguous 1 mm", 1.0, 1),
              ("MosMed: 0.8 mm, every 10th", 8.0 / MOSMED_SLICE_STEP, MOSMED_SLICE_STEP))
"""(name, slice spacing of the generated series in mm, keep every k-th slice)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=12, help="phantom seeds 0..N-1 (default 12)")
    args = parser.parse_args()
    print("| slices | 99th percentile of lung HU | std of lung HU | slices |\n|---|---:|---:|---:|")
    for name, dz, step in GEOMETRIES:
        rows = []
        for seed in range(args.seeds):
            phantom = generate_case("normal", shape=(64, 64, math.ceil(256 / dz)), spacing=(5.5, 5.5, dz), seed=seed)
            kept = (slice(None), slice(None), slice(seed % step, None, step))
            image, lungs = phantom.image[kept], phantom.lungs[kept]
            hu = image[ndimage.binary_erosion(lungs > 0)].astype(np.float64)
            rows.append((np.percentile(hu, 99), hu.std(), image.shape[2]))
        p99, std, n = np.mean(rows, axis=0)
        print(f"| {name} | {p99:.0f} | {std:.0f} | {n:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
