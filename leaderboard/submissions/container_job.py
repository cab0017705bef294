"""Running one container evaluation on a GPU worker: claim, load or pull, run, validate, score, record.

The same claim protocol as archives (:mod:`.claims`), with more active states:
queued → loading | pulling → running → validating → scoring → done | failed. The container's
``/output`` (a tar file) goes through :func:`.archive_job.score_claimed`, the very code that
scores uploaded archives, on the container track (all cases, public and private).

What the team sees of a run is recorded in :class:`~.models.ContainerRun` (one per attempt):
exit code, the reason of a failure, the last part of stdout and stderr. Engine failures
(the worker's fault) release the claim and are retried like any transient error; a worker
that dies mid-run leaves its containers to the next attempt, which removes them first
(:func:`leaderboard.containers.run_model`), and to :func:`sweep_orphans` at worker start.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import docker
import requests
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from covid_triage.containers.sandbox import LABEL_EVALUATION, evaluation_key
from evaluator.problems import InvalidInput, Problem
from leaderboard.containers import (
    REASON_TEXT,
    FailureReason,
    ImageLoadError,
    RunResult,
    connect,
    inspect_image_tarball,
    load_image_tarball,
    prepare_input_dir,
    pull_image,
    remove_image,
    remove_leftovers,
    run_model,
)
from leaderboard.testsets.models import LabelVersion
from leaderboard.testsets.services import built_once, scoring_inputs, scratch

from . import archive_job, claims, container_config
from .models import ContainerRun, Evaluation, Submission
from .states import ACTIVE_STATES, EvaluationState, FailureKind

log = logging.getLogger(__name__)

#: Engine trouble: the worker's fault, retried (never the team's failure).
ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)

#: What a team can do about each failure reason (shown as "expected").
REASON_HINT = {
    FailureReason.TIME_LIMIT: "to finish within the wall-clock limit shown on the submission page",
    FailureReason.MEMORY_LIMIT: "to stay within the memory limit (files in /output, /tmp and /dev/shm count too)",
    FailureReason.OUTPUT_TOO_BIG: "/output within its size and file-count limits",
    FailureReason.EXIT_CODE: "exit code 0 after writing /output/predictions.csv (see stderr below)",
    FailureReason.RUNS_AS_ROOT: "a non-root USER in the image (e.g. USER 1000:1000)",
    FailureReason.BAD_IMAGE: "a `docker save` image for linux/amd64 whose ENTRYPOINT exists and runs",
}


class EngineTrouble(Exception):
    """The container engine failed (not the model): release the claim and retry later."""


def _text(value: str) -> str:
    """Text PostgreSQL accepts (no NUL characters)."""
    return value.replace("\x00", "\ufffd")


def input_dir_for(label_version: LabelVersion) -> Path:
    """The folder mounted at ``/input`` for ``label_version`` on this host: every case's image (public and
    private) and cases.csv, nothing else; built once per label version (atomically) in scratch space."""
    built = built_once("container-inputs", label_version.labels_digest[:24],
                       lambda folder: prepare_input_dir(scoring_inputs(label_version)[0].cases, dest=folder / "input"),
                       stamp=label_version.labels_digest)
    return built / "input"


def _bring_image(client: docker.DockerClient, submission: Submission) -> str:
    """Pull or load the submission's image; raises InvalidInput / ImageLoadError (the team's) or engine errors."""
    limits = container_config.image_limits()
    if submission.image_reference:
        return pull_image(client, submission.image_reference, limits=limits).image_id
    with archive_job.local_archive(submission) as path:
        info = inspect_image_tarball(path, limits=limits, display_name=submission.original_filename)
        if submission.image_id and info.image_id != submission.image_id:
            raise ImageLoadError(f"the stored tarball holds {info.image_id}, not the checked {submission.image_id}")
        return load_image_tarball(client, path, info=info)


def _interrupt_earlier_runs(evaluation_id: int, attempt: int) -> None:
    ContainerRun.objects.filter(evaluation_id=evaluation_id, attempt__lt=attempt, finished_at__isnull=True).update(
        finished_at=timezone.now(), reason=ContainerRun.INTERRUPTED,
        message="the worker stopped during this run (not your model's fault); the run was started again")


def _record(run: ContainerRun, result: RunResult, *, load_seconds: float) -> None:
    run.finished_at = timezone.now()
    run.exit_code = result.exit_code
    run.reason = result.reason.value if result.reason else ""
    run.message = _text(result.message if result.reason is not FailureReason.ENGINE_ERROR
                        else "the worker's container engine failed (not your model's fault); it will be retried")
    run.stdout, run.stderr = _text(result.stdout), _text(result.stderr)
    run.logs_truncated, run.output_bytes = result.logs_truncated, result.output_bytes
    run.timings = {"load": round(load_seconds, 4), **result.timings.to_dict()}
    run.save()


def failure_problem(reason: FailureReason, message: str) -> dict[str, Any]:
    return Problem(f"{REASON_TEXT[reason]}: {message}", expected=REASON_HINT.get(reason)).to_dict()


def _fail_run(current: claims.Claim, run: ContainerRun | None, *, reason: FailureReason, message: str,
              kind: str = FailureKind.CONTAINER, problems: list[dict[str, Any]] | None = None) -> claims.Outcome:
    if run is not None and run.finished_at is None:
        run.finished_at, run.reason, run.message = timezone.now(), reason.value, _text(message)
        run.save(update_fields=["finished_at", "reason", "message"])
    recorded = claims.fail(current, kind=kind, problems=problems or [failure_problem(reason, message)],
                           message=f"{reason.value}: {message}"[:2000])
    return claims.Outcome.FAILED if recorded else claims.Outcome.LOST


def _image_still_needed(submission: Submission, evaluation_id: int) -> bool:
    return (Evaluation.objects.filter(submission=submission, state__in=list(ACTIVE_STATES))
            .exclude(pk=evaluation_id).exists())


def _run_claimed(current: claims.Claim, client: docker.DockerClient) -> claims.Outcome:
    evaluation = Evaluation.objects.select_related("submission__testset", "label_version").get(
        pk=current.evaluation_id)
    submission = evaluation.submission
    _interrupt_earlier_runs(evaluation.pk, current.attempt)
    workdir = scratch("container-work") / f"evaluation-{evaluation.pk}"
    shutil.rmtree(workdir, ignore_errors=True)  # what a crashed attempt left
    workdir.mkdir(parents=True)
    image_id: str | None = None
    run: ContainerRun | None = None
    try:
        started = timezone.now()
        try:
            image_id = _bring_image(client, submission)
        except InvalidInput as invalid:
            return _fail_run(current, None, reason=FailureReason.BAD_IMAGE, kind=FailureKind.INVALID,
                             message=f"{len(invalid.problems)} problem(s) in the {invalid.what}",
                             problems=[p.to_dict() for p in invalid.problems])
        except ImageLoadError as error:
            return _fail_run(current, None, reason=FailureReason.BAD_IMAGE, message=str(error))
        load_seconds = (timezone.now() - started).total_seconds()
        input_dir = input_dir_for(evaluation.label_version)
        limits = container_config.limits_for(submission.testset, gpu=container_config.worker_gpu())
        if not claims.advance(current, EvaluationState.RUNNING, message=f"image {image_id[:19]} ready; running"):
            return claims.Outcome.LOST
        run = ContainerRun.objects.create(evaluation=evaluation, attempt=current.attempt, worker=current.worker,
                                          image_id=image_id, limits=limits.describe())
        result = run_model(client=client, image=image_id, input_dir=input_dir, evaluation_id=evaluation.pk,
                           limits=limits, workdir=workdir)
        _record(run, result, load_seconds=load_seconds)
        if result.reason is FailureReason.ENGINE_ERROR:
            raise EngineTrouble(result.message)
        if not result.ok:
            assert result.reason is not None
            return _fail_run(current, run, reason=result.reason, message=result.message)
        if not claims.advance(current, EvaluationState.VALIDATING,
                              message=f"container exited 0 after {result.timings.model:.1f} s; validating /output"):
            return claims.Outcome.LOST
        assert result.output_tar is not None
        outcome = archive_job.score_claimed(current, result.output_tar)
        if outcome is claims.Outcome.FAILED:
            run.reason = FailureReason.MALFORMED_OUTPUT.value
            run.message = "/output is not a valid prediction archive (problems listed above)"
            run.save(update_fields=["reason", "message"])
        return outcome
    except SoftTimeLimitExceeded:
        limit = settings.LEADERBOARD_CONTAINER_SOFT_TIME_LIMIT
        if run is not None and run.finished_at is None:
            run.finished_at, run.reason = timezone.now(), FailureReason.TIME_LIMIT.value
            run.message = f"the whole evaluation took longer than {limit} s"
            run.save(update_fields=["finished_at", "reason", "message"])
        claims.fail(current, kind=FailureKind.TIMEOUT,
                    problems=[Problem(f"loading, running and scoring took longer than the limit of {limit} s and "
                                      "were stopped; this does not count against your quota",
                                      expected="a smaller image or a faster model").to_dict()],
                    message="soft time limit")
        return claims.Outcome.FAILED
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if image_id is not None and not _image_still_needed(submission, evaluation.pk):
            try:
                remove_image(client, image_id)
            except ENGINE_ERRORS:
                log.warning("evaluation %s: could not remove image %s", evaluation.pk, image_id)


def claim_stage(evaluation_id: int) -> str:
    reference = Submission.objects.filter(evaluations__pk=evaluation_id).values_list("image_reference",
                                                                                     flat=True).first()
    return EvaluationState.PULLING if reference else EvaluationState.LOADING


def run(evaluation_id: int, *, worker: str, heartbeat_seconds: float | None = None) -> claims.Outcome:
    """The GPU task body for a container submission. Raises :class:`.claims.TransientFailure` to ask for a retry."""
    close_old_connections()
    current = claims.claim(evaluation_id, worker=worker, stage=claim_stage(evaluation_id))
    if current is None:
        return claims.Outcome.SKIPPED
    interval = heartbeat_seconds or settings.LEADERBOARD_HEARTBEAT_SECONDS
    client: docker.DockerClient | None = None
    try:
        with claims.Heartbeat(current, interval=interval), claims.disk_full_is_transient():
            try:
                client = connect(timeout=settings.LEADERBOARD_CONTAINER_ENGINE_TIMEOUT)
                sweep_orphans(client)
            except ENGINE_ERRORS as error:
                raise EngineTrouble(f"no container engine: {error}") from error
            return _run_claimed(current, client)
    except (EngineTrouble, *ENGINE_ERRORS, *claims.TRANSIENT_ERRORS) as error:
        log.warning("evaluation %s: %s; releasing the claim", evaluation_id, error)
        try:
            claims.release(current, reason=f"{type(error).__name__}: {error}"[:500])
        except claims.TRANSIENT_ERRORS:
            log.exception("evaluation %s: could not release the claim; the watchdog will", evaluation_id)
        raise claims.TransientFailure(str(error)) from error
    except Exception as error:
        log.exception("evaluation %s: container evaluation failed", evaluation_id)
        claims.fail(current, kind=FailureKind.SERVER, problems=claims.server_fault_problems(),
                    message=f"server fault: {type(error).__name__}: {error}"[:2000])
        return claims.Outcome.FAILED
    finally:
        if client is not None:
            client.close()


def sweep_orphans(client: docker.DockerClient) -> int:
    """Remove the containers and volumes of runs whose evaluation no worker holds any more (not active, or its
    heartbeats stopped). Safe with several workers on one engine: a live run is never touched."""
    labels = [c.labels or {} for c in client.containers.list(all=True, filters={"label": LABEL_EVALUATION})]
    labels += [v.attrs.get("Labels") or {} for v in client.volumes.list(filters={"label": LABEL_EVALUATION})]
    keys: set[str] = {label[LABEL_EVALUATION] for label in labels if label.get(LABEL_EVALUATION)}
    if not keys:
        return 0
    live = {evaluation_key(pk) for pk in Evaluation.objects.filter(
        state__in=list(ACTIVE_STATES), heartbeat_at__gte=claims.stale_before()).values_list("pk", flat=True)}
    removed = 0
    for key in sorted(keys - live):
        removed += remove_leftovers(client, evaluation_id=key)
    if removed:
        log.warning("removed %s container(s)/volume(s) left by stopped runs (evaluations %s)", removed,
                    ", ".join(sorted(keys - live)))
    return removed
