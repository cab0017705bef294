#!/usr/bin/env python
"""Benchmark of the board ranking statistics (issue 14): one board revision as the worker computes it.

    OMP_NUM_THREADS=1 python scripts/bench_ranking.py [--entries 100] [--resamples 2000] [--repeat 2]

The board: a Mosmed-Test-shaped test set (123 cases: 32 COVID-19 / 30 bacterial pneumonia / 30 nodules /
31 normal, every case released) and ``--entries`` synthetic entries of varying quality with identification
scores, predicted severity and per-case Dice (every seventh entry without severity, every fifth without masks,
so N/A paths run too). Each repeat times :func:`evaluator.ranking.board_statistics` plus ``to_json`` in this
process after a small warm-up (imports done, as in a worker), and checks that the JSON is byte-identical
across repeats. Prints one JSON line per repeat and a summary; target: ≤ 30 s of worker time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluator.groups import Group  # noqa: E402
from evaluator.ranking import EntryPredictions, board_statistics  # noqa: E402

COMPOSITION = {Group.COVID: 32, Group.BACTERIAL_PNEUMONIA: 30, Group.NODULES: 30, Group.NORMAL: 31}


def synthetic_board(n_entries: int, *, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.array([g for g, n in COMPOSITION.items() for _ in range(n)], dtype=object))
    covid = groups == Group.COVID
    true = np.where(covid, rng.beta(1.2, 5.0, groups.size), np.nan)
    entries = []
    for e in range(n_entries):
        effect, noise, dice = rng.uniform(0.5, 3.0), rng.uniform(0.02, 0.2), rng.uniform(0.5, 0.9)
        entries.append(EntryPredictions(
            key=f"evaluation-{e}",
            scores=np.round(1 / (1 + np.exp(-(rng.normal(size=groups.size) + effect * covid))), 3),
            pred_severity=None if e % 7 == 3 else np.where(
                covid, np.clip(true + rng.normal(0, noise, groups.size), 0, 1), np.nan),
            case_dice=None if e % 5 == 2 else np.where(
                covid, np.clip(rng.normal(dice, 0.12, groups.size), 0, 1), np.nan),
        ))
    return {"groups": groups, "true_severity": true, "entries": entries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    board = synthetic_board(args.entries)
    cases = np.arange(board["groups"].size)
    small = dict(board, entries=board["entries"][:3])
    board_statistics(**small, cases=cases, n_resamples=50)  # warm-up: lazy imports, caches
    digests, seconds = set(), []
    for repeat in range(args.repeat):
        start_cpu, start = time.process_time(), time.perf_counter()
        document = board_statistics(**board, cases=cases, n_resamples=args.resamples).to_json()
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        seconds.append(wall)
        digests.add(hashlib.sha256(document.encode()).hexdigest())
        print(json.dumps({"repeat": repeat + 1, "entries": args.entries, "resamples": args.resamples,
                          "cases": int(cases.size), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                          "json_bytes": len(document),
                          "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
    print(f"best {min(seconds):.2f} s, worst {max(seconds):.2f} s (target <= 30 s); "
          f"JSON identical across repeats: {len(digests) == 1}")
    if len(digests) != 1:
        raise SystemExit("the JSON differed between repeats")


if __name__ == "__main__":
    main()
