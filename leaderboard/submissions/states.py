"""The evaluation state machine.

Archive submissions: queued → validating → scoring → done | failed. Container submissions
first bring the image into the engine and run it: queued → loading (uploaded tarball) or
pulling (image reference) → running → validating → scoring → done | failed.

Every state between queued and done is *active*: a worker holds a claim and sends
heartbeats. The watchdog moves an active evaluation whose heartbeats stopped back to
``queued`` (or to ``failed`` once it has used all its attempts); maintainers may re-queue a
failed one. ``done`` is final: a result is never replaced, a re-score is a new evaluation.
"""

from __future__ import annotations

from django.db import models


class EvaluationState(models.TextChoices):
    QUEUED = "queued", "Queued"
    LOADING = "loading", "Loading the image"
    PULLING = "pulling", "Pulling the image"
    RUNNING = "running", "Running the container"
    VALIDATING = "validating", "Validating"
    SCORING = "scoring", "Scoring"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class FailureKind(models.TextChoices):
    INVALID = "invalid", "The submission is invalid"
    CONTAINER = "container", "The container failed"
    SERVER = "server", "Server fault"
    TIMEOUT = "timeout", "Time limit exceeded"


#: States a claimed evaluation can be in (a worker holds it and sends heartbeats).
ACTIVE_STATES = frozenset({EvaluationState.LOADING, EvaluationState.PULLING, EvaluationState.RUNNING,
                           EvaluationState.VALIDATING, EvaluationState.SCORING})
PENDING_STATES = frozenset({EvaluationState.QUEUED, *ACTIVE_STATES})
FINAL_STATES = frozenset({EvaluationState.DONE, EvaluationState.FAILED})
#: Where a claim starts: archives are validated at once, container images are loaded or pulled first.
CLAIM_STATES = frozenset({EvaluationState.VALIDATING, EvaluationState.LOADING, EvaluationState.PULLING})

_BACK = frozenset({EvaluationState.FAILED, EvaluationState.QUEUED})  # every active state may fail or be re-queued
TRANSITIONS: dict[str, frozenset[str]] = {
    EvaluationState.QUEUED: frozenset({*CLAIM_STATES, EvaluationState.FAILED}),
    EvaluationState.LOADING: frozenset({EvaluationState.RUNNING, *_BACK}),
    EvaluationState.PULLING: frozenset({EvaluationState.RUNNING, *_BACK}),
    EvaluationState.RUNNING: frozenset({EvaluationState.VALIDATING, *_BACK}),
    EvaluationState.VALIDATING: frozenset({EvaluationState.SCORING, *_BACK}),
    EvaluationState.SCORING: frozenset({EvaluationState.DONE, *_BACK}),
    EvaluationState.DONE: frozenset(),
    EvaluationState.FAILED: frozenset({EvaluationState.QUEUED}),
}


class IllegalTransition(RuntimeError):
    pass


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"an evaluation cannot go from {current} to {target}")
