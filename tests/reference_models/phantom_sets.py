"""Tiny phantom datasets in the real layouts, shared by the training / CLI / container tests (written once per
session under a pytest temporary folder)."""

from __future__ import annotations

from pathlib import Path

from evaluator.groups import Group
from evaluator.phantoms import write_covid_ct_seg, write_medseg, write_mosmed, write_testset
from reference_models.provision import write_nsclc_standin

SHAPE = (32, 32, 13)
SPACING = (4.75, 4.75, 8.0)
"""152 × 152 × 104 mm (the phantoms' smallest field of view): 76 × 76 pixels at the networks' 2 mm."""


def write_all(root: Path) -> dict[str, Path]:
    """MosMed (2 negatives, 3 positives, 2 masks), MedSeg (2), COVID-19-CT-Seg (1 + 1), NSCLC stand-in (2) and a
    test set with two cases per group."""
    common = {"shape": SHAPE, "spacing": SPACING}
    paths = {name: root / name for name in ("mosmed", "medseg", "covid-ct-seg", "nsclc", "testset")}
    write_mosmed(paths["mosmed"], per_category={"CT-0": 2, "CT-1": 2, "CT-2": 1}, n_masks=2, seed=3, **common)
    write_medseg(paths["medseg"], n=2, seed=3, **common)
    write_covid_ct_seg(paths["covid-ct-seg"], n_coronacases=1, n_radiopaedia=1, seed=3, **common)
    write_nsclc_standin(paths["nsclc"], n=2, seed=3, **common)
    write_testset(paths["testset"], counts={g: 2 for g in Group}, seed=7, private_groups=(), **common)
    return paths


def specs(paths: dict[str, Path]) -> list[str]:
    return [f"mosmed:{paths['mosmed']}", f"medseg:{paths['medseg']}", f"covid-ct-seg:{paths['covid-ct-seg']}",
            f"nifti-negative:{paths['nsclc']}"]
