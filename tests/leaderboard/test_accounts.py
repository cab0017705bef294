"""Accounts and teams: sign-up, teams, invitations, hashed tokens, the create_team command."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from leaderboard.accounts import services
from leaderboard.accounts.models import ApiToken, Membership, Team


def test_signup_logs_in_and_leads_to_the_team_page(client, db):
    response = client.post(reverse("signup"), {"username": "carol", "email": "carol@example.org",
                                               "password1": "a long enough passphrase", "password2":
                                               "a long enough passphrase"})
    assert response.status_code == 302 and response.url == reverse("team")
    page = client.get(response.url)
    assert b"You are not in a team yet" in page.content


def test_signup_keeps_next_so_an_invitee_lands_on_the_invitation(client, team_a):
    invitation = reverse("invitation", args=[services.invite(team_a.team, by=team_a.user).token])
    login_page = client.get(f"{reverse('login')}?next={invitation}").content.decode()
    assert f'href="{reverse("signup")}?next={invitation}"' in login_page
    form = client.get(reverse("signup"), {"next": invitation}).content.decode()
    assert f'name="next" value="{invitation}"' in form
    response = client.post(reverse("signup"), {"username": "carol", "email": "carol@example.org", "next": invitation,
                                               "password1": "a long enough passphrase", "password2":
                                               "a long enough passphrase"})
    assert response.status_code == 302 and response.url == invitation
    elsewhere = client.get(reverse("signup"), {"next": "https://evil.example.org/"})
    assert elsewhere.status_code == 302 and elsewhere.url == reverse("team")  # signed in: off-site next dropped


def test_team_page_says_optional_once_and_submissions_default_to_private(client, team_a):
    client.force_login(team_a.user)
    page = client.get(reverse("team")).content.decode()
    assert "(optional) <span" not in page and "(optional)</span>" in page
    from leaderboard.submissions.forms import SubmissionForm

    assert SubmissionForm.base_fields["is_public"].initial is False  # the API's default too


def test_a_member_who_is_not_an_owner_gets_a_token(client, team_a, loner):
    services.accept_invitation(services.invite(team_a.team, by=team_a.user, username="loner").token, user=loner)
    assert not services.is_owner(team_a.team, loner)
    client.force_login(loner)
    assert "Issue a new token" in client.get(reverse("team")).content.decode()
    page = client.get(client.post(reverse("token-rotate")).url).content.decode()
    assert "shown only once" in page and "by loner" not in page  # the new token itself is shown, once
    assert "by loner" in client.get(reverse("team")).content.decode()
    assert services.team_for_token(team_a.token) is None  # the old one stopped working
    assert client.post(reverse("api-token-rotate")).status_code == 200  # with the session, as the API


def test_signup_can_be_closed(client, db, settings):
    settings.LEADERBOARD_SIGNUP_OPEN = False
    assert client.get(reverse("signup")).status_code == 404


def test_create_team_on_the_web_shows_the_token_once(client, loner):
    client.force_login(loner)
    client.post(reverse("team-create"), {"name": "Gamma"})
    first = client.get(reverse("team")).content.decode()
    team = Team.objects.get(name="Gamma")
    token_row = ApiToken.objects.get(team=team)
    assert "shown only once" in first and token_row.prefix in first
    token = first.split('<code class="token">')[1].split("</code>")[0]
    assert services.team_for_token(token) == team
    assert token not in client.get(reverse("team")).content.decode()  # never again
    assert token_row.digest != token and token not in token_row.digest


def test_tokens_rotate(team_a):
    new = services.rotate_token(team_a.team)
    assert services.team_for_token(team_a.token) is None
    assert services.team_for_token(new) == team_a.team
    assert services.team_for_token("garbage") is None and services.team_for_token(new + "x") is None


def test_api_rejects_unknown_tokens_with_advice(client, label_version, team_a):
    response = client.get(reverse("api-submissions"), HTTP_AUTHORIZATION="Token lbffffffffffff.nope")
    assert response.status_code == 401 and "rotated" in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


def test_bearer_is_accepted_like_token(client, label_version, team_a):
    answer = client.get(reverse("api-team"), HTTP_AUTHORIZATION=f"Bearer {team_a.token}")
    assert answer.status_code == 200 and answer.json()["team"] == "Team A"
    unknown = client.get(reverse("api-team"), HTTP_AUTHORIZATION="Bearer lbffffffffffff.nope")
    assert unknown.status_code == 401 and "rotated" in unknown.json()["detail"]


def test_token_rotation_through_the_api(client, team_a):
    response = client.post(reverse("api-token-rotate"), **team_a.auth())
    assert response.status_code == 200
    assert services.team_for_token(response.json()["token"]) == team_a.team
    assert client.get(reverse("api-submissions"), **team_a.auth()).status_code == 401


def test_token_rotation_needs_a_team(client, loner):
    assert client.post(reverse("api-token-rotate")).status_code == 401
    client.force_login(loner)
    assert client.post(reverse("api-token-rotate")).status_code == 403


def test_invitations(client, team_a, loner):
    invitation = services.invite(team_a.team, by=team_a.user, username="loner")
    client.force_login(loner)
    assert b"Join Team A" in client.get(reverse("invitation", args=[invitation.token])).content
    client.post(reverse("invitation", args=[invitation.token]))
    assert Membership.objects.get(user=loner).team == team_a.team
    with pytest.raises(services.TeamError, match="not valid any more"):
        services.accept_invitation(invitation.token, user=User.objects.create_user("dave"))


def test_only_owners_invite_and_named_invitations_are_personal(team_a, loner):
    member = User.objects.create_user("member")
    services.accept_invitation(services.invite(team_a.team, by=team_a.user).token, user=member)
    with pytest.raises(services.TeamError, match="owners"):
        services.invite(team_a.team, by=member)
    named = services.invite(team_a.team, by=team_a.user, username="member")
    with pytest.raises(services.TeamError, match="another account"):
        services.accept_invitation(named.token, user=loner)
    with pytest.raises(services.TeamError, match="no account"):
        services.invite(team_a.team, by=team_a.user, username="nobody")


def test_one_team_per_account(team_a, team_b):
    with pytest.raises(services.TeamError, match="already belong"):
        services.create_team(name="Second", owner=team_a.user)
    with pytest.raises(services.TeamError, match="already belong"):
        services.accept_invitation(services.invite(team_b.team, by=team_b.user).token, user=team_a.user)


def test_leaving_hands_ownership_on(team_a):
    member = User.objects.create_user("member")
    services.accept_invitation(services.invite(team_a.team, by=team_a.user).token, user=member)
    services.leave_team(team_a.user)
    assert Membership.objects.get(user=member).role == Membership.Role.OWNER


def test_create_team_command(db, capsys):
    call_command("create_team", "Delta", "--user", "erin")
    out, err = capsys.readouterr()
    token = out.strip()
    assert services.team_for_token(token).name == "Delta"
    assert "created user erin" in err and "created team Delta" in err
    call_command("create_team", "Delta", "--user", "erin")
    out, err = capsys.readouterr()
    assert out == "" and "already has a token" in err
    call_command("create_team", "Delta", "--user", "erin", "--rotate-token")
    new = capsys.readouterr().out.strip()
    assert new != token and services.team_for_token(new).name == "Delta"
    assert services.team_for_token(token) is None
    assert Team.objects.filter(name="Delta").count() == 1 and User.objects.filter(username="erin").count() == 1
