"""``covid-triage run-local``: a model image run exactly as the server runs it, on the public images.

The run itself is the server's :func:`~.sandbox.run_model` (same limits, tmpfs ``/output`` and ``/tmp``, shm
size, read-only root, no capabilities, ``no-new-privileges``, user and entrypoint checks, no network); ``/input``
is the server's :func:`~.input_dir.prepare_input_dir` layout, filled with the public cases of the public-images
download (the server adds the private cases); ``/output`` is fetched as the server fetches it and validated with
:func:`evaluator.public_images.validate_against_images`, the checks the server makes before scoring. Needs the
``containers`` extra (the Docker SDK for Python) and a Docker or Podman engine.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import docker

from evaluator.problems import Problem
from evaluator.public_images import PublicImages, validate_against_images

from .image_tarball import inspect_image_tarball
from .images import load_image_tarball
from .input_dir import prepare_input_dir
from .limits import ContainerLimits
from .sandbox import RunResult, run_model

INPUT_FOLDER = "input"


@dataclass(frozen=True, slots=True)
class _PublicCase:
    case_id: str
    image: Path


@dataclass(frozen=True, slots=True)
class LocalRun:
    """A local run: the server's :class:`RunResult`, the image run, and the problems of its output (if it ran)."""

    image: str
    result: RunResult
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.problems


def image_in_engine(client: docker.DockerClient, image: str) -> str:
    """``image`` itself, or, for a ``docker save`` tarball, the id of the image loaded from it after the server's
    inspection (:func:`~.image_tarball.inspect_image_tarball`; raises InvalidInput or ImageLoadError)."""
    path = Path(image)
    if not path.is_file():
        return image
    info = inspect_image_tarball(path)
    return load_image_tarball(client, path, info=info)


def run_local(client: docker.DockerClient, image: str, *, images: PublicImages, out: Path,
              limits: ContainerLimits) -> LocalRun:
    """Run ``image`` (in the engine already, or a tarball) on the public cases; ``out``: a new or empty folder.

    ``out/input`` is the ``/input`` given to the model; on success ``out/output.tar`` holds its ``/output``.
    Raises ValueError when ``out`` is not empty, InvalidInput / ImageLoadError for a refused tarball.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ValueError(f"output folder {out} is not empty: give a new one with --out")
    image_id = image_in_engine(client, image)
    cases = [_PublicCase(case_id, images.image_path(case_id)) for case_id in images.geometries]
    input_dir = out / INPUT_FOLDER
    prepare_input_dir(cases, dest=input_dir)
    result = run_model(client=client, image=image_id, input_dir=input_dir,
                       evaluation_id=f"local-{secrets.token_hex(4)}", limits=limits, workdir=out)
    problems: list[Problem] = []
    if result.ok and result.output_tar is not None:
        problems = validate_against_images(result.output_tar, images=images, workdir=out)
    return LocalRun(image=image_id, result=result, problems=problems)
