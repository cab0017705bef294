"""Integration fixtures: the real PostgreSQL and Redis of this machine, a fresh database per session,
a web server (gunicorn) and Celery workers as subprocesses. A missing service fails the tests loudly."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import psycopg
import pytest
import redis

from tests.evaluator.tiny_testset import write_tiny_testset

from .processes import clean_environment, manage

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
REDIS_URL = "redis://127.0.0.1:6379/0"


def _require_postgres() -> None:
    try:
        psycopg.connect(**PG, connect_timeout=3).close()
    except psycopg.Error as error:
        pytest.fail(f"integration tests need PostgreSQL at {PG['host']}:{PG['port']} (database {PG['dbname']}, "
                    f"user {PG['user']}, trust auth); it is not reachable: {error}", pytrace=False)


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        pytest.fail(f"integration tests need Redis at {REDIS_URL}; it is not reachable: {error}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh database for this session, dropped at the end."""
    _require_postgres()
    name = f"leaderboard_it_{secrets.token_hex(4)}"
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def site_env(postgres_url, tmp_path_factory) -> dict[str, str]:
    """Production-like settings: PostgreSQL, Redis broker under a private key prefix and queue names."""
    _require_redis()
    run = secrets.token_hex(4)
    data_dir = tmp_path_factory.mktemp("site")
    env = clean_environment({
        "DATABASE_URL": postgres_url,
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_BROKER_TRANSPORT_OPTIONS": json.dumps({"global_keyprefix": f"leaderboard-it-{run}:"}),
        "LEADERBOARD_SCORING_QUEUE": f"scoring-it-{run}",
        "LEADERBOARD_GPU_QUEUE": f"gpu-it-{run}",
        "LEADERBOARD_DATA_DIR": str(data_dir),
        "LEADERBOARD_BOOTSTRAP_RESAMPLES": "200",
        "LEADERBOARD_TRIAGE_DAYS": "20",  # the triage impact's worklist simulation, kept short
        "LEADERBOARD_TRIAGE_RESAMPLES": "10",
        "LEADERBOARD_SCORING_PROCESSES": "1",
        "LEADERBOARD_HEARTBEAT_SECONDS": "1",
        "LEADERBOARD_STALE_AFTER_SECONDS": "4",
        "LEADERBOARD_WATCHDOG_SECONDS": "2",
        "LEADERBOARD_QUEUED_RESEND_AFTER_SECONDS": "30",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
    })
    manage("migrate", "--noinput", env=env)
    testset = write_tiny_testset(data_dir / "tiny-testset", private_groups=("nodules",))
    manage("import_testset", str(testset), "--noinput", env=env)
    env["IT_TESTSET_DIR"] = str(testset)
    yield env
    client = redis.Redis.from_url(REDIS_URL)  # messages left in this session's queues
    for key in client.scan_iter(match=f"leaderboard-it-{run}:*"):
        client.delete(key)


def sql(postgres_url: str, query: str, *params):
    with psycopg.connect(postgres_url) as connection:
        return connection.execute(query, params).fetchall()


@pytest.fixture(scope="session")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")
