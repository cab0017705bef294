"""Thresholding has no training; the paper chose its four parameters by a grid search (Sec. 2.2).

:func:`grid_search_thresholding` repeats that search: the mean Dice between the thresholding lesions and the
annotated lesions over training series, for every combination of ``HU_min``, ``HU_max``, ``σ`` and ``V_min``
(on the common 2 mm grid cropped to the lungs, in HU, exactly as :func:`predict_thresholding` works). The paper's
values (−700, 300, 4, 0.1 %) are the default result when no search is run; the default grid contains them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from reference_models.thresholding import HU_MAX, HU_MIN, MIN_COMPONENT_FRACTION, SIGMA, threshold_lesions
from reference_models.training.objectives import dice
from reference_models.training.prepare import PreparedSeries

PAPER_PARAMETERS = {"hu_min": HU_MIN, "hu_max": HU_MAX, "sigma": SIGMA,
                    "min_component_fraction": MIN_COMPONENT_FRACTION}
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "hu_min": (-800.0, -700.0, -600.0),
    "hu_max": (0.0, 300.0),
    "sigma": (2.0, 4.0, 6.0),
    "min_component_fraction": (0.0005, 0.001, 0.005),
}


@dataclass(frozen=True)
class GridResult:
    parameters: dict[str, float]
    mean_dice: float
    table: list[dict[str, float]]
    """Every combination with its mean Dice, best first."""


def grid_search_thresholding(
    items: Sequence[PreparedSeries], *, grid: dict[str, Sequence[float]] | None = None, progress: bool = False
) -> GridResult:
    """Best thresholding parameters by mean training Dice over ``items`` (prepared with ``purpose="hu"``)."""
    grid = dict(grid or DEFAULT_GRID)
    usable = [item for item in items if item.target is not None and item.lungs is not None]
    if not usable:
        raise ValueError("the grid search needs series with lesion masks")
    names = list(PAPER_PARAMETERS)
    combos = list(itertools.product(*(grid.get(name, (PAPER_PARAMETERS[name],)) for name in names)))
    table = []
    for values in tqdm(combos, desc="thresholding grid search", disable=not progress):
        parameters = dict(zip(names, (float(v) for v in values), strict=True))
        if parameters["hu_min"] >= parameters["hu_max"]:
            continue
        scores = [
            dice(threshold_lesions(np.asarray(item.image), np.asarray(item.lungs), **parameters),
                 np.asarray(item.target, dtype=bool))
            for item in usable
        ]
        table.append({**parameters, "mean_dice": float(np.mean(scores))})
    table.sort(key=lambda row: -row["mean_dice"])
    best = {k: v for k, v in table[0].items() if k != "mean_dice"}
    return GridResult(parameters=best, mean_dice=table[0]["mean_dice"], table=table)
