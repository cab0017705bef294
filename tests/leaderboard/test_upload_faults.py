"""Uploads while a service fails (both found by the soak, scripts/soak): the private storage cannot store (S3
unreachable, disk full) → a clear 503, nothing stored or counted (was Django's bare HTML 500 page); the database
lost right after the submission committed → the upload and its file are kept (the file was deleted before,
leaving a submission without its archive)."""

import pytest
from botocore.exceptions import EndpointConnectionError
from django.db import OperationalError
from django.urls import reverse

from leaderboard.storage import private_storage
from leaderboard.submissions import dispatch
from leaderboard.submissions.models import Submission
from leaderboard.submissions.quota import quota_status


@pytest.fixture
def unreachable_store(monkeypatch):
    calls = []

    def refuse(self, name, content, max_length=None):
        calls.append(name)
        raise EndpointConnectionError(endpoint_url="http://s3.invalid/leaderboard-private")

    monkeypatch.setattr(type(private_storage()), "save", refuse)
    return calls


@pytest.mark.parametrize("error", [EndpointConnectionError(endpoint_url="http://s3.invalid/x"),
                                   OSError(28, "No space left on device")])
def test_api_upload_during_a_storage_outage_is_a_clear_503_and_not_counted(client, label_version, team_a, archives,
                                                                          monkeypatch, error):
    calls = []

    def refuse(self, name, content, max_length=None):
        calls.append(name)
        raise error

    monkeypatch.setattr(type(private_storage()), "save", refuse)
    with open(archives["noisy"], "rb") as handle:
        response = client.post(reverse("api-submissions"), {"file": handle, "method_name": "During the outage"},
                               **team_a.auth())
    assert response.status_code == 503
    body = response.json()
    assert "file store is unavailable" in body["problems"][0]["message"] and "nothing counts" in body["detail"]
    assert len(calls) == 1 and Submission.objects.count() == 0
    assert quota_status(team_a.team).used == 0


def test_form_upload_during_a_storage_outage_shows_the_problem(client, label_version, team_a, archives,
                                                               unreachable_store):
    client.force_login(team_a.user)
    with open(archives["noisy"], "rb") as handle:
        response = client.post(reverse("submission-new"), {"file": handle, "method_name": "During the outage",
                                                   "kind": "archive"})
    assert response.status_code == 503
    assert b"file store is unavailable" in response.content
    assert len(unreachable_store) == 1 and Submission.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_database_lost_right_after_the_commit_keeps_the_upload_and_its_file(client, label_version, team_a,
                                                                                archives, monkeypatch):
    sent = []

    def connection_lost(evaluation_id):
        sent.append(evaluation_id)
        raise OperationalError("consuming input failed: server closed the connection unexpectedly")

    monkeypatch.setattr(dispatch, "send", connection_lost)
    with open(archives["noisy"], "rb") as handle:
        response = client.post(reverse("api-submissions"), {"file": handle, "method_name": "Committed"},
                               **team_a.auth())
    assert response.status_code == 201, response.content
    submission = Submission.objects.get()
    evaluation = submission.evaluations.get()
    assert sent == [evaluation.pk]  # the on-commit send ran (and failed)
    assert private_storage().exists(submission.file.name)
    assert evaluation.state == "queued" and evaluation.dispatch_count == 0  # the watchdog sends it later
