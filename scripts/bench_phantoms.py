#!/usr/bin/env python
"""Benchmark of the phantom generator: one small COVID-19 case (two raters), and the whole default test set.

    OMP_NUM_THREADS=1 python scripts/bench_phantoms.py [--repeats 5] [--shape 64 64 32] [--spacing 5.5 5.5 8.0]
    OMP_NUM_THREADS=1 python scripts/bench_phantoms.py --testset [--workers 1]

Targets (docs/phantoms.md, "Timings measured"; docs/benchmarks.md): a median under 0.1 s for the 64×64×32 case the
unit tests build by the dozen, and the default test set (``python -m evaluator.phantoms testset``: 123 cases of
64×64×32 nominal voxels, each series on its own grid of 1–8 mm slices) written in at most 20 s on the 2-core
development machine. Both were timed tests once, which failed on a loaded machine; they are measured here instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator.phantoms import generate_case, write_testset  # noqa: E402


def bench_case(shape: tuple[int, int, int], spacing: tuple[float, float, float], repeats: int) -> None:
    size = {"shape": shape, "spacing": spacing}
    generate_case("covid", seed=0, **size)  # warm up imports and caches
    timings = []
    for seed in range(repeats):
        started = time.perf_counter()
        generate_case("covid", seed=seed, n_raters=2, **size)
        timings.append(time.perf_counter() - started)
    print(f"covid case {shape}, 2 raters: median {statistics.median(timings) * 1000:.0f} ms over "
          f"{repeats} (min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f})")


def bench_testset(workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-phantoms-") as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        cases = write_testset(Path(tmp) / "testset", workers=workers)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    note = "" if workers == 1 else " (CPU time of the parent process only)"
    print(f"default test set ({len(cases)} cases, {size / 1e6:.1f} MB, {workers} worker(s)): wall {wall:.1f} s, "
          f"CPU {cpu:.1f} s{note}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 64, 32))
    parser.add_argument("--spacing", type=float, nargs=3, default=(5.5, 5.5, 8.0))
    parser.add_argument("--testset", action="store_true", help="time writing the default test set instead")
    parser.add_argument("--workers", type=int, default=1, help="processes for --testset (default 1)")
    args = parser.parse_args()
    if args.testset:
        bench_testset(args.workers)
    else:
        bench_case(tuple(args.shape), tuple(args.spacing), args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
