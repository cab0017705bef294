"""Run a model image on the test images, within limits, through the Docker Engine API.

One run = one ``/output`` tmpfs volume, one holder container keeping it mounted
(:mod:`.holder`) and the model container: no network, every capability dropped,
``no-new-privileges``, read-only root file system with a small tmpfs ``/tmp``, the image's
non-root user, an init process, memory = memory+swap, a pids limit, a CPU quota, NVIDIA GPUs
when configured, and ``/input`` bind-mounted read-only. The runner enforces the wall-clock
limit itself (kill + reason), keeps the last ``log_bytes`` of stdout and of stderr, fetches
``/output`` as a tar file. Everything it creates carries the evaluation's label and is removed
at the end; a run first removes whatever a crashed run of the same evaluation left behind.

Works the same against Docker and against Podman's Docker-compatible service. Podman 4 on
cgroup v1 never reports ``OOMKilled``: a SIGKILL the runner did not send is then reported as
the memory limit (nothing else in a capability-less container sends SIGKILL to the model's
main process, except the model itself).
"""

from __future__ import annotations

import io
import re
import secrets
import tarfile
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container
from docker.types import DeviceRequest, Mount

from .holder import HOLDER_USER, ensure_holder_image
from .image_tarball import config_problems
from .images import image_config_from_attrs
from .limits import ContainerLimits, MiB
from .logs import log_config, read_logs
from .output import collect_output, tmpfs_volume_options
from .users import numeric_uid, passwd_uid, runs_as_root, split_user

LABEL_EVALUATION = "leaderboard.evaluation"
LABEL_ROLE = "leaderboard.role"
SIGKILL_EXIT = 128 + 9
OUTPUT_TAR = "output.tar"
_KILL_WAIT_SECONDS = 30.0
_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class FailureReason(StrEnum):
    """Why a run failed, in words a team can act on (:data:`REASON_TEXT`)."""

    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_TOO_BIG = "output_too_big"
    EXIT_CODE = "exit_code"
    MALFORMED_OUTPUT = "malformed_output"  # found by the archive reader, after the run
    RUNS_AS_ROOT = "runs_as_root"
    BAD_IMAGE = "bad_image"
    ENGINE_ERROR = "engine_error"  # the worker's container engine failed: not the team's fault, retry


REASON_TEXT = {
    FailureReason.TIME_LIMIT: "time limit exceeded",
    FailureReason.MEMORY_LIMIT: "memory limit exceeded",
    FailureReason.OUTPUT_TOO_BIG: "output too big",
    FailureReason.EXIT_CODE: "exited with an error",
    FailureReason.MALFORMED_OUTPUT: "malformed output",
    FailureReason.RUNS_AS_ROOT: "image runs as root",
    FailureReason.BAD_IMAGE: "bad image",
    FailureReason.ENGINE_ERROR: "container engine error",
}


@dataclass(frozen=True, slots=True)
class RunTimings:
    """Seconds spent. ``model`` is the container's own run time as the engine reports it."""

    setup: float = 0.0      # leftovers removed, volume + holder + model container created
    start: float = 0.0      # the start call
    run: float = 0.0        # start returned -> exit seen (or kill)
    collect: float = 0.0    # state, logs, /output fetched
    cleanup: float = 0.0    # containers + volume removed
    total: float = 0.0
    model: float = 0.0

    @property
    def overhead(self) -> float:
        """Everything but the model's own run time."""
        return max(0.0, self.total - self.model)

    def to_dict(self) -> dict[str, float]:
        names = ("setup", "start", "run", "collect", "cleanup", "total", "model")
        return {name: round(getattr(self, name), 4) for name in names} | {"overhead": round(self.overhead, 4)}


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one run. ``message`` is for the team; ``output_tar`` is set only on success."""

    status: RunStatus
    reason: FailureReason | None
    message: str
    exit_code: int | None
    stdout: str
    stderr: str
    logs_truncated: bool
    output_tar: Path | None
    output_bytes: int
    timings: RunTimings

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    @property
    def logs(self) -> str:
        """stdout then stderr, as one text for display."""
        parts = [f"--- {name} ---\n{text}" for name, text in (("stdout", self.stdout), ("stderr", self.stderr)) if text]
        return "\n".join(part if part.endswith("\n") else part + "\n" for part in parts)


def evaluation_key(evaluation_id: object) -> str:
    """The evaluation id as it appears in labels and names (``[A-Za-z0-9_.-]``, at most 64 chars)."""
    key = _ID_CHARS.sub("-", str(evaluation_id)).strip("-.")[:64]
    if not key:
        raise ValueError(f"unusable evaluation id {evaluation_id!r}")
    return key


def remove_leftovers(client: docker.DockerClient, *, evaluation_id: object | None = None) -> int:
    """Remove containers and volumes of one evaluation (of every evaluation when ``None``).

    Call with ``None`` only when no other run can be using the same engine (worker start-up
    with one worker per engine). Returns how many objects were removed.
    """
    label = LABEL_EVALUATION if evaluation_id is None else f"{LABEL_EVALUATION}={evaluation_key(evaluation_id)}"
    removed = 0
    for container in client.containers.list(all=True, filters={"label": label}):
        try:
            container.remove(force=True)
            removed += 1
        except NotFound:
            pass
    for volume in client.volumes.list(filters={"label": label}):
        try:
            volume.remove(force=True)
            removed += 1
        except NotFound:
            pass
    return removed


def _model_options(limits: ContainerLimits, *, input_dir: Path, volume: str) -> dict:
    options: dict = dict(
        network_disabled=True,
        network_mode="none",
        mem_limit=limits.memory_bytes,
        memswap_limit=limits.memory_bytes,
        pids_limit=limits.pids,
        nano_cpus=int(limits.cpus * 1e9),
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        read_only=limits.read_only_root,
        init=True,
        tmpfs={"/tmp": f"size={limits.tmp_bytes},mode=1777,nosuid,nodev"},
        shm_size=limits.shm_bytes,
        mounts=[
            Mount(target="/input", source=str(input_dir), type="bind", read_only=True),
            Mount(target="/output", source=volume, type="volume"),
        ],
        log_config=log_config(driver=limits.log_driver, engine_log_bytes=limits.engine_log_bytes),
        hostname="model",
    )
    if limits.gpu is not None:
        options["device_requests"] = [DeviceRequest(
            count=limits.gpu.count, device_ids=list(limits.gpu.device_ids) or None,
            capabilities=[list(limits.gpu.capabilities)],
        )]
    return options


def _holder_options(volume: str) -> dict:
    return dict(
        user=HOLDER_USER, network_disabled=True, network_mode="none", read_only=True, cap_drop=["ALL"],
        security_opt=["no-new-privileges"], mem_limit=16 * MiB, memswap_limit=16 * MiB, pids_limit=8,
        mounts=[Mount(target="/output", source=volume, type="volume")], hostname="holder",
    )


def _read_passwd(container: Container) -> str | None:
    """The image's /etc/passwd, read from the created (not started) container."""
    try:
        stream, stat = container.get_archive("/etc/passwd")
    except (NotFound, APIError):
        return None
    if stat.get("size", 0) > 4 * MiB:
        return None
    data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if member.isreg():
                handle = tar.extractfile(member)
                return handle.read().decode("utf-8", errors="replace") if handle else None
    return None


def _exists(container: Container, path: str) -> bool:
    """Whether ``path`` exists in the container (the archive endpoint's HEAD: a stat, no content)."""
    api = container.client.api
    response = api.head(api._url("/containers/{0}/archive", container.id), params={"path": path})
    if response.status_code == 404:
        return False
    response.raise_for_status()
    return True


def _image_failure(container: Container, *, user: str, attrs: dict) -> tuple[FailureReason, str] | None:
    """What the created container shows about its image: a missing entrypoint, a user that is root."""
    config = attrs.get("Config") or {}
    program = (config.get("Entrypoint") or config.get("Cmd") or [""])[0]
    if program.startswith("/") and not _exists(container, program):
        return FailureReason.BAD_IMAGE, f"the image's program {program!r} (ENTRYPOINT/CMD) does not exist in it"
    if numeric_uid(user) is not None:
        return None
    name, _ = split_user(user)
    passwd = _read_passwd(container)
    uid = passwd_uid(passwd, name) if passwd is not None else None
    if uid is None:
        return FailureReason.BAD_IMAGE, f"the image's USER {name!r} is not listed in its /etc/passwd"
    if uid == 0:
        return FailureReason.RUNS_AS_ROOT, f"the image's USER {name!r} has uid 0 (root) in its /etc/passwd"
    return None


def _engine_seconds(state: dict) -> float | None:
    try:
        started = datetime.fromisoformat(state["StartedAt"].replace("Z", "+00:00"))
        finished = datetime.fromisoformat(state["FinishedAt"].replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    seconds = (finished - started).total_seconds()
    return seconds if seconds >= 0 else None


def _mib(n: int) -> str:
    return f"{n / MiB:,.0f} MiB"


class _Clock:
    def __init__(self) -> None:
        self.begin = self.last = time.perf_counter()
        self.spans: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.spans[name] = self.spans.get(name, 0.0) + now - self.last
        self.last = now

    def timings(self, *, model: float | None) -> RunTimings:
        total = time.perf_counter() - self.begin
        run = self.spans.get("run", 0.0)
        return RunTimings(setup=self.spans.get("setup", 0.0), start=self.spans.get("start", 0.0), run=run,
                          collect=self.spans.get("collect", 0.0), cleanup=self.spans.get("cleanup", 0.0),
                          total=total, model=run if model is None else min(model, run))


def _remove(client: docker.DockerClient, containers: list[Container], volume: str | None) -> None:
    """Best effort: what stays behind is removed by the next run of the evaluation (by label)."""
    for container in containers:
        try:
            container.remove(force=True)
        except (DockerException, requests.exceptions.RequestException):
            pass
    if volume is not None:
        try:
            client.volumes.get(volume).remove(force=True)
        except (DockerException, requests.exceptions.RequestException):
            pass


def run_model(*, client: docker.DockerClient, image: str, input_dir: Path | str, evaluation_id: object,
              limits: ContainerLimits, workdir: Path | str) -> RunResult:
    """Run ``image`` (an id or reference already in the engine) on ``input_dir``; never raises for the model's faults.

    ``input_dir`` (from :func:`~.input_dir.prepare_input_dir`) must be a path on the engine's
    host. ``workdir``: an existing private folder; on success ``workdir/output.tar`` holds
    ``/output``. Failures of the engine itself come back as ``ENGINE_ERROR``.
    """
    clock = _Clock()
    key = evaluation_key(evaluation_id)
    workdir = Path(workdir)
    input_dir = Path(input_dir).resolve()
    prefix = f"lb-{key}-{secrets.token_hex(4)}"
    labels = {LABEL_EVALUATION: key}
    containers: list[Container] = []
    volume_name: str | None = None
    exit_code: int | None = None
    stdout, stderr, logs_truncated, output_bytes, model_seconds = "", "", False, 0, None
    phase = "setup"  # the span that time goes to until the next mark

    def result(reason: FailureReason | None, message: str, output_tar: Path | None = None) -> RunResult:
        nonlocal volume_name
        clock.mark(phase)
        _remove(client, containers, volume_name)
        containers.clear()
        volume_name = None
        if reason is not None:
            (workdir / OUTPUT_TAR).unlink(missing_ok=True)
        clock.mark("cleanup")
        return RunResult(
            status=RunStatus.SUCCEEDED if reason is None else RunStatus.FAILED, reason=reason, message=message,
            exit_code=exit_code, stdout=stdout, stderr=stderr, logs_truncated=logs_truncated, output_tar=output_tar,
            output_bytes=output_bytes, timings=clock.timings(model=model_seconds),
        )

    try:
        remove_leftovers(client, evaluation_id=key)
        try:
            attrs = client.images.get(image).attrs
        except NotFound:  # ImageNotFound, or Podman's other wording
            return result(FailureReason.BAD_IMAGE, f"image {image} is not loaded on this worker")
        user = str((attrs.get("Config") or {}).get("User") or "").strip()
        problems = config_problems(image_config_from_attrs(attrs), file="image")
        if problems:
            return result(FailureReason.RUNS_AS_ROOT if runs_as_root(user) else FailureReason.BAD_IMAGE,
                          "; ".join(str(problem) for problem in problems))
        holder_image = ensure_holder_image(client)
        volume_name = client.volumes.create(name=f"{prefix}-output", driver="local",
                                            driver_opts=tmpfs_volume_options(limits), labels=labels).name
        holder = client.containers.create(holder_image, name=f"{prefix}-holder", labels=labels | {LABEL_ROLE: "holder"},
                                          **_holder_options(volume_name))
        containers.append(holder)
        holder.start()
        try:
            model = client.containers.create(attrs["Id"], name=f"{prefix}-model", user=user,
                                             labels=labels | {LABEL_ROLE: "model"},
                                             **_model_options(limits, input_dir=input_dir, volume=volume_name))
        except APIError as exc:
            if exc.is_client_error():
                return result(FailureReason.BAD_IMAGE, f"the container could not be created: {exc.explanation}")
            raise
        containers.insert(0, model)
        failure = _image_failure(model, user=user, attrs=attrs)
        if failure is not None:
            return result(*failure)
        clock.mark("setup")
        phase = "start"
        try:
            model.start()
        except APIError as exc:
            return result(FailureReason.BAD_IMAGE, f"the container did not start: {exc.explanation or exc}")
        clock.mark("start")
        phase = "run"
        started = time.perf_counter()
        timed_out = False
        try:
            model.wait(timeout=limits.wall_clock_seconds)
        except requests.exceptions.RequestException:
            if time.perf_counter() - started < limits.wall_clock_seconds * 0.99:
                raise
            timed_out = True
            try:
                model.kill()
            except APIError:  # it exited meanwhile
                pass
            model.wait(timeout=_KILL_WAIT_SECONDS)
        clock.mark("run")
        phase = "collect"

        model.reload()
        state = model.attrs.get("State") or {}
        exit_code = state.get("ExitCode")
        model_seconds = _engine_seconds(state)
        stdout, stderr, logs_truncated = read_logs(model, limit=limits.log_bytes)
        collected = collect_output(holder, dest=workdir / OUTPUT_TAR, limits=limits)
        output_bytes = collected.file_bytes

        if timed_out:
            return result(FailureReason.TIME_LIMIT,
                          f"still running after the wall-clock limit of {limits.wall_clock_seconds:g} s: stopped")
        if state.get("OOMKilled"):
            return result(FailureReason.MEMORY_LIMIT, f"killed for going over the memory limit of "
                          f"{_mib(limits.memory_bytes)} (files in /output, /tmp and /dev/shm count too)")
        if exit_code == SIGKILL_EXIT:
            return result(FailureReason.MEMORY_LIMIT, f"killed by SIGKILL, which the runner did not send: almost "
                          f"certainly the memory limit of {_mib(limits.memory_bytes)} (files in /output, /tmp and "
                          "/dev/shm count too)")
        if collected.too_big or (exit_code != 0 and collected.files_limit_reached):
            what = (f"{collected.file_bytes:,} bytes" if collected.file_bytes > limits.output_bytes
                    else f"{collected.entries:,} files and folders")
            return result(FailureReason.OUTPUT_TOO_BIG, f"wrote {what} to /output; the limits are "
                          f"{limits.output_bytes:,} bytes and {limits.output_files:,} files and folders")
        if exit_code != 0:
            return result(FailureReason.EXIT_CODE, f"exited with code {exit_code}")
        return result(None, "finished", output_tar=collected.tar_path)
    except (DockerException, requests.exceptions.RequestException, OSError, tarfile.TarError) as exc:
        return result(FailureReason.ENGINE_ERROR, f"the container engine failed: {exc}")
    finally:
        _remove(client, containers, volume_name)
