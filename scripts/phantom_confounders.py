#!/usr/bin/env python
"""How hard the phantom test set is for the simplest baselines: ROC-AUC of COVID-19 vs each group.

    OMP_NUM_THREADS=1 python scripts/phantom_confounders.py [--seed 0] [--counts covid=32,...] [--shape 64 64 32]
                                                            [--covid-bands inpatient] [--without-cohorts]

Two scores per case, neither trained on anything:

- ``thresholding``: the severity predicted by the paper's threshold baseline (``reference_models.thresholding``,
  HU in [-700, 300], blur σ = 4 voxels, small components removed), on the phantom's own lung mask;
- ``ggo-share``: the share of lung voxels with -750 ≤ HU ≤ -300 (ground-glass density), no blur.

It prints each score's ROC-AUC COVID-19 vs all / normal / bacterial pneumonia / nodules, and Spearman's ρ of the
thresholding severity within COVID-19 (Table 2's first row reads .51 / .68 / .46 / .45, ρ .92). The cases are those
of ``write_testset`` with the same arguments (made in memory, not written), each in its Mosmed-Test cohort
(``evaluator/phantoms/cohorts.py``) unless ``--without-cohorts`` gives every case its group's own background.
``--covid-bands inpatient`` draws the COVID-19 severities from the benchmark's inpatient CT-band mix. A quick
check, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator.groups import Group  # noqa: E402
from evaluator.metrics.correlation import spearman_rho  # noqa: E402
from evaluator.metrics.roc import roc_auc  # noqa: E402
from evaluator.phantoms import MOSMED_TEST_COUNTS, generate_case, plan_testset  # noqa: E402
from evaluator.phantoms.cohorts import Cohort  # noqa: E402
from evaluator.phantoms.generate import DEFAULT_SHAPE, DEFAULT_SPACING  # noqa: E402
from evaluator.phantoms.pathology import INPATIENT_BANDS  # noqa: E402
from evaluator.phantoms.protocols import scan_geometry  # noqa: E402


def _counts(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (item.split("=") for item in text.split(","))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--counts", type=_counts, default={g.value: n for g, n in MOSMED_TEST_COUNTS.items()})
    parser.add_argument("--shape", type=int, nargs=3, default=DEFAULT_SHAPE)
    parser.add_argument("--spacing", type=float, nargs=3, default=DEFAULT_SPACING)
    parser.add_argument("--fixed-spacing", action="store_true", help="every case on the nominal grid")
    parser.add_argument("--covid-bands", choices=("population", "inpatient"), default="population",
                        help="the COVID-19 cases' CT-band mix (the reference table uses inpatient)")
    parser.add_argument("--without-cohorts", action="store_true",
                        help="every case with its group's own background, as before generator 4")
    args = parser.parse_args()
    from reference_models.thresholding import predict_thresholding

    started = time.perf_counter()
    groups, thresholded, ggo, truth = [], [], [], []
    bands = INPATIENT_BANDS if args.covid_bands == "inpatient" else None
    for case in plan_testset(counts=args.counts, seed=args.seed, covid_bands=bands):
        shape, spacing = tuple(args.shape), tuple(args.spacing)
        if not args.fixed_spacing:
            shape, spacing = scan_geometry(shape, spacing, seed=case.seed)
        p = generate_case(case.group, shape=shape, spacing=spacing, seed=case.seed, n_raters=case.n_raters,
                          severity=case.severity, cohort=Cohort.GROUP if args.without_cohorts else case.cohort)
        lung = p.lungs > 0
        groups.append(case.group)
        thresholded.append(predict_thresholding(p.image, p.spacing, lungs=p.lungs).severity)
        ggo.append(float(((p.image >= -750) & (p.image <= -300) & lung).sum() / max(lung.sum(), 1)))
        truth.append(p.severity)
    groups_a = np.array([g.value for g in groups])
    covid = groups_a == Group.COVID.value
    print(f"{len(groups)} cases (seed {args.seed}) in {time.perf_counter() - started:.1f} s")
    for name, values in (("thresholding", thresholded), ("ggo-share", ggo)):
        scores = np.asarray(values)
        cells = []
        for other in ("all", Group.NORMAL.value, Group.BACTERIAL_PNEUMONIA.value, Group.NODULES.value):
            keep = covid | (~covid if other == "all" else groups_a == other)
            cells.append(f"vs {other} {roc_auc(covid[keep], scores[keep]):.2f}")
        means = ", ".join(f"{g.value} {np.median(scores[groups_a == g.value]):.3f}" for g in Group)
        print(f"{name:13s} " + " | ".join(cells) + f"   (medians: {means})")
    rho = spearman_rho(np.asarray(truth)[covid], np.asarray(thresholded)[covid])
    print(f"thresholding Spearman rho within COVID-19: {rho:.2f}")
    true = np.asarray(truth)[covid]
    print(f"COVID-19 true severity: median {np.median(true):.3f}, CT-1 (< 0.25) {np.mean(true < 0.25):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
