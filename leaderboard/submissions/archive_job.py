"""The task body for an uploaded prediction archive: claim it, score it on the hidden labels, record the outcome.

The claim protocol is :mod:`.claims`; :func:`score_claimed` is also how a container's output is scored
(:mod:`.container_job`), so both tracks go through the same scorer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections

from evaluator.problems import InvalidInput, Problem
from evaluator.scoring import ScoringOptions, score_archive
from evaluator.scoring import Track as ScorerTrack
from evaluator.worklist import SimulationSize
from leaderboard.storage import local_path, private_storage
from leaderboard.testsets.models import TestSet
from leaderboard.testsets.services import copy_from_storage, scoring_inputs, scratch

from .claims import (
    TRANSIENT_ERRORS,
    Claim,
    Heartbeat,
    Outcome,
    TransientFailure,
    claim,
    disk_full_is_transient,
    enter_stage,
    fail,
    finish,
    release,
    server_fault_problems,
    stored_result,
)
from .models import Evaluation, Submission
from .states import FailureKind

log = logging.getLogger(__name__)


@contextlib.contextmanager
def local_archive(submission: Submission) -> Iterator[Path]:
    """A local path of the submitted archive (downloaded to scratch space when storage is remote)."""
    storage, name = private_storage(), submission.file.name
    if not name:
        raise FileNotFoundError(f"submission {submission.pk} has no stored file")
    path = local_path(storage, name)
    if path is not None:
        yield path
        return
    folder = Path(tempfile.mkdtemp(dir=scratch("archives"), prefix=f"submission-{submission.pk}-"))
    try:
        target = folder / Path(name).name
        copy_from_storage(storage, name, target)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def scoring_options(testset: TestSet | None = None) -> ScoringOptions:
    """The site's scoring options; with ``testset``, its worklist parameters for the triage impact."""
    size = SimulationSize(days=settings.LEADERBOARD_TRIAGE_DAYS, resamples=settings.LEADERBOARD_TRIAGE_RESAMPLES,
                          days_per_resample=settings.LEADERBOARD_TRIAGE_DAYS_PER_RESAMPLE)
    options = ScoringOptions(n_resamples=settings.LEADERBOARD_BOOTSTRAP_RESAMPLES,
                             workers=settings.LEADERBOARD_SCORING_PROCESSES, worklist_size=size)
    return options if testset is None else dataclasses.replace(options, worklist=testset.worklist())


def score_claimed(current: Claim, archive: Path) -> Outcome:
    """Score ``archive`` for a claimed evaluation and record the outcome (also for the container runner)."""
    evaluation = Evaluation.objects.select_related("label_version__testset", "submission").get(
        pk=current.evaluation_id)
    testset, truth = scoring_inputs(evaluation.label_version)
    try:
        document = score_archive(archive, testset=testset, truth=truth, track=ScorerTrack(evaluation.track),
                                 options=scoring_options(evaluation.label_version.testset), workdir=scratch("work"),
                                 on_stage=lambda stage: enter_stage(current, stage))
    except InvalidInput as invalid:
        recorded = fail(current, kind=FailureKind.INVALID, problems=[p.to_dict() for p in invalid.problems],
                        message=f"{len(invalid.problems)} problem(s) in the {invalid.what}")
        return Outcome.FAILED if recorded else Outcome.LOST
    if document["scorer_version"] != evaluation.scorer_version:
        raise RuntimeError(f"this worker runs scorer {document['scorer_version']}, the evaluation asks for "
                           f"{evaluation.scorer_version}")
    from leaderboard.feedback import documents_at_finish  # imports this module

    # the feedback policy's derived documents, computed here and saved with the result: the CPU-bound re-scoring
    # stays in the worker, and a board never shows a done evaluation whose documents a web request must derive
    result, private = json.loads(json.dumps(stored_result(document)))  # as read back from the database
    feedback = documents_at_finish(evaluation, result=result, per_case=list(private.get("per_case", [])))
    return Outcome.DONE if finish(current, document, feedback=feedback) else Outcome.LOST


def run(evaluation_id: int, *, worker: str, heartbeat_seconds: float | None = None) -> Outcome:
    """The task body for an archive submission. Raises :class:`TransientFailure` to ask for a retry."""
    close_old_connections()
    current = claim(evaluation_id, worker=worker)
    if current is None:
        return Outcome.SKIPPED
    interval = heartbeat_seconds or settings.LEADERBOARD_HEARTBEAT_SECONDS
    try:
        with Heartbeat(current, interval=interval), disk_full_is_transient():
            submission = Submission.objects.get(evaluations__pk=evaluation_id)
            with local_archive(submission) as archive:
                return score_claimed(current, archive)
    except TRANSIENT_ERRORS as error:
        log.warning("evaluation %s: transient error %r; releasing the claim", evaluation_id, error)
        try:
            release(current, reason=f"{type(error).__name__}: {error}")
        except TRANSIENT_ERRORS:
            log.exception("evaluation %s: could not release the claim; the watchdog will", evaluation_id)
        raise TransientFailure(str(error)) from error
    except SoftTimeLimitExceeded:
        limit = settings.LEADERBOARD_SOFT_TIME_LIMIT
        fail(current, kind=FailureKind.TIMEOUT,
             problems=[Problem(f"scoring took longer than the limit of {limit} s and was stopped; this does not "
                               "count against your quota", expected="a smaller archive").to_dict()],
             message="soft time limit")
        return Outcome.FAILED
    except Exception as error:
        log.exception("evaluation %s: scoring failed", evaluation_id)
        fail(current, kind=FailureKind.SERVER, problems=server_fault_problems(),
             message=f"server fault: {type(error).__name__}: {error}")
        return Outcome.FAILED
