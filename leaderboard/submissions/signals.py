"""Worker hooks: let the scorer use its process pool inside Celery's pool processes, run one watchdog pass at
start-up so work left by a crashed worker resumes at once, and let a GPU worker sweep its engine at start-up."""

from __future__ import annotations

import logging
import multiprocessing

from celery.signals import worker_process_init, worker_ready
from django.conf import settings

from .watchdog import watchdog_pass

log = logging.getLogger(__name__)


@worker_process_init.connect
def allow_scorer_processes(**kwargs) -> None:
    """Celery's prefork children are daemonic, and daemonic processes may not start processes; the scorer
    measures masks in a process pool (``LEADERBOARD_SCORING_PROCESSES`` > 1), so the flag is cleared.
    The scorer's pool always ends with the evaluation (``with ProcessPoolExecutor``)."""
    multiprocessing.current_process()._config["daemon"] = False  # type: ignore[attr-defined]


@worker_ready.connect
def recover_on_start(sender=None, **kwargs) -> None:
    try:
        log.info("worker ready: %s", watchdog_pass(who="worker start-up"))
    except Exception:  # never keep a worker from starting
        log.exception("watchdog pass at worker start-up failed")


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

        from .container_job import sweep_orphans

        client = connect()
        try:
            removed = sweep_orphans(client)
        finally:
            client.close()
        log.info("GPU worker ready: removed %s leftover container(s)/volume(s)", removed)
    except Exception:  # never keep a worker from starting; each run sweeps again
        log.exception("GPU worker start-up: could not sweep leftover containers")
