"""The board's Celery task: honest-ranks statistics once per board revision (body: :func:`.statistics.compute`)."""

from __future__ import annotations

from celery import shared_task

from . import statistics


@shared_task(name=statistics.TASK_NAME, acks_late=True, reject_on_worker_lost=True)
def compute_board_statistics(label_version_id: int, track: str) -> bool:
    """Idempotent: a revision already stored (or stored meanwhile by another worker) is not computed again."""
    return statistics.compute(label_version_id, track)
