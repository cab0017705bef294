"""Business actions on teams: create, invite, join, leave, issue and check API tokens.

Every membership opens a :class:`MembershipPeriod` and its end closes it (signals.py), so the
quota can follow people across teams. After leaving a team an account
waits ``LEADERBOARD_TEAM_CHANGE_COOLDOWN_HOURS`` before it joins or creates another; a team whose
last member left loses its API token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from . import tokens
from .models import ApiToken, Invitation, Membership, MembershipPeriod, Team

INVITATION_DAYS = 7
TOKEN_USE_RECORD_SECONDS = 60


class TeamError(Exception):
    """A team action that cannot be done, with a message for the user."""


def team_change_allowed_from(user, *, now=None):
    """When ``user`` may join or create a team again after leaving one (``None``: now)."""
    hours = settings.LEADERBOARD_TEAM_CHANGE_COOLDOWN_HOURS
    last_left = (MembershipPeriod.objects.filter(user=user, left_at__isnull=False).order_by("-left_at")
                 .values_list("left_at", flat=True).first())
    if not hours or last_left is None:
        return None
    allowed = last_left + timedelta(hours=hours)
    return allowed if allowed > (now or timezone.now()) else None


def _join(team: Team, user, *, role: str) -> Membership:
    """A new membership; refused while the account's team-change cool-down runs."""
    allowed = team_change_allowed_from(user)
    if allowed is not None:
        raise TeamError(f"You left a team recently; you can join or create another from {allowed:%Y-%m-%d %H:%M} "
                        "UTC (a cool-down, so that the submission quota cannot be renewed by changing team).")
    return Membership.objects.create(team=team, user=user, role=role)  # opens its period (signals.py)


def unique_team_slug(name: str) -> str:
    base = slugify(name)[:70] or "team"
    slug, n = base, 2
    while Team.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def create_team(*, name: str, owner) -> tuple[Team, str]:
    """A new team with ``owner`` as its owner; returns it and its first API token (shown once)."""
    name = name.strip()
    if not name:
        raise TeamError("A team needs a name.")
    if Membership.objects.filter(user=owner).exists():
        raise TeamError("You already belong to a team; leave it first.")
    if Team.objects.filter(name__iexact=name).exists():
        raise TeamError(f"A team called {name!r} exists already; pick another name or ask its owner for an "
                        "invitation.")
    try:
        with transaction.atomic():
            team = Team.objects.create(name=name, slug=unique_team_slug(name), created_by=owner)
    except IntegrityError:
        raise TeamError(f"A team called {name!r} exists already.") from None
    _join(team, owner, role=Membership.Role.OWNER)
    return team, rotate_token(team, by=owner)


def rotate_token(team: Team, *, by=None) -> str:
    """Issue a new token for ``team`` (the old one stops working at once); returns it."""
    token, prefix, digest = tokens.new_token()
    ApiToken.objects.update_or_create(team=team, defaults={
        "prefix": prefix, "digest": digest, "created_at": timezone.now(), "created_by": by, "last_used_at": None,
    })
    return token


def team_for_token(token: str) -> Team | None:
    """The team owning ``token``, or ``None`` for an unknown, malformed or rotated token, or a team without
    members (its token is also deleted when the last member leaves)."""
    prefix = tokens.split_prefix(token.strip())
    if prefix is None:
        return None
    row = ApiToken.objects.select_related("team").filter(prefix=prefix).first()
    if row is None or not tokens.matches(token.strip(), row.digest):
        return None
    if not Membership.objects.filter(team_id=row.team_id).exists():
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=TOKEN_USE_RECORD_SECONDS):
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.team


def is_owner(team: Team, user) -> bool:
    return Membership.objects.filter(team=team, user=user, role=Membership.Role.OWNER).exists()


def invite(team: Team, *, by, username: str = "") -> Invitation:
    """An invitation link to ``team`` (only owners invite); ``username`` restricts who may accept."""
    if not is_owner(team, by):
        raise TeamError("Only the team's owners can invite members.")
    username = username.strip()
    if username and not get_user_model().objects.filter(username=username).exists():
        raise TeamError(f"There is no account called {username!r}; ask them to sign up first, or leave the "
                        "name empty to make a link anyone can use once.")
    return Invitation.objects.create(team=team, invited_by=by, username=username,
                                     token=get_random_string(40),
                                     expires_at=timezone.now() + timedelta(days=INVITATION_DAYS))


@transaction.atomic
def accept_invitation(token: str, *, user) -> Membership:
    invitation = Invitation.objects.select_for_update().filter(token=token).first()
    if invitation is None or not invitation.is_open():
        raise TeamError("This invitation link is not valid any more (used, revoked or expired).")
    if invitation.username and invitation.username != user.get_username():
        raise TeamError("This invitation is for another account.")
    if Membership.objects.filter(user=user).exists():
        raise TeamError("You already belong to a team; leave it first.")
    membership = _join(invitation.team, user, role=Membership.Role.MEMBER)
    invitation.accepted_by, invitation.accepted_at = user, timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    return membership


@transaction.atomic
def leave_team(user) -> None:
    membership = Membership.objects.select_for_update().filter(user=user).first()
    if membership is None:
        raise TeamError("You are not in a team.")
    others = Membership.objects.filter(team=membership.team).exclude(pk=membership.pk)
    if membership.role == Membership.Role.OWNER and not others.filter(role=Membership.Role.OWNER).exists():
        successor = others.order_by("joined_at").first()
        if successor is not None:  # the team keeps an owner
            successor.role = Membership.Role.OWNER
            successor.save(update_fields=["role"])
    membership.delete()  # closes its period (signals.py)
    if not others.exists():  # nobody is left to act for the team: its token stops working
        ApiToken.objects.filter(team=membership.team).delete()


@dataclass(frozen=True)
class CliTeamResult:
    team: Team
    user_created: bool
    team_created: bool
    membership_created: bool
    token: str | None  # None: the existing token was kept (it is stored hashed and cannot be shown)


@transaction.atomic
def ensure_team(*, name: str, username: str, rotate: bool = False) -> CliTeamResult:
    """``manage.py create_team``: create the user, the team and the membership where missing."""
    User = get_user_model()
    user, user_created = User.objects.get_or_create(username=username)
    if user_created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    team = Team.objects.filter(name__iexact=name.strip()).first()
    team_created = team is None
    if team is None:
        team = Team.objects.create(name=name.strip(), slug=unique_team_slug(name), created_by=user)
    membership = Membership.objects.filter(user=user).first()
    membership_created = False
    if membership is None:
        role = Membership.Role.OWNER if team_created or not team.memberships.exists() else Membership.Role.MEMBER
        Membership.objects.create(team=team, user=user, role=role)
        membership_created = True
    elif membership.team_id != team.pk:
        raise TeamError(f"{username} already belongs to team {membership.team.name!r}.")
    token = None
    if rotate or not ApiToken.objects.filter(team=team).exists():
        token = rotate_token(team)
    return CliTeamResult(team, user_created, team_created, membership_created, token)
