"""Worker hooks: let the scorer use its process pool inside Celery's pool processes, and run one
watchdog pass at start-up so work left by a crashed worker resumes at once."""

from __future__ import annotations

import logging
import multiprocessing

from celery.signals import worker_process_init, worker_ready

from .watchdog import watchdog_pass

log = logging.getLogger(__name__)


@worker_process_init.connect
def allow_scorer_processes(**kwargs) -> None:
    """Celery's prefork children are daemonic, and daemonic processes may not start processes; the scorer
    measures masks in a process pool (``LEADERBOARD_SCORING_PROCESSES`` > 1), so the flag is cleared.
    The scorer's pool always ends with the evaluation (``with ProcessPoolExecutor``)."""
    multiprocessing.current_process()._config["daemon"] = False


@worker_ready.connect
def recover_on_start(sender=None, **kwargs) -> None:
    try:
        log.info("worker ready: %s", watchdog_pass(who="worker start-up"))
    except Exception:  # never keep a worker from starting
        log.exception("watchdog pass at worker start-up failed")
