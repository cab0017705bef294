"""The Celery tasks, side by side: the archive task (``scoring`` queue, CPU workers), the container task (``gpu``
queue, GPU workers) and the watchdog.

Registered names are kept stable so that queued messages still route (the container task keeps the name it had
when it lived in ``leaderboard.containers.tasks``; the site sends it by the name in
``LEADERBOARD_CONTAINER_TASK``). Both evaluation tasks are idempotent: a re-delivered message for a done, failed
or live evaluation does nothing (see :mod:`.claims`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.conf import settings

from . import archive_job, claims, container_job
from .states import FailureKind
from .watchdog import watchdog_pass

log = logging.getLogger(__name__)

#: The registered name of the container task (the value of ``LEADERBOARD_CONTAINER_TASK`` on a site that accepts
#: containers).
CONTAINER_TASK_NAME = "leaderboard.containers.tasks.run_container_evaluation"


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with jitter: ~10 s, 20 s, 40 s … capped at 10 minutes."""
    return min(600.0, 10.0 * 2**retries) * random.uniform(0.8, 1.2)


@shared_task(bind=True, name="leaderboard.submissions.tasks.score_evaluation", acks_late=True,
             reject_on_worker_lost=True, max_retries=settings.LEADERBOARD_TRANSIENT_RETRIES,
             soft_time_limit=settings.LEADERBOARD_SOFT_TIME_LIMIT, time_limit=settings.LEADERBOARD_HARD_TIME_LIMIT)
def score_evaluation(self: Any, evaluation_id: int) -> str:
    """Score one archive evaluation (body: :func:`.archive_job.run`)."""
    return run_with_retries(self, evaluation_id, run=archive_job.run, default_worker="worker")


@shared_task(bind=True, name=CONTAINER_TASK_NAME, acks_late=True, reject_on_worker_lost=True,
             max_retries=settings.LEADERBOARD_TRANSIENT_RETRIES,
             soft_time_limit=settings.LEADERBOARD_CONTAINER_SOFT_TIME_LIMIT,
             time_limit=settings.LEADERBOARD_CONTAINER_HARD_TIME_LIMIT)
def run_container_evaluation(self: Any, evaluation_id: int) -> str:
    """Load or pull the image, run it, validate and score its output (body: :func:`.container_job.run`); served
    only by GPU workers (``celery -A leaderboard worker -Q gpu``)."""
    return run_with_retries(self, evaluation_id, run=container_job.run, default_worker="gpu-worker")


def run_with_retries(task: Any, evaluation_id: int, *, run: Callable[..., claims.Outcome], default_worker: str) -> str:
    """``run(evaluation_id, worker=...)`` under the queue's retry policy (shared by the CPU and GPU tasks):
    transient trouble is retried with backoff; after the last retry the evaluation fails as a server fault."""
    worker = f"{task.request.hostname or default_worker}/{task.request.id or '-'}"
    try:
        return run(evaluation_id, worker=worker).value
    except claims.TransientFailure as error:
        if task.request.retries >= task.max_retries:
            claims.fail_unclaimed(evaluation_id, kind=FailureKind.SERVER, problems=claims.server_fault_problems(),
                                  message=f"gave up after {task.request.retries} retries: {error}")
            return claims.Outcome.FAILED.value
        raise task.retry(exc=error, countdown=backoff_seconds(task.request.retries)) from error
    except claims.TRANSIENT_ERRORS as error:  # the claim itself could not be taken (database away)
        raise task.retry(exc=error, countdown=backoff_seconds(task.request.retries)) from error


@shared_task(name="leaderboard.submissions.tasks.watchdog", acks_late=False, ignore_result=True)
def watchdog() -> str:
    return str(watchdog_pass())
