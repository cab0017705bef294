"""Settings from the environment, the storage split, and `check --deploy` with production settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from leaderboard import env
from leaderboard.frozen import FrozenFieldError
from leaderboard.storage import PrivateFileSystemStorage, PrivateStorageURLRefused, check_storage_split, private_storage

ROOT = Path(__file__).resolve().parents[2]


def test_private_storage_refuses_urls(tmp_path):
    storage = PrivateFileSystemStorage(location=str(tmp_path))
    name = storage.save("labels/x.txt", ContentFile(b"secret"))
    with pytest.raises(PrivateStorageURLRefused):
        storage.url(name)
    assert oct(os.stat(storage.path(name)).st_mode & 0o777) == "0o600"
    with pytest.raises(PrivateStorageURLRefused):
        private_storage().url("anything")


def test_storage_split_check(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "public")
    public = FileSystemStorage(location=str(tmp_path / "public"))
    assert check_storage_split(PrivateFileSystemStorage(location=str(tmp_path / "private")), public) == []
    inside = PrivateFileSystemStorage(location=str(tmp_path / "public" / "private"))
    assert any("overlaps MEDIA_ROOT" in p for p in check_storage_split(inside, public))
    assert any("must refuse" in p for p in check_storage_split(FileSystemStorage(location=str(tmp_path)), public))


def test_env_readers(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env.flag("X_FLAG")
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env.integer("X_INT", 3, minimum=1)
    monkeypatch.setenv("X_JSON", "[1]")
    with pytest.raises(ImproperlyConfigured, match="JSON object"):
        env.json_object("X_JSON", {})
    monkeypatch.setenv("X_LIST", "a.example, b.example,,")
    assert env.items("X_LIST", []) == ["a.example", "b.example"]


def test_frozen_fields(label_version):
    label_version.labels_digest = "0" * 64
    with pytest.raises(FrozenFieldError, match="labels_digest"):
        label_version.save()


def manage(args, extra_env, tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LEADERBOARD_", "DJANGO_", "CELERY_",
                                                                               "DATABASE_"))}
    environment.update({"DJANGO_SETTINGS_MODULE": "leaderboard.settings", "LEADERBOARD_DATA_DIR": str(tmp_path),
                        **extra_env})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=120)


PRODUCTION = {
    "LEADERBOARD_PRODUCTION": "1",
    "DJANGO_SECRET_KEY": "x" * 20 + "-production-secret-key-with-plenty-of-entropy-0123456789",
    "DJANGO_ALLOWED_HOSTS": "leaderboard.example.org",
    "DATABASE_URL": "postgres://leaderboard@db.example.org:5432/leaderboard",
    "CELERY_BROKER_URL": "redis://redis.example.org:6379/0",
    "LEADERBOARD_CACHE_URL": "redis://redis.example.org:6379/1",
    "LEADERBOARD_STORAGE": "s3",
    "LEADERBOARD_S3_PRIVATE_BUCKET": "leaderboard-private",
    "LEADERBOARD_S3_PUBLIC_BUCKET": "leaderboard-public",
}


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)" in result.stdout


def test_production_refuses_missing_secrets(tmp_path):
    result = manage(["check"], {**PRODUCTION, "DJANGO_SECRET_KEY": ""}, tmp_path)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY is required" in result.stderr
    result = manage(["check"], {**PRODUCTION, "LEADERBOARD_S3_PUBLIC_BUCKET": ""}, tmp_path)
    assert "LEADERBOARD_S3_PUBLIC_BUCKET" in result.stderr
    result = manage(["check"], {**PRODUCTION, "LEADERBOARD_S3_PUBLIC_BUCKET": "leaderboard-private"}, tmp_path)
    assert "share the bucket" in result.stderr + result.stdout


def test_embedded_defaults_need_nothing(tmp_path):
    result = manage(["check"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "broker").is_dir()


def test_s3_storages_share_one_boto3_session_per_process(monkeypatch):
    """django-storages makes a boto3 session per thread, and under gevent every request is a thread: each upload
    parsed botocore's S3 model again (~0.7 s of CPU stalling the web process). One session per credentials; the
    resources stay per thread."""
    import threading

    import boto3
    import storages.backends.s3

    from leaderboard import storage

    made = []

    class CountingSession(boto3.Session):
        def __init__(self, *args, **kwargs):
            made.append(kwargs.get("aws_access_key_id"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(storages.backends.s3.boto3, "Session", CountingSession)
    monkeypatch.setattr(storage, "_SESSIONS", {})
    options = {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1", "access_key": "k",
               "secret_key": "s"}
    private = storage.PrivateS3Storage(bucket_name="private", **options)
    public = storage.PublicS3Storage(bucket_name="public", **options)
    resources = []

    def connect():
        resources.extend([private.connection, public.connection, private.connection])

    threads = [threading.Thread(target=connect) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == ["k"]  # one session for both storages and four threads
    assert len({id(r) for r in resources}) == 8  # a resource per storage and thread, reused within the thread
    other = storage.PrivateS3Storage(bucket_name="private", **{**options, "access_key": "other"})
    assert other.connection is not None
    assert made == ["k", "other"]


def test_the_wsgi_module_imports_every_view_and_freezes_what_lives_then(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LEADERBOARD_", "DJANGO_", "CELERY_",
                                                                               "DATABASE_"))}
    environment.update({"DJANGO_SETTINGS_MODULE": "leaderboard.settings", "LEADERBOARD_DATA_DIR": str(tmp_path)})
    script = ("import gc, sys; import leaderboard.wsgi; print(gc.get_freeze_count(), "
              "'leaderboard.board.views' in sys.modules, 'leaderboard.board.api' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    frozen, views, api = done.stdout.split()
    # the views (and numpy, scipy, scikit-learn through them) are imported before the freeze: 10^5 objects or more
    assert int(frozen) > 100_000 and views == api == "True"
