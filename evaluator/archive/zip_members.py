"""Members of a zip file, read with zipfile behind size, ratio and member-count checks."""

from __future__ import annotations

import stat
import struct
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


# Record layouts of the zip specification (PKWARE APPNOTE.TXT 4.3.12-4.3.16), little-endian.
_END = struct.Struct("<4s4H2LH")  # signature, disks, entries (disk, total), directory size and offset, comment
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")  # ... entries (disk, total), directory size and offset
_ZIP64_END_SIGNATURE = b"PK\x06\x06"
_DIRECTORY_ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # fixed part of one central-directory entry
_DIRECTORY_SIGNATURE = b"PK\x01\x02"
_MAX_COMMENT = 0xFFFF


def _directory_span(fh: BinaryIO) -> tuple[int, int, int]:
    """Where the central directory starts, how many bytes it takes and how many entries the end record
    claims (zip64 aware).

    Like zipfile, the directory is taken to end where the end record (or the zip64 end record) starts, so
    data prepended to the zip does not move it.
    """
    file_size = fh.seek(0, 2)
    tail_size = min(file_size, _END.size + _MAX_COMMENT)
    fh.seek(file_size - tail_size)
    tail = fh.read(tail_size)
    found = tail.rfind(_END_SIGNATURE, 0, max(0, len(tail) - _END.size + len(_END_SIGNATURE)))
    if found < 0:
        raise ArchiveError("corrupt or truncated zip file: its central directory is missing",
                           expected="a complete zip file")
    end_at = file_size - tail_size + found
    end = _END.unpack_from(tail, found)
    claimed, directory_size = end[4], end[5]
    directory_end = end_at
    if end_at >= _ZIP64_LOCATOR.size + _ZIP64_END.size:
        fh.seek(end_at - _ZIP64_LOCATOR.size)
        if fh.read(4) == _ZIP64_LOCATOR_SIGNATURE:
            directory_end = end_at - _ZIP64_LOCATOR.size - _ZIP64_END.size
            fh.seek(directory_end)
            record = fh.read(_ZIP64_END.size)
            if len(record) != _ZIP64_END.size or record[:4] != _ZIP64_END_SIGNATURE:
                raise ArchiveError("corrupt zip file: its zip64 end record is missing", expected="a complete zip file")
            end64 = _ZIP64_END.unpack(record)
            claimed, directory_size = end64[7], end64[8]
    start = directory_end - directory_size
    if start < 0:
        raise ArchiveError("corrupt zip file: its central directory would start before the file",
                           expected="a complete zip file")
    return start, directory_size, claimed


def read_zip_directory(fh: BinaryIO, *, limits: ArchiveLimits) -> list[str]:
    """Member names from a zip's central directory, read boundedly and with public record layouts.

    Never reads more than ``limits.max_members`` entries or ``max_members * ZIP_DIRECTORY_BYTES_PER_MEMBER``
    bytes: a directory is refused if its end record claims too many entries, and also if it holds too many,
    counted as they are walked (as zipfile walks them: through the directory's byte size, whatever the claim).
    Raises :class:`ArchiveError` for an oversized or corrupt directory. The upload check and the worker
    (:func:`iter_zip_members`) both use it; leaves ``fh`` at 0.
    """
    too_many = ArchiveError(f"the archive has more than {limits.max_members:,} members",
                            expected=f"at most {limits.max_members:,} members")
    try:
        start, size, claimed = _directory_span(fh)
        if claimed > limits.max_members or size > limits.max_members * ZIP_DIRECTORY_BYTES_PER_MEMBER:
            raise too_many
        fh.seek(start)
        directory = fh.read(size)
    except READ_ERRORS as error:
        raise ArchiveError(f"corrupt zip file ({error})", expected="a complete zip file") from None
    names: list[str] = []
    offset = 0
    while offset < len(directory):
        if len(names) >= limits.max_members:
            raise too_many
        if directory[offset:offset + 4] != _DIRECTORY_SIGNATURE or offset + _DIRECTORY_ENTRY.size > len(directory):
            raise ArchiveError("corrupt zip file: a central-directory entry is damaged or cut short",
                               expected="a complete zip file")
        entry = _DIRECTORY_ENTRY.unpack_from(directory, offset)
        flags, name_size, extra_size, comment_size = entry[5], entry[12], entry[13], entry[14]
        raw = directory[offset + _DIRECTORY_ENTRY.size:offset + _DIRECTORY_ENTRY.size + name_size]
        try:
            names.append(raw.decode("utf-8", errors="strict" if flags & 0x800 else "surrogateescape"))
        except UnicodeDecodeError:
            raise ArchiveError("a member name is marked as UTF-8 but is not valid UTF-8",
                               expected="member names in UTF-8") from None
        offset += _DIRECTORY_ENTRY.size + name_size + extra_size + comment_size
    fh.seek(0)
    return names


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
    read_zip_directory(fh, limits=limits)  # bounded first: zipfile would load any directory whole
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
