"""Bring a model image into the container engine, and remove it again.

Two ways in: an uploaded ``docker save`` tarball, checked first by
:func:`~.image_tarball.inspect_image_tarball` and then loaded (gzip undone on the way, since
Podman's API only loads plain tar), or a digest-pinned reference pulled from a configured
registry and checked after the pull. Either way the image is then known by its id
(``sha256:`` + config digest), which is what :func:`~.sandbox.run_model` runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from evaluator.problems import InvalidInput, Problem

from .image_tarball import ImageInfo, compression_of, config_problems, iter_tar_bytes
from .limits import ImageLimits

#: ``registry[:port]/path/name@sha256:<64 hex>``: a registry host and a digest are required.
IMAGE_REFERENCE = re.compile(
    r"(?P<registry>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?)"
    r"/(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"@(?P<digest>sha256:[0-9a-f]{64})"
)
EXPECTED_REFERENCE = "registry.example.org/team/model@sha256:<64 hex digits> (pinned by digest)"


class ImageLoadError(Exception):
    """The engine refused or mangled an image that passed the checks (a bad image)."""


def image_config_from_attrs(attrs: dict) -> dict:
    """An engine's ``inspect`` answer in the shape of a ``docker save`` image config."""
    return {"os": attrs.get("Os"), "architecture": attrs.get("Architecture"), "config": attrs.get("Config") or {}}


def load_image_tarball(client: docker.DockerClient, path: Path | str, *, info: ImageInfo) -> str:
    """Load a tarball that :func:`inspect_image_tarball` accepted (as ``info``); returns its image id.

    Raises :class:`ImageLoadError` when the engine refuses it or loads another image.
    """
    path = Path(path)
    try:
        if compression_of(path) == "gzip":
            loaded = client.images.load(iter_tar_bytes(path))
        else:
            with open(path, "rb") as handle:
                loaded = client.images.load(handle)
    except APIError as exc:
        raise ImageLoadError(f"the container engine could not load the image: {exc.explanation or exc}") from exc
    ids = {image.id for image in loaded}
    if info.image_id not in ids:
        try:
            client.images.get(info.image_id)
        except NotFound:  # ImageNotFound, or Podman's other wording
            raise ImageLoadError(f"the engine loaded {sorted(ids)}, not the checked image {info.image_id}") from None
    return info.image_id


def reference_problems(reference: str) -> list[Problem]:
    """Why an image reference cannot be pulled (empty when it is acceptable)."""
    if IMAGE_REFERENCE.fullmatch(reference.strip()):
        return []
    if "@sha256:" not in reference:
        return [Problem(f"image reference {reference!r} is not pinned by digest", expected=EXPECTED_REFERENCE)]
    return [Problem(f"invalid image reference {reference!r}", expected=EXPECTED_REFERENCE)]


def pull_image(client: docker.DockerClient, reference: str, *, limits: ImageLimits = ImageLimits(),
               auth_config: dict | None = None) -> ImageInfo:
    """Pull a digest-pinned image for linux/amd64 and check it as an uploaded one would be.

    Raises InvalidInput (bad reference, refused image: the image is removed again) or
    ImageLoadError (the pull failed).
    """
    reference = reference.strip()
    problems = reference_problems(reference)
    if problems:
        raise InvalidInput(problems, what="image reference")
    try:
        image = client.images.pull(reference, platform="linux/amd64", auth_config=auth_config)
    except (APIError, NotFound) as exc:
        raise ImageLoadError(f"could not pull {reference}: {getattr(exc, 'explanation', None) or exc}") from exc
    attrs = image.attrs
    problems = config_problems(image_config_from_attrs(attrs), file=reference)
    size = int(attrs.get("Size") or 0)
    if size > limits.max_image_bytes:
        problems.append(Problem(f"has {size:,} bytes", file=reference,
                                expected=f"an image of at most {limits.max_image_bytes:,} bytes"))
    if problems:
        remove_image(client, image.id)
        raise InvalidInput(problems, what="image")
    config = attrs.get("Config") or {}
    return ImageInfo(
        image_id=image.id, user=str(config.get("User")).strip(), os=attrs["Os"], architecture=attrs["Architecture"],
        entrypoint=tuple(config.get("Entrypoint") or ()), cmd=tuple(config.get("Cmd") or ()),
        repo_tags=tuple(attrs.get("RepoDigests") or ()), layers=len((attrs.get("RootFS") or {}).get("Layers") or ()),
        file_bytes=0, image_bytes=size,
    )


def remove_image(client: docker.DockerClient, image_id: str) -> bool:
    """Remove an image no longer needed: its tags first, then the image itself.

    Never forced, so an image still used by a container (or tagged by someone else
    meanwhile) stays. Returns whether it is gone; an engine error (also on the first lookup) is ``False``, never an
    exception, so a caller that removes an image on its way to reporting another problem still reports that one.
    """
    try:
        image = client.images.get(image_id)
    except NotFound:  # ImageNotFound, or Podman's other wording
        return True
    except APIError:
        return False
    try:
        for tag in image.tags:
            client.images.remove(tag, noprune=False)
        client.images.remove(image_id, noprune=False)
    except NotFound:  # ImageNotFound, or Podman's other wording
        return True
    except APIError:
        return False
    return True
