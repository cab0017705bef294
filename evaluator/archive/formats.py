"""Telling zip, tar.gz and tar apart by their first bytes, and iterating over their members."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import BinaryIO

from .limits import ArchiveLimits
from .members import ArchiveError, ByteBudget, Member
from .tar_members import TAR_BLOCK, iter_tar_members
from .zip_members import iter_zip_members

SUPPORTED_FORMATS = "zip, tar.gz (.tgz) or tar"
_OTHER_MAGIC = {
    b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"7z\xbc\xaf\x27\x1c": "7z", b"Rar!\x1a\x07": "RAR",
    b"(\xb5/\xfd": "zstd",
}


class ArchiveFormat(StrEnum):
    ZIP = "zip"
    TAR_GZ = "tar.gz"
    TAR = "tar"


def detect_format(head: bytes) -> ArchiveFormat:
    """Format from the first 512 bytes of a file; ArchiveError when it is none we read."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ArchiveFormat.ZIP
    if head[:2] == b"\x1f\x8b":
        return ArchiveFormat.TAR_GZ
    if head[257:262] == b"ustar" or (len(head) == TAR_BLOCK and not any(head)):  # ... or an empty tar
        return ArchiveFormat.TAR
    expected = f"a {SUPPORTED_FORMATS} archive"
    if not head:
        raise ArchiveError("the file is empty", expected=expected)
    for magic, kind in _OTHER_MAGIC.items():
        if head.startswith(magic):
            raise ArchiveError(f"the file is a {kind} archive, which is not supported", expected=expected)
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith((b"case_id,", b"case_id;", b"case_id\t", b'"case_id"')):
        raise ArchiveError("the file is not a zip, tar.gz or tar archive: it is a bare predictions.csv; zip it "
                           "(zip predictions.zip predictions.csv, plus masks/ if you have masks)", expected=expected)
    raise ArchiveError("the file is not a zip, tar.gz or tar archive", expected=expected)


def iter_members(fh: BinaryIO, fmt: ArchiveFormat, *, limits: ArchiveLimits, budget: ByteBudget) -> Iterator[Member]:
    """Members of the archive open in ``fh`` (binary, seekable, at offset 0), in stored order."""
    if fmt is ArchiveFormat.ZIP:
        return iter_zip_members(fh, limits=limits, budget=budget)
    return iter_tar_members(fh, gzipped=fmt is ArchiveFormat.TAR_GZ, limits=limits, budget=budget)
