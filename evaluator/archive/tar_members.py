"""Members of a tar or tar.gz file, streamed through tarfile behind a counting, forward-only source."""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from .limits import ArchiveLimits
from .members import CHUNK_BYTES, READ_ERRORS, ArchiveError, ByteBudget, ChunkReader, Member, MemberKind

#: Largest single read tarfile may make for a header, GNU long name or pax header.
MAX_TAR_HEADER_BYTES = 1 << 20
TAR_BLOCK = tarfile.BLOCKSIZE


#: Compressed bytes gzip may consume beyond what they inflate to (headers, padding, read-ahead).
MAX_GZIP_OVERHEAD_BYTES = 1 << 20


class _CountingFile:
    """Read-only view of a file that counts the bytes read (the compressed side of gzip).

    With ``inflated`` (the count of bytes inflated so far), it refuses to run more than
    :data:`MAX_GZIP_OVERHEAD_BYTES` (+1%) ahead of it: gzip reads header names, comments and
    padding one byte at a time, so megabytes of those would cost minutes of CPU.
    """

    def __init__(self, fh: BinaryIO, *, inflated: Callable[[], int] | None = None) -> None:
        self._fh = fh
        self._inflated = inflated
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._fh.read(size if size is not None and size >= 0 else CHUNK_BYTES)
        self.count += len(data)
        if self._inflated is not None and self.count > MAX_GZIP_OVERHEAD_BYTES + 1.01 * self._inflated():
            raise ArchiveError(
                f"the gzip stream holds over {MAX_GZIP_OVERHEAD_BYTES:,} bytes that inflate to nothing "
                "(oversized headers or padding)", expected="a gzip-compressed tar archive as tar and gzip write it")
        return data


class _TarSource:
    """The forward-only byte stream handed to tarfile.

    Every byte is counted against the budget, the inflation ratio of the whole stream is
    checked as it grows, a single read is capped (so a pax or long-name header cannot ask
    for gigabytes of memory), and "seeking" forward reads and discards.
    """

    def __init__(self, inner: BinaryIO | _CountingFile, *, compressed: _CountingFile | None,
                 limits: ArchiveLimits, budget: ByteBudget) -> None:
        self._inner, self._compressed, self._limits, self._budget = inner, compressed, limits, budget
        self._position = 0
        self.last_read = b""

    def _pull(self, size: int) -> bytes:
        try:
            data = self._inner.read(size)
        except READ_ERRORS as error:
            raise ArchiveError(f"corrupt or truncated archive data ({error})",
                               expected="a complete tar or gzip-compressed tar archive") from None
        self._position += len(data)
        self._budget.spend(len(data))
        limits = self._limits
        if (self._compressed is not None and self._position > limits.ratio_grace_bytes
                and self._position > limits.max_ratio * max(self._compressed.count, 1)):
            raise ArchiveError(
                f"the compressed stream inflates more than {limits.max_ratio:,.0f} times; reading stopped",
                expected=f"a compression ratio of at most {limits.max_ratio:,.0f}:1",
            )
        return data

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0 or size > max(MAX_TAR_HEADER_BYTES, CHUNK_BYTES):
            raise ArchiveError(f"a tar header is larger than {MAX_TAR_HEADER_BYTES:,} bytes",
                               expected=f"tar headers (names, pax records) under {MAX_TAR_HEADER_BYTES:,} bytes")
        data = self._pull(size)
        self.last_read = data
        return data

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0, /) -> int:
        if whence != 0 or offset < self._position:
            raise ArchiveError("the tar stream asks to be read backwards, which it cannot be")
        while self._position < offset:
            if not self._pull(min(offset - self._position, CHUNK_BYTES)):
                break  # at the end: the next read comes back short and tarfile reports it
        return self._position

    def drain(self) -> None:
        """Read to the end (counted), so that a gzip stream's checksum is verified."""
        while self._pull(CHUNK_BYTES):
            pass


def _tar_kind(info: tarfile.TarInfo) -> MemberKind:
    if info.issparse():
        return MemberKind.OTHER
    if info.isreg():
        return MemberKind.FILE
    if info.isdir():
        return MemberKind.DIRECTORY
    if info.issym():
        return MemberKind.SYMLINK
    if info.islnk():
        return MemberKind.HARD_LINK
    if info.ischr() or info.isblk():
        return MemberKind.DEVICE
    if info.isfifo():
        return MemberKind.FIFO
    return MemberKind.OTHER


class _TarMemberReader:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def read(self, size: int, /) -> bytes:
        try:
            return self._stream.read(min(size, CHUNK_BYTES))
        except READ_ERRORS as error:
            raise ArchiveError(f"corrupt or truncated tar archive ({error})",
                               expected="a complete tar archive") from None

    def close(self) -> None:
        self._stream.close()


def iter_tar_members(fh: BinaryIO, *, gzipped: bool, limits: ArchiveLimits, budget: ByteBudget) -> Iterator[Member]:
    """Members in stream order; each must be read (``Member.open``) before the next is asked for.

    After the last member, the end-of-archive block must have been seen (tarfile itself stops
    quietly at a truncated or garbled header) and the rest of the stream is read, counted, so
    that gzip verifies its checksum.
    """
    if gzipped:
        raw = _CountingFile(fh, inflated=lambda: source.tell())
        inflating = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[call-overload]  # reads like a file
        source = _TarSource(inflating, compressed=raw, limits=limits, budget=budget)
    else:
        source = _TarSource(_CountingFile(fh), compressed=None, limits=limits, budget=budget)
    what = "gzip-compressed tar archive" if gzipped else "tar archive"
    try:
        archive = tarfile.TarFile(fileobj=source, mode="r", encoding="utf-8",  # type: ignore[arg-type]
                                  errors="surrogateescape")
    except READ_ERRORS as error:
        raise ArchiveError(f"not a readable {what} ({error})", expected=f"a complete {what}") from None
    count = 0
    while True:
        try:
            info = archive.next()
        except READ_ERRORS as error:
            raise ArchiveError(f"corrupt or truncated {what} ({error})", expected=f"a complete {what}") from None
        if info is None:
            break
        count += 1
        if count > limits.max_members:
            raise ArchiveError(f"the archive has more than {limits.max_members:,} members",
                               expected=f"at most {limits.max_members:,} members")

        def open_member(info: tarfile.TarInfo = info) -> ChunkReader:
            try:
                stream = archive.extractfile(info)
            except READ_ERRORS as error:
                raise ArchiveError(f"corrupt {what} ({error})", expected=f"a complete {what}") from None
            if stream is None:  # only for non-files, which are never opened
                raise ArchiveError(f"member {info.name!r} has no content")
            return _TarMemberReader(stream)  # type: ignore[arg-type]  # tarfile returns a binary reader

        yield Member(info.name, _tar_kind(info), info.size, None, open_member)
    # tarfile stops quietly at a truncated or garbled header; a real end is a zero block.
    if len(source.last_read) != TAR_BLOCK or source.last_read.count(0) != TAR_BLOCK:
        raise ArchiveError(f"truncated or corrupt {what}: it ends without an end-of-archive marker",
                           expected=f"a complete {what}")
    source.drain()
