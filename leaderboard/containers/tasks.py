"""Celery task of the ``gpu`` queue: run one container evaluation (this module alone here imports Django).

Served only by GPU workers (``celery -A leaderboard worker -Q gpu``); the site sends it when
``LEADERBOARD_CONTAINER_TASK=leaderboard.containers.tasks.run_container_evaluation``. The
body is :func:`leaderboard.submissions.container_job.run`; like the archive task it is
idempotent (a re-delivered message for a done, failed or live evaluation does nothing).
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from leaderboard.submissions import container_job
from leaderboard.submissions.tasks import run_with_retries

log = logging.getLogger(__name__)

TASK_NAME = "leaderboard.containers.tasks.run_container_evaluation"


@shared_task(bind=True, name=TASK_NAME, acks_late=True, reject_on_worker_lost=True,
             max_retries=settings.LEADERBOARD_TRANSIENT_RETRIES,
             soft_time_limit=settings.LEADERBOARD_CONTAINER_SOFT_TIME_LIMIT,
             time_limit=settings.LEADERBOARD_CONTAINER_HARD_TIME_LIMIT)
def run_container_evaluation(self, evaluation_id: int) -> str:
    """Load or pull the image, run it, validate and score its output; retried on engine or database trouble."""
    return run_with_retries(self, evaluation_id, run=container_job.run, default_worker="gpu-worker")


def _serves_gpu_queue(sender) -> bool:
    try:
        return settings.GPU_QUEUE in sender.app.amqp.queues.consume_from
    except AttributeError:
        return False


@worker_ready.connect
def sweep_on_start(sender=None, **kwargs) -> None:
    """A GPU worker starting removes what stopped runs left in its engine (never a live run's containers)."""
    if sender is None or not _serves_gpu_queue(sender):
        return
    try:
        from leaderboard.containers import connect

        client = connect()
        try:
            removed = container_job.sweep_orphans(client)
        finally:
            client.close()
        log.info("GPU worker ready: removed %s leftover container(s)/volume(s)", removed)
    except Exception:  # never keep a worker from starting; each run sweeps again
        log.exception("GPU worker start-up: could not sweep leftover containers")
