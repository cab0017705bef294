"""Input checks shared by the metric functions (private).

Every metric takes plain per-case sequences. A quantity the submission does not provide
at all (every value ``None``/NaN) is *not applicable*; a quantity provided for some cases
but not others is an error, because silently dropping cases would change the test set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from evaluator.groups import Group

_SHOWN_POSITIONS = 10


def _positions(mask: np.ndarray) -> str:
    where = np.flatnonzero(mask)
    shown = ", ".join(str(int(i)) for i in where[:_SHOWN_POSITIONS])
    more = f" and {where.size - _SHOWN_POSITIONS} more" if where.size > _SHOWN_POSITIONS else ""
    return f"{shown}{more}"


def float_array(values: ArrayLike | Sequence[float | None], *, name: str) -> np.ndarray:
    """1-D float array with ``None`` turned into NaN; anything non-numeric raises ``ValueError``."""
    try:
        if isinstance(values, np.ndarray) and values.dtype != object:
            array = values.astype(float)
        else:
            array = np.asarray([np.nan if v is None else v for v in values], dtype=float)  # type: ignore[union-attr]
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected numbers (or None for a missing value): {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence, got shape {array.shape}")
    return array


def optional_values(values: ArrayLike | Sequence[float | None] | None, *, name: str) -> np.ndarray | None:
    """Values for every case, or ``None`` when none is given (the metric is N/A).

    Raises ``ValueError`` naming the positions when only some values are missing or
    when a value is infinite.
    """
    if values is None:
        return None
    array = float_array(values, name=name)
    missing = np.isnan(array)
    if array.size == 0 or missing.all():
        return None
    if missing.any():
        raise ValueError(
            f"{name}: {int(missing.sum())} of {array.size} values are missing (NaN/None) at positions "
            f"{_positions(missing)}; give a value for every case or for none"
        )
    infinite = np.isinf(array)
    if infinite.any():
        raise ValueError(f"{name}: values must be finite; infinite at positions {_positions(infinite)}")
    return array


def required_values(values: ArrayLike | Sequence[float | None], *, name: str) -> np.ndarray:
    """Finite values for every case (ground truth): any missing or infinite value raises ``ValueError``."""
    array = float_array(values, name=name)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name}: every value must be a finite number; missing or infinite at positions {_positions(bad)}"
        )
    return array


def binary_labels(labels: ArrayLike, *, name: str = "labels") -> np.ndarray:
    """Boolean array from booleans or 0/1 numbers (1 = positive, i.e. COVID-19)."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence, got shape {array.shape}")
    if array.dtype == bool:
        return array
    try:
        numeric = array.astype(float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected booleans or 0/1 values") from None
    bad = ~np.isin(numeric, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"{name}: expected booleans or 0/1 values; other values at positions {_positions(bad)}")
    return numeric == 1.0


def group_array(groups: Iterable[Group | str]) -> np.ndarray:
    """Object array of :class:`Group` members; unknown names raise ``ValueError``."""
    items = list(groups)
    converted = []
    unknown = []
    for position, value in enumerate(items):
        try:
            converted.append(Group(value))
        except ValueError:
            unknown.append(f"{position} ({value!r})")
    if unknown:
        known = ", ".join(member.value for member in Group)
        raise ValueError(f"groups: unknown group at positions {', '.join(unknown[:_SHOWN_POSITIONS])}; known: {known}")
    array = np.empty(len(converted), dtype=object)
    array[:] = converted
    return array


def same_length(**arrays: np.ndarray | None) -> None:
    """Raise ``ValueError`` unless all given (non-``None``) arrays have the same length."""
    lengths = {name: len(array) for name, array in arrays.items() if array is not None}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"per-case inputs must have one value per case; lengths differ: {described}")
