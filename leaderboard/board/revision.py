"""The board revision: cached boards are keyed by it, so any change that can alter a board invalidates them
in every process (web workers, Celery workers, management commands) whatever the cache backend.

Changes are recorded by signal handlers (:func:`connect`) as :class:`~leaderboard.board.models.BoardChange`
rows in the same transaction as the change; the revision is their count. Writes that bypass ``save()`` and
``delete()`` (``QuerySet.update``, ``bulk_create``) must call :func:`record_change` themselves; cached
boards also expire after ``CACHE_SECONDS`` as a safety net.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from .models import BoardChange

CACHE_SECONDS = 600


def revision() -> int:
    """The current board revision (read it *before* building what will be cached under it)."""
    return BoardChange.objects.count()


def record_change(what: str) -> None:
    BoardChange.objects.create(what=what[:60])


def _evaluation_saved(sender, instance, **kwargs) -> None:
    from leaderboard.submissions.states import EvaluationState

    if instance.state == EvaluationState.DONE:  # only done evaluations are on boards
        record_change("evaluation done")


def _saved_or_deleted(sender, instance, **kwargs) -> None:
    if kwargs.get("raw"):  # loading fixtures
        return
    record_change(sender._meta.label)


def connect() -> None:
    from leaderboard.accounts.models import Team
    from leaderboard.submissions.models import Evaluation, Submission
    from leaderboard.testsets.models import LabelVersion, ReportedResult, TestSet

    post_save.connect(_evaluation_saved, sender=Evaluation, dispatch_uid="board-revision-evaluation-saved")
    for model in (Evaluation, Submission, Team, TestSet, LabelVersion, ReportedResult):
        post_delete.connect(_saved_or_deleted, sender=model, dispatch_uid=f"board-revision-{model.__name__}-deleted")
    for model in (Submission, Team, TestSet, LabelVersion, ReportedResult):
        post_save.connect(_saved_or_deleted, sender=model, dispatch_uid=f"board-revision-{model.__name__}-saved")
