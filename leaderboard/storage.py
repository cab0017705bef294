"""Storages split by trust.

``private`` (hidden labels, uploaded archives, the public-image bundles served only through
permission-checking views): its ``url()`` refuses, so no template, serializer or admin
widget can ever turn a private object into a link. ``default`` (public): the sample set and
anything else anyone may fetch. :func:`check_storage_split` runs as a system check at
start-up (see :mod:`leaderboard.site.checks`).
"""

from __future__ import annotations

import threading
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages
from storages.backends.s3 import S3Storage

#: What a storage raises when it cannot store or read right now: the object store unreachable or refusing
#: (botocore), the local disk full or unwritable (OSError).
STORAGE_ERRORS = (BotoCoreError, ClientError, OSError)


class PrivateStorageURLRefused(PermissionError):
    """Raised by ``url()`` of a private storage: private files are only streamed by views that check access."""


def _refuse(name: str) -> str:
    raise PrivateStorageURLRefused(f"private storage objects have no URL (asked for {name!r})")


class PrivateFileSystemStorage(FileSystemStorage):
    """Local private files (outside MEDIA_ROOT and STATIC_ROOT); ``url()`` refuses."""

    def __init__(self, **kwargs):
        kwargs["base_url"] = None
        kwargs.setdefault("file_permissions_mode", 0o600)
        kwargs.setdefault("directory_permissions_mode", 0o700)
        super().__init__(**kwargs)

    def url(self, name: str | None) -> str:
        return _refuse(name or "")


_SESSIONS: dict[tuple, object] = {}  # boto3 sessions of this process, by credentials
_SESSIONS_LOCK = threading.RLock()


class SharedSessionS3Storage(S3Storage):
    """``S3Storage`` whose boto3 session is made once per process.

    django-storages keeps a boto3 resource per thread (``threading.local``) and makes a new session for each;
    under gunicorn's gevent workers every request is a thread of its own, so every upload made a session and
    parsed botocore's S3 model again: ~0.7 s of CPU on a busy 2-core machine, during which no other request of
    that web process moved (the soak's board p99 of seconds). From one shared session a resource costs ~15 ms.
    Resources stay per thread (they are not thread-safe); making them is serialised, as boto3 sessions are not
    thread-safe either."""

    @property
    def connection(self):
        with _SESSIONS_LOCK:
            return super().connection

    @property
    def unsigned_connection(self):
        with _SESSIONS_LOCK:
            return super().unsigned_connection

    def _create_session(self):
        key = (self.session_profile, self.access_key, self.secret_key, self.security_token)
        with _SESSIONS_LOCK:
            session = _SESSIONS.get(key)
            if session is None:
                session = _SESSIONS[key] = super()._create_session()
            return session


class PrivateS3Storage(SharedSessionS3Storage):
    """A private bucket: objects written with the ``private`` canned ACL; ``url()`` refuses (no signed URLs)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("default_acl", "private")
        kwargs.setdefault("querystring_auth", True)
        super().__init__(**kwargs)

    def url(self, name, parameters=None, expire=None, http_method=None) -> str:
        return _refuse(name or "")


class PublicS3Storage(SharedSessionS3Storage):
    """The public bucket (readable by anyone through its bucket policy): plain, unsigned URLs."""

    def __init__(self, **kwargs):
        kwargs.setdefault("querystring_auth", False)
        super().__init__(**kwargs)


def private_storage() -> Storage:
    """The private storage (callable for ``FileField(storage=...)``, so migrations hold no settings)."""
    return storages["private"]


def public_storage() -> Storage:
    return storages["default"]


def local_path(storage: Storage, name: str) -> Path | None:
    """The file's path when ``storage`` keeps files on this machine's disk, else ``None``."""
    try:
        return Path(storage.path(name))
    except NotImplementedError:
        return None


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def check_storage_split(private: Storage, public: Storage) -> list[str]:
    """Reasons the private storage is not private (empty list = the split holds)."""
    problems: list[str] = []
    try:
        url = private.url("probe")
    except PrivateStorageURLRefused:
        pass
    else:
        problems.append(f"the private storage's url() returned {url!r}; it must refuse")
    if isinstance(private, FileSystemStorage):
        location = Path(private.location)
        for name, folder in (("MEDIA_ROOT", settings.MEDIA_ROOT), ("STATIC_ROOT", settings.STATIC_ROOT)):
            if folder and (_inside(location, Path(folder)) or _inside(Path(folder), location)):
                problems.append(f"the private folder {location} overlaps {name} ({folder})")
        if isinstance(public, FileSystemStorage) and _inside(location, Path(public.location)):
            problems.append("the private folder lies inside the public storage's folder")
    if isinstance(private, S3Storage) and isinstance(public, S3Storage):
        if private.bucket_name == public.bucket_name:
            problems.append(f"the private and public storages share the bucket {private.bucket_name!r}")
    return problems
