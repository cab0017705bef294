"""An e-mail to the submitter when the evaluation made at upload ends (``LEADERBOARD_EMAIL_ON_FINISH``, on by
default; Django's e-mail backend, the console when embedded).

Sent by a Celery task dispatched once the transaction that finished the evaluation commits; the task is idempotent
(``Evaluation.notified_at`` is claimed by one conditional UPDATE, so a re-delivered message sends nothing). The
mail says done or failed and, for an invalid archive, its problems (about the archive, never the labels); metrics
stay on the site, where the test set's feedback policy decides what is shown.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from evaluator.problems import Problem

from .models import Evaluation
from .states import EvaluationState, FailureKind

log = logging.getLogger(__name__)

TASK_NAME = "leaderboard.submissions.notifications.notify_finished"


def notify_on_commit(evaluation: Evaluation) -> None:
    """Queue the e-mail for an initial evaluation that just ended, after the surrounding transaction commits."""
    if not settings.LEADERBOARD_EMAIL_ON_FINISH or not evaluation.is_initial:
        return
    pk = evaluation.pk

    def dispatch() -> None:
        try:
            notify_finished.delay(pk)
        except Exception:  # broker down: an e-mail is not worth failing the evaluation for
            log.exception("evaluation %s: could not queue the e-mail", pk)

    transaction.on_commit(dispatch)


def message_for(evaluation: Evaluation) -> tuple[str, str]:
    submission = evaluation.submission
    name = f"submission {submission.pk} ({submission.method_name})"
    if evaluation.state == EvaluationState.DONE:
        return (f"Scored: {name}",
                f"Your {name} on {submission.testset} was scored. Its results are on the site (Submissions) and "
                f"in `covid-triage results {submission.pk}`.\n")
    lines = [f"Your {name} on {submission.testset} failed: {FailureKind(evaluation.failure_kind).label}."]
    if evaluation.failure_kind == FailureKind.INVALID:
        lines += ["", f"{len(evaluation.problems)} problem(s):"]
        lines += [f"  - {Problem(**problem)}" for problem in evaluation.problems]
    lines += ["", "A submission whose evaluation failed does not count toward the quota.",
              f"Details: the site (Submissions) or `covid-triage results {submission.pk}`."]
    return f"Failed: {name}", "\n".join(lines) + "\n"


@shared_task(name=TASK_NAME, acks_late=True, ignore_result=True)
def notify_finished(evaluation_id: int) -> bool:
    """Mail the submitter once; ``False`` when there is nobody to tell or it was sent already."""
    evaluation = (Evaluation.objects.select_related("submission__submitted_by", "submission__testset")
                  .filter(pk=evaluation_id, state__in=[EvaluationState.DONE, EvaluationState.FAILED]).first())
    user = evaluation.submission.submitted_by if evaluation else None
    if evaluation is None or user is None or not user.email:
        return False
    if not Evaluation.objects.filter(pk=evaluation_id, notified_at__isnull=True).update(notified_at=timezone.now()):
        return False
    subject, body = message_for(evaluation)
    send_mail(subject=f"[leaderboard] {subject}", message=body, from_email=settings.DEFAULT_FROM_EMAIL,
              recipient_list=[user.email])
    return True
