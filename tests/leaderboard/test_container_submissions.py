"""Container submissions on SQLite, no container engine: checks before queueing, states, limits, what teams see.

The runner body (:mod:`leaderboard.submissions.container_job`) runs here with the engine
calls replaced (image load, ``run_model``); the same body against real containers is in
test_container_runs.py and, through Celery workers, test_container_pipeline.py.
"""

from __future__ import annotations

import errno
import shutil
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from covid_triage.containers.sandbox import OUTPUT_TAR
from leaderboard.containers import FailureReason, GpuRequest, RunResult, RunStatus, RunTimings
from leaderboard.submissions import claims, container_config, container_job, dispatch
from leaderboard.submissions.models import ContainerPolicy, ContainerRun, Evaluation, Submission
from leaderboard.submissions.services import SubmissionMeta, SubmissionRejected, submit_container
from leaderboard.submissions.states import (
    ACTIVE_STATES,
    TRANSITIONS,
    EvaluationState,
    FailureKind,
    IllegalTransition,
    check_transition,
)
from leaderboard.submissions.watchdog import watchdog_pass
from leaderboard.testsets import models as testset_models
from leaderboard.testsets.services import import_label_version
from tests.containers.archives import image_config, write_archive

TASK = "leaderboard.containers.tasks.run_container_evaluation"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def containers_on(settings):
    settings.LEADERBOARD_CONTAINER_TASK = TASK
    settings.LEADERBOARD_CONTAINER_REGISTRIES = []
    settings.LEADERBOARD_GPU_DEVICE_IDS, settings.LEADERBOARD_GPU_COUNT = [], 0
    return settings


@pytest.fixture
def good_tarball(tmp_path) -> Path:
    return write_archive(tmp_path / "model.tar.gz", compress=True)


def submit_image(handle, path: Path | None = None, *, reference: str = "", method: str = "boxed") -> Submission:
    return submit_container(team=handle.team, user=handle.user, meta=SubmissionMeta(method_name=method,
                                                                                    is_public=True),
                            tarball=path, file_name=path.name if path else "", reference=reference)


def api_post(client, handle, data: dict, **extra):
    return client.post(reverse("api-submissions"), data, **handle.auth(), **extra)


# --- states ----------------------------------------------------------------------------------------------


def test_container_path_through_the_states():
    path = [EvaluationState.QUEUED, EvaluationState.LOADING, EvaluationState.RUNNING, EvaluationState.VALIDATING,
            EvaluationState.SCORING, EvaluationState.DONE]
    for current, target in pairwise(path):
        check_transition(current, target)
    check_transition(EvaluationState.QUEUED, EvaluationState.PULLING)
    check_transition(EvaluationState.PULLING, EvaluationState.RUNNING)
    for state in ACTIVE_STATES:  # every active state may fail or go back to the queue (worker died)
        assert {EvaluationState.FAILED, EvaluationState.QUEUED} <= TRANSITIONS[state]
    check_transition(EvaluationState.FAILED, EvaluationState.QUEUED)  # a maintainer re-queues a failed one
    assert TRANSITIONS[EvaluationState.DONE] == frozenset()  # a result is never replaced
    for current, target in [(EvaluationState.QUEUED, EvaluationState.RUNNING),
                            (EvaluationState.LOADING, EvaluationState.VALIDATING),
                            (EvaluationState.RUNNING, EvaluationState.DONE),
                            (EvaluationState.DONE, EvaluationState.QUEUED),
                            (EvaluationState.DONE, EvaluationState.FAILED),
                            (EvaluationState.FAILED, EvaluationState.RUNNING)]:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)


def test_claim_starts_where_asked_and_the_watchdog_requeues_a_silent_run(containers_on, label_version, team_a,
                                                                         good_tarball, monkeypatch,
                                                                         django_capture_on_commit_callbacks):
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(dispatch.current_app, "send_task", lambda name, args: sent.append((name, args[0])))
    evaluation = submit_image(team_a, good_tarball).evaluations.get()
    with pytest.raises(ValueError):
        claims.claim(evaluation.pk, worker="w", stage=EvaluationState.RUNNING)
    current = claims.claim(evaluation.pk, worker="gpu-1", stage=EvaluationState.LOADING)
    assert current is not None
    assert claims.advance(current, EvaluationState.RUNNING, message="running")
    Evaluation.objects.filter(pk=evaluation.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=containers_on.LEADERBOARD_STALE_AFTER_SECONDS + 1))
    with django_capture_on_commit_callbacks(execute=True):
        report = watchdog_pass()
    assert report.requeued == [evaluation.pk] and sent == [(TASK, evaluation.pk)]  # routed to the GPU task
    evaluation.refresh_from_db()
    assert evaluation.state == EvaluationState.QUEUED
    assert not claims.advance(current, EvaluationState.VALIDATING, message="late")  # the dead claim is fenced off
    assert [e.to_state for e in evaluation.events.all()] == ["queued", "loading", "running", "queued"]


# --- checks before queueing -------------------------------------------------------------------------------


def test_a_good_tarball_is_stored_and_queued_on_the_container_track(containers_on, label_version, team_a,
                                                                    good_tarball):
    submission = submit_image(team_a, good_tarball)
    assert (submission.kind, submission.track) == ("container", "container")
    assert submission.image_id.startswith("sha256:") and len(submission.image_id) == 71
    assert submission.file.name.endswith(".tar.gz") and submission.size_bytes == good_tarball.stat().st_size
    evaluation = submission.evaluations.get()
    assert evaluation.state == EvaluationState.QUEUED and evaluation.track == "container"


def test_every_problem_of_a_tarball_is_listed_and_nothing_is_stored(containers_on, label_version, team_a,
                                                                    tmp_path):
    bad = write_archive(tmp_path / "bad.tar", configs=[
        image_config(user=None, architecture="arm64"), image_config(user="0", entrypoint=None)])
    with pytest.raises(SubmissionRejected) as refused:
        submit_image(team_a, bad)
    text = " | ".join(str(p) for p in refused.value.problems)
    assert "2 images" in text or "one image" in text, text
    root = write_archive(tmp_path / "root.tar", configs=[
        image_config(user="root", architecture="arm64", entrypoint=None)])
    with pytest.raises(SubmissionRejected) as refused:
        submit_image(team_a, root)
    messages = [p.message for p in refused.value.problems]
    assert any("linux/amd64" in (p.expected or "") for p in refused.value.problems), messages
    assert any("root" in m for m in messages) and any("ENTRYPOINT" in m for m in messages), messages
    assert all(p.file == "root.tar" for p in refused.value.problems)
    assert Submission.objects.count() == 0


def test_containers_must_be_enabled_and_references_need_a_registry(settings, containers_on, label_version, team_a,
                                                                   good_tarball):
    reference = f"registry.example.org/team/model@{DIGEST}"
    with pytest.raises(SubmissionRejected, match="pulls no images"):
        submit_image(team_a, reference=reference)
    settings.LEADERBOARD_CONTAINER_REGISTRIES = ["registry.example.org"]
    with pytest.raises(SubmissionRejected, match="not pinned by digest"):
        submit_image(team_a, reference="registry.example.org/team/model:latest")
    with pytest.raises(SubmissionRejected, match="'other.example.org' is not one"):
        submit_image(team_a, reference=f"other.example.org/team/model@{DIGEST}")
    with pytest.raises(SubmissionRejected, match="not both"):
        submit_image(team_a, good_tarball, reference=reference)
    submission = submit_image(team_a, reference=reference)
    assert submission.image_reference == reference and not submission.file and submission.sha256 == "ab" * 32
    assert claims.claim(submission.evaluations.get().pk, worker="w",
                        stage=container_job.claim_stage(submission.evaluations.get().pk)) is not None
    assert submission.evaluations.get().state == EvaluationState.PULLING
    settings.LEADERBOARD_CONTAINER_TASK = ""
    with pytest.raises(SubmissionRejected, match="does not run container submissions") as refused:
        submit_image(team_a, good_tarball)
    assert refused.value.status == 409


def test_api_upload_of_an_image_and_its_size_limit(client, containers_on, label_version, team_a, good_tarball):
    with open(good_tarball, "rb") as handle:
        response = api_post(client, team_a, {"kind": "container", "file": handle, "method_name": "Boxed"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["track"], body["state"]) == ("container", "container", "queued")
    assert body["image_id"].startswith("sha256:") and body["evaluations"][0]["container_runs"] == []

    containers_on.LEADERBOARD_MAX_IMAGE_UPLOAD_BYTES = good_tarball.stat().st_size - 1
    with open(good_tarball, "rb") as handle:
        response = api_post(client, team_a, {"kind": "container", "file": handle, "method_name": "Too big"})
    assert response.status_code == 413 and "image tarball is larger" in response.json()["problems"][0]["message"]
    # an archive is still held to the archive limit (1 MiB here) although the handler accepts image sizes
    big = b"PK\x03\x04" + b"\0" * (containers_on.LEADERBOARD_MAX_UPLOAD_BYTES + 10)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api_post(client, team_a, {"file": SimpleUploadedFile("big.zip", big), "method_name": "Big"})
    assert response.status_code == 413 and "upload limit of 1 MiB" in response.json()["problems"][0]["message"]
    response = api_post(client, team_a, {"kind": "container", "method_name": "Nothing"})
    assert response.status_code == 400 and "either an image tarball" in response.json()["problems"][0]["message"]
    assert Submission.objects.count() == 1


def test_api_refuses_containers_when_disabled(client, label_version, team_a, good_tarball):
    with open(good_tarball, "rb") as handle:
        response = api_post(client, team_a, {"kind": "container", "file": handle, "method_name": "Boxed"})
    assert response.status_code == 409 and "does not run container" in response.json()["problems"][0]["message"]


def test_web_form_shows_the_limits_and_accepts_an_image(client, containers_on, label_version, team_a,
                                                        good_tarball):
    ContainerPolicy.objects.create(testset=label_version.testset, wall_clock_seconds=900, memory_mib=4096,
                                   use_gpu=False, notes="One A100 per run.")
    client.force_login(team_a.user)
    page = client.get(reverse("submission-new")).content.decode()
    assert "900 s" in page and "4 GiB" in page and "none (CPU only)" in page and "One A100 per run." in page
    with open(good_tarball, "rb") as handle:
        response = client.post(reverse("submission-new"), {"kind": "container", "file": handle,
                                                           "method_name": "Web box"})
    submission = Submission.objects.get()
    assert response.status_code == 302 and submission.kind == "container"
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Waiting for a worker" in page and submission.image_id[:20] in page


# --- limits ---------------------------------------------------------------------------------------------


def test_limits_from_site_defaults_policy_and_worker_gpu(containers_on, label_version):
    testset = label_version.testset
    containers_on.LEADERBOARD_CONTAINER_LIMITS = {"memory_bytes": 2 << 30, "wall_clock_seconds": 600}
    limits = container_config.limits_for(testset, gpu=GpuRequest(count=1))
    assert (limits.memory_bytes, limits.wall_clock_seconds, limits.gpu) == (2 << 30, 600, GpuRequest(count=1))
    ContainerPolicy.objects.create(testset=testset, wall_clock_seconds=120, output_mib=5, use_gpu=False)
    limits = container_config.limits_for(testset, gpu=GpuRequest(count=1))
    assert (limits.memory_bytes, limits.wall_clock_seconds, limits.output_bytes, limits.gpu) == (
        2 << 30, 120.0, 5 << 20, None)
    containers_on.LEADERBOARD_GPU_DEVICE_IDS = ["0", "2"]
    assert container_config.worker_gpu() == GpuRequest(device_ids=("0", "2"))
    containers_on.LEADERBOARD_GPU_COUNT = 1
    with pytest.raises(ImproperlyConfigured):
        container_config.worker_gpu()
    containers_on.LEADERBOARD_CONTAINER_LIMITS = {"memory": 1}
    with pytest.raises(ImproperlyConfigured, match="unknown keys memory"):
        container_config.limits_for(testset)


def test_limits_api(client, containers_on, label_version):
    body = client.get(reverse("api-container-limits", args=[label_version.testset.slug])).json()
    assert body["accepted"] is True and body["limits"]["network"] is False
    assert body["limits"]["wall_clock_seconds"] == container_config.site_limits().wall_clock_seconds
    assert client.get(reverse("api-container-limits", args=["nope"])).status_code == 404


# --- the runner body, engine calls replaced -------------------------------------------------------------


class FakeEngine:
    """Stands in for the docker client; records removed images."""

    def __init__(self) -> None:
        self.removed: list[str] = []

    def close(self) -> None:
        pass


@pytest.fixture
def engine_calls(monkeypatch, containers_on):
    """Replace the engine: connect() → FakeEngine, image load → a fixed id, run_model → ``outcome`` (settable)."""
    engine = FakeEngine()
    state = {"result": None, "calls": []}
    monkeypatch.setattr(container_job, "connect", lambda timeout: engine)
    monkeypatch.setattr(container_job, "sweep_orphans", lambda client: 0)
    monkeypatch.setattr(container_job, "_bring_image", lambda client, submission: submission.image_id)
    monkeypatch.setattr(container_job, "remove_image", lambda client, image: engine.removed.append(image))

    def fake_run_model(*, client, image, input_dir, evaluation_id, limits, workdir):
        state["calls"].append({"image": image, "input_dir": input_dir, "limits": limits})
        return state["result"](Path(workdir))

    monkeypatch.setattr(container_job, "run_model", fake_run_model)
    state["engine"] = engine
    return state


def result(reason: FailureReason | None, *, message: str = "finished", exit_code: int | None = 0,
           output: Path | None = None, stderr: str = "", workdir: Path) -> RunResult:
    tar = None
    if output is not None:
        tar = workdir / OUTPUT_TAR
        shutil.copyfile(output, tar)
    return RunResult(status=RunStatus.SUCCEEDED if reason is None else RunStatus.FAILED, reason=reason,
                     message=message, exit_code=exit_code, stdout="model says hello\n", stderr=stderr,
                     logs_truncated=False, output_tar=tar, output_bytes=123, timings=RunTimings(total=2.0, model=1.5))


def test_a_good_run_goes_through_every_state_to_done(engine_calls, label_version, team_a, good_tarball, archives,
                                                     client, tiny_testset):
    engine_calls["result"] = lambda workdir: result(None, output=archives["container-perfect"], workdir=workdir)
    submission = submit_image(team_a, good_tarball)
    evaluation = submission.evaluations.get()
    assert container_job.run(evaluation.pk, worker="gpu-1") is claims.Outcome.DONE
    evaluation.refresh_from_db()
    assert [e.to_state for e in evaluation.events.all()] == ["queued", "loading", "running", "validating",
                                                             "scoring", "done"]
    assert evaluation.roc_auc_all == 1.0 and evaluation.track == "container"
    assert len(evaluation.per_case["per_case"]) == len(tiny_testset.cases)  # public and private cases
    run = ContainerRun.objects.get(evaluation=evaluation)
    assert run.succeeded and run.exit_code == 0 and run.attempt == 1 and run.limits["network"] is False
    assert engine_calls["engine"].removed == [submission.image_id]  # the image is removed after the run
    input_dir = engine_calls["calls"][0]["input_dir"]
    assert sorted(p.name for p in input_dir.iterdir()) == sorted(
        ["cases.csv"] + [f"{c.case_id}.nii.gz" for c in tiny_testset.cases])  # images and ids only, no labels
    assert (input_dir / "cases.csv").read_text().splitlines()[0] == "case_id"
    # the team sees the run and its own per-case predictions, without the mask severity (hidden lung masks)
    body = client.get(reverse("api-submission", args=[submission.pk]), **team_a.auth()).json()
    shown = body["evaluations"][0]["container_runs"][0]
    assert shown["stdout"] is None and shown["reason"] == "" and shown["exit_code"] == 0  # logs stay on the server
    listed = client.get(reverse("api-submissions"), **team_a.auth()).json()["results"][0]
    assert listed["evaluations"][0]["container_runs"][0]["stdout"] is None  # logs only in the detail
    cases = client.get(reverse("api-submission-cases", args=[submission.pk]), **team_a.auth()).json()
    assert "mask_severity" not in cases["columns"] and "group" not in cases["columns"]
    public = [c.case_id for c in tiny_testset.cases if c.distribution.value == "public"]
    assert [row["case_id"] for row in cases["per_case"]] == public  # private cases' outputs stay on the server
    assert submission.counts_toward_quota


@pytest.mark.parametrize("reason, message, words", [
    (FailureReason.TIME_LIMIT, "still running after the wall-clock limit of 30 s: stopped", "time limit exceeded"),
    (FailureReason.EXIT_CODE, "exited with code 3", "exited with an error"),
    (FailureReason.MEMORY_LIMIT, "killed for going over the memory limit of 96 MiB", "memory limit exceeded"),
    (FailureReason.OUTPUT_TOO_BIG, "wrote 9,999,999 bytes to /output", "output too big"),
])
def test_a_failed_run_is_explained_and_does_not_count(engine_calls, label_version, team_a, good_tarball, client,
                                                      reason, message, words):
    engine_calls["result"] = lambda workdir: result(reason, message=message, exit_code=3,
                                                    stderr="Traceback: no weights\x00", workdir=workdir)
    submission = submit_image(team_a, good_tarball)
    evaluation = submission.evaluations.get()
    assert container_job.run(evaluation.pk, worker="gpu-1") is claims.Outcome.FAILED
    evaluation.refresh_from_db()
    submission.refresh_from_db()
    assert evaluation.state == EvaluationState.FAILED and evaluation.failure_kind == FailureKind.CONTAINER
    assert evaluation.problems[0]["message"] == f"{words}: {message}" and evaluation.problems[0]["expected"]
    assert not submission.counts_toward_quota
    run = ContainerRun.objects.get(evaluation=evaluation)
    assert (run.reason, run.exit_code, run.reason_text) == (reason.value, 3, words)
    assert run.stderr == "Traceback: no weights\ufffd"  # NUL replaced: PostgreSQL text cannot hold it
    body = client.get(reverse("api-submission", args=[submission.pk]), **team_a.auth()).json()
    assert body["state"] == "failed" and body["evaluations"][0]["container_runs"][0]["reason_text"] == words
    assert body["evaluations"][0]["counts_toward_quota"] is False
    client.force_login(team_a.user)
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert words in page and "The container failed" in page
    assert "Traceback: no weights" not in page and "Logs of runs on a benchmark are not shown" in page


def test_a_debug_run_on_the_sample_set_shows_its_logs_and_every_case(engine_calls, label_version, team_a,
                                                                       good_tarball, archives, client, tiny_dir,
                                                                       tmp_path):
    """The same image on the public sample set: logs and per-case outputs reach the team (debugging works)."""
    sample_dir = tmp_path / "sample"
    shutil.copytree(tiny_dir, sample_dir)
    (sample_dir / "testset.json").write_text('{"name": "tiny sample", "version": "1", "description": "sample"}')
    cases_csv = sample_dir / "cases.csv"
    cases_csv.write_text(cases_csv.read_text().replace("private", "public"))  # a sample set: every case public
    sample = import_label_version(sample_dir, kind=testset_models.TestSet.Kind.SAMPLE).label_version.testset
    engine_calls["result"] = lambda workdir: result(None, output=archives["container-perfect"], workdir=workdir)
    with open(good_tarball, "rb") as upload:
        response = api_post(client, team_a, {"kind": "container", "file": upload, "method_name": "debug",
                                             "testset": sample.slug})
    assert response.status_code == 201, response.json()
    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission.testset == sample
    assert container_job.run(submission.evaluations.get().pk, worker="gpu-1") is claims.Outcome.DONE
    body = client.get(reverse("api-submission", args=[submission.pk]), **team_a.auth()).json()
    assert body["evaluations"][0]["container_runs"][0]["stdout"] == "model says hello\n", body
    assert body["evaluations"][0]["feedback"]["stage"] == "exact"  # labels public: exact numbers
    cases = client.get(reverse("api-submission-cases", args=[submission.pk]), **team_a.auth()).json()
    assert len(cases["per_case"]) == 12  # every case


def test_malformed_output_fails_with_the_archive_problems(engine_calls, label_version, team_a, good_tarball,
                                                          archives, tiny_testset):
    engine_calls["result"] = lambda workdir: result(None, output=archives["noisy"], workdir=workdir)  # public only
    evaluation = submit_image(team_a, good_tarball).evaluations.get()
    assert container_job.run(evaluation.pk, worker="gpu-1") is claims.Outcome.FAILED
    evaluation.refresh_from_db()
    assert evaluation.failure_kind == FailureKind.INVALID and evaluation.problems
    private = {c.case_id for c in tiny_testset.cases if c.distribution.value == "private"}
    missing = {p["case_id"] for p in evaluation.problems if p["message"].startswith("no row for case")}
    assert missing == private, evaluation.problems  # the archive track's archive lacks the private cases
    assert ContainerRun.objects.get(evaluation=evaluation).reason == FailureReason.MALFORMED_OUTPUT


def test_engine_trouble_is_retried_and_the_interrupted_run_is_marked(engine_calls, label_version, team_a,
                                                                     good_tarball, archives):
    engine_calls["result"] = lambda workdir: result(FailureReason.ENGINE_ERROR, message="socket closed",
                                                    exit_code=None, workdir=workdir)
    submission = submit_image(team_a, good_tarball)
    evaluation = submission.evaluations.get()
    with pytest.raises(claims.TransientFailure):
        container_job.run(evaluation.pk, worker="gpu-1")
    evaluation.refresh_from_db()
    assert evaluation.state == EvaluationState.QUEUED and evaluation.attempts == 1
    first = ContainerRun.objects.get(evaluation=evaluation)
    assert first.reason == "engine_error" and "not your model's fault" in first.message
    assert "socket" not in first.message  # engine internals stay in the worker's log

    # a run whose worker died (no outcome recorded) is marked when the next attempt starts
    ContainerRun.objects.create(evaluation=evaluation, attempt=1, worker="gpu-dead")
    engine_calls["result"] = lambda workdir: result(None, output=archives["container-perfect"], workdir=workdir)
    assert container_job.run(evaluation.pk, worker="gpu-2") is claims.Outcome.DONE
    runs = list(ContainerRun.objects.filter(evaluation=evaluation).order_by("pk"))
    assert [r.reason for r in runs] == ["engine_error", ContainerRun.INTERRUPTED, ""]
    assert runs[1].reason_text.startswith("interrupted") and runs[2].attempt == 2
    submission.refresh_from_db()
    assert submission.counts_toward_quota


def test_a_full_scratch_disk_is_retried_not_failed(engine_calls, label_version, team_a, good_tarball):
    def disk_full(workdir):
        raise OSError(errno.ENOSPC, "No space left on device")  # e.g. while the output is copied out

    engine_calls["result"] = disk_full
    submission = submit_image(team_a, good_tarball)
    evaluation = submission.evaluations.get()
    with pytest.raises(claims.TransientFailure, match="disk is full"):
        container_job.run(evaluation.pk, worker="gpu-1")
    evaluation.refresh_from_db()
    assert evaluation.state == EvaluationState.QUEUED and evaluation.failure_kind == ""
    submission.refresh_from_db()
    assert submission.counts_toward_quota


def test_a_bad_image_found_by_the_worker_fails_without_a_run(engine_calls, label_version, team_a, good_tarball,
                                                            monkeypatch):
    from leaderboard.containers import ImageLoadError

    def refuse(client, submission):
        raise ImageLoadError("the container engine could not load the image: layer is not a tar")

    monkeypatch.setattr(container_job, "_bring_image", refuse)
    evaluation = submit_image(team_a, good_tarball).evaluations.get()
    assert container_job.run(evaluation.pk, worker="gpu-1") is claims.Outcome.FAILED
    evaluation.refresh_from_db()
    assert evaluation.failure_kind == FailureKind.CONTAINER
    assert evaluation.problems[0]["message"].startswith("bad image: the container engine could not load")
    assert not ContainerRun.objects.filter(evaluation=evaluation).exists()
    assert engine_calls["calls"] == []
