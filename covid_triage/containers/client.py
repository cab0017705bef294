"""Connecting to the container engine: Docker, or Podman's Docker-compatible API service."""

from __future__ import annotations

import os

import docker

#: Where scripts/setup-podman starts Podman's API service on this machine.
PODMAN_SOCKET = "unix:///run/podman/podman.sock"


def engine_url(base_url: str | None = None) -> str:
    """``base_url``, else ``$DOCKER_HOST``, else the Podman socket of scripts/setup-podman."""
    return base_url or os.environ.get("DOCKER_HOST") or PODMAN_SOCKET


def connect(base_url: str | None = None, *, timeout: float = 120.0) -> docker.DockerClient:
    """A client for the engine at :func:`engine_url`; raises docker.errors.DockerException if it does not answer.

    ``timeout`` bounds each API call (the runner passes its own for the long wait on the model).
    """
    client = docker.DockerClient(base_url=engine_url(base_url), timeout=timeout)
    client.ping()
    return client
