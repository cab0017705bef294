"""Whether a team may submit now, apart from the quota: its members' e-mail verification (site setting) and
approval of members' team changes (per benchmark, :class:`~.models.TeamChangePolicy`)."""

from __future__ import annotations

from django.conf import settings

from .models import Membership, MembershipPeriod, Team, TeamChangePolicy
from .verification import is_verified


def unverified_members(team: Team) -> list[str]:
    """Usernames of members whose e-mail address is not verified, where the site requires it."""
    if not settings.LEADERBOARD_REQUIRE_VERIFIED_EMAIL:
        return []
    members = Membership.objects.filter(team=team).select_related("user")
    return [m.user.get_username() for m in members if not is_verified(m.user)]


def unapproved_changes(team: Team, *, testset) -> list[str]:
    """Usernames of members who changed team and await a maintainer's approval, where ``testset`` asks for it."""
    if testset is None or not TeamChangePolicy.objects.filter(testset=testset, needs_approval=True).exists():
        return []
    periods = MembershipPeriod.objects.filter(team=team, left_at__isnull=True, is_change=True,
                                              approved_at__isnull=True).select_related("user")
    return sorted(p.user.get_username() for p in periods)
