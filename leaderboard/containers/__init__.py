"""Containerised model submissions: check an image, run it on the test images within limits, collect its output.

The code lives in ``covid_triage.containers`` (Django-free, shared with ``covid-triage run-local``) and is
re-exported here. The site's Celery tasks call it with a ``docker`` client connected to Docker (GPU hosts) or to
Podman's Docker-compatible service (scripts/setup-podman). The contract for teams and both set-ups are in
deploy/containers.md.
"""

from covid_triage.containers.client import PODMAN_SOCKET, connect, engine_url
from covid_triage.containers.image_tarball import ImageInfo, inspect_image_tarball
from covid_triage.containers.images import (
    ImageLoadError,
    load_image_tarball,
    pull_image,
    reference_problems,
    remove_image,
)
from covid_triage.containers.input_dir import prepare_input_dir
from covid_triage.containers.limits import ContainerLimits, GpuRequest, ImageLimits
from covid_triage.containers.sandbox import (
    REASON_TEXT,
    FailureReason,
    RunResult,
    RunStatus,
    RunTimings,
    evaluation_key,
    remove_leftovers,
    run_model,
)

__all__ = [
    "PODMAN_SOCKET",
    "REASON_TEXT",
    "ContainerLimits",
    "FailureReason",
    "GpuRequest",
    "ImageInfo",
    "ImageLimits",
    "ImageLoadError",
    "RunResult",
    "RunStatus",
    "RunTimings",
    "connect",
    "engine_url",
    "evaluation_key",
    "inspect_image_tarball",
    "load_image_tarball",
    "prepare_input_dir",
    "pull_image",
    "reference_problems",
    "remove_image",
    "remove_leftovers",
    "run_model",
]
