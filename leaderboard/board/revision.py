"""The board revision: cached boards are keyed by it, so any change that can alter a board invalidates them
in every process (web workers, Celery workers, management commands) whatever the cache backend.

Changes are recorded by signal handlers (:func:`connect`) as :class:`~leaderboard.board.models.BoardChange`
rows in the same transaction as the change; the revision is their count with the time of the latest (the
count alone identifies every committed state, as rows are only ever added; the time tells apart databases
rolled back to an earlier count, as tests do). A process re-reads it at most once per
``settings.LEADERBOARD_BOARD_REFRESH_SECONDS`` (and right after recording a change), so a cached board is
served without any database round trip, and rebuilt at most that often however fast results land. A new
submission records no change: boards show only done evaluations, which record their own.
Writes that bypass ``save()`` and ``delete()`` (``QuerySet.update``, ``bulk_create``) must call
:func:`record_change` themselves; cached boards also expire after ``CACHE_SECONDS`` as a safety net.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.db.models.signals import post_delete, post_save

from .models import BoardChange

CACHE_SECONDS = 600
_memo: tuple[str, float] | None = None  # (revision, monotonic time until which it is reused)


def revision() -> str:
    """The current board revision (read it *before* building what will be cached under it).

    Read from the database at most once per ``LEADERBOARD_BOARD_REFRESH_SECONDS`` per process (and again right
    after this process records a change), so that serving a cached board needs no database round trip at all: a
    change is on every board within that many seconds of its commit, whichever process made it.
    """
    global _memo
    memo, now = _memo, time.monotonic()
    if memo is not None and memo[1] > now:
        return memo[0]
    with connection.cursor() as cursor:  # plain SQL: the ORM's aggregate machinery costs more than the query
        cursor.execute(_REVISION_SQL)
        count, latest = cursor.fetchone()
    value = f"{count}@{latest}"
    if not connection.in_atomic_block:  # inside a transaction the value may be rolled back with it
        _memo = (value, now + settings.LEADERBOARD_BOARD_REFRESH_SECONDS)
    return value


def forget_revision() -> None:
    global _memo
    _memo = None


_REVISION_SQL = f"SELECT COUNT(*), MAX(at) FROM {BoardChange._meta.db_table}"


def record_change(what: str) -> None:
    """Record a change that may alter a board (in the caller's transaction, if any)."""
    BoardChange.objects.create(what=what[:60])
    forget_revision()


def _evaluation_saved(sender, instance, **kwargs) -> None:
    from leaderboard.submissions.states import EvaluationState

    if not kwargs.get("raw") and instance.state == EvaluationState.DONE:  # only done evaluations are on boards
        record_change("evaluation done")


def _saved_or_deleted(sender, instance, **kwargs) -> None:
    if kwargs.get("raw"):  # loading fixtures
        return
    if kwargs.get("created") and sender._meta.label == "submissions.Submission":
        return  # not on any board before one of its evaluations is done (which records a change)
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
