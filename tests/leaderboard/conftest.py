"""Fixtures of the site's tests: a tiny test set imported as a label version, teams, archives."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.leaderboard.settings")

import django  # noqa: E402

django.setup()

import pytest  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.cache import cache  # noqa: E402

from evaluator.examples import ExampleKind, write_example_archive  # noqa: E402
from evaluator.scoring import Track  # noqa: E402
from evaluator.testset import load_testset  # noqa: E402
from leaderboard.accounts import services as team_services  # noqa: E402
from leaderboard.testsets.models import FeedbackPolicy, TestSet  # noqa: E402
from leaderboard.testsets.services import import_label_version  # noqa: E402
from tests.evaluator.tiny_testset import write_tiny_testset  # noqa: E402

from .helpers import TeamHandle  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    if settings.DATA_DIR.name.startswith("leaderboard-unit-"):
        shutil.rmtree(settings.DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A tiny benchmark: 12 cases, the 3 nodules cases private (archive track = 9 public cases)."""
    return write_tiny_testset(tmp_path_factory.mktemp("tiny") / "tiny", private_groups=("nodules",))


@pytest.fixture(scope="session")
def tiny_testset(tiny_dir):
    return load_testset(tiny_dir)


@pytest.fixture(scope="session")
def archives(tiny_testset, tmp_path_factory) -> dict[str, Path]:
    """Example archives of the tiny set: archive track (public cases) and container track (all)."""
    folder = tmp_path_factory.mktemp("archives")
    made = {}
    for kind in (ExampleKind.PERFECT, ExampleKind.NOISY, ExampleKind.SHUFFLED, ExampleKind.PROBABILITY_ONLY):
        made[kind.value] = write_example_archive(folder / f"{kind.value}.zip", testset=tiny_testset, kind=kind)
    made["container-perfect"] = write_example_archive(folder / "container-perfect.zip", testset=tiny_testset,
                                                      kind=ExampleKind.PERFECT, track=Track.CONTAINER)
    return made


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield


@pytest.fixture
def label_version(db, tiny_dir):
    """The tiny benchmark under the ``exact`` feedback policy (these tests check the numbers as scored; the
    default policy of a new benchmark is tested in test_feedback.py)."""
    label_version = import_label_version(tiny_dir).label_version
    TestSet.objects.filter(pk=label_version.testset_id).update(feedback_policy=FeedbackPolicy.EXACT)
    label_version.testset.refresh_from_db()
    return label_version


def make_team(name: str, username: str) -> TeamHandle:
    user = User.objects.create_user(username=username, password="correct horse battery staple",
                                    email=f"{username}@example.org")
    team, token = team_services.create_team(name=name, owner=user)
    return TeamHandle(team=team, user=user, token=token)


@pytest.fixture
def team_a(db) -> TeamHandle:
    return make_team("Team A", "alice")


@pytest.fixture
def team_b(db) -> TeamHandle:
    return make_team("Team B", "bob")


@pytest.fixture
def maintainer(db) -> User:
    return User.objects.create_user(username="maintainer", password="correct horse battery staple", is_staff=True,
                                    is_superuser=True)


@pytest.fixture
def loner(db) -> User:
    """Signed up, but in no team."""
    return User.objects.create_user(username="loner", password="correct horse battery staple")
