"""Brute force: logins lock out after a few wrong passwords (site and /admin/login/, django-axes), unknown API
tokens are answered 429 after a few tries (DRF throttle); both locks expire. Time is moved, never slept."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from leaderboard.accounts.throttling import TokenFailureThrottle

PASSWORD = "correct horse battery staple"  # conftest.make_team


def later(delta: timedelta):
    """Axes' clock, moved ``delta`` into the future."""
    moved = timezone.now() + delta
    return mock.patch.multiple("axes.handlers.proxy", now=lambda: moved), mock.patch("axes.attempts.now",
                                                                                       lambda: moved)


@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_wrong_passwords_lock_the_account_out_until_the_cool_off_ends(client, team_a, settings, url_name):
    team_a.user.is_staff = True
    team_a.user.save()
    url = reverse(url_name)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(url, {"username": "alice", "password": "wrong"}).status_code == 200  # form again
    assert client.post(url, {"username": "alice", "password": "wrong"}).status_code == 429  # the limit-th
    locked = client.post(url, {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in client.session
    first, second = later(settings.AXES_COOLOFF_TIME - timedelta(minutes=1))
    with first, second:
        assert client.post(url, {"username": "alice", "password": PASSWORD}).status_code == 429
    first, second = later(settings.AXES_COOLOFF_TIME * 2 + timedelta(minutes=1))
    with first, second:
        assert client.post(url, {"username": "alice", "password": PASSWORD}).status_code == 302
    assert client.session["_auth_user_id"] == str(team_a.user.pk)


def test_another_address_is_not_locked_out(client, team_a, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 302


def test_unknown_tokens_are_throttled_and_the_throttle_expires(client, team_a, settings, monkeypatch):
    settings.LEADERBOARD_TOKEN_FAILURE_RATE = "5/hour"
    url = reverse("api-submissions")
    clock = [1_000_000.0]
    monkeypatch.setattr(TokenFailureThrottle, "timer", lambda self: clock[0])
    answers = [client.get(url, HTTP_AUTHORIZATION=f"Token lb{i:012x}.guess").status_code for i in range(60)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
    assert client.get(url, **team_a.auth()).status_code == 429  # even the right token, while locked
    assert client.get(url, **team_a.auth(), REMOTE_ADDR="10.9.8.7").status_code == 200  # another address
    clock[0] += 3601
    assert client.get(url, **team_a.auth()).status_code == 200
    assert client.get(url, HTTP_AUTHORIZATION="Token lb000000000000.guess").status_code == 401


def test_the_client_address_behind_proxies(rf, settings):
    from leaderboard.site.client_address import client_ip

    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4", REMOTE_ADDR="10.0.0.1")
    settings.LEADERBOARD_TRUSTED_PROXIES = 0
    assert client_ip(request) == "10.0.0.1"  # no proxy: the header is the client's own words
    settings.LEADERBOARD_TRUSTED_PROXIES = 1
    assert client_ip(request) == "1.2.3.4"  # what our proxy saw, not what the client claimed before it
