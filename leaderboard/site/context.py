"""Template context shared by every page: who is looking and which team they belong to."""

from django.conf import settings

from leaderboard.accounts.access import is_maintainer, team_of


def site(request):
    user = getattr(request, "user", None)
    return {
        "current_team": team_of(user) if user is not None else None,
        "is_maintainer": is_maintainer(user),
        "signup_open": settings.LEADERBOARD_SIGNUP_OPEN,
    }
