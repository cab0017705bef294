"""Receiving uploads: a size-limited, disk-only upload handler and the quick checks answered at once.

The handler writes every uploaded file to a temporary file in 1 MiB chunks (never into
memory) and stops reading the request past :func:`upload_limit_bytes` (the largest upload
of any accepted kind: archives, and image tarballs where containers are enabled): the rest
of the body is left unread; :mod:`.intake` then reports it, and checks the kind's own limit.
:func:`quick_check` looks only at the first bytes (and, for zip, the central directory, read
boundedly by the worker's own reader); full validation runs in the worker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

from evaluator.archive import ArchiveError, ArchiveFormat, ArchiveLimits, detect_format, read_zip_directory
from evaluator.problems import Problem

CHUNK = 1 << 20
EXTENSIONS = {ArchiveFormat.ZIP: ".zip", ArchiveFormat.TAR_GZ: ".tar.gz", ArchiveFormat.TAR: ".tar"}


def limit_text(limit: int) -> str:
    return f"{limit / (1 << 20):,.0f} MiB"


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Disk-only uploads with a per-file size limit; marks the request when a file was over it."""

    chunk_size = CHUNK

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = upload_limit_bytes()
        self.received = 0

    def new_file(self, *args, **kwargs):
        self.received = 0
        return super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            if self.request is not None:
                self.request.upload_over_limit = self.file_name
            self.file.close()  # deletes the partial temporary file
            raise StopUpload(connection_reset=True)  # the answer is known: read no more of the body
        return super().receive_data_chunk(raw_data, start)


def upload_limit_bytes() -> int:
    """The largest file any upload may carry: archives, and image tarballs where containers are enabled."""
    limit = settings.LEADERBOARD_MAX_UPLOAD_BYTES
    if settings.LEADERBOARD_CONTAINER_TASK:
        limit = max(limit, settings.LEADERBOARD_MAX_IMAGE_UPLOAD_BYTES)
    return limit


def declared_too_large(request) -> bool:
    """The request says (Content-Length) it is larger than any acceptable upload: refuse before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > upload_limit_bytes() + settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def over_limit_problem(kind: str = "archive") -> Problem:
    """The upload was larger than the limit of its kind (``archive`` or ``container``)."""
    if kind == "container":
        limit = settings.LEADERBOARD_MAX_IMAGE_UPLOAD_BYTES
        return Problem(f"the image tarball is larger than the upload limit of {limit_text(limit)}",
                       expected=f"a `docker save` tarball of at most {limit_text(limit)} (gzip it: .tar.gz), or "
                                "a smaller image (a slim base, no build tools, no caches)")
    limit = settings.LEADERBOARD_MAX_UPLOAD_BYTES
    return Problem(f"the file is larger than the upload limit of {limit_text(limit)}",
                   expected=f"an archive of at most {limit_text(limit)}; submit masks as .nii.gz (compressed), "
                            "or leave masks out if you only predict probabilities and severities")


@dataclass(frozen=True)
class QuickCheck:
    problems: list[Problem]
    extension: str  # storage suffix of the detected format ("" when unknown)


def quick_check(handle: BinaryIO, *, file_name: str) -> QuickCheck:
    """Checks that need only the first bytes: a zip, tar.gz or tar; for zip a readable directory."""
    handle.seek(0)
    head = handle.read(512)
    try:
        archive_format = detect_format(head)
    except ArchiveError as error:
        return QuickCheck([Problem(error.message, file=file_name, expected=error.expected)], "")
    problems: list[Problem] = []
    if archive_format is ArchiveFormat.ZIP:
        try:  # bounded, by the same rules as the worker's reader
            names = read_zip_directory(handle, limits=ArchiveLimits())
        except ArchiveError as error:
            problems.append(Problem(error.message, file=file_name, expected=error.expected))
        else:
            if not any(name.rsplit("/", 1)[-1] == "predictions.csv" for name in names):
                problems.append(Problem("the archive has no predictions.csv", file=file_name,
                                        expected="predictions.csv (and optionally masks/<case_id>.nii.gz) at the "
                                                 "archive root or inside one top folder"))
    handle.seek(0)
    return QuickCheck(problems, EXTENSIONS[archive_format])


def sha256_and_size(handle: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    handle.seek(0)
    for block in iter(lambda: handle.read(CHUNK), b""):
        digest.update(block)
        size += len(block)
    handle.seek(0)
    return digest.hexdigest(), size

