"""Who the patients of a phantom set are, as far as their lungs' background shows it.

The group (COVID-19, bacterial pneumonia, nodules, normal) says what the finding is; the cohort says who the
patient is. Mosmed-Test (paper Sec. 3.5) mixes three cohorts, none of them the training sets':

- inpatients of an infectious-diseases hospital (the 32 COVID-19 cases and 5 of the 31 normal controls);
- inpatients with community-acquired bacterial pneumonia (2019);
- a screening study of patients over 50 (Morozov et al. 2020c): the 30 nodule cases, and 26 normal controls
  selected for having no nodule over 5 mm and no other lung pathology (so fewer chronic changes).

Older patients more often carry chronic background changes (``pathology.chronic_changes``: reticulation,
atelectasis, -600..-50 HU) and denser dependent lung (``anatomy.Anatomy.dependent``); both fall into
thresholding's window without being COVID-19, which is why thresholding is a weak identifier on real data.

``Cohort.GROUP`` keeps each group's own background (:data:`GROUP_BACKGROUND`): the training sets and every
phantom made without naming a cohort. Every set that ``testset.plan_testset`` plans (test sets, the public sample
set, the authors' layout) gives its cases their Mosmed-Test cohorts (:func:`testset_cohort`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from evaluator.groups import Group


class Cohort(StrEnum):
    GROUP = "group"  # the group's own background
    SCREENING_OVER_50 = "screening-over-50"
    SCREENING_CONTROLS = "screening-controls"  # the same study, selected for no other lung pathology
    PNEUMONIA_INPATIENTS = "pneumonia-inpatients"


@dataclass(frozen=True, slots=True)
class Background:
    """``chronic_prevalence``: share of patients with chronic changes; ``chronic_most``: their largest ``amount``
    (drawn from 0.3 up to it); ``dependent_exponent``: the posterior subpleural band's HU is its largest value
    times ``u ** exponent``, u uniform in [0, 1] (smaller: denser dependent lung more often)."""

    chronic_prevalence: float
    chronic_most: float
    dependent_exponent: float = 1.5


#: Each group's own background. The nodule group stands for NSCLC patients, older than the others.
GROUP_BACKGROUND = {
    Group.COVID: Background(0.2, 1.0),
    Group.BACTERIAL_PNEUMONIA: Background(0.3, 1.0),
    Group.NODULES: Background(0.9, 1.8),
    Group.NORMAL: Background(0.4, 1.0),
}

COHORT_BACKGROUND = {
    Cohort.SCREENING_OVER_50: Background(0.95, 3.0, dependent_exponent=0.7),
    Cohort.PNEUMONIA_INPATIENTS: Background(0.8, 2.0, dependent_exponent=0.7),
    Cohort.SCREENING_CONTROLS: Background(0.6, 1.5, dependent_exponent=0.7),
}

#: Mosmed-Test's normal controls: 5 of 31 from the COVID-19 inpatients (no radiological signs), 26 from screening.
NORMAL_SCREENING_SHARE = 26 / 31


def background(group: Group, cohort: Cohort) -> Background:
    """The background of a ``group`` phantom from ``cohort``."""
    return GROUP_BACKGROUND[group] if cohort is Cohort.GROUP else COHORT_BACKGROUND[cohort]


def testset_cohort(group: Group, *, normal_index: int, normal_count: int) -> Cohort:
    """The cohort of a Mosmed-Test case: COVID-19 from the hospital's inpatients (their group's background),
    pneumonia from its inpatients, nodules from screening, normals mostly screening controls; the first
    ``round((1 - NORMAL_SCREENING_SHARE) × normal_count)`` normals (``normal_index`` counts them in id order)
    from the COVID-19 hospital."""
    if group is Group.COVID:
        return Cohort.GROUP
    if group is Group.BACTERIAL_PNEUMONIA:
        return Cohort.PNEUMONIA_INPATIENTS
    if group is Group.NODULES:
        return Cohort.SCREENING_OVER_50
    hospital = round((1.0 - NORMAL_SCREENING_SHARE) * normal_count)
    return Cohort.GROUP if normal_index < hospital else Cohort.SCREENING_CONTROLS
