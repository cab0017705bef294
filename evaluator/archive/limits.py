"""Resource limits for reading one prediction archive.

Defaults are sized for a full-resolution submission on the 123 cases of Mosmed-Test
(masks as ``.nii.gz``, a few hundred KiB each) with a wide safety margin; docs/archive-format.md
lists them for participants.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Limits applied while an archive is streamed; sizes in bytes.

    ``max_total_bytes`` counts inflated bytes as they are read, never the sizes an archive
    declares: for zip, the bytes read from the members we extract; for tar and tar.gz, the
    whole tar stream (headers and skipped members included), since skipping means inflating.

    ``max_ratio`` bounds inflated / compressed bytes: per member for zip (against the
    member's compressed size), over the whole stream so far for tar.gz. It is enforced only
    once ``ratio_grace_bytes`` have been inflated, so tiny members cannot trip it. Deflate,
    the only compression accepted (zip members and gzip), cannot exceed about 1,032:1, and a
    raw ``.nii`` mask of zeros legitimately reaches ~1,030:1 (most masks are all-zero: every
    non-COVID case), so the default sits just above what deflate can reach. It is defence in
    depth: what bounds time, disk and memory is ``max_total_bytes`` with the per-file limits.
    """

    #: Entries of any kind (files, folders, macOS junk) in the archive.
    max_members: int = 10_000
    #: Inflated bytes in all (see above).
    max_total_bytes: int = 8 * GiB
    #: One mask file as stored in the archive (a ``.nii.gz`` is counted compressed).
    max_mask_bytes: int = 1 * GiB
    #: The predictions.csv file.
    max_csv_bytes: int = 10 * MiB
    #: Inflated : compressed bytes (see above).
    max_ratio: float = 1_100.0
    #: Inflated bytes before ``max_ratio`` is enforced.
    ratio_grace_bytes: int = 1 * MiB

    def __post_init__(self) -> None:
        for field in fields(self):
            if not getattr(self, field.name) > 0:
                raise ValueError(f"ArchiveLimits.{field.name} must be positive")
