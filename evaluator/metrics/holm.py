"""Holm's step-down correction for multiple comparisons (Holm 1979, *Scand. J. Statist.* 6:65)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def holm_adjust(p_values: ArrayLike) -> np.ndarray:
    """Holm-adjusted p-values, in the input order (R's ``p.adjust(p, "holm")``).

    With the ``m`` p-values sorted ascending, ``p̃_(i) = max_{k ≤ i} min(1, (m − k + 1)·p_(k))``.
    Rejecting where ``p̃ < α`` is Holm's procedure at family-wise level α. Equal p-values keep
    their input order. Every value must lie in [0, 1]; an empty input gives an empty array.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values: expected a 1-D sequence, got shape {p.shape}")
    bad = ~((p >= 0.0) & (p <= 1.0))
    if bad.any():
        raise ValueError(f"p_values: every value must lie in [0, 1]; bad at positions {np.flatnonzero(bad).tolist()}")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted
