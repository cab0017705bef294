"""Uploads: quick checks at once, the size limit, the quota (rolling window, failures not counted)."""

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leaderboard.storage import private_storage
from leaderboard.submissions import archive_job
from leaderboard.submissions.models import Submission

from .helpers import submit, submit_and_score


def post(client, handle, data: bytes, name="predictions.zip", **fields):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post(reverse("api-submissions"), {"file": upload, "method_name": "m", **fields}, **handle.auth())


def stored_files() -> set[str]:
    storage = private_storage()
    try:
        folders, _ = storage.listdir("submissions")
    except FileNotFoundError:
        return set()
    return {f"{d}/{f}" for d in folders for f in storage.listdir(f"submissions/{d}")[1]}


@pytest.mark.parametrize(("data", "words"), [
    (b"", "the file is empty"),
    (b"case_id,covid_probability\nc000,0.5\n", "a bare predictions.csv; zip it (zip predictions.zip"),
    (b"Rar!\x1a\x07\x00rest", "RAR archive, which is not supported"),
    (b"PK\x03\x04 truncated", "corrupt or truncated zip file"),
])
def test_quick_checks_answer_at_once_and_store_nothing(client, label_version, team_a, data, words):
    before = stored_files()
    response = post(client, team_a, data)
    assert response.status_code == 400
    body = response.json()
    assert words in body["problems"][0]["message"] and body["problems"][0]["file"] == "predictions.zip"
    assert body["problems"][0]["expected"]
    assert Submission.objects.count() == 0 and stored_files() == before


def test_a_zip_without_predictions_is_refused_at_once(client, label_version, team_a, archives, tmp_path):
    import zipfile

    path = tmp_path / "masks-only.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("masks/readme.txt", "no csv")
    response = post(client, team_a, path.read_bytes())
    assert response.status_code == 400 and "no predictions.csv" in response.json()["problems"][0]["message"]


def test_a_zip_with_too_many_entries_is_refused_before_its_directory_is_read(client, label_version, team_a,
                                                                           tmp_path):
    import zipfile

    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("predictions.csv", "case_id\n")
        for i in range(10_001):
            archive.writestr(f"junk/{i}", b"")
    response = post(client, team_a, path.read_bytes())
    assert response.status_code == 400 and "more than 10,000 members" in response.json()["problems"][0]["message"]


def test_a_zip_whose_end_record_understates_its_entries_is_refused_at_upload(client, label_version, team_a,
                                                                             settings):
    from tests.evaluator.test_zip_directory import lying_zip

    settings.LEADERBOARD_MAX_UPLOAD_BYTES = 32 << 20
    before = stored_files()
    response = post(client, team_a, lying_zip(entries=150_001, claimed=1))
    assert response.status_code == 400 and "more than 10,000 members" in response.json()["problems"][0]["message"]
    assert Submission.objects.count() == 0 and stored_files() == before


def test_uploads_over_the_limit_are_refused(client, label_version, team_a, settings):
    big = b"PK\x03\x04" + b"\0" * (settings.LEADERBOARD_MAX_UPLOAD_BYTES + 10)
    response = post(client, team_a, big)
    assert response.status_code == 413
    assert "larger than the upload limit of 1 MiB" in response.json()["problems"][0]["message"]
    assert Submission.objects.count() == 0


def test_declared_oversize_is_refused_before_reading(client, label_version, team_a, settings):
    response = client.post(reverse("api-submissions"), data=b"x", content_type="multipart/form-data; boundary=x",
                           CONTENT_LENGTH=str(settings.LEADERBOARD_MAX_UPLOAD_BYTES * 4), **team_a.auth())
    assert response.status_code == 413


def test_the_upload_is_stored_privately_with_its_digest(client, label_version, team_a, archives):
    import hashlib

    data = archives["noisy"].read_bytes()
    response = post(client, team_a, data, name="../../etc/passwd.zip")
    assert response.status_code == 201
    submission = Submission.objects.get()
    assert submission.sha256 == hashlib.sha256(data).hexdigest() and submission.size_bytes == len(data)
    assert submission.original_filename == "passwd.zip"  # Django strips the path
    assert submission.file.name.startswith(f"submissions/team-{team_a.team.pk}/") and "passwd" not in \
        submission.file.name
    with private_storage().open(submission.file.name) as handle:
        assert handle.read() == data
    assert "file" not in response.json()  # no field ever points at the stored archive


def test_quota_counts_only_submissions_that_did_not_fail(client, label_version, team_a, archives, settings,
                                                         tmp_path):
    settings.LEADERBOARD_DAILY_QUOTA = 2
    broken = tmp_path / "broken.zip"
    import zipfile

    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("predictions.csv", "case_id,covid_probability\nc000,2.5\n")
    invalid = submit(team_a, broken)
    archive_job.run(invalid.evaluations.get().pk, worker="w")  # fails validation: does not count
    submit_and_score(team_a, archives["noisy"])
    submit(team_a, archives["noisy"])  # still queued: counts
    response = post(client, team_a, archives["noisy"].read_bytes())
    assert response.status_code == 429
    body = response.json()
    assert body["used"] == 2 and body["limit"] == 2 and body["next_slot_at"]
    assert "do not count" in body["detail"]
    assert Submission.objects.filter(team=team_a.team).count() == 3


def test_the_window_rolls(client, label_version, team_a, archives, settings):
    settings.LEADERBOARD_DAILY_QUOTA = 1
    old = submit(team_a, archives["noisy"])
    assert post(client, team_a, archives["noisy"].read_bytes()).status_code == 429
    Submission.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    assert post(client, team_a, archives["noisy"].read_bytes()).status_code == 201


def test_the_quota_is_per_team(client, label_version, team_a, team_b, archives, settings):
    settings.LEADERBOARD_DAILY_QUOTA = 1
    assert post(client, team_a, archives["noisy"].read_bytes()).status_code == 201
    assert post(client, team_b, archives["noisy"].read_bytes()).status_code == 201
    assert post(client, team_a, archives["noisy"].read_bytes()).status_code == 429


def test_no_benchmark_yet(client, team_a, archives):
    response = post(client, team_a, archives["noisy"].read_bytes())
    assert response.status_code == 409 and "no benchmark" in response.json()["problems"][0]["message"]


def test_account_without_team_cannot_submit(client, label_version, loner, archives):
    client.force_login(loner)
    upload = io.BytesIO(archives["noisy"].read_bytes())
    upload.name = "a.zip"
    response = client.post(reverse("api-submissions"), {"file": upload, "method_name": "m"})
    assert response.status_code == 403 and "team" in response.json()["detail"]


def test_web_form_upload_and_progress_page(client, label_version, team_a, archives):
    client.force_login(team_a.user)
    with open(archives["noisy"], "rb") as handle:
        response = client.post(reverse("submission-new"), {"file": handle, "method_name": "Web net",
                                                           "is_public": "on"})
    submission = Submission.objects.get()
    assert response.status_code == 302 and response.url == reverse("submission-detail", args=[submission.pk])
    page = client.get(response.url)
    assert b'http-equiv="refresh"' in page.content and b"Waiting for a worker" in page.content
    archive_job.run(submission.evaluations.get().pk, worker="w")
    page = client.get(response.url)
    assert b'http-equiv="refresh"' not in page.content and b"Entry page with plots" in page.content


def test_web_form_shows_every_problem(client, label_version, team_a):
    client.force_login(team_a.user)
    upload = io.BytesIO(b"not an archive")
    upload.name = "x.zip"
    response = client.post(reverse("submission-new"), {"file": upload, "method_name": "m"})
    assert response.status_code == 400
    assert b"not a zip, tar.gz or tar archive" in response.content and b"nothing was stored" in response.content


class CountingPayload:
    """A request body that counts the bytes the server reads from it."""

    def __init__(self, data: bytes) -> None:
        self._stream, self.read_bytes = io.BytesIO(data), 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        line = self._stream.readline(size)
        self.read_bytes += len(line)
        return line


def counted_post(client, url: str, fields: dict, **extra):
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    body = encode_multipart(BOUNDARY, fields)
    payload = CountingPayload(body)
    response = client.generic("POST", url, body, content_type=MULTIPART_CONTENT, **{"wsgi.input": payload}, **extra)
    return response, payload, len(body)


@pytest.mark.parametrize("via", ["api", "web"])
def test_over_quota_uploads_are_refused_before_the_body_is_read(client, label_version, team_a, archives, settings,
                                                                via):
    settings.LEADERBOARD_DAILY_QUOTA = 1
    submit(team_a, archives["noisy"])
    upload = io.BytesIO(b"PK\x03\x04" + bytes(900_000))
    upload.name = "big.zip"
    fields = {"file": upload, "method_name": "m"}
    if via == "api":
        response, payload, size = counted_post(client, reverse("api-submissions"), fields, **team_a.auth())
        assert "used 1 of 1" in response.json()["detail"]
    else:
        client.force_login(team_a.user)
        response, payload, size = counted_post(client, reverse("submission-new"), fields)
        assert b"used 1 of 1" in response.content
    assert response.status_code == 429 and size > 900_000
    assert payload.read_bytes == 0
    assert Submission.objects.count() == 1


def test_reading_stops_at_the_upload_limit(client, label_version, team_a, settings):
    limit = settings.LEADERBOARD_MAX_UPLOAD_BYTES  # 1 MiB in the tests; the body declares 4 MiB
    upload = io.BytesIO(b"PK\x03\x04" + bytes(4 * limit))
    upload.name = "huge.zip"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * limit  # so that the declared size alone does not refuse it
    response, payload, size = counted_post(client, reverse("api-submissions"), {"file": upload, "method_name": "m"},
                                           **team_a.auth())
    assert response.status_code == 413 and size > 4 * limit
    assert payload.read_bytes <= limit + 2 * (1 << 20)  # the limit plus at most the parser's read-ahead
