#!/usr/bin/env python
"""Benchmark of the phantom generator: the median time of one small COVID-19 case (two raters).

    OMP_NUM_THREADS=1 python scripts/bench_phantoms.py [--repeats 5] [--shape 64 64 32] [--spacing 5.5 5.5 8.0]

The target is a median under 0.1 s for the 64×64×32 case the unit tests build by the dozen (docs/phantoms.md,
"Timings measured"); it was a timed unit test, which failed on a loaded machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator.phantoms import generate_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 64, 32))
    parser.add_argument("--spacing", type=float, nargs=3, default=(5.5, 5.5, 8.0))
    args = parser.parse_args()
    size = {"shape": tuple(args.shape), "spacing": tuple(args.spacing)}
    generate_case("covid", seed=0, **size)  # warm up imports and caches
    timings = []
    for seed in range(args.repeats):
        started = time.perf_counter()
        generate_case("covid", seed=seed, n_raters=2, **size)
        timings.append(time.perf_counter() - started)
    print(f"covid case {args.shape}, 2 raters: median {statistics.median(timings) * 1000:.0f} ms over "
          f"{args.repeats} (min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
