"""Deterministic synthetic chest-CT phantoms and the dataset layouts built from them.

No real CT can be downloaded here, so tests, the demo site and the reference models use these
phantoms: anatomy with lungs, vessels, airways, mediastinum and bones, plus COVID-19 opacities,
bacterial pneumonia or nodules, on scan grids and kernels that vary between series. See ``docs/phantoms.md``.
"""

from evaluator.phantoms.datasets import write_covid_ct_seg, write_medseg, write_mosmed
from evaluator.phantoms.generate import DEFAULT_SHAPE, DEFAULT_SPACING, GENERATOR_VERSION, Phantom, generate_case
from evaluator.phantoms.nifti import nifti_bytes, write_nifti
from evaluator.phantoms.pathology import CT_BANDS, draw_severity
from evaluator.phantoms.testset import (
    MOSMED_TEST_COUNTS,
    PlannedCase,
    plan_testset,
    write_authors_layout,
    write_sample,
    write_testset,
)

__all__ = [
    "CT_BANDS",
    "DEFAULT_SHAPE",
    "DEFAULT_SPACING",
    "GENERATOR_VERSION",
    "MOSMED_TEST_COUNTS",
    "Phantom",
    "PlannedCase",
    "draw_severity",
    "generate_case",
    "nifti_bytes",
    "plan_testset",
    "write_authors_layout",
    "write_covid_ct_seg",
    "write_medseg",
    "write_mosmed",
    "write_nifti",
    "write_sample",
    "write_testset",
]
