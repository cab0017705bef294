"""Read a participant's prediction archive into a private work directory.

:func:`read_archive` streams the archive (see :mod:`.extraction`), parses predictions.csv
and checks which cases have predictions and masks. It either returns everything the scorer
needs or raises :class:`~evaluator.problems.InvalidInput` listing every problem found, after
deleting whatever it wrote. Voxel-level checks of the masks are not done here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..problems import InvalidInput, Problem
from .extraction import Extraction, extract_archive
from .limits import ArchiveLimits
from .names import EXPECTED_LAYOUT, MASKS_FOLDER, PREDICTIONS_NAME
from .predictions_csv import MAX_REPORTED_PROBLEMS, SCORE_COLUMNS, CasePrediction, parse_predictions_csv

WHAT = "prediction archive"


@dataclass(frozen=True)
class ExtractedArchive:
    """A valid archive's content.

    ``predictions`` has one entry per expected case; ``columns`` holds the score columns
    submitted (a subset of :data:`~.predictions_csv.SCORE_COLUMNS`); ``mask_paths`` is
    empty or has one extracted file per expected case, under ``workdir/masks``.
    """

    predictions: dict[str, CasePrediction]
    columns: frozenset[str]
    mask_paths: dict[str, Path]
    workdir: Path


def _content_problems(extraction: Extraction, *, expected: frozenset[str], known: frozenset[str],
                      ) -> tuple[dict[str, CasePrediction], frozenset[str], list[Problem]]:
    problems: list[Problem] = []
    predictions: dict[str, CasePrediction] = {}
    columns: frozenset[str] = frozenset()
    if extraction.predictions_member is None:
        problems.append(Problem(f"no {PREDICTIONS_NAME}", expected=EXPECTED_LAYOUT))
    elif extraction.predictions_path is not None:
        data = extraction.predictions_path.read_bytes()  # at most limits.max_csv_bytes
        predictions, columns, csv_problems = parse_predictions_csv(
            data, expected_case_ids=expected, known_case_ids=known, file_name=extraction.predictions_member)
        problems += csv_problems
        # (not when the file could not be read at all: that problem says it already)
        if not columns and not extraction.mask_cases and (predictions or not csv_problems):
            problems.append(Problem(
                "no scores: no score column has a value and there are no masks",
                file=extraction.predictions_member,
                expected=f"a column {' or '.join(SCORE_COLUMNS)}, or masks/<case_id>.nii.gz for every case",
            ))
    if extraction.mask_cases:
        for case_id in sorted(expected - extraction.mask_cases):
            problems.append(Problem(
                f"no mask for case {case_id!r}, while other cases have one", case_id=case_id,
                expected=f"{MASKS_FOLDER}/{case_id}.nii.gz: masks for every case or none "
                         "(an all-zero mask means no lesion)",
            ))
    return predictions, columns, problems


def _cap(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_REPORTED_PROBLEMS:
        return problems
    rest = len(problems) - MAX_REPORTED_PROBLEMS
    return problems[:MAX_REPORTED_PROBLEMS] + [Problem(f"{rest:,} more problems, not listed")]


def read_archive(
    path: Path,
    *,
    workdir: Path,
    expected_case_ids: Collection[str],
    known_case_ids: Collection[str] = (),
    limits: ArchiveLimits = ArchiveLimits(),
    check_masks: Callable[[Mapping[str, Path]], list[Problem]] | None = None,
) -> ExtractedArchive:
    """Check and extract the archive at ``path`` (zip, tar.gz or tar, told apart by content).

    ``workdir``: an existing private folder without ``predictions.csv`` or ``masks`` in it;
    nothing is created outside it, and on failure what was created is removed again.
    ``expected_case_ids``: the cases the submission can see and must cover;
    ``known_case_ids``: all case ids of the test set, for clearer messages.
    ``check_masks``: called with the extracted masks of expected cases (case id → file) once
    extraction is complete; the voxel-level problems it returns join the others, so one
    report lists the archive's, the CSV's and the masks' problems together.
    Raises InvalidInput with every problem found.
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise ValueError(f"work directory {workdir} does not exist")
    for name in (PREDICTIONS_NAME, MASKS_FOLDER):
        if (workdir / name).exists() or (workdir / name).is_symlink():
            raise ValueError(f"work directory {workdir} already holds {name}")
    expected, known = frozenset(expected_case_ids), frozenset(known_case_ids)
    extraction = extract_archive(Path(path), workdir=workdir, expected_case_ids=expected,
                                 known_case_ids=known, limits=limits)
    try:
        problems = list(extraction.problems)
        predictions: dict[str, CasePrediction] = {}
        columns: frozenset[str] = frozenset()
        if extraction.complete:
            predictions, columns, content_problems = _content_problems(extraction, expected=expected, known=known)
            problems += content_problems
            masks = {case: p for case, p in extraction.mask_paths.items() if case in expected}
            if check_masks is not None and masks:
                problems += check_masks(masks)
        if problems:
            raise InvalidInput(_cap(problems), what=WHAT)
    except BaseException:
        extraction.remove_written()
        raise
    return ExtractedArchive(predictions=predictions, columns=columns, mask_paths=dict(extraction.mask_paths),
                            workdir=workdir)
