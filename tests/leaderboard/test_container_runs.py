"""Container submissions against the real engine (Podman's API service here), the task body run in-process on
SQLite: upload a real `docker save` tarball, load, run, validate, score; the failures a team must understand.

The images are busybox shell models built without a registry (tests/containers/conftest.py).
No engine → these tests FAIL with the command that starts it (`bash scripts/setup-podman`).
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from django.urls import reverse

from leaderboard.containers import remove_image
from leaderboard.submissions import claims, container_job
from leaderboard.submissions.models import ContainerRun, Submission
from leaderboard.submissions.services import SubmissionMeta, SubmissionRejected, submit_container
from leaderboard.submissions.states import EvaluationState, FailureKind
from tests.containers.conftest import (  # noqa: F401  (fixtures: the engine and busybox images)
    GOOD_SCRIPT,
    base_image,
    engine,
    image_present,
    make_image,
    no_leftovers,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftovers")]

TASK = "leaderboard.containers.tasks.run_container_evaluation"
#: Small limits (the same as tests/containers) so misbehaviour ends fast.
LIMITS = {"memory_bytes": 96 << 20, "pids": 64, "cpus": 1.0, "wall_clock_seconds": 20, "output_bytes": 4 << 20,
          "output_files": 50, "tmp_bytes": 8 << 20, "shm_bytes": 8 << 20, "log_bytes": 16 << 10}


@pytest.fixture
def containers_on(settings):
    settings.LEADERBOARD_CONTAINER_TASK = TASK
    settings.LEADERBOARD_CONTAINER_LIMITS = dict(LIMITS)
    settings.LEADERBOARD_GPU_DEVICE_IDS, settings.LEADERBOARD_GPU_COUNT = [], 0
    return settings


def saved(engine: docker.DockerClient, tag: str, path: Path) -> Path:
    """``docker save`` of ``tag`` into ``path``; the image is then removed, so the worker has to load it."""
    image = engine.images.get(tag)
    with open(path, "wb") as handle:
        for chunk in image.save(named=True):
            handle.write(chunk)
    assert remove_image(engine, image.id)
    return path


def submit_and_run(handle, tarball: Path, *, method: str) -> Submission:
    submission = submit_container(team=handle.team, user=handle.user, tarball=tarball, file_name=tarball.name,
                                  meta=SubmissionMeta(method_name=method, is_public=True))
    container_job.run(submission.evaluations.get().pk, worker="gpu-test")
    submission.refresh_from_db()
    return submission


def shown(client, handle, submission: Submission) -> dict:
    """What the team's API client sees of the submission's latest evaluation."""
    body = client.get(reverse("api-submission", args=[submission.pk]), **handle.auth()).json()
    return body["evaluations"][0]


def test_a_good_image_is_loaded_run_scored_and_removed(engine, make_image, containers_on, label_version, team_a,
                                                       client, tiny_testset, tmp_path, maintainer):
    tarball = saved(engine, make_image("site-good", GOOD_SCRIPT + "# site-good\n"), tmp_path / "model.tar")
    submission = submit_and_run(team_a, tarball, method="Busybox constant")
    evaluation = submission.evaluations.get()
    assert evaluation.state == EvaluationState.DONE, evaluation.problems
    assert [e.to_state for e in evaluation.events.all()] == ["queued", "loading", "running", "validating",
                                                             "scoring", "done"]
    assert evaluation.roc_auc_all == 0.5  # the model says 0.25 for every case
    assert len(evaluation.per_case["per_case"]) == len(tiny_testset.cases)  # private cases too
    assert submission.counts_toward_quota
    assert not image_present(engine, submission.image_id)  # loaded for the run, removed after it
    run = shown(client, team_a, submission)["container_runs"][0]
    # the run saw private images: its logs stay on the server (maintainers see them)
    assert (run["exit_code"], run["reason"], run["stdout"], run["stderr"]) == (0, "", None, None)
    client.force_login(maintainer)
    body = client.get(reverse("api-submission", args=[submission.pk])).json()
    assert body["evaluations"][0]["container_runs"][0]["stdout"] == "model done\n"
    client.logout()
    assert run["limits"]["memory_bytes"] == LIMITS["memory_bytes"] and run["timings"]["model"] > 0


@pytest.mark.parametrize("script, limits, reason, words", [
    ('echo "loading weights"\necho "no weights in /opt/model" >&2\nexit 3\n', {}, "exit_code", "exited with an error"),
    ("sleep 60\n", {"wall_clock_seconds": 2}, "time_limit", "time limit exceeded"),
])
def test_a_misbehaving_model_fails_with_its_reason_shown_and_not_counted(engine, make_image, containers_on,
                                                                         label_version, team_a, client, tmp_path,
                                                                         script, limits, reason, words):
    containers_on.LEADERBOARD_CONTAINER_LIMITS = {**LIMITS, **limits}
    tarball = saved(engine, make_image(f"site-{reason}", script), tmp_path / "model.tar.gz")
    submission = submit_and_run(team_a, tarball, method=f"Fails by {reason}")
    evaluation = submission.evaluations.get()
    assert evaluation.state == EvaluationState.FAILED and evaluation.failure_kind == FailureKind.CONTAINER
    assert not submission.counts_toward_quota
    seen = shown(client, team_a, submission)
    assert seen["problems"][0]["message"].startswith(f"{words}: ")
    run = seen["container_runs"][0]
    assert (run["reason"], run["reason_text"]) == (reason, words)
    if reason == "exit_code":
        assert run["exit_code"] == 3 and run["stderr"] is None and run["stdout"] is None  # logs stay on the server
    client.force_login(team_a.user)
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert words in page and "does not count toward your quota" in page
    assert "Logs of runs on a benchmark are not shown" in page and "loading weights" not in page


def test_malformed_output_lists_the_archive_problems(engine, make_image, containers_on, label_version, team_a,
                                                     tmp_path, client):
    script = 'printf "case_id,covid_probability\\nnot-a-case,2\\n" > /output/predictions.csv\n'
    tarball = saved(engine, make_image("site-malformed", script), tmp_path / "model.tar")
    submission = submit_and_run(team_a, tarball, method="Malformed")
    evaluation = submission.evaluations.get()
    assert evaluation.state == EvaluationState.FAILED and evaluation.failure_kind == FailureKind.INVALID
    messages = " | ".join(p["message"] for p in evaluation.problems)
    assert "not-a-case" in messages and "no row for case" in messages, messages
    seen = client.get(reverse("api-submission", args=[submission.pk]), **team_a.auth()).json()
    assert "not-a-case" not in str(seen) and "problem(s) in your container's /output" in str(seen)
    assert ContainerRun.objects.get(evaluation=evaluation).reason == "malformed_output"


def test_a_real_root_image_is_refused_at_upload(engine, make_image, containers_on, label_version, team_a, tmp_path):
    tarball = saved(engine, make_image("site-root", GOOD_SCRIPT, user="0:0"), tmp_path / "root.tar")
    with pytest.raises(SubmissionRejected) as refused:
        submit_container(team=team_a.team, user=team_a.user, tarball=tarball, file_name="root.tar",
                         meta=SubmissionMeta(method_name="Root"))
    assert [p.message for p in refused.value.problems] == ["image runs as root (USER '0:0')"]
    assert Submission.objects.count() == 0


def test_a_second_delivery_after_done_does_nothing(engine, make_image, containers_on, label_version, team_a,
                                                   tmp_path):
    tarball = saved(engine, make_image("site-twice", GOOD_SCRIPT + "# twice\n"), tmp_path / "model.tar")
    submission = submit_and_run(team_a, tarball, method="Twice")
    evaluation = submission.evaluations.get()
    assert evaluation.state == EvaluationState.DONE
    assert container_job.run(evaluation.pk, worker="gpu-late") is claims.Outcome.SKIPPED
    assert ContainerRun.objects.filter(evaluation=evaluation).count() == 1
