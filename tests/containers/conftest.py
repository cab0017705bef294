"""Fixtures for real-container tests: the engine (Podman's API service here), tiny busybox images, /input.

Images are built through the Engine API (works with Docker too) from Debian's busybox-static,
without a registry: a base image (``FROM scratch`` + busybox) and, per behaviour, one layer
with a shell script as the entrypoint. When the engine is not reachable the tests FAIL with
the command that sets it up: CI runs scripts/setup-podman first.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

from covid_triage.containers.limits import KiB, MiB
from covid_triage.containers.sandbox import LABEL_EVALUATION
from evaluator.testset import TestSet, load_testset
from leaderboard.containers import ContainerLimits, connect, engine_url, prepare_input_dir, remove_image

from ..evaluator.tiny_testset import write_tiny_testset

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static (a static binary, so it runs FROM scratch)
TEST_REPOSITORY = "localhost/leaderboard-test"

#: Small limits so that misbehaviour is caught fast; generous enough for a busybox script.
LIMITS = ContainerLimits(
    memory_bytes=96 * MiB, pids=64, cpus=1.0, wall_clock_seconds=30, output_bytes=4 * MiB, output_files=50,
    tmp_bytes=8 * MiB, shm_bytes=8 * MiB, log_bytes=16 * KiB,
)

#: Writes a valid predictions.csv for the ids in /input/cases.csv.
GOOD_SCRIPT = """set -e
{ echo "case_id,covid_probability,severity"
  tail -n +2 /input/cases.csv | while read id; do echo "$id,0.25,0.125"; done
} > /output/predictions.csv
echo "model done"
"""


def context_tar(files: dict[str, tuple[bytes, int]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def image_present(engine: docker.DockerClient, image_id: str) -> bool:
    """Whether the engine still holds the image ``image_id`` (with or without ``sha256:``), from the image list:
    Podman answers an inspect of a removed image id with a 404 or, at times, a 500 ("cannot specify 64-byte
    hexadecimal strings"), so ``images.get`` is no test of absence."""
    wanted = image_id.removeprefix("sha256:")
    return any(image.id.removeprefix("sha256:") == wanted for image in engine.images.list(all=True))


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    try:
        client = connect(timeout=120)
    except DockerException as exc:
        pytest.fail(f"no container engine answers at {engine_url()} ({exc}). Run `bash scripts/setup-podman` "
                    "(installs podman + runc and starts `podman system service`), or set DOCKER_HOST.",
                    pytrace=False)
    yield client
    for image in client.images.list(name=TEST_REPOSITORY):
        remove_image(client, image.id)
    client.close()


@pytest.fixture(scope="session")
def base_image(engine: docker.DockerClient) -> str:
    if not BUSYBOX.is_file():
        pytest.fail(f"{BUSYBOX} is missing: `apt-get install busybox-static` (scripts/setup-podman does)",
                    pytrace=False)
    busybox = BUSYBOX.read_bytes()
    tag = f"{TEST_REPOSITORY}:base-{hashlib.sha256(busybox).hexdigest()[:12]}"
    dockerfile = (b'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
                  b'USER 1000:1000\n')
    engine.images.build(fileobj=context_tar({"Dockerfile": (dockerfile, 0o644), "busybox": (busybox, 0o755)}),
                        custom_context=True, tag=tag, rm=True)
    return tag


ImageFactory = Callable[..., str]


@pytest.fixture(scope="session")
def make_image(engine: docker.DockerClient, base_image: str) -> ImageFactory:
    """``make_image(name, script, user=..., passwd=..., entrypoint=...)`` -> the tag of a built image."""

    def build(name: str, script: str, *, user: str = "1000:1000", passwd: str | None = None,
              entrypoint: str = '["/bin/sh", "/model.sh"]') -> str:
        files = {"model.sh": (script.encode(), 0o755)}
        lines = [f"FROM {base_image}", "COPY model.sh /model.sh"]
        if passwd is not None:
            files["passwd"] = (passwd.encode(), 0o644)
            lines.append("COPY passwd /etc/passwd")
        lines += [f"USER {user}", f"ENTRYPOINT {entrypoint}"]
        files["Dockerfile"] = ("\n".join(lines).encode() + b"\n", 0o644)
        tag = f"{TEST_REPOSITORY}:{name}"
        engine.images.build(fileobj=context_tar(files), custom_context=True, tag=tag, rm=True)
        return tag

    return build


@pytest.fixture(scope="session")
def good_image(make_image: ImageFactory) -> str:
    return make_image("good", GOOD_SCRIPT)


@pytest.fixture(scope="session")
def testset(tmp_path_factory: pytest.TempPathFactory) -> TestSet:
    root = write_tiny_testset(tmp_path_factory.mktemp("testset") / "tiny", n_per_group=2,
                              private_groups=("bacterial_pneumonia",))
    return load_testset(root)


@pytest.fixture(scope="session")
def input_dir(testset: TestSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("container-input") / "input"
    prepare_input_dir(testset.cases, dest=dest)
    return dest


@pytest.fixture()
def workdir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "work"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def no_leftovers(engine: docker.DockerClient) -> Iterator[None]:
    """After the test: nothing labelled by the runner is left in the engine."""
    yield
    containers = engine.containers.list(all=True, filters={"label": LABEL_EVALUATION})
    volumes = engine.volumes.list(filters={"label": LABEL_EVALUATION})
    assert not containers and not volumes, f"left behind: {containers} {volumes}"
