"""State changes of evaluations, always recorded in the audit trail (EvaluationEvent)."""

from __future__ import annotations

from django.utils import timezone

from .models import Evaluation, EvaluationEvent
from .states import check_transition


def transition(evaluation: Evaluation, target: str, *, message: str, worker: str = "",
               fields: tuple[str, ...] = ()) -> None:
    """Move a locked (``select_for_update``) evaluation to ``target`` and save ``fields`` with it."""
    check_transition(evaluation.state, target)
    previous = evaluation.state
    evaluation.state = target
    evaluation.state_changed_at = timezone.now()
    evaluation.save(update_fields=["state", "state_changed_at", *fields])
    EvaluationEvent.objects.create(evaluation=evaluation, from_state=previous, to_state=target, message=message,
                                   worker=worker)


def created(evaluation: Evaluation, *, message: str) -> None:
    EvaluationEvent.objects.create(evaluation=evaluation, from_state="", to_state=evaluation.state, message=message)
