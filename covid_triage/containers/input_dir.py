"""The folder mounted read-only at ``/input``: the test images and a list of case ids, nothing else.

Layout: ``<case_id>.nii.gz`` for every case (a ``.nii`` source is gzip-compressed on the way)
and ``cases.csv`` with the single column ``case_id``. Groups, distributions, lung and lesion
masks never go there. Files are world-readable (0644, folder 0755) because the model runs as
an arbitrary non-root user; a source already world-readable is hard-linked when possible.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from evaluator.groups import CASE_ID_PATTERN

try:
    from isal.igzip import GzipFile
except ImportError:  # pragma: no cover - only where isal is missing
    from gzip import GzipFile

CASES_FILE = "cases.csv"
IMAGE_SUFFIX = ".nii.gz"
_CASE_ID = re.compile(CASE_ID_PATTERN)


class HasImage(Protocol):
    """What is needed of a case (e.g. :class:`evaluator.testset.TestCase`)."""

    @property
    def case_id(self) -> str: ...

    @property
    def image(self) -> Path: ...


def _place(source: Path, target: Path) -> None:
    if source.name.endswith(".gz"):
        mode = source.stat().st_mode
        if mode & stat.S_IROTH:
            try:
                os.link(source, target)
                return
            except OSError:
                pass
        shutil.copyfile(source, target)
    else:
        with open(source, "rb") as raw, GzipFile(filename=str(target), mode="wb", compresslevel=1) as packed:
            shutil.copyfileobj(raw, packed, 1 << 20)
    os.chmod(target, 0o644)


def prepare_input_dir(cases: Iterable[HasImage], *, dest: Path | str) -> tuple[str, ...]:
    """Fill the new or empty folder ``dest`` with the cases' images and cases.csv; returns the case ids.

    Pass exactly the cases the model must predict (for a container run: all of the test set's
    cases, public and private). Raises ValueError for a non-empty ``dest`` or a bad case id.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"input folder {dest} is not empty")
    os.chmod(dest, 0o755)
    ids: dict[str, None] = {}
    for case in cases:
        if not _CASE_ID.fullmatch(case.case_id) or case.case_id in ids:
            raise ValueError(f"invalid or repeated case id {case.case_id!r}")
        _place(Path(case.image), dest / f"{case.case_id}{IMAGE_SUFFIX}")
        ids[case.case_id] = None
    (dest / CASES_FILE).write_text("case_id\n" + "".join(f"{case_id}\n" for case_id in ids), encoding="utf-8")
    os.chmod(dest / CASES_FILE, 0o644)
    return tuple(ids)
