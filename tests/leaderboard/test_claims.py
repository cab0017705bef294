"""The worker protocol: claim, heartbeat, finish exactly once, failures explained and not counted."""

import errno
import io
import time
import zipfile
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError
from django.utils import timezone

from leaderboard.submissions import archive_job, claims
from leaderboard.submissions.models import Evaluation, EvaluationEvent
from leaderboard.submissions.states import EvaluationState, FailureKind

from .helpers import submit


@pytest.fixture
def queued(label_version, team_a, archives) -> Evaluation:
    return submit(team_a, archives["noisy"]).evaluations.get()


def events(evaluation, to_state):
    return EvaluationEvent.objects.filter(evaluation=evaluation, to_state=to_state).count()


def test_a_second_delivery_does_nothing(queued):
    assert archive_job.run(queued.pk, worker="w1") is claims.Outcome.DONE
    assert archive_job.run(queued.pk, worker="w2") is claims.Outcome.SKIPPED
    queued.refresh_from_db()
    assert queued.state == EvaluationState.DONE and queued.attempts == 1 and events(queued, "done") == 1
    assert queued.result["metrics"]["roc_auc_all"] == queued.roc_auc_all
    assert "private" not in queued.result and queued.per_case["per_case"]
    assert queued.intervals["roc_auc_all"] == [queued.result["intervals"]["roc_auc_all"]["low"],
                                               queued.result["intervals"]["roc_auc_all"]["high"]]
    assert [e.to_state for e in queued.events.all()] == ["queued", "validating", "scoring", "done"]


def test_a_replaced_worker_cannot_write_a_result(queued, settings):
    first = claims.claim(queued.pk, worker="old")
    assert claims.claim(queued.pk, worker="eager") is None  # a live worker holds it
    Evaluation.objects.filter(pk=queued.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.LEADERBOARD_STALE_AFTER_SECONDS + 1))
    second = claims.claim(queued.pk, worker="new")
    assert second is not None and second.attempt == 2
    document = {"testset": {"labels_digest": queued.label_version.labels_digest}}
    assert claims.finish(first, document) is False  # fenced off by the claim token
    assert claims.fail(first, kind=FailureKind.SERVER, problems=[], message="late") is False
    queued.refresh_from_db()
    assert queued.state == EvaluationState.VALIDATING and queued.worker == "new"


def test_attempts_are_bounded(queued, settings):
    Evaluation.objects.filter(pk=queued.pk).update(attempts=settings.LEADERBOARD_MAX_ATTEMPTS)
    assert archive_job.run(queued.pk, worker="w") is claims.Outcome.SKIPPED
    queued.refresh_from_db()
    assert queued.state == EvaluationState.FAILED and queued.failure_kind == FailureKind.SERVER
    assert "interrupted" in queued.problems[0]["message"]
    assert queued.submission.counts_toward_quota is False


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_an_invalid_archive_fails_with_every_problem_and_does_not_count(label_version, team_a, tmp_path):
    path = tmp_path / "bad.zip"
    path.write_bytes(zip_bytes({"predictions.csv": "case_id,covid_probability\nc000,0.9\nc001,maybe\nzzz,0.1\n"}))
    evaluation = submit(team_a, path).evaluations.get()
    assert archive_job.run(evaluation.pk, worker="w") is claims.Outcome.FAILED
    evaluation.refresh_from_db()
    assert evaluation.failure_kind == FailureKind.INVALID
    text = " ".join(str(p) for p in evaluation.problems)
    assert "c001" in text and "zzz" in text and "c002" in text  # a bad value, an unknown id, a missing case
    assert all({"message", "file", "case_id", "expected"} <= set(p) for p in evaluation.problems)
    assert evaluation.submission.counts_toward_quota is False


def test_transient_errors_release_the_claim_for_a_retry(queued, monkeypatch):
    def database_away(label_version):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(archive_job, "scoring_inputs", database_away)
    with pytest.raises(claims.TransientFailure):
        archive_job.run(queued.pk, worker="w")
    queued.refresh_from_db()
    assert queued.state == EvaluationState.QUEUED and queued.claim_token is None and queued.attempts == 1
    assert queued.events.last().message.startswith("will retry: OperationalError")


def test_transient_release_then_success(queued, monkeypatch):
    calls = []
    original = archive_job.scoring_inputs

    def flaky(label_version):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("object storage unreachable")
        return original(label_version)

    monkeypatch.setattr(archive_job, "scoring_inputs", flaky)
    with pytest.raises(claims.TransientFailure):
        archive_job.run(queued.pk, worker="w")
    assert archive_job.run(queued.pk, worker="w") is claims.Outcome.DONE
    queued.refresh_from_db()
    assert queued.attempts == 2 and events(queued, "done") == 1


def test_a_full_scratch_disk_delays_the_evaluation_instead_of_failing_it(queued, monkeypatch):
    calls = []
    original = archive_job.score_archive

    def disk_fills_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(*args, **kwargs)

    monkeypatch.setattr(archive_job, "score_archive", disk_fills_once)
    with pytest.raises(claims.TransientFailure, match="disk is full"):
        archive_job.run(queued.pk, worker="w")
    queued.refresh_from_db()
    assert queued.state == EvaluationState.QUEUED and queued.failure_kind == "" and queued.claim_token is None
    assert queued.events.last().message.startswith("will retry: DiskFull")
    assert archive_job.run(queued.pk, worker="w") is claims.Outcome.DONE
    queued.refresh_from_db()
    assert queued.attempts == 2 and events(queued, "done") == 1


def test_other_os_errors_stay_server_faults(queued, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(archive_job, "score_archive", broken)
    assert archive_job.run(queued.pk, worker="w") is claims.Outcome.FAILED
    queued.refresh_from_db()
    assert queued.failure_kind == FailureKind.SERVER and queued.submission.counts_toward_quota is False


@pytest.mark.parametrize(("error", "kind", "words"), [
    (SoftTimeLimitExceeded(), FailureKind.TIMEOUT, "longer than the limit"),
    (RuntimeError("bug"), FailureKind.SERVER, "internal error"),
])
def test_time_limits_and_server_faults_fail_without_counting(queued, monkeypatch, error, kind, words):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(archive_job, "score_archive", broken)
    assert archive_job.run(queued.pk, worker="w") is claims.Outcome.FAILED
    queued.refresh_from_db()
    assert queued.failure_kind == kind and words in queued.problems[0]["message"]
    assert "does not count" in queued.problems[0]["message"]
    assert queued.submission.counts_toward_quota is False


@pytest.mark.django_db(transaction=True)
def test_heartbeats_are_sent_while_scoring(label_version, team_a, archives, monkeypatch):
    evaluation = submit(team_a, archives["noisy"]).evaluations.get()
    original = archive_job.score_archive
    seen = []

    def slow(*args, **kwargs):
        start = Evaluation.objects.get(pk=evaluation.pk).heartbeat_at
        time.sleep(0.6)
        seen.append(Evaluation.objects.get(pk=evaluation.pk).heartbeat_at > start)
        return original(*args, **kwargs)

    monkeypatch.setattr(archive_job, "score_archive", slow)
    assert archive_job.run(evaluation.pk, worker="w", heartbeat_seconds=0.1) is claims.Outcome.DONE
    assert seen == [True]


def test_json_safe_replaces_infinities():
    assert claims.json_safe({"a": [float("inf"), 1.0, (float("nan"),)], "b": "x"}) == {"a": [None, 1.0, [None]],
                                                                                       "b": "x"}
