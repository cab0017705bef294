"""The ``/output`` of a run: a size-limited tmpfs volume, fetched as a tar stream.

The volume is a tmpfs whose capacity is the output limit plus one page per allowed file
(tmpfs rounds every file up to whole pages) and whose inode count is the file limit plus its
root folder; writing past either fails inside the container with "No space left on device".
After the run the runner fetches the folder with ``get_archive`` into a tar file and counts
what it holds: more than ``output_bytes`` of file data, or the file limit reached by a
model that then failed, is "output too big". The tar file goes to the same archive reader
as uploads (:func:`evaluator.archive.read_archive`; its single top folder is ``output/``).
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

from docker.models.containers import Container

from .limits import ContainerLimits, MiB

PAGE_BYTES = 4096
#: Slack above the limits so that an output exactly at the limits always fits.
HEADROOM_BYTES = 1 * MiB
#: tar header + padding + a long-name header, per member, at most.
_TAR_OVERHEAD_PER_MEMBER = 2048


def tmpfs_volume_options(limits: ContainerLimits) -> dict[str, str]:
    """``driver_opts`` of the ``local`` volume driver for a run's ``/output`` tmpfs.

    The size goes as ``nr_blocks`` (pages), not ``size``: Podman 4 takes ``size`` for an XFS
    project quota and refuses it on other file systems, while both engines pass ``nr_blocks``
    on to the kernel.
    """
    capacity = limits.output_bytes + (limits.output_files + 1) * PAGE_BYTES + HEADROOM_BYTES
    blocks = -(-capacity // PAGE_BYTES)
    return {
        "type": "tmpfs",
        "device": "tmpfs",
        "o": f"nr_blocks={blocks},nr_inodes={limits.output_files + 1},mode=1777,nosuid,nodev",
    }


@dataclass(frozen=True, slots=True)
class CollectedOutput:
    """What a run left in ``/output``: the tar file (``None`` when over the limits) and its size."""

    tar_path: Path | None
    file_bytes: int
    entries: int
    too_big: bool
    files_limit_reached: bool


def collect_output(holder: Container, *, dest: Path, limits: ContainerLimits) -> CollectedOutput:
    """Fetch ``/output`` from the holder container into the tar file ``dest`` and measure it."""
    cap = (limits.output_bytes + HEADROOM_BYTES + (limits.output_files + 8) * _TAR_OVERHEAD_PER_MEMBER
           + (limits.output_files + 1) * PAGE_BYTES)
    stream, _ = holder.get_archive("/output")
    written = 0
    too_big = False
    with open(dest, "wb") as handle:
        for chunk in stream:
            written += len(chunk)
            if written > cap:
                too_big = True
                break
            handle.write(chunk)
    close = getattr(stream, "close", None)
    if close is not None:
        close()
    file_bytes, entries = (written, 0) if too_big else (0, 0)  # over the cap: bytes seen so far
    if not too_big:
        with tarfile.open(dest, mode="r:") as tar:
            for member in tar:
                if member.name.strip("/") in ("output", "."):
                    continue
                entries += 1
                if member.isreg():
                    file_bytes += member.size
        too_big = file_bytes > limits.output_bytes or entries > limits.output_files
    if too_big:
        dest.unlink(missing_ok=True)
    return CollectedOutput(
        tar_path=None if too_big else dest, file_bytes=file_bytes, entries=entries, too_big=too_big,
        files_limit_reached=entries >= limits.output_files,
    )
