"""Sending an evaluation's task message (always after the transaction that queued it commits)."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Evaluation, SubmissionKind

log = logging.getLogger(__name__)


class ContainersDisabled(Exception):
    """No container runner is configured on this server."""


def task_name_for(kind: str) -> str:
    if kind == SubmissionKind.CONTAINER:
        if not settings.LEADERBOARD_CONTAINER_TASK:
            raise ContainersDisabled("container submissions are not accepted by this server")
        return settings.LEADERBOARD_CONTAINER_TASK
    return "leaderboard.submissions.tasks.score_evaluation"


def send(evaluation_id: int) -> bool:
    """Send the task now; a broker failure is logged, not raised (the watchdog sends it again later)."""
    row = Evaluation.objects.filter(pk=evaluation_id).values("submission__kind").first()
    if row is None:
        return False
    try:
        current_app.send_task(task_name_for(row["submission__kind"]), args=[evaluation_id])
    except ContainersDisabled:
        log.error("evaluation %s: container task not configured (LEADERBOARD_CONTAINER_TASK)", evaluation_id)
        return False
    except Exception:  # broker down: the evaluation stays queued and the watchdog re-sends
        log.exception("evaluation %s: could not send the task message", evaluation_id)
        return False
    Evaluation.objects.filter(pk=evaluation_id).update(last_dispatched_at=timezone.now(),
                                                       dispatch_count=F("dispatch_count") + 1)
    return True


def send_on_commit(evaluation_id: int) -> None:
    """Send once the transaction commits. ``robust``: a failure (the database gone right after the commit) is
    logged, never raised into the committed caller; the evaluation stays queued and the watchdog sends it."""
    transaction.on_commit(lambda: send(evaluation_id), robust=True)
