"""What the format readers hand out: members, their kinds, read errors and the byte budget.

Nothing here writes files or trusts declared sizes: reading a member yields inflated bytes
in bounded chunks, each counted against a :class:`ByteBudget` (and, for compressed data,
against the ratio limit) before the caller sees it. Failures come out as :class:`ArchiveError`
(the archive cannot be read any further) or :class:`MemberError` (one member cannot be
read; the others still can), never as the exceptions of zipfile, tarfile, gzip or zlib.
"""

from __future__ import annotations

import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

#: Largest chunk handed out by a member reader.
CHUNK_BYTES = 256 * 1024

#: What the standard library raises on hostile bytes: turned into problems, never tracebacks.
READ_ERRORS = (
    tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, OSError,
    ValueError, struct.error, NotImplementedError, RuntimeError, OverflowError, LookupError,
)


class MemberKind(StrEnum):
    FILE = "regular file"
    DIRECTORY = "folder"
    SYMLINK = "symbolic link"
    HARD_LINK = "hard link"
    DEVICE = "device file"
    FIFO = "FIFO (named pipe)"
    OTHER = "special entry"


class ArchiveError(Exception):
    """The archive cannot be read any further (``file``: the member being read, if any)."""

    def __init__(self, message: str, *, expected: str | None = None, file: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.file = file


class MemberError(Exception):
    """One member cannot be read (or is over a limit); the rest of the archive still can."""

    def __init__(self, message: str, *, expected: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected


class ByteBudget:
    """Counts inflated bytes against ``limits.max_total_bytes``; raises ArchiveError past it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, nbytes: int) -> None:
        self.used += nbytes
        if self.used > self.limit:
            raise ArchiveError(
                f"the archive inflates to more than {self.limit:,} bytes; reading stopped",
                expected=f"at most {self.limit:,} bytes uncompressed in all",
            )


class ChunkReader(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Member:
    """One archive entry.

    ``name`` is decoded as UTF-8 with surrogateescape (see :mod:`.names`); ``declared_size``
    is what the archive claims, used only to refuse early; ``refusal`` says why the content
    cannot be read at all (encryption, compression method). ``open`` must be called before
    the iteration moves on (tar is streamed).
    """

    name: str
    kind: MemberKind
    declared_size: int
    refusal: str | None
    open: Callable[[], ChunkReader]
