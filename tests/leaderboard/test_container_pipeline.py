"""Container submissions end to end with the real services: gunicorn, a Celery worker serving only the ``gpu``
queue, a CPU worker with beat (the watchdog), PostgreSQL, Redis and Podman's API service.

Upload a busybox image tarball through the API → done with metrics on the container track; a model that exits
non-zero → failed, its reason and stderr shown, not counted; the GPU worker SIGKILLed mid-run → after a
restart the evaluation completes exactly once and no container is left behind.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import docker
import pytest
import requests

from covid_triage.containers.sandbox import LABEL_EVALUATION, LABEL_ROLE
from leaderboard.containers import engine_url, remove_image
from tests.containers.conftest import GOOD_SCRIPT, base_image, engine, image_present, make_image  # noqa: F401  (fixtures)

from .integration.conftest import logs, postgres_url, site_env, sql  # noqa: F401  (fixtures)
from .integration.processes import Service, celery_worker, manage, wait_for, web_server

pytestmark = pytest.mark.integration

TASK = "leaderboard.containers.tasks.run_container_evaluation"
LIMITS = {"memory_bytes": 96 << 20, "pids": 64, "cpus": 1.0, "wall_clock_seconds": 20, "output_bytes": 4 << 20,
          "output_files": 50, "tmp_bytes": 8 << 20, "shm_bytes": 8 << 20, "log_bytes": 16 << 10}


@pytest.fixture(scope="module")
def env(site_env) -> dict[str, str]:
    return {**site_env, "LEADERBOARD_CONTAINER_TASK": TASK, "LEADERBOARD_CONTAINER_LIMITS": json.dumps(LIMITS),
            "DOCKER_HOST": engine_url()}


def gpu_worker(env: dict[str, str], log: Path, *, name: str) -> Service:
    """A worker of the GPU queue only, as on a GPU host: ``celery -A leaderboard worker -Q gpu``."""
    command = [sys.executable, "-m", "celery", "-A", "leaderboard", "worker", "--concurrency", "1",
               "--queues", env["LEADERBOARD_GPU_QUEUE"], "--hostname", f"{name}@%h", "--loglevel", "INFO",
               "--without-gossip", "--without-mingle"]
    return Service(name, command, env, log).start()


@pytest.fixture(scope="module")
def site(env, logs):  # noqa: F811
    """The web server and a CPU worker running beat (the watchdog); the GPU worker is started per test."""
    web, base = web_server(env, logs / "web-containers.log", workers=1, threads=4)
    cpu = celery_worker(env, logs / "worker-cpu-containers.log", name="cpu-containers", beat=True)
    token = manage("create_team", "Container team", "--user", "container-team", env=env).strip()
    yield {"base": base, "headers": {"Authorization": f"Token {token}"}, "cpu": cpu}
    cpu.stop()
    web.stop()


def tarball(engine: docker.DockerClient, tag: str, path: Path) -> Path:  # noqa: F811
    image = engine.images.get(tag)
    with open(path, "wb") as handle:
        for chunk in image.save(named=True):
            handle.write(chunk)
    assert remove_image(engine, image.id)  # the worker must load it from the upload
    return path


def submit(site: dict, path: Path, method: str) -> dict:
    with open(path, "rb") as handle:
        response = requests.post(f"{site['base']}/api/submissions/", headers=site["headers"], timeout=60,
                                 files={"file": (path.name, handle)},
                                 data={"kind": "container", "method_name": method, "is_public": "true"})
    assert response.status_code == 201, response.text
    return response.json()


def detail(site: dict, submission_id: int) -> dict:
    return requests.get(f"{site['base']}/api/submissions/{submission_id}/", headers=site["headers"],
                        timeout=10).json()


def finished(site: dict, submission_id: int, *, timeout: float, services: tuple) -> dict:
    def check():
        body = detail(site, submission_id)
        return body if body["state"] in ("done", "failed") else None

    return wait_for(check, timeout=timeout, what=f"submission {submission_id} to finish", services=services)


def labelled(engine: docker.DockerClient, evaluation_id: int | None = None) -> list:  # noqa: F811
    label = LABEL_EVALUATION if evaluation_id is None else f"{LABEL_EVALUATION}={evaluation_id}"
    return (engine.containers.list(all=True, filters={"label": label})
            + engine.volumes.list(filters={"label": label}))


def test_good_and_failing_images_through_the_gpu_queue(site, env, logs, engine, make_image,  # noqa: F811
                                                       tmp_path):
    worker = gpu_worker(env, logs / "worker-gpu.log", name="gpu-containers")
    try:
        good = submit(site, tarball(engine, make_image("pipe-good", GOOD_SCRIPT + "# pipe-good\n"),
                                    tmp_path / "good.tar"), "Boxed constant")
        body = finished(site, good["id"], timeout=120, services=(worker, site["cpu"]))
        assert body["state"] == "done", body["problems"]
        evaluation = body["evaluations"][0]
        assert evaluation["track"] == "container" and body["metrics"]["roc_auc_all"] == 0.5
        run = evaluation["container_runs"][0]
        assert (run["exit_code"], run["reason"], run["stdout"]) == (0, "", None)  # logs stay on the server
        board = requests.get(f"{site['base']}/api/leaderboard/", params={"track": "container"}, timeout=10).json()
        assert "Boxed constant" in [entry["method_name"] for entry in board["entries"]]

        script = 'echo "starting"\necho "CUDA error: no kernel image" >&2\nexit 7\n'
        bad = submit(site, tarball(engine, make_image("pipe-exit", script), tmp_path / "bad.tar"), "Crashes")
        body = finished(site, bad["id"], timeout=120, services=(worker, site["cpu"]))
        assert body["state"] == "failed" and body["counts_toward_quota"] is False
        evaluation = body["evaluations"][0]
        assert evaluation["failure_kind"] == "container" and evaluation["counts_toward_quota"] is False
        assert evaluation["problems"][0]["message"] == "exited with an error: exited with code 7"
        run = evaluation["container_runs"][0]
        assert (run["exit_code"], run["reason"], run["stderr"]) == (7, "exit_code", None)
        assert labelled(engine) == []
    finally:
        worker.stop()


def test_a_gpu_worker_killed_mid_run_leaves_no_orphan_and_the_run_completes_once(site, env, logs, postgres_url,
                                                                                  engine, make_image,  # noqa: F811
                                                                                  tmp_path):
    slow = make_image("pipe-slow", "sleep 5\n" + GOOD_SCRIPT)
    doomed = gpu_worker(env, logs / "worker-gpu-doomed.log", name="gpu-doomed")
    replacement = None
    try:
        submission = submit(site, tarball(engine, slow, tmp_path / "slow.tar"), "Survives a crash")
        evaluation_id = submission["evaluations"][0]["id"]

        def model_running():
            return [c for c in engine.containers.list(filters={"label": f"{LABEL_EVALUATION}={evaluation_id}"})
                    if c.labels.get(LABEL_ROLE) == "model" and c.status == "running"]

        wait_for(model_running, timeout=90, what="the model container to run", interval=0.1,
                 services=(doomed, site["cpu"]))
        doomed.kill(signal.SIGKILL)  # the worker and its pool process, no chance to clean up
        doomed.process.wait(timeout=10)
        assert detail(site, submission["id"])["state"] == "running"
        assert model_running(), "the killed worker's model container should still be there (an orphan)"

        replacement = gpu_worker(env, logs / "worker-gpu-replacement.log", name="gpu-replacement")
        body = finished(site, submission["id"], timeout=120, services=(replacement, site["cpu"]))
        assert body["state"] == "done", body["problems"]
        events = sql(postgres_url, "SELECT to_state, message FROM submissions_evaluationevent "
                                   "WHERE evaluation_id = %s ORDER BY at, id", evaluation_id)
        states = [state for state, _ in events]
        assert states.count("done") == 1 and states.count("running") == 2, states
        assert any("silent" in message or "stopped sending heartbeats" in message for _, message in events)
        runs = body["evaluations"][0]["container_runs"]  # newest first
        assert [(r["attempt"], r["reason"]) for r in runs] == [(2, ""), (1, "interrupted")]
        assert body["evaluations"][0]["attempts"] == 2
        assert labelled(engine) == []  # the orphan was removed, and nothing else is left
        assert not image_present(engine, body["image_id"])
    finally:
        doomed.stop()
        if replacement is not None:
            replacement.stop()
