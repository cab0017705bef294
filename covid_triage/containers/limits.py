"""Limits for validating model images and running model containers.

Sizes are in bytes, times in seconds. The site stores one :class:`ContainerLimits` per test
set (or setting) and shows it to teams; a GPU worker adds its own :class:`GpuRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuRequest:
    """Which NVIDIA GPUs a container gets: ``count`` GPUs (-1 = all) or the listed ``device_ids``."""

    count: int | None = None
    device_ids: tuple[str, ...] = ()
    #: Docker's device-request capabilities; ``("gpu",)`` is what ``docker run --gpus`` asks for.
    capabilities: tuple[str, ...] = ("gpu",)

    def __post_init__(self) -> None:
        if (self.count is None) == (not self.device_ids):
            raise ValueError("GpuRequest needs exactly one of count and device_ids")
        if self.count is not None and not (self.count == -1 or self.count > 0):
            raise ValueError("GpuRequest.count must be positive or -1 (all GPUs)")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerLimits:
    """What one model run may use.

    ``memory_bytes`` is also the memory+swap limit (no swap). Files written to ``/output``,
    ``/tmp`` and ``/dev/shm`` live in memory (tmpfs) and count against ``memory_bytes`` too.
    ``output_bytes`` bounds the bytes of the files in ``/output`` and ``output_files`` their
    number (folders included). ``log_bytes`` is how much of stdout and of stderr (each) is
    kept for the team: the last bytes when there is more. ``engine_log_bytes`` caps the
    engine's log file of the container (its own format adds up to ~10x for short lines; past
    the cap the engine drops older lines), so a model printing without end cannot fill the disk.
    """

    memory_bytes: int = 8 * GiB
    pids: int = 512
    cpus: float = 4.0
    wall_clock_seconds: float = 3600.0
    output_bytes: int = 2 * GiB
    output_files: int = 10_000
    tmp_bytes: int = 1 * GiB
    shm_bytes: int = 256 * MiB
    log_bytes: int = 256 * KiB
    engine_log_bytes: int = 64 * MiB
    read_only_root: bool = True
    gpu: GpuRequest | None = None
    #: Docker log driver for the model's stdout/stderr (capped on the daemon side too).
    log_driver: str = "json-file"

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not value > 0:
                raise ValueError(f"ContainerLimits.{item.name} must be positive")
        if self.memory_bytes < 6 * MiB:
            raise ValueError("ContainerLimits.memory_bytes must be at least 6 MiB (Docker's minimum)")

    def describe(self) -> dict[str, object]:
        """The limits as teams see them (JSON-ready)."""
        return {
            "memory_bytes": self.memory_bytes,
            "pids": self.pids,
            "cpus": self.cpus,
            "wall_clock_seconds": self.wall_clock_seconds,
            "output_bytes": self.output_bytes,
            "output_files": self.output_files,
            "tmp_bytes": self.tmp_bytes,
            "shm_bytes": self.shm_bytes,
            "log_bytes": self.log_bytes,
            "engine_log_bytes": self.engine_log_bytes,
            "read_only_root": self.read_only_root,
            "network": False,
            "gpu": None if self.gpu is None else (
                {"count": self.gpu.count} if self.gpu.count is not None else {"device_ids": list(self.gpu.device_ids)}
            ),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageLimits:
    """Limits for an uploaded ``docker save`` tarball, checked while it is streamed."""

    #: The file as uploaded (gzip-compressed or not).
    max_file_bytes: int = 20 * GiB
    #: The uncompressed tar stream (every layer included).
    max_image_bytes: int = 40 * GiB
    #: Entries in the outer tar (layers, configs, folders).
    max_members: int = 10_000
    #: A JSON member (manifest, image config) read into memory.
    max_json_bytes: int = 4 * MiB

    def __post_init__(self) -> None:
        for item in fields(self):
            if not getattr(self, item.name) > 0:
                raise ValueError(f"ImageLimits.{item.name} must be positive")
