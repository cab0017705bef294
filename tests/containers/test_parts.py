"""The engine-free parts: users, states, limits, logs, the holder program, /input, volume options, image removal."""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from docker.errors import APIError, NotFound
from hypothesis import given
from hypothesis import strategies as st

from covid_triage.containers.holder import holder_archive, pause_program
from covid_triage.containers.logs import keep_tail
from covid_triage.containers.output import PAGE_BYTES, tmpfs_volume_options
from covid_triage.containers.sandbox import _model_options
from covid_triage.containers.users import passwd_uid, runs_as_root, user_problem
from evaluator.testset import load_testset
from leaderboard.containers import (
    ContainerLimits,
    GpuRequest,
    evaluation_key,
    prepare_input_dir,
    reference_problems,
    remove_image,
)

from ..evaluator.tiny_testset import write_tiny_testset


def test_package_imports_without_django_settings() -> None:
    code = ("import os, sys; os.environ.pop('DJANGO_SETTINGS_MODULE', None); import leaderboard.containers; "
            "from django.conf import settings; sys.exit(1 if settings.configured else 0)")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=Path(__file__).parents[2], timeout=60)


@pytest.mark.parametrize(("user", "root"), [
    ("", True), ("root", True), ("0", True), ("0:0", True), ("root:1000", True), ("000", True),
    ("1000", False), ("1000:0", False), ("model", False), ("rooty", False),
])
def test_runs_as_root(user: str, root: bool) -> None:
    assert runs_as_root(user) is root
    assert (user_problem(user) is not None) is root


def test_user_problem_rejects_garbage() -> None:
    assert "invalid" in (user_problem("a b") or "")
    assert "invalid group" in (user_problem("1000:a b") or "")
    assert "without a user" in (user_problem(":1000") or "")


def test_passwd_lookup() -> None:
    passwd = "root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\nmodel:x:1000:1000::/home/model:/bin/sh\nbad\n"
    assert passwd_uid(passwd, "model") == 1000
    assert passwd_uid(passwd, "toor") == 0
    assert passwd_uid(passwd, "nobody") is None


def test_limits_validation_and_gpu_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ContainerLimits(pids=0)
    with pytest.raises(ValueError):
        ContainerLimits(memory_bytes=1 << 20)
    with pytest.raises(ValueError):
        GpuRequest()
    with pytest.raises(ValueError):
        GpuRequest(count=1, device_ids=("0",))
    limits = ContainerLimits(memory_bytes=1 << 30, cpus=2.5, gpu=GpuRequest(device_ids=("0", "GPU-abc")))
    options = _model_options(limits, input_dir=tmp_path, volume="vol")
    assert options["mem_limit"] == options["memswap_limit"] == 1 << 30
    assert options["nano_cpus"] == 2_500_000_000
    assert options["network_disabled"] and options["network_mode"] == "none"
    assert options["cap_drop"] == ["ALL"] and options["security_opt"] == ["no-new-privileges"]
    assert options["read_only"] and options["init"]
    request = options["device_requests"][0]
    assert request["DeviceIDs"] == ["0", "GPU-abc"] and request["Capabilities"] == [["gpu"]]
    assert GpuRequest(count=-1).count == -1
    assert "device_requests" not in _model_options(ContainerLimits(), input_dir=tmp_path, volume="v")
    assert limits.describe()["gpu"] == {"device_ids": ["0", "GPU-abc"]}


def test_tmpfs_volume_fits_the_limits() -> None:
    limits = ContainerLimits(output_bytes=10 << 20, output_files=100)
    options = tmpfs_volume_options(limits)
    assert options["type"] == options["device"] == "tmpfs"
    parts = dict(item.split("=") for item in options["o"].split(",") if "=" in item)
    assert parts["nr_inodes"] == "101"
    capacity = int(parts["nr_blocks"]) * PAGE_BYTES
    assert (10 << 20) + 101 * PAGE_BYTES <= capacity <= (10 << 20) + (2 << 20) + 101 * PAGE_BYTES
    assert "size" not in parts


@given(st.lists(st.binary(max_size=50), max_size=30), st.integers(min_value=1, max_value=200))
def test_keep_tail(chunks: list[bytes], limit: int) -> None:
    text, truncated = keep_tail(iter(chunks), limit=limit)
    whole = b"".join(chunks)
    assert truncated is (len(whole) > limit)
    assert text.endswith(whole[-limit:].decode("utf-8", errors="replace")) or not whole
    if truncated:
        assert text.startswith(f"[... {len(whole) - limit:,} earlier bytes")


def test_evaluation_key() -> None:
    assert evaluation_key(42) == "42"
    assert evaluation_key("a/b c") == "a-b-c"
    assert len(evaluation_key("x" * 200)) == 64
    with pytest.raises(ValueError):
        evaluation_key("///")


def test_reference_problems() -> None:
    digest = "sha256:" + "a" * 64
    assert reference_problems(f"registry.example.org/team/model@{digest}") == []
    assert reference_problems(f"localhost:5000/model@{digest}") == []
    assert "not pinned by digest" in str(reference_problems("registry.example.org/team/model:latest")[0])
    assert reference_problems(f"model@{digest}")  # no registry
    assert reference_problems(f"registry.example.org/Team/model@{digest}")  # upper case


def test_pause_program_sleeps_until_signalled(tmp_path: Path) -> None:
    program = tmp_path / "pause"
    program.write_bytes(pause_program())
    program.chmod(0o755)
    process = subprocess.Popen([str(program)])
    try:
        time.sleep(0.3)
        assert process.poll() is None
    finally:
        process.terminate()
    assert process.wait(timeout=5) == -15
    image_id, archive = holder_archive()
    assert holder_archive() == (image_id, archive)  # deterministic: one id on every worker


def test_prepare_input_dir_holds_only_images_and_ids(tmp_path: Path) -> None:
    testset = load_testset(write_tiny_testset(tmp_path / "testset", n_per_group=2, private_groups=("nodules",)))
    raw = testset.cases[0].image.with_suffix("")  # a .nii source gets compressed on the way
    cases = list(testset.cases)
    dest = tmp_path / "input"
    ids = prepare_input_dir(cases, dest=dest)
    assert ids == tuple(c.case_id for c in cases)
    assert sorted(p.name for p in dest.iterdir()) == sorted([f"{i}.nii.gz" for i in ids] + ["cases.csv"])
    with open(dest / "cases.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["case_id"]] + [[i] for i in ids]
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in dest.iterdir())
    assert (dest / f"{ids[0]}.nii.gz").read_bytes() == testset.cases[0].image.read_bytes()
    with pytest.raises(ValueError, match="not empty"):
        prepare_input_dir(cases, dest=dest)
    raw.write_bytes(gzip.decompress(testset.cases[0].image.read_bytes()))

    class Case:
        case_id = "raw1"
        image = raw

    other = tmp_path / "input2"
    prepare_input_dir([Case()], dest=other)
    assert gzip.decompress((other / "raw1.nii.gz").read_bytes()) == raw.read_bytes()


class _Images:
    """A Docker client's ``images`` whose calls fail as the test says (``None``: succeed)."""

    def __init__(self, *, get: Exception | None = None, remove: Exception | None = None) -> None:
        self.get_error, self.remove_error, self.removed = get, remove, []

    def get(self, image_id: str):
        if self.get_error:
            raise self.get_error
        return SimpleNamespace(tags=["team/model:1"])

    def remove(self, name: str, *, noprune: bool) -> None:
        if self.remove_error:
            raise self.remove_error
        self.removed.append(name)


@pytest.mark.parametrize(("get", "remove", "gone", "removed"), [
    (None, None, True, ["team/model:1", "sha256:abc"]),
    (NotFound("no such image"), None, True, []),
    (APIError("engine busy"), None, False, []),  # the lookup's engine error is an answer, not an exception
    (None, NotFound("no such image"), True, []),
    (None, APIError("image is in use by a container"), False, []),
])
def test_remove_image_answers_whether_the_image_is_gone(get, remove, gone: bool, removed: list[str]) -> None:
    images = _Images(get=get, remove=remove)
    assert remove_image(SimpleNamespace(images=images), "sha256:abc") is gone
    assert images.removed == removed
