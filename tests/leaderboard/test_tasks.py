"""Celery wiring: task options, queues and routes, retries with backoff."""

import pytest
from celery.exceptions import Retry
from django.conf import settings

from leaderboard.celery import app
from leaderboard.submissions import archive_job, claims, tasks
from leaderboard.submissions.models import Evaluation
from leaderboard.submissions.states import EvaluationState, FailureKind

from .helpers import submit


def test_scoring_task_options():
    task = tasks.score_evaluation
    assert task.acks_late and task.reject_on_worker_lost
    assert task.soft_time_limit == settings.LEADERBOARD_SOFT_TIME_LIMIT
    assert task.time_limit == settings.LEADERBOARD_HARD_TIME_LIMIT > task.soft_time_limit
    assert task.max_retries == settings.LEADERBOARD_TRANSIENT_RETRIES


def queue_of(name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def test_cpu_and_gpu_work_go_to_separate_queues():
    assert queue_of("leaderboard.submissions.tasks.score_evaluation") == settings.SCORING_QUEUE == "scoring"
    assert queue_of("leaderboard.submissions.tasks.watchdog") == "scoring"
    assert queue_of("leaderboard.containers.tasks.run_container") == settings.GPU_QUEUE == "gpu"
    assert {q.name for q in app.conf.task_queues} == {"scoring", "gpu"}


def test_backoff_grows_and_is_capped():
    values = [tasks.backoff_seconds(n) for n in range(12)]
    assert 8 <= values[0] <= 12 and 16 <= values[1] <= 24 and max(values) <= 720


def test_transient_failure_is_retried(label_version, team_a, archives, monkeypatch):
    evaluation = submit(team_a, archives["noisy"]).evaluations.get()

    def flaky(evaluation_id, *, worker):
        raise claims.TransientFailure("database away")

    monkeypatch.setattr(archive_job, "run", flaky)
    monkeypatch.setattr(tasks.score_evaluation, "retry", lambda exc, countdown: Retry(exc=exc, when=countdown))
    with pytest.raises(Retry):
        tasks.score_evaluation.run(evaluation.pk)


def test_retries_exhausted_fail_the_evaluation(label_version, team_a, archives, monkeypatch):
    evaluation = submit(team_a, archives["noisy"]).evaluations.get()

    def flaky(evaluation_id, *, worker):
        raise claims.TransientFailure("database away")

    monkeypatch.setattr(archive_job, "run", flaky)
    tasks.score_evaluation.push_request(retries=tasks.score_evaluation.max_retries, hostname="w", id="t")
    try:
        assert tasks.score_evaluation.run(evaluation.pk) == "failed"
    finally:
        tasks.score_evaluation.pop_request()
    evaluation = Evaluation.objects.get(pk=evaluation.pk)
    assert evaluation.state == EvaluationState.FAILED and evaluation.failure_kind == FailureKind.SERVER


def test_task_body_scores(label_version, team_a, archives):
    evaluation = submit(team_a, archives["noisy"]).evaluations.get()
    assert tasks.score_evaluation.apply(args=[evaluation.pk]).get() == "done"
    assert tasks.score_evaluation.apply(args=[evaluation.pk]).get() == "skipped"
