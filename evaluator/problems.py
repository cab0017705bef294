"""Structured, human-readable problem reports.

Every validator collects *all* problems it can find and reports them together: each
names the file and the case it concerns, says what is wrong and what was expected.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input (a test-set directory or a prediction archive)."""

    message: str
    file: str | None = None
    case_id: str | None = None
    expected: str | None = None

    def __str__(self) -> str:
        where = ", ".join(
            part for part in (self.file and f"file {self.file}", self.case_id and f"case {self.case_id}") if part
        )
        text = f"{where}: {self.message}" if where else self.message
        if self.expected:
            text += f" (expected {self.expected})"
        return text

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


class InvalidInput(Exception):
    """Raised with the complete list of problems found in one input."""

    def __init__(self, problems: list[Problem], *, what: str = "input") -> None:
        if not problems:
            raise ValueError("InvalidInput needs at least one problem")
        self.problems = list(problems)
        self.what = what
        super().__init__(self.report())

    def report(self) -> str:
        lines = [f"{len(self.problems)} problem(s) in the {self.what}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)
