"""The watchdog: no evaluation stays stuck.

One pass (run by Celery beat every ``LEADERBOARD_WATCHDOG_SECONDS``, when a worker starts,
or by ``manage.py watchdog``):

- an active evaluation (loading/pulling/running/validating/scoring) whose heartbeats stopped for
  ``LEADERBOARD_STALE_AFTER_SECONDS`` is re-queued (its worker died), or failed as a server
  fault once it used ``LEADERBOARD_MAX_ATTEMPTS`` attempts;
- a queued evaluation whose task message was never sent, or was sent more than
  ``LEADERBOARD_QUEUED_RESEND_AFTER_SECONDS`` ago, gets its message sent again (lost
  messages; duplicates are harmless because the task is idempotent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import dispatch, events
from .claims import fail_interrupted_locked, stale_before
from .models import Evaluation
from .states import ACTIVE_STATES, EvaluationState

log = logging.getLogger(__name__)


@dataclass
class WatchdogReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"re-queued {len(self.requeued)} stalled, failed {len(self.failed)} after too many attempts, "
                f"re-sent {len(self.resent)} queued")


def _stalled(evaluation: Evaluation, cutoff: datetime) -> bool:
    return (evaluation.state in ACTIVE_STATES
            and (evaluation.heartbeat_at is None or evaluation.heartbeat_at < cutoff))


def watchdog_pass(*, now: datetime | None = None, who: str = "watchdog") -> WatchdogReport:
    now = now or timezone.now()
    report = WatchdogReport()
    cutoff = stale_before(now)
    stalled = Evaluation.objects.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True),
                                        state__in=list(ACTIVE_STATES)).values_list("pk", flat=True)
    for pk in list(stalled):
        with transaction.atomic():
            evaluation = Evaluation.objects.select_for_update().get(pk=pk)
            if not _stalled(evaluation, cutoff):
                continue
            silent = (f"since {evaluation.heartbeat_at:%H:%M:%S}" if evaluation.heartbeat_at else "at all")
            if evaluation.attempts >= settings.LEADERBOARD_MAX_ATTEMPTS:
                fail_interrupted_locked(evaluation, worker=who,
                                        message=f"worker {evaluation.worker} silent {silent}; attempts used up")
                report.failed.append(pk)
            else:
                evaluation.claim_token = None
                events.transition(evaluation, EvaluationState.QUEUED, worker=who, fields=("claim_token",),
                                  message=f"worker {evaluation.worker} silent {silent}; re-queued")
                dispatch.send_on_commit(pk)
                report.requeued.append(pk)
    resend_before = now - timedelta(seconds=settings.LEADERBOARD_QUEUED_RESEND_AFTER_SECONDS)
    never_sent_before = now - timedelta(seconds=min(60, settings.LEADERBOARD_QUEUED_RESEND_AFTER_SECONDS))
    lost = (Evaluation.objects.filter(state=EvaluationState.QUEUED)
            .filter(Q(last_dispatched_at__lt=resend_before)
                    | Q(last_dispatched_at__isnull=True, state_changed_at__lt=never_sent_before))
            .exclude(pk__in=report.requeued).values_list("pk", flat=True))
    for pk in list(lost):
        if dispatch.send(pk):
            report.resent.append(pk)
    if report.requeued or report.failed or report.resent:
        log.warning("watchdog: %s", report)
    return report
