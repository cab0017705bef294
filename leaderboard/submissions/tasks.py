"""Celery tasks of the ``scoring`` queue (CPU workers)."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from django.conf import settings

from . import claims
from .states import FailureKind
from .watchdog import watchdog_pass

log = logging.getLogger(__name__)


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with jitter: ~10 s, 20 s, 40 s … capped at 10 minutes."""
    return min(600.0, 10.0 * 2**retries) * random.uniform(0.8, 1.2)


@shared_task(bind=True, name="leaderboard.submissions.tasks.score_evaluation", acks_late=True,
             reject_on_worker_lost=True, max_retries=settings.LEADERBOARD_TRANSIENT_RETRIES,
             soft_time_limit=settings.LEADERBOARD_SOFT_TIME_LIMIT, time_limit=settings.LEADERBOARD_HARD_TIME_LIMIT)
def score_evaluation(self, evaluation_id: int) -> str:
    """Score one archive evaluation; idempotent (see :mod:`leaderboard.submissions.claims`)."""
    return run_with_retries(self, evaluation_id, run=claims.run, default_worker="worker")


def run_with_retries(task, evaluation_id: int, *, run, default_worker: str) -> str:
    """``run(evaluation_id, worker=...)`` under the queue's retry policy (shared by the CPU and GPU tasks):
    transient trouble is retried with backoff; after the last retry the evaluation fails as a server fault."""
    worker = f"{task.request.hostname or default_worker}/{task.request.id or '-'}"
    try:
        return run(evaluation_id, worker=worker).value
    except claims.TransientFailure as error:
        if task.request.retries >= task.max_retries:
            claims.fail_unclaimed(evaluation_id, kind=FailureKind.SERVER,
                                  problems=[{"message": claims.SERVER_FAULT_MESSAGE}],
                                  message=f"gave up after {task.request.retries} retries: {error}")
            return claims.Outcome.FAILED.value
        raise task.retry(exc=error, countdown=backoff_seconds(task.request.retries))
    except claims.TRANSIENT_ERRORS as error:  # the claim itself could not be taken (database away)
        raise task.retry(exc=error, countdown=backoff_seconds(task.request.retries))


@shared_task(name="leaderboard.submissions.tasks.watchdog", acks_late=False, ignore_result=True)
def watchdog() -> str:
    return str(watchdog_pass())
