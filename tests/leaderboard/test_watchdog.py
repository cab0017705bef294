"""The watchdog: stalled evaluations are re-queued (or failed after their attempts), lost messages re-sent."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from leaderboard.submissions import archive_job, claims, dispatch
from leaderboard.submissions.models import Evaluation
from leaderboard.submissions.states import EvaluationState, FailureKind
from leaderboard.submissions.watchdog import watchdog_pass

from .helpers import submit


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Task messages that would have gone to the broker."""
    messages: list[int] = []

    def fake_send_task(name, args):
        messages.append(args[0])

    monkeypatch.setattr(dispatch.current_app, "send_task", fake_send_task)
    return messages


@pytest.fixture
def evaluation(label_version, team_a, archives) -> Evaluation:
    return submit(team_a, archives["noisy"]).evaluations.get()


def age(evaluation, *, heartbeat_seconds=None, dispatched_seconds=None, changed_seconds=None):
    now = timezone.now()
    fields = {}
    if heartbeat_seconds is not None:
        fields["heartbeat_at"] = now - timedelta(seconds=heartbeat_seconds)
    if dispatched_seconds is not None:
        fields["last_dispatched_at"] = now - timedelta(seconds=dispatched_seconds)
    if changed_seconds is not None:
        fields["state_changed_at"] = now - timedelta(seconds=changed_seconds)
    Evaluation.objects.filter(pk=evaluation.pk).update(**fields)


def test_a_silent_worker_is_replaced(evaluation, settings, sent, django_capture_on_commit_callbacks):
    claims.claim(evaluation.pk, worker="dead-worker")
    age(evaluation, heartbeat_seconds=settings.LEADERBOARD_STALE_AFTER_SECONDS + 5)
    with django_capture_on_commit_callbacks(execute=True):
        report = watchdog_pass()
    assert report.requeued == [evaluation.pk] and sent == [evaluation.pk]
    evaluation.refresh_from_db()
    assert evaluation.state == EvaluationState.QUEUED and evaluation.claim_token is None
    assert "dead-worker silent" in evaluation.events.last().message
    assert archive_job.run(evaluation.pk, worker="new") is claims.Outcome.DONE


def test_a_live_worker_is_left_alone(evaluation, settings, sent):
    claims.claim(evaluation.pk, worker="busy")
    age(evaluation, heartbeat_seconds=settings.LEADERBOARD_STALE_AFTER_SECONDS - 30)
    assert not watchdog_pass().requeued
    evaluation.refresh_from_db()
    assert evaluation.state == EvaluationState.VALIDATING


def test_after_the_last_attempt_it_fails_as_a_server_fault(evaluation, settings, sent):
    Evaluation.objects.filter(pk=evaluation.pk).update(attempts=settings.LEADERBOARD_MAX_ATTEMPTS - 1)
    claims.claim(evaluation.pk, worker="crashy")
    age(evaluation, heartbeat_seconds=settings.LEADERBOARD_STALE_AFTER_SECONDS + 5)
    assert watchdog_pass().failed == [evaluation.pk]
    evaluation.refresh_from_db()
    assert evaluation.state == EvaluationState.FAILED and evaluation.failure_kind == FailureKind.SERVER
    assert evaluation.submission.counts_toward_quota is False and sent == []


def test_lost_messages_are_sent_again(evaluation, settings, sent):
    age(evaluation, changed_seconds=120)  # queued two minutes ago, message never sent (broker was down)
    assert watchdog_pass().resent == [evaluation.pk]
    assert watchdog_pass().resent == []  # just sent: not again until the resend delay passed
    age(evaluation, dispatched_seconds=settings.LEADERBOARD_QUEUED_RESEND_AFTER_SECONDS + 1)
    assert watchdog_pass().resent == [evaluation.pk]
    evaluation.refresh_from_db()
    assert evaluation.dispatch_count == 2 and sent == [evaluation.pk, evaluation.pk]


def test_a_broker_failure_is_not_fatal(evaluation, monkeypatch):
    def down(name, args):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(dispatch.current_app, "send_task", down)
    assert dispatch.send(evaluation.pk) is False
    evaluation.refresh_from_db()
    assert evaluation.last_dispatched_at is None  # so the watchdog sends it later


def test_management_command(evaluation, settings, sent, capsys):
    claims.claim(evaluation.pk, worker="dead")
    age(evaluation, heartbeat_seconds=settings.LEADERBOARD_STALE_AFTER_SECONDS + 5)
    call_command("watchdog")
    assert "re-queued 1 stalled" in capsys.readouterr().out
