"""Parse and check a participant's ``predictions.csv``.

Conventions: UTF-8 (a BOM and CRLF line ends are fine); a header naming ``case_id`` and any
of the score columns, in any order; whitespace around names and values is ignored; blank
lines are skipped. A score column left empty in every row counts as not submitted; empty in
only some rows is an error. Scores are plain decimal numbers in [0, 1]. Every problem is
reported (the first :data:`MAX_REPORTED_PROBLEMS`, then a count of the rest).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from ..problems import Problem
from .names import PREDICTIONS_NAME, display_name, is_case_id, unknown_case_problem

CASE_ID_COLUMN = "case_id"
#: Score columns; either may be left out.
SCORE_COLUMNS = ("covid_probability", "severity")
ALLOWED_COLUMNS = (CASE_ID_COLUMN, *SCORE_COLUMNS)
#: Problems listed per file; the rest are counted in one last problem.
MAX_REPORTED_PROBLEMS = 1000

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_SCORE_MEANING = {
    "covid_probability": "a probability of COVID-19 between 0 and 1",
    "severity": "a fraction of affected lung between 0 and 1",
}


@dataclass(frozen=True, slots=True)
class CasePrediction:
    """Scores submitted for one case; ``None`` where the column was not submitted."""

    covid_probability: float | None = None
    severity: float | None = None


class _Problems:
    """Collects problems for one file, keeping the first MAX_REPORTED_PROBLEMS."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []
        self.unlisted = 0

    def add(self, message: str, *, case_id: str | None = None, expected: str | None = None) -> None:
        if len(self.items) < MAX_REPORTED_PROBLEMS:
            self.items.append(Problem(message, file=self.file, case_id=case_id, expected=expected))
        else:
            self.unlisted += 1

    def done(self) -> list[Problem]:
        if self.unlisted:
            self.items.append(Problem(f"{self.unlisted:,} more problems in this file, not listed", file=self.file))
        return self.items


def _shown(text: str, limit: int = 80) -> str:
    text = display_name(text)  # control characters already escaped
    return "'" + (text if len(text) <= limit else text[:limit] + "…") + "'"


def _decode(data: bytes, problems: _Problems) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problems.add(f"is not UTF-8 text: byte 0x{data[error.start]:02x} on line {line} cannot be decoded",
                     expected="a CSV file saved as UTF-8")
        return None


def _parse_score(raw: str) -> tuple[float | None, str | None]:
    """The value of a non-empty score cell, or why it is invalid."""
    if not _NUMBER.fullmatch(raw):
        return None, "is not a number"
    value = float(raw)
    if not math.isfinite(value):
        return None, "is not a finite number"
    if not 0.0 <= value <= 1.0:
        return None, "is outside [0, 1]"
    return value + 0.0, None  # -0.0 -> 0.0


def _check_header(names: list[str], problems: _Problems) -> bool:
    """Report header problems; True when the rows can still be read."""
    usable = True
    for name in dict.fromkeys(names):
        if names.count(name) > 1:
            problems.add(f"column {_shown(name)} appears {names.count(name)} times", expected="each column once")
            usable = False
    unknown = [name for name in dict.fromkeys(names) if name not in ALLOWED_COLUMNS]
    if unknown:
        message = f"unknown column(s) {', '.join(map(_shown, unknown))}"
        if len(names) == 1 and any(sep in names[0] for sep in ";\t"):
            message += "; columns must be separated by commas"
        else:
            guesses = [f"{_shown(close[0])} for {_shown(name)}" for name in unknown
                       if (close := difflib.get_close_matches(name.strip().lower(), ALLOWED_COLUMNS, n=1, cutoff=0.6))]
            if guesses:
                message += f"; did you mean {', '.join(guesses)}?"
        problems.add(message, expected=f"only the columns {', '.join(ALLOWED_COLUMNS)}")
    if CASE_ID_COLUMN not in names:
        problems.add(f"no {CASE_ID_COLUMN} column", expected=f"a header line such as {','.join(ALLOWED_COLUMNS)}")
        usable = False
    return usable


class _Rows:
    """Non-blank CSV rows with their line numbers; ``broken`` once the CSV cannot be parsed further."""

    def __init__(self, text: str, problems: _Problems) -> None:
        self._reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        self._problems = problems
        self.broken = False

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        try:
            for row in self._reader:
                if any(cell.strip() for cell in row):
                    yield self._reader.line_num, row
        except csv.Error as error:
            self.broken = True
            self._problems.add(f"is not valid CSV near line {self._reader.line_num}: {error}",
                               expected="comma-separated values")


def parse_predictions_csv(
    data: bytes,
    *,
    expected_case_ids: Collection[str],
    known_case_ids: Collection[str] = (),
    file_name: str = PREDICTIONS_NAME,
) -> tuple[dict[str, CasePrediction], frozenset[str], list[Problem]]:
    """Predictions per expected case, the score columns submitted, and all problems found.

    ``expected_case_ids``: the cases that need a row; ``known_case_ids``: every case id of
    the test set (a row for one that is known but not expected is "not part of this track").
    The predictions are returned even when there are problems (rows with problems left out).
    """
    expected, known = frozenset(expected_case_ids), frozenset(known_case_ids)
    problems = _Problems(file_name)
    text = _decode(data, problems)
    if text is None:
        return {}, frozenset(), problems.done()
    rows = _Rows(text, problems)
    row_iter = iter(rows)
    first = next(row_iter, None)
    if first is None:
        if not rows.broken:
            problems.add("is empty", expected=f"a header line such as {','.join(ALLOWED_COLUMNS)}")
        return {}, frozenset(), problems.done()
    header_line, header = first
    names = [name.strip() for name in header]
    if not _check_header(names, problems):
        return {}, frozenset(), problems.done()

    index = {name: position for position, name in enumerate(names)}
    scored = [column for column in SCORE_COLUMNS if column in index]
    filled = dict.fromkeys(scored, 0)
    empty = dict.fromkeys(scored, 0)
    empty_cells: dict[str, list[tuple[int, str | None]]] = {column: [] for column in scored}
    seen: dict[str, int] = {}
    values: dict[str, dict[str, float | None]] = {}
    for line, row in row_iter:
        if len(row) != len(names):
            problems.add(f"line {line} has {len(row)} fields, the header (line {header_line}) has {len(names)}",
                         expected="the same number of fields in every line")
            continue
        case_id = row[index[CASE_ID_COLUMN]].strip()
        valid_id = is_case_id(case_id)
        row_case = case_id if valid_id else None
        row_values: dict[str, float | None] = {}
        for column in scored:
            raw = row[index[column]].strip()
            if not raw:
                empty[column] += 1
                if len(empty_cells[column]) < MAX_REPORTED_PROBLEMS:
                    empty_cells[column].append((line, row_case))
                continue
            filled[column] += 1
            row_values[column], why = _parse_score(raw)
            if why:
                problems.add(f"{column} {_shown(raw, 40)} on line {line} {why}", case_id=row_case,
                             expected=_SCORE_MEANING[column])
        if not case_id:
            problems.add(f"line {line} has an empty {CASE_ID_COLUMN}", expected="a case id in every row")
        elif not valid_id:
            problems.add(f"{CASE_ID_COLUMN} {_shown(case_id)} on line {line} is not a valid case id",
                         expected="a case id of this track")
        elif case_id in seen:
            problems.add(f"a second row for case {case_id!r} on line {line} (the first is on line {seen[case_id]})",
                         case_id=case_id, expected="one row per case")
        else:
            seen[case_id] = line
            if case_id in expected:
                values[case_id] = row_values
            else:
                problem = unknown_case_problem(case_id, file=file_name, known=known, what=f"a row (line {line})")
                problems.add(problem.message, case_id=case_id, expected=problem.expected)

    columns = frozenset(column for column in scored if filled[column])
    for column in sorted(columns):
        for line, cell_case in empty_cells[column]:
            problems.add(f"empty {column} on line {line}, while other rows have one", case_id=cell_case,
                         expected=f"a {column} in every row, or in none (= not submitted)")
        problems.unlisted += empty[column] - len(empty_cells[column])
    if not rows.broken:
        for case_id in sorted(expected - values.keys()):
            problems.add(f"no row for case {case_id!r}", case_id=case_id, expected="one row per case of this track")
    predictions = {
        case_id: CasePrediction(
            covid_probability=row.get("covid_probability") if "covid_probability" in columns else None,
            severity=row.get("severity") if "severity" in columns else None,
        )
        for case_id, row in values.items()
    }
    return predictions, columns, problems.done()
