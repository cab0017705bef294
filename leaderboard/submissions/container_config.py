"""Configuration of container submissions: limits per test set, image limits, registries, the worker's GPUs.

Limits of a run = :class:`~leaderboard.containers.ContainerLimits` defaults, overridden by
the site's ``LEADERBOARD_CONTAINER_LIMITS`` (JSON, ContainerLimits field names), overridden by
the test set's :class:`~.models.ContainerPolicy` (admin). The GPU request comes from the
worker's own environment (``LEADERBOARD_GPU_DEVICE_IDS`` or ``LEADERBOARD_GPU_COUNT``) and is
used only where the policy (or ``LEADERBOARD_CONTAINER_USE_GPU``) asks for a GPU.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from covid_triage.containers.limits import KiB, MiB
from leaderboard.containers import ContainerLimits, GpuRequest, ImageLimits
from leaderboard.testsets.models import TestSet

from .models import ContainerPolicy

#: ContainerPolicy field -> (ContainerLimits field, unit in bytes or 1).
_POLICY_FIELDS = {
    "memory_mib": ("memory_bytes", MiB),
    "cpus": ("cpus", 1),
    "pids": ("pids", 1),
    "wall_clock_seconds": ("wall_clock_seconds", 1),
    "output_mib": ("output_bytes", MiB),
    "output_files": ("output_files", 1),
    "tmp_mib": ("tmp_bytes", MiB),
    "shm_mib": ("shm_bytes", MiB),
    "log_kib": ("log_bytes", KiB),
}
_SITE_KEYS = frozenset(f.name for f in dataclasses.fields(ContainerLimits)) - {"gpu"}


def containers_enabled() -> bool:
    """Whether this site accepts container submissions (a runner task is configured)."""
    return bool(settings.LEADERBOARD_CONTAINER_TASK)


def site_limits() -> ContainerLimits:
    """ContainerLimits' defaults with ``LEADERBOARD_CONTAINER_LIMITS`` applied (no GPU)."""
    overrides = dict(settings.LEADERBOARD_CONTAINER_LIMITS)
    unknown = sorted(set(overrides) - _SITE_KEYS)
    if unknown:
        raise ImproperlyConfigured(f"LEADERBOARD_CONTAINER_LIMITS: unknown keys {', '.join(unknown)}; expected some "
                                   f"of {', '.join(sorted(_SITE_KEYS))}")
    try:
        return ContainerLimits(**overrides)
    except (TypeError, ValueError) as error:
        raise ImproperlyConfigured(f"LEADERBOARD_CONTAINER_LIMITS: {error}") from None


def worker_gpu() -> GpuRequest | None:
    """This worker's GPUs for containers, from its environment; ``None`` when it has none configured."""
    ids, count = tuple(settings.LEADERBOARD_GPU_DEVICE_IDS), settings.LEADERBOARD_GPU_COUNT
    if ids and count:
        raise ImproperlyConfigured("set LEADERBOARD_GPU_DEVICE_IDS or LEADERBOARD_GPU_COUNT, not both")
    if ids:
        return GpuRequest(device_ids=ids)
    return GpuRequest(count=count) if count else None


def _policy(testset: TestSet) -> ContainerPolicy | None:
    return ContainerPolicy.objects.filter(testset=testset).first()


def uses_gpu(testset: TestSet) -> bool:
    policy = _policy(testset)
    if policy is not None and policy.use_gpu is not None:
        return policy.use_gpu
    return settings.LEADERBOARD_CONTAINER_USE_GPU


def limits_for(testset: TestSet, *, gpu: GpuRequest | None = None) -> ContainerLimits:
    """The limits of a run on ``testset``; ``gpu`` (the worker's) is applied only if the test set uses GPUs."""
    limits = site_limits()
    policy = _policy(testset)
    if policy is not None:
        changes = {target: getattr(policy, name) * unit for name, (target, unit) in _POLICY_FIELDS.items()
                   if getattr(policy, name) is not None}
        if "wall_clock_seconds" in changes:
            changes["wall_clock_seconds"] = float(changes["wall_clock_seconds"])
        limits = dataclasses.replace(limits, **changes)
    if gpu is not None and uses_gpu(testset):
        limits = dataclasses.replace(limits, gpu=gpu)
    return limits


def image_limits() -> ImageLimits:
    """Limits of an uploaded image tarball (file as uploaded, uncompressed image)."""
    return ImageLimits(max_file_bytes=settings.LEADERBOARD_MAX_IMAGE_UPLOAD_BYTES,
                       max_image_bytes=settings.LEADERBOARD_MAX_IMAGE_BYTES)


def _size(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            value = n / size
            return f"{value:,.0f} {unit}" if value == int(value) else f"{value:,.1f} {unit}"
    return f"{n:,.0f} bytes"


def limits_for_teams(testset: TestSet) -> list[tuple[str, str]]:
    """The limits of ``testset`` as (what, value) rows for the submission page and the API."""
    limits = limits_for(testset)
    gpu = "the worker's NVIDIA GPU(s), when it has one" if uses_gpu(testset) else "none (CPU only)"
    rows = [
        ("Wall-clock time", f"{limits.wall_clock_seconds:,.0f} s"),
        ("Memory (no swap; files in /output, /tmp, /dev/shm count too)", _size(limits.memory_bytes)),
        ("CPUs", f"{limits.cpus:g}"),
        ("Processes and threads", f"{limits.pids:,}"),
        ("GPU", gpu),
        ("Network", "none"),
        ("/output", f"{_size(limits.output_bytes)}, {limits.output_files:,} files and folders"),
        ("/tmp", _size(limits.tmp_bytes)),
        ("/dev/shm", _size(limits.shm_bytes)),
        ("Root file system", "read-only" if limits.read_only_root else "writable"),
        ("stdout and stderr kept for you", f"the last {_size(limits.log_bytes)} of each"),
        ("Image tarball", f"at most {_size(settings.LEADERBOARD_MAX_IMAGE_UPLOAD_BYTES)} as uploaded, "
                          f"{_size(settings.LEADERBOARD_MAX_IMAGE_BYTES)} uncompressed; linux/amd64, non-root USER"),
    ]
    policy = _policy(testset)
    if policy is not None and policy.notes:
        rows.append(("Notes", policy.notes))
    return rows


def registry_of(reference: str) -> str:
    return reference.strip().split("/", 1)[0]
