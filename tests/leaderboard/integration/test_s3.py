"""S3 storage through boto3 against moto's standalone server (started here): private objects stay private
(no URL, private ACL), public ones get plain URLs, and the whole upload → score path works from S3."""

from __future__ import annotations

import io
import shutil
import sys

import boto3
import pytest
import requests
from django.urls import reverse

from leaderboard.storage import PrivateStorageURLRefused, check_storage_split, private_storage, public_storage
from leaderboard.submissions import archive_job, claims
from leaderboard.submissions.models import Submission
from leaderboard.testsets import models as testset_models
from leaderboard.testsets import services as testset_services

from .processes import Service, clean_environment, free_port, started

pytestmark = pytest.mark.integration

PRIVATE, PUBLIC = "leaderboard-private", "leaderboard-public"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture(scope="module")
def moto_url(logs):
    port = free_port()
    service = Service("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                      clean_environment({}), logs / "moto.log").start()
    url = f"http://127.0.0.1:{port}"
    started(service, url + "/moto-api/")
    yield url
    service.stop()


@pytest.fixture
def s3(moto_url, settings, monkeypatch, tmp_path):
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    for bucket in (PRIVATE, PUBLIC):
        client.create_bucket(Bucket=bucket)
    common = {"endpoint_url": moto_url, "region_name": "us-east-1", "addressing_style": "path",
              "file_overwrite": False}
    settings.STORAGES = {
        "default": {"BACKEND": "leaderboard.storage.PublicS3Storage",
                    "OPTIONS": {**common, "bucket_name": PUBLIC, "default_acl": "public-read"}},
        "private": {"BACKEND": "leaderboard.storage.PrivateS3Storage", "OPTIONS": {**common, "bucket_name": PRIVATE}},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.LEADERBOARD_SCRATCH_DIR = tmp_path / "scratch"  # nothing local to fall back on
    yield client
    for bucket in (PRIVATE, PUBLIC):
        for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


def keys(client, bucket: str) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def is_private(client, key: str) -> bool:
    grants = client.get_object_acl(Bucket=PRIVATE, Key=key)["Grants"]
    return not any(g["Grantee"].get("URI") == ALL_USERS for g in grants)


def test_labels_and_uploads_live_privately_in_s3_and_score(s3, moto_url, client, db, tiny_dir, archives, team_a):
    assert check_storage_split(private_storage(), public_storage()) == []
    version = testset_services.import_label_version(tiny_dir).label_version
    stored = keys(s3, PRIVATE)
    assert f"{version.storage_prefix}/lesions/c000/rater1.nii.gz" in stored and version.public_images_bundle in stored
    assert keys(s3, PUBLIC) == []  # nothing of a benchmark is public
    assert all(is_private(s3, key) for key in stored)
    with pytest.raises(PrivateStorageURLRefused):
        private_storage().url(f"{version.storage_prefix}/cases.csv")
    for key in (f"{version.storage_prefix}/cases.csv", version.public_images_bundle):  # no anonymous access
        assert requests.get(f"{moto_url}/{PRIVATE}/{key}", timeout=10).status_code == 403

    upload = io.BytesIO(archives["noisy"].read_bytes())
    upload.name = "noisy.zip"
    response = client.post(reverse("api-submissions"), {"file": upload, "method_name": "From S3",
                                                        "is_public": "true"}, **team_a.auth())
    assert response.status_code == 201, response.content
    submission = Submission.objects.get()
    assert submission.file.name in keys(s3, PRIVATE) and is_private(s3, submission.file.name)
    assert requests.get(f"{moto_url}/{PRIVATE}/{submission.file.name}", timeout=10).status_code == 403
    assert s3.get_object(Bucket=PRIVATE, Key=submission.file.name)["Body"].read() == archives["noisy"].read_bytes()

    assert archive_job.run(submission.evaluations.get().pk, worker="s3-worker") is claims.Outcome.DONE
    directory = testset_services.testset_directory(version)
    assert directory.is_relative_to(testset_services.scratch("testsets"))  # fetched from the bucket
    assert not any(testset_services.scratch("archives").iterdir())  # the downloaded archive was removed
    board = client.get(reverse("api-leaderboard")).json()
    assert [e["method_name"] for e in board["entries"]] == ["From S3"]
    images = client.get(reverse("download-public-images", args=[version.pk]))
    assert images.status_code == 302  # anonymous: log in first
    client.force_login(team_a.user)
    images = client.get(reverse("download-public-images", args=[version.pk]))
    assert images.status_code == 200 and b"".join(images.streaming_content)[:2] == b"PK"
    testset_services._load.cache_clear()
    shutil.rmtree(directory)


def test_the_public_sample_gets_a_plain_url(s3, db, tiny_dir):
    version = testset_services.import_label_version(tiny_dir, kind=testset_models.TestSet.Kind.SAMPLE).label_version
    assert keys(s3, PUBLIC) == [version.sample_bundle]
    url = public_storage().url(version.sample_bundle)
    assert url.startswith("http://127.0.0.1") and "Signature" not in url and "X-Amz" not in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content[:2] == b"PK"
