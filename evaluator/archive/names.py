"""Member names: which are unsafe, which are macOS junk, and where an accepted file belongs.

Names arrive decoded as UTF-8 with ``surrogateescape``: a lone surrogate marks a byte that
is not UTF-8. Names are only ever compared, never used to build a path.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from ..groups import CASE_ID_PATTERN
from ..problems import Problem

PREDICTIONS_NAME = "predictions.csv"
MASKS_FOLDER = "masks"
#: Accepted mask file suffixes, longest first.
MASK_SUFFIXES = (".nii.gz", ".nii")
#: What the layout of an archive must look like, for problem reports.
EXPECTED_LAYOUT = (
    "predictions.csv and masks/<case_id>.nii.gz (or .nii), at the archive root or inside one top folder"
)

_CASE_ID = re.compile(CASE_ID_PATTERN)
_DRIVE = re.compile(r"[A-Za-z]:")


def display_name(name: str) -> str:
    """``name`` with bytes that are not UTF-8 shown as ``\\xNN`` and control characters escaped."""
    out = []
    for char in name:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # surrogateescape'd byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(char) in ("Cc", "Cs"):
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def unsafe_name_reasons(name: str) -> list[str]:
    """Why a member name must be refused (empty when it is safe to look at further)."""
    reasons = []
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        reasons.append("is not valid UTF-8")
    if any(unicodedata.category(char) == "Cc" for char in name):
        reasons.append("contains control characters")
    if name.startswith("/"):
        reasons.append("is an absolute path")
    if "\\" in name:
        reasons.append("contains a backslash")
    if _DRIVE.match(name):
        reasons.append("starts with a drive letter")
    if ".." in name.split("/"):
        reasons.append("has a '..' component")
    return reasons


def path_parts(name: str) -> tuple[str, ...]:
    """Components of a safe name, without empty and ``.`` components (``./a//b/`` → ``a``, ``b``)."""
    return tuple(part for part in name.split("/") if part not in ("", "."))


def is_macos_junk(parts: tuple[str, ...]) -> bool:
    """``__MACOSX/...``, ``.DS_Store`` and AppleDouble ``._*`` files, which macOS tools add."""
    return "__MACOSX" in parts or parts[-1] == ".DS_Store" or parts[-1].startswith("._")


class Role(StrEnum):
    PREDICTIONS = "predictions"
    MASK = "mask"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a file sits: its top folder (``None`` at the root) and what it is.

    For a mask, ``case_id`` is the file name without its suffix (not yet checked against
    the case id pattern) and ``suffix`` is ``.nii.gz`` or ``.nii``.
    """

    top: str | None
    role: Role
    case_id: str | None = None
    suffix: str | None = None


def place(parts: tuple[str, ...]) -> Placement:
    """Classify a file by its path components.

    A single component, or a path starting with ``masks``, is read from the root; any other
    path is read as ``<top folder>/<rest>``. Each file therefore has one reading, and the
    archive's layout is fine when all its files agree on the top folder.
    """
    if len(parts) == 1 or parts[0] == MASKS_FOLDER:
        top, rest = None, parts
    else:
        top, rest = parts[0], parts[1:]
    if rest == (PREDICTIONS_NAME,):
        return Placement(top, Role.PREDICTIONS)
    if len(rest) == 2 and rest[0] == MASKS_FOLDER:
        for suffix in MASK_SUFFIXES:
            if rest[1].endswith(suffix) and len(rest[1]) > len(suffix):
                return Placement(top, Role.MASK, case_id=rest[1][: -len(suffix)], suffix=suffix)
    return Placement(top, Role.OTHER)


def is_case_id(text: str) -> bool:
    """``text`` follows :data:`evaluator.groups.CASE_ID_PATTERN`."""
    return _CASE_ID.fullmatch(text) is not None


def unknown_case_problem(case_id: str, *, file: str, known: Collection[str], what: str) -> Problem:
    """A problem for ``what`` (e.g. "a mask") given for a case the submission cannot see."""
    if case_id in known:
        return Problem(f"{what} for case {case_id!r}, which is not part of this track", file=file,
                       case_id=case_id, expected="only the cases whose images this track gives out")
    return Problem(f"{what} for unknown case {case_id!r}", file=file, case_id=case_id,
                   expected="only case ids of this track")
