"""The claim protocol of the workers: claim an evaluation, advance it, release it, record its outcome exactly once.

The task bodies that use it: :mod:`.archive_job` (uploaded archives) and :mod:`.container_job` (containers).

Protocol (every step holds the evaluation's row lock):

1. **Claim**: only a ``queued`` evaluation, or an active one whose heartbeats stopped, can be
   claimed; the claim counts an attempt and gets a fresh ``claim_token``. A re-delivered
   message for an evaluation that is done, failed or actively scored by a live worker is a
   no-op. Past ``LEADERBOARD_MAX_ATTEMPTS`` the evaluation fails as a server fault.
2. **Heartbeat**: a thread stamps ``heartbeat_at`` while the scorer runs.
3. **Finish**: the result (or failure) is written only if the claim token still matches, so a
   worker that was presumed dead and replaced can never write a second result.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import logging
import math
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from evaluator.problems import Problem
from evaluator.scoring import public_view
from leaderboard.metric_defs import METRIC_KEYS

from . import events, notifications
from .models import Evaluation, Submission
from .states import ACTIVE_STATES, CLAIM_STATES, EvaluationState, FailureKind

log = logging.getLogger(__name__)

SERVER_FAULT_MESSAGE = ("An internal error stopped the scoring of this submission; the maintainers can see the "
                        "details and will re-queue it. This does not count against your quota.")


class DiskFull(Exception):
    """The worker's own disk (scratch) was full: retried like an unreachable service, never the team's fault."""


#: ``OSError.errno`` values that mean "no room left on this host", not "this input is bad".
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextlib.contextmanager
def disk_full_is_transient() -> Iterator[None]:
    """Re-raise an out-of-space ``OSError`` from the body as :class:`DiskFull` (one of :data:`TRANSIENT_ERRORS`),
    so a scratch disk that filled up for a while delays the evaluations instead of failing them."""
    try:
        yield
    except OSError as error:
        if error.errno in DISK_FULL_ERRNOS:
            raise DiskFull(f"the worker's disk is full ({error.strerror}); retried later") from error
        raise


def _transient_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OperationalError, InterfaceError, ConnectionError, TimeoutError, DiskFull]
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError

        errors += [BotoConnectionError, HTTPClientError]
    except ImportError:  # pragma: no cover - botocore is a dependency of django-storages[s3]
        pass
    return tuple(errors)


#: Errors worth retrying later (database, network, object storage unreachable, worker's disk full).
TRANSIENT_ERRORS = _transient_errors()


class Outcome(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # not claimable: already done/failed, or a live worker has it
    LOST = "lost"  # the claim was taken over while scoring; this result was discarded


class TransientFailure(Exception):
    """Scoring stopped for a reason that may go away; the claim was released (state ``queued``)."""


@dataclass(frozen=True)
class Claim:
    evaluation_id: int
    token: uuid.UUID
    worker: str
    attempt: int


def stale_before(now: datetime | None = None) -> datetime:
    """The heartbeat cutoff: an active evaluation whose last heartbeat is older has lost its worker
    (``LEADERBOARD_STALE_AFTER_SECONDS``); the claim, the watchdog and the container sweep all use it."""
    return (now or timezone.now()) - timedelta(seconds=settings.LEADERBOARD_STALE_AFTER_SECONDS)


def server_fault_problems() -> list[dict[str, Any]]:
    return [Problem(SERVER_FAULT_MESSAGE).to_dict()]


def fail_interrupted_locked(evaluation: Evaluation, *, message: str, worker: str = "") -> None:
    """Fail a locked evaluation whose attempts are used up (its workers kept stopping) as a server fault."""
    fail_locked(evaluation, kind=FailureKind.SERVER, message=message, worker=worker,
                problems=[Problem(f"scoring was interrupted {evaluation.attempts} times; it will not be retried "
                                  "automatically. " + SERVER_FAULT_MESSAGE).to_dict()])


def fail_locked(evaluation: Evaluation, *, kind: str, problems: list[dict[str, Any]], message: str,
                 worker: str = "") -> None:
    evaluation.failure_kind, evaluation.problems = kind, problems
    evaluation.finished_at, evaluation.claim_token = timezone.now(), None
    events.transition(evaluation, EvaluationState.FAILED, message=message, worker=worker,
                      fields=("failure_kind", "problems", "finished_at", "claim_token"))
    if evaluation.is_initial:  # failed submissions never count toward the quota
        Submission.objects.filter(pk=evaluation.submission_id).update(counts_toward_quota=False)
    notifications.notify_on_commit(evaluation)


def claim(evaluation_id: int, *, worker: str, stage: str = EvaluationState.VALIDATING) -> Claim | None:
    """Claim the evaluation for this worker, or ``None`` when there is nothing to do.

    ``stage``: the state the claim starts in (``validating`` for archives; ``loading`` or
    ``pulling`` for container images).
    """
    if stage not in CLAIM_STATES:
        raise ValueError(f"a claim cannot start in {stage}")
    with transaction.atomic():
        evaluation = Evaluation.objects.select_for_update().filter(pk=evaluation_id).first()
        if evaluation is None:
            log.warning("evaluation %s does not exist; message dropped", evaluation_id)
            return None
        takeover = (evaluation.state in ACTIVE_STATES and evaluation.heartbeat_at is not None
                    and evaluation.heartbeat_at < stale_before())
        if evaluation.state != EvaluationState.QUEUED and not takeover:
            return None
        if evaluation.attempts >= settings.LEADERBOARD_MAX_ATTEMPTS:
            fail_interrupted_locked(evaluation, message=f"gave up after {evaluation.attempts} attempts", worker=worker)
            return None
        if takeover:  # the previous worker died: record it, then start afresh
            events.transition(evaluation, EvaluationState.QUEUED, worker=worker,
                              message=f"worker {evaluation.worker} stopped sending heartbeats; taken over")
        now = timezone.now()
        evaluation.attempts += 1
        evaluation.claim_token = uuid.uuid4()
        evaluation.worker, evaluation.heartbeat_at, evaluation.started_at = worker, now, now
        events.transition(evaluation, stage, worker=worker, message=f"attempt {evaluation.attempts} started",
                          fields=("attempts", "claim_token", "worker", "heartbeat_at", "started_at"))
        return Claim(evaluation.pk, evaluation.claim_token, worker, evaluation.attempts)


def _locked_if_mine(current: Claim) -> Evaluation | None:
    evaluation = Evaluation.objects.select_for_update().filter(pk=current.evaluation_id).first()
    if evaluation is None or evaluation.claim_token != current.token or evaluation.state not in ACTIVE_STATES:
        return None
    return evaluation


def enter_stage(current: Claim, stage: str) -> None:
    """``on_stage`` of the scorer: validating → scoring (ignored if the claim was lost)."""
    if stage != EvaluationState.SCORING:
        return
    with transaction.atomic():
        evaluation = _locked_if_mine(current)
        if evaluation is not None and evaluation.state == EvaluationState.VALIDATING:
            evaluation.heartbeat_at = timezone.now()
            events.transition(evaluation, EvaluationState.SCORING, worker=current.worker,
                              message="archive valid; computing metrics", fields=("heartbeat_at",))


def advance(current: Claim, target: str, *, message: str) -> bool:
    """Move a claimed evaluation to the next active ``target`` (e.g. loading → running); ``False`` (nothing
    changed) when the claim was lost."""
    with transaction.atomic():
        evaluation = _locked_if_mine(current)
        if evaluation is None:
            return False
        evaluation.heartbeat_at = timezone.now()
        events.transition(evaluation, target, worker=current.worker, message=message, fields=("heartbeat_at",))
        return True


def release(current: Claim, *, reason: str) -> bool:
    """Give the evaluation back to the queue (transient trouble); the attempt stays counted."""
    with transaction.atomic():
        evaluation = _locked_if_mine(current)
        if evaluation is None:
            return False
        evaluation.claim_token = None
        events.transition(evaluation, EvaluationState.QUEUED, worker=current.worker,
                          message=f"will retry: {reason}", fields=("claim_token",))
        return True


def fail(current: Claim, *, kind: str, problems: list[dict[str, Any]], message: str) -> bool:
    with transaction.atomic():
        evaluation = _locked_if_mine(current)
        if evaluation is None:
            return False
        fail_locked(evaluation, kind=kind, problems=problems, message=message, worker=current.worker)
        return True


def fail_unclaimed(evaluation_id: int, *, kind: str, problems: list[dict[str, Any]], message: str) -> bool:
    """Fail a queued evaluation whose retries are exhausted (no claim is held)."""
    with transaction.atomic():
        evaluation = Evaluation.objects.select_for_update().filter(pk=evaluation_id).first()
        if evaluation is None or evaluation.state != EvaluationState.QUEUED:
            return False
        fail_locked(evaluation, kind=kind, problems=problems, message=message)
        return True


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats (e.g. scikit-learn's ``inf`` first ROC threshold) as ``None``:
    JSON has no infinity, and PostgreSQL/SQLite JSON columns refuse it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def compact_intervals(document: dict[str, Any]) -> dict[str, list[float] | None]:
    return {key: ([value["low"], value["high"]] if value else None)
            for key, value in document["intervals"].items() if key in METRIC_KEYS}


def stored_result(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(result, per_case)`` as :func:`finish` stores them: the public view and the private part, JSON-safe."""
    document = json_safe(document)
    return public_view(document), document["private"]


def finish(current: Claim, document: dict[str, Any], *, feedback: dict[str, Any] | None = None) -> bool:
    """Record the result document (and ``feedback``, the evaluation's derived documents:
    :func:`leaderboard.feedback.documents_at_finish`); ``False`` (and nothing written) if the claim was lost."""
    with transaction.atomic():
        evaluation = _locked_if_mine(current)
        if evaluation is None:
            return False
        label_version = evaluation.label_version
        if document["testset"]["labels_digest"] != label_version.labels_digest:
            raise RuntimeError(f"scored on labels {document['testset']['labels_digest'][:12]}, evaluation asks for "
                               f"{label_version.labels_digest[:12]}")
        document = json_safe(document)
        evaluation.result, evaluation.per_case = stored_result(document)
        evaluation.feedback = feedback
        evaluation.intervals = compact_intervals(document)
        for key in METRIC_KEYS:
            setattr(evaluation, key, document["metrics"][key])
        evaluation.finished_at, evaluation.claim_token = timezone.now(), None
        events.transition(evaluation, EvaluationState.DONE, worker=current.worker,
                          message=f"scored in {sum(document.get('timings', {}).values()):.1f} s",
                          fields=("result", "per_case", "feedback", "intervals", *METRIC_KEYS, "finished_at",
                                  "claim_token"))
        if evaluation.is_initial:  # scored submissions count (again, if a maintainer re-ran a failed one)
            Submission.objects.filter(pk=evaluation.submission_id, is_reference=False).update(counts_toward_quota=True)
        notifications.notify_on_commit(evaluation)
        return True


class Heartbeat:
    """Stamps ``heartbeat_at`` every ``interval`` seconds from a thread while scoring runs."""

    def __init__(self, current: Claim, *, interval: float) -> None:
        self.current, self.interval = current, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{current.evaluation_id}", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    alive = Evaluation.objects.filter(pk=self.current.evaluation_id,
                                                      claim_token=self.current.token).update(
                        heartbeat_at=timezone.now())
                    if not alive:
                        log.warning("evaluation %s: claim lost; its result will be discarded",
                                    self.current.evaluation_id)
                        return
                except DatabaseError:
                    log.exception("evaluation %s: heartbeat failed", self.current.evaluation_id)
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)


__all__ = ["Claim", "Heartbeat", "Outcome", "TRANSIENT_ERRORS", "TransientFailure", "advance", "claim", "fail",
           "fail_interrupted_locked", "fail_unclaimed", "finish", "release", "server_fault_problems", "stale_before",
           "stored_result"]
