"""Stream an archive's members into a work directory, at paths built from case ids only.

Each member is checked (name, type, macOS junk, place in the layout, limits) before any of
its bytes are read; an accepted file is copied to ``<workdir>/predictions.csv`` or
``<workdir>/masks/<case_id><suffix>``, a path made from a validated case id, never from the
member name. Problems are collected for every member; reading stops early only when the
archive as a whole cannot be read further or a total limit is hit.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from ..problems import Problem
from .formats import detect_format, iter_members
from .limits import ArchiveLimits
from .members import ArchiveError, ByteBudget, Member, MemberError, MemberKind
from .names import (
    EXPECTED_LAYOUT,
    MASKS_FOLDER,
    PREDICTIONS_NAME,
    Placement,
    Role,
    display_name,
    is_case_id,
    is_macos_junk,
    path_parts,
    place,
    unknown_case_problem,
    unsafe_name_reasons,
)

_SAFE_NAME = "a relative path with '/' separators, in UTF-8, without '..'"
_FORBIDDEN_KINDS = {
    MemberKind.SYMLINK, MemberKind.HARD_LINK, MemberKind.DEVICE, MemberKind.FIFO, MemberKind.OTHER,
}


@dataclass
class Extraction:
    """What streaming an archive produced.

    ``complete`` is False when reading stopped early (then content checks would only add
    noise). ``predictions_member`` is the archive name of the predictions file once one was
    found, even if it could not be copied; ``mask_cases`` are the expected cases that had a
    mask member, copied or not. ``written`` lists what was created in the work directory.
    """

    problems: list[Problem] = field(default_factory=list)
    complete: bool = True
    predictions_member: str | None = None
    predictions_path: Path | None = None
    mask_paths: dict[str, Path] = field(default_factory=dict)
    mask_cases: set[str] = field(default_factory=set)
    written: list[Path] = field(default_factory=list)

    def remove_written(self) -> None:
        """Delete what was created in the work directory (files before their folder)."""
        for path in reversed(self.written):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        self.written.clear()


class _Extractor:
    def __init__(self, workdir: Path, expected: frozenset[str], known: frozenset[str],
                 limits: ArchiveLimits) -> None:
        self.workdir, self.expected, self.known, self.limits = workdir, expected, known, limits
        self.result = Extraction()
        self.tops: dict[str | None, str] = {}  # top folder -> first file seen in it

    def problem(self, message: str, *, file: str | None = None, case_id: str | None = None,
                expected: str | None = None) -> None:
        self.result.problems.append(Problem(message, file=file, case_id=case_id, expected=expected))

    def member(self, member: Member) -> None:
        shown = display_name(member.name)
        reasons = unsafe_name_reasons(member.name)
        if reasons:
            self.problem(f"unsafe member name: it {' and '.join(reasons)}", file=shown, expected=_SAFE_NAME)
        if member.kind in _FORBIDDEN_KINDS:
            self.problem(f"member is a {member.kind}", file=shown, expected="only regular files and folders")
        parts = path_parts(member.name)
        if reasons or member.kind is not MemberKind.FILE:
            return  # folders are fine; unsafe members were reported
        if not parts:
            self.problem("a file without a name", file=shown, expected=EXPECTED_LAYOUT)
            return
        if is_macos_junk(parts):
            return
        placement = place(parts)
        self.tops.setdefault(placement.top, shown)
        if placement.role is Role.OTHER:
            self.problem("unexpected file", file=shown, expected=EXPECTED_LAYOUT)
        elif placement.role is Role.PREDICTIONS:
            self._predictions(member, shown)
        else:
            self._mask(member, shown, placement)

    def _predictions(self, member: Member, shown: str) -> None:
        if self.result.predictions_member is not None:
            self.problem(f"a second {PREDICTIONS_NAME} (the first is {self.result.predictions_member})",
                         file=shown, expected=f"exactly one {PREDICTIONS_NAME}")
            return
        self.result.predictions_member = shown
        target = self.workdir / PREDICTIONS_NAME
        if self._copy(member, target, shown=shown, max_bytes=self.limits.max_csv_bytes):
            self.result.predictions_path = target

    def _mask(self, member: Member, shown: str, placement: Placement) -> None:
        case_id, suffix = placement.case_id, placement.suffix
        assert case_id is not None and suffix is not None
        if not is_case_id(case_id):
            self.problem(f"mask file name {case_id!r} is not a case id", file=shown,
                         expected="masks/<case_id>.nii.gz with a case id of this track")
            return
        if case_id not in self.expected:
            self.result.problems.append(
                unknown_case_problem(case_id, file=shown, known=self.known, what="a mask"))
            return
        if case_id in self.result.mask_cases:
            self.problem(f"a second mask file for case {case_id!r}", file=shown, case_id=case_id,
                         expected="one mask file per case")
            return
        self.result.mask_cases.add(case_id)
        folder = self.workdir / MASKS_FOLDER
        if not folder.exists():
            folder.mkdir()
            self.result.written.append(folder)
        target = folder / f"{case_id}{suffix}"
        if self._copy(member, target, shown=shown, max_bytes=self.limits.max_mask_bytes, case_id=case_id):
            self.result.mask_paths[case_id] = target

    def _copy(self, member: Member, target: Path, *, shown: str, max_bytes: int,
              case_id: str | None = None) -> bool:
        """Copy at most ``max_bytes``; on any failure delete the partial file. False on a problem."""
        if member.refusal:
            self.problem(f"member {member.refusal}", file=shown, case_id=case_id,
                         expected="members stored or compressed with deflate, without encryption, "
                                  f"inflating at most {self.limits.max_ratio:,.0f} times")
            return False
        too_large = f"file is larger than {max_bytes:,} bytes"
        expected = f"at most {max_bytes:,} bytes"
        if member.declared_size > max_bytes:
            self.problem(too_large, file=shown, case_id=case_id, expected=expected)
            return False
        written = 0
        try:
            with closing(member.open()) as reader, open(target, "xb") as out:
                self.result.written.append(target)
                while chunk := reader.read(max_bytes - written + 1):
                    written += len(chunk)
                    if written > max_bytes:
                        raise MemberError(too_large, expected=expected)
                    out.write(chunk)
        except MemberError as error:
            self._discard(target)
            self.problem(error.message, file=shown, case_id=case_id, expected=error.expected)
            return False
        except ArchiveError as error:
            self._discard(target)
            error.file = error.file or shown
            raise
        except BaseException:
            self._discard(target)
            raise
        return True

    def _discard(self, target: Path) -> None:
        if target in self.result.written:
            target.unlink(missing_ok=True)
            self.result.written.remove(target)

    def check_layout(self) -> None:
        if len(self.tops) > 1:
            places = ", ".join(f"{'the root' if top is None else repr(top + '/')} ({first})"
                               for top, first in self.tops.items())
            self.problem(f"files are spread over several places: {places}", expected=EXPECTED_LAYOUT)


def extract_archive(path: Path, *, workdir: Path, expected_case_ids: Collection[str],
                    known_case_ids: Collection[str], limits: ArchiveLimits) -> Extraction:
    """Stream the archive at ``path`` into ``workdir``; report every problem in the result."""
    extractor = _Extractor(workdir, frozenset(expected_case_ids), frozenset(known_case_ids), limits)
    result = extractor.result
    with open(path, "rb") as fh:
        try:
            fmt = detect_format(fh.read(512))
            fh.seek(0)
            for member in iter_members(fh, fmt, limits=limits, budget=ByteBudget(limits.max_total_bytes)):
                extractor.member(member)
        except ArchiveError as error:
            result.complete = False
            result.problems.append(Problem(error.message, file=error.file, expected=error.expected))
        except BaseException:
            result.remove_written()
            raise
    if result.complete:
        extractor.check_layout()
    return result
