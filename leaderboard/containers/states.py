"""The states of a container evaluation, as the site records and shows them.

queued → loading (an uploaded tarball) or pulling (an image reference) → running →
validating → scoring → done, and failed from any state before done. An evaluation
re-queued after a worker crash goes back to queued.
"""

from __future__ import annotations

from enum import StrEnum


class ContainerState(StrEnum):
    QUEUED = "queued"
    LOADING = "loading"
    PULLING = "pulling"
    RUNNING = "running"
    VALIDATING = "validating"
    SCORING = "scoring"
    DONE = "done"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (ContainerState.DONE, ContainerState.FAILED)


_ACTIVE = (ContainerState.LOADING, ContainerState.PULLING, ContainerState.RUNNING, ContainerState.VALIDATING,
           ContainerState.SCORING)

#: Allowed moves; anything not final may fail, an active state may go back to queued (worker restart).
TRANSITIONS: dict[ContainerState, frozenset[ContainerState]] = {
    ContainerState.QUEUED: frozenset({ContainerState.LOADING, ContainerState.PULLING, ContainerState.FAILED}),
    ContainerState.LOADING: frozenset({ContainerState.RUNNING}),
    ContainerState.PULLING: frozenset({ContainerState.RUNNING}),
    ContainerState.RUNNING: frozenset({ContainerState.VALIDATING}),
    ContainerState.VALIDATING: frozenset({ContainerState.SCORING}),
    ContainerState.SCORING: frozenset({ContainerState.DONE}),
    ContainerState.DONE: frozenset(),
    ContainerState.FAILED: frozenset(),
}
for _state in _ACTIVE:
    TRANSITIONS[_state] = TRANSITIONS[_state] | {ContainerState.FAILED, ContainerState.QUEUED}


def can_move(current: ContainerState, new: ContainerState) -> bool:
    """Whether an evaluation in ``current`` may move to ``new``."""
    return new in TRANSITIONS[current]
