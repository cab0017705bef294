#!/usr/bin/env python
"""Benchmark of the triage impact (evaluator/worklist.py): the worklist simulation the worker runs once per evaluation.

    python scripts/bench_triage_impact.py [--repeats 3] [--days 1000] [--resamples 100] [--days-per-resample 10]

Mosmed-Test's composition (32 COVID-19, 31 normal, 30 bacterial pneumonia, 30 nodules = 123 cases) with
synthetic true severities, and three entries: perfect (true labels and severities), noisy (probability and
severity with noise) and probability-only (no severity, as ResNet50). Each is timed end to end
(``triage_impact``: the simulated days for the values plus, per resample, the paired days of the original and
the resampled cases for the intervals) with the
default worklist parameters, in this process; the best wall-clock and CPU time of ``--repeats`` runs are
reported with the triage gain, so the numbers can be quoted in docs/benchmarks.md (CPU time is the cost when the
machine is shared). Target: ≤ 5 s for 1,000 simulated days.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluator.worklist import SimulationSize, WorklistParameters, triage_impact  # noqa: E402

COMPOSITION = {"covid": 32, "normal": 31, "bacterial_pneumonia": 30, "nodules": 30}


def entries(rng: np.random.Generator, groups: list[str], truth: np.ndarray) -> dict:
    covid = np.array([g == "covid" for g in groups])
    noisy_probability = np.clip(0.25 + 0.5 * covid + rng.normal(0, 0.2, covid.size), 0, 1)
    noisy_severity = np.clip(truth + rng.normal(0, 0.05, covid.size), 0, 1)
    return {
        "perfect": (covid * 1.0, truth),
        "noisy": (noisy_probability, noisy_severity),
        "probability-only": (noisy_probability, None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--days", type=int, default=SimulationSize().days)
    parser.add_argument("--resamples", type=int, default=SimulationSize().resamples)
    parser.add_argument("--days-per-resample", type=int, default=SimulationSize().days_per_resample)
    args = parser.parse_args()
    size = SimulationSize(days=args.days, resamples=args.resamples, days_per_resample=args.days_per_resample)
    parameters = WorklistParameters()
    rng = np.random.default_rng(0)
    groups = [group for group, n in COMPOSITION.items() for _ in range(n)]
    truth = np.where([g == "covid" for g in groups], rng.beta(2, 5, len(groups)), 0.0)
    print(f"# {platform.python_version()} on {platform.machine()}, {len(groups)} cases, parameters "
          f"{parameters.to_dict()} (utilisation {parameters.utilisation:.0%}), {size.days} days for the values + "
          f"{size.resamples} × {size.days_per_resample} days × 2 (paired) for the intervals")
    print(f"{'entry':<18} {'best s':>7} {'CPU s':>6} {'all runs (s)':<22} {'studies':>8} "
          f"{'triage gain, min (95% interval)':>34} {'sim. SE':>8}")
    for name, (scores, severity) in entries(rng, groups, truth).items():
        runs, cpu = [], []
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            document = triage_impact(groups=groups, true_severity=truth.tolist(), scores=scores, severity=severity,
                                     threshold=0.5, parameters=parameters, size=size)
            runs.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        gain = document["measures"]["triage_gain"]
        interval = document["intervals"]["triage_gain"]
        print(f"{name:<18} {min(runs):7.2f} {min(cpu):6.2f} {', '.join(f'{r:.2f}' for r in runs):<22} "
              f"{document['simulation']['studies']:>8} {gain:>12.1f} ({interval['low']:.1f} to {interval['high']:.1f})"
              f"{document['simulation']['triage_gain_standard_error']:>14.2f}")


if __name__ == "__main__":
    main()
