"""Settings for the unit tests: the site's settings with a throw-away data folder, SQLite and no broker.

Everything is set through the same environment variables production uses, before
``leaderboard.settings`` reads them.
"""

import os
import tempfile

_DATA_DIR = tempfile.mkdtemp(prefix="leaderboard-unit-")
os.environ.update({
    "LEADERBOARD_DATA_DIR": _DATA_DIR,
    "DATABASE_URL": f"sqlite:///{_DATA_DIR}/unit.sqlite3",
    "CELERY_BROKER_URL": "memory://",
    "LEADERBOARD_CACHE_URL": "locmem://",
    "LEADERBOARD_STORAGE": "local",
    "LEADERBOARD_BOOTSTRAP_RESAMPLES": "200",
    "LEADERBOARD_TRIAGE_DAYS": "10",
    "LEADERBOARD_TRIAGE_RESAMPLES": "5",
    "LEADERBOARD_TRIAGE_DAYS_PER_RESAMPLE": "1",
    "LEADERBOARD_SCORING_PROCESSES": "1",
    "LEADERBOARD_MAX_UPLOAD_MB": "1",
    "LEADERBOARD_PRODUCTION": "0",
    "DJANGO_DEBUG": "0",
})
for name in ("LEADERBOARD_DEFAULT_TESTSET", "LEADERBOARD_CONTAINER_TASK", "DJANGO_SECRET_KEY"):
    os.environ.pop(name, None)

from leaderboard.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
