"""Dataset loaders: the public datasets the paper trains on, in their real layouts, and the test-set layout.

``list_dataset("mosmed:/data/COVID19_1110")`` (or a path whose layout is detected) lists :class:`SeriesRecord` s;
``record.load()`` gives a :class:`Series` (image in HU, standard orientation, lesion mask or ``None``, label, lungs
or ``None``, provenance). :func:`iter_series` does both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from reference_models.data.layouts import LISTERS, detect_layout, list_dataset
from reference_models.data.records import Series, SeriesRecord, label_counts


def iter_series(specs: Iterable[str | Path]) -> Iterator[Series]:
    """Load every series of the datasets ``specs`` (``LAYOUT:PATH`` or ``PATH``), one at a time."""
    for spec in specs:
        for record in list_dataset(spec):
            yield record.load()


__all__ = ["LISTERS", "Series", "SeriesRecord", "detect_layout", "iter_series", "label_counts", "list_dataset"]
