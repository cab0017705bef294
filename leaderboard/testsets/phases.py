"""Phases of a benchmark (open → final → closed) and the teams' final choices (docs/integrity.md).

- open: submissions are scored; feedback goes through the test set's policy (:mod:`leaderboard.feedback`);
- final: no new submissions; teams choose up to ``final_selections`` submissions for the final ranking;
- closed: the board ranks each team's final choices (else its best by the open-phase score) on the held-out
  cases of the leaderboard split; open-phase numbers stay on the entry pages (history is kept).

Phases only move forward, except that a maintainer may reopen a set in the final phase.
"""

from __future__ import annotations

from django.db import transaction

from leaderboard.submissions.models import Submission

from .models import FeedbackPolicy, Phase, TestSet

ALLOWED = {Phase.OPEN: {Phase.FINAL}, Phase.FINAL: {Phase.CLOSED, Phase.OPEN}, Phase.CLOSED: set()}


class PhaseRefused(Exception):
    """The change is not allowed (the message says why, in words for the person who asked)."""


def change_phase(testset: TestSet, target: str) -> TestSet:
    """Move ``testset`` to ``target``; closing first derives the final documents of every scored submission
    (the scorer's result on the held-out cases), so the closed board is complete at once."""
    from leaderboard.feedback import score_final

    target = Phase(target)
    with transaction.atomic():
        locked = TestSet.objects.select_for_update().get(pk=testset.pk)
        if target not in ALLOWED[Phase(locked.phase)]:
            raise PhaseRefused(f"{locked.slug} is {locked.phase}: it cannot move to {target.value} "
                               f"(allowed: {', '.join(sorted(ALLOWED[Phase(locked.phase)])) or 'none'})")
        if target == Phase.CLOSED:
            score_final(locked)
        locked.phase = target
        locked.save(update_fields=["phase"])
    return locked


def choose_final(submission: Submission, *, chosen: bool) -> Submission:
    """Mark (or unmark) a submission as one of its team's final choices, within the test set's limit."""
    with transaction.atomic():
        testset = TestSet.objects.select_for_update().get(pk=submission.testset_id)
        if testset.feedback_policy == FeedbackPolicy.EXACT or testset.kind != TestSet.Kind.BENCHMARK:
            raise PhaseRefused("this test set has no final ranking (its feedback is exact)")
        if testset.phase == Phase.CLOSED:
            raise PhaseRefused("the test set is closed: final choices can no longer change")
        if chosen and not submission.is_final_choice:
            taken = Submission.objects.filter(team_id=submission.team_id, testset=testset,
                                              is_final_choice=True).count()
            if taken >= testset.final_selections:
                raise PhaseRefused(f"your team has chosen {taken} final submission(s), the most this test set "
                                   f"allows ({testset.final_selections}); unchoose one first")
        submission.is_final_choice = chosen
        submission.save(update_fields=["is_final_choice"])
    return submission
