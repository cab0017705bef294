"""Quota evasion by changing team: the quota follows people, team changes cool down (and need a maintainer's
approval where a benchmark asks for it), an empty team's token stops working, optional e-mail verification before
a team submits, and the maintainers' view of look-alike accounts."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from leaderboard.accounts import services as team_services
from leaderboard.accounts.lookalike import Account, lookalike_groups
from leaderboard.accounts.models import Membership, MembershipPeriod, TeamChangePolicy
from leaderboard.submissions.models import Submission
from leaderboard.submissions.quota import quota_status

from .helpers import submit


def upload(client, token: str, archive):
    handle = io.BytesIO(archive.read_bytes())
    handle.name = "a.zip"
    return client.post(reverse("api-submissions"), {"file": handle, "method_name": "m"},
                       HTTP_AUTHORIZATION=f"Token {token}")


def test_leaving_and_creating_a_team_gives_no_fresh_quota(client, label_version, team_a, archives, settings):
    settings.LEADERBOARD_DAILY_QUOTA = 1
    settings.LEADERBOARD_TEAM_CHANGE_COOLDOWN_HOURS = 0
    submit(team_a, archives["noisy"])
    client.force_login(team_a.user)
    client.post(reverse("team-leave"))
    client.post(reverse("team-create"), {"name": "Fresh start"})
    fresh = Membership.objects.get(user=team_a.user).team
    assert fresh.name == "Fresh start" and quota_status(fresh).used == 1
    assert b"used 1 of 1" in client.get(reverse("team")).content
    token = team_services.rotate_token(fresh)
    response = upload(client, token, archives["noisy"])
    assert response.status_code == 429 and Submission.objects.count() == 1


def test_a_newcomer_brings_their_submissions_but_not_their_old_teams_later_ones(label_version, team_a, team_b,
                                                                                 archives, settings):
    settings.LEADERBOARD_TEAM_CHANGE_COOLDOWN_HOURS = 0
    submit(team_b, archives["noisy"])  # bob's, in team B
    team_services.leave_team(team_b.user)
    invitation = team_services.invite(team_a.team, by=team_a.user)
    team_services.accept_invitation(invitation.token, user=team_b.user)
    assert quota_status(team_a.team).used == 1
    other = team_services.create_team(name="B2", owner=team_services.get_user_model().objects.create_user("x"))[0]
    Submission.objects.filter(team=team_b.team).update(team=other)  # not bob's: made in a team he never joined
    assert quota_status(team_a.team).used == 0


def test_a_team_change_waits_for_the_cool_down(client, label_version, team_a, settings):
    settings.LEADERBOARD_TEAM_CHANGE_COOLDOWN_HOURS = 24
    team_services.leave_team(team_a.user)
    with pytest.raises(team_services.TeamError, match="cool-down"):
        team_services.create_team(name="Again", owner=team_a.user)
    client.force_login(team_a.user)
    page = client.post(reverse("team-create"), {"name": "Again"}, follow=True).content.decode()
    assert "cool-down" in page and not Membership.objects.filter(user=team_a.user).exists()
    MembershipPeriod.objects.filter(user=team_a.user).update(left_at=timezone.now() - timedelta(hours=24, minutes=1))
    team, _ = team_services.create_team(name="Again", owner=team_a.user)
    assert MembershipPeriod.objects.get(user=team_a.user, team=team).is_change


def test_the_token_of_a_team_without_members_stops_working(client, label_version, team_a, team_b, archives):
    assert client.get(reverse("api-submissions"), **team_a.auth()).status_code == 200
    team_services.leave_team(team_a.user)  # the last member
    assert client.get(reverse("api-submissions"), **team_a.auth()).status_code == 401
    assert upload(client, team_a.token, archives["noisy"]).status_code == 401
    Membership.objects.filter(team=team_b.team).delete()  # emptied another way (the admin): token kept, refused
    assert client.get(reverse("api-submissions"), **team_b.auth()).status_code == 401


def test_a_benchmark_can_ask_for_approval_of_team_changes(client, label_version, team_a, team_b, archives,
                                                           maintainer, settings):
    settings.LEADERBOARD_TEAM_CHANGE_COOLDOWN_HOURS = 0
    TeamChangePolicy.objects.create(testset=label_version.testset, needs_approval=True)
    team_services.leave_team(team_b.user)
    team_services.accept_invitation(team_services.invite(team_a.team, by=team_a.user).token, user=team_b.user)
    response = upload(client, team_a.token, archives["noisy"])
    assert response.status_code == 403 and "bob" in response.json()["problems"][0]["message"]
    client.force_login(maintainer)
    period = MembershipPeriod.objects.get(user=team_b.user, team=team_a.team)
    client.post(reverse("admin:accounts_membershipperiod_changelist"),
                {"action": "approve", "_selected_action": [period.pk]})
    period.refresh_from_db()
    assert period.approved_by == maintainer
    assert upload(client, team_a.token, archives["noisy"]).status_code == 201


def test_email_verification_before_a_team_submits(client, label_version, team_a, archives, settings):
    settings.LEADERBOARD_REQUIRE_VERIFIED_EMAIL = True
    response = upload(client, team_a.token, archives["noisy"])
    assert response.status_code == 403 and "alice" in response.json()["problems"][0]["message"]
    client.force_login(team_a.user)
    assert b"not confirmed yet" in client.get(reverse("team")).content
    client.post(reverse("email-verify-send"))
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.org"]
    link = re.search(r"http://testserver(/accounts/verify/\S+/)", mail.outbox[0].body).group(1)
    client.logout()
    client.get(link[:-5] + "xxxx/")  # a forged link verifies nothing
    assert upload(client, team_a.token, archives["noisy"]).status_code == 403
    client.get(link)
    assert upload(client, team_a.token, archives["noisy"]).status_code == 201
    team_a.user.email = "alice@elsewhere.example"  # a changed address needs a new proof
    team_a.user.save()
    assert upload(client, team_a.token, archives["noisy"]).status_code == 403


def test_sign_up_mails_the_link_when_verification_is_required(client, db, settings):
    settings.LEADERBOARD_REQUIRE_VERIFIED_EMAIL = True
    passphrase = "a long enough passphrase 42"
    client.post(reverse("signup"), {"username": "erin", "email": "erin@example.org", "password1": passphrase,
                                    "password2": passphrase})
    assert len(mail.outbox) == 1 and "/accounts/verify/" in mail.outbox[0].body


def test_look_alike_accounts_are_grouped_by_domain_and_time():
    t0 = timezone.now()
    accounts = [Account("a1", "a1@lab.example", t0, "T1"), Account("a2", "x@LAB.example", t0 + timedelta(hours=5),
                                                                     "T2"),
                Account("a3", "a3@lab.example", t0 + timedelta(days=9), None),
                Account("b1", "b1@other.example", t0, None), Account("c1", "", t0, None)]
    groups = lookalike_groups(accounts, within=timedelta(hours=48))
    assert [(g.domain, [a.username for a in g.accounts], g.teams) for g in groups] == [
        ("lab.example", ["a1", "a2"], ["T1", "T2"])]


def test_look_alike_view_is_for_maintainers_only(client, team_a, team_b, maintainer):
    team_b.user.email = "bob@example.org"
    team_b.user.save()
    client.force_login(team_a.user)
    assert client.get(reverse("lookalike-accounts")).status_code == 302  # to the admin login
    client.force_login(maintainer)
    page = client.get(reverse("lookalike-accounts")).content.decode()
    assert "example.org" in page and "alice" in page and "bob" in page and "Team A" in page
