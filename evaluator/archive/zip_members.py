"""Members of a zip file, read with zipfile behind size, ratio and member-count checks."""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from .limits import ArchiveLimits
from .members import (
    CHUNK_BYTES,
    READ_ERRORS,
    ArchiveError,
    ByteBudget,
    ChunkReader,
    Member,
    MemberError,
    MemberKind,
)

#: Compression methods accepted (what common tools write).
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
#: Central-directory bytes allowed per permitted member before zipfile parses it.
ZIP_DIRECTORY_BYTES_PER_MEMBER = 1024


def _check_zip_directory(fh: BinaryIO, limits: ArchiveLimits) -> None:
    """Refuse a central directory with too many entries before zipfile loads it into memory."""
    try:
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # the record zipfile itself trusts
    except READ_ERRORS as error:
        raise ArchiveError(f"corrupt zip file ({error})") from None
    if not end:
        raise ArchiveError("corrupt or truncated zip file: its central directory is missing",
                           expected="a complete zip file")
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    if entries > limits.max_members or size > limits.max_members * ZIP_DIRECTORY_BYTES_PER_MEMBER:
        raise ArchiveError(f"the archive has more than {limits.max_members:,} members",
                           expected=f"at most {limits.max_members:,} members")
    fh.seek(0)


def _zip_kind(info: zipfile.ZipInfo) -> MemberKind:
    mode = info.external_attr >> 16
    if info.orig_filename.endswith("/") or stat.S_ISDIR(mode):
        return MemberKind.DIRECTORY
    if stat.S_ISLNK(mode):
        return MemberKind.SYMLINK
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return MemberKind.DEVICE
    if stat.S_ISFIFO(mode):
        return MemberKind.FIFO
    if stat.S_ISSOCK(mode):
        return MemberKind.OTHER
    return MemberKind.FILE


def _zip_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:  # zipfile already decoded it as strict UTF-8
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")  # undo zipfile's legacy decoding, get the bytes back
    return raw.decode("utf-8", errors="surrogateescape")


def _zip_refusal(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
    """Why a file member is not read at all: encryption, method, or a declared bomb."""
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.compress_type not in ZIP_METHODS:
        return f"uses compression method {info.compress_type}, which is not supported"
    if info.file_size > limits.ratio_grace_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        return (f"declares {info.file_size:,} bytes compressed into {info.compress_size:,}, "
                f"a ratio over {limits.max_ratio:,.0f}:1")
    return None


class _ZipMemberReader:
    """Chunks of one zip member, counted against the budget and the member's ratio limit."""

    def __init__(self, stream: zipfile.ZipExtFile, info: zipfile.ZipInfo, limits: ArchiveLimits,
                 budget: ByteBudget) -> None:
        self._stream, self._limits, self._budget = stream, limits, budget
        self._compressed = max(info.compress_size, 1)
        self._inflated = 0

    def read(self, size: int, /) -> bytes:
        try:
            data = self._stream.read(min(size, CHUNK_BYTES))
        except READ_ERRORS as error:
            raise MemberError(f"cannot be read: corrupt data ({error})") from None
        self._inflated += len(data)
        self._budget.spend(len(data))
        limits = self._limits
        if self._inflated > limits.ratio_grace_bytes and self._inflated > limits.max_ratio * self._compressed:
            raise MemberError(
                f"inflates more than {limits.max_ratio:,.0f} times its compressed size "
                f"({self._compressed:,} bytes); reading stopped",
                expected=f"a compression ratio of at most {limits.max_ratio:,.0f}:1",
            )
        return data

    def close(self) -> None:
        self._stream.close()


def iter_zip_members(fh: BinaryIO, *, limits: ArchiveLimits, budget: ByteBudget) -> Iterator[Member]:
    """Members in central-directory order; the directory is size-checked before it is parsed.

    Sizes in the directory serve only to refuse early; member data is counted as it is
    inflated (zipfile also stops at the declared size and then checks the CRC).
    """
    _check_zip_directory(fh, limits)
    try:
        archive = zipfile.ZipFile(fh)
    except UnicodeDecodeError:
        raise ArchiveError("a member name is marked as UTF-8 but is not valid UTF-8",
                           expected="member names in UTF-8") from None
    except READ_ERRORS as error:
        raise ArchiveError(f"corrupt or truncated zip file ({error})", expected="a complete zip file") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise ArchiveError(f"the archive has more than {limits.max_members:,} members",
                               expected=f"at most {limits.max_members:,} members")

        def opener(info: zipfile.ZipInfo) -> Callable[[], ChunkReader]:
            def open_member() -> ChunkReader:
                try:
                    stream = archive.open(info)
                except READ_ERRORS as error:
                    raise MemberError(f"cannot be read ({error})") from None
                return _ZipMemberReader(stream, info, limits, budget)  # type: ignore[arg-type]  # a ZipExtFile
            return open_member

        for info in infos:
            kind = _zip_kind(info)
            yield Member(_zip_name(info), kind, info.file_size,
                         _zip_refusal(info, limits) if kind is MemberKind.FILE else None, opener(info))
