"""Who may see what: maintainers, and the team an account or token acts for."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Team


def is_maintainer(user) -> bool:
    """Staff accounts are the maintainers (admin, per-case results of every team, re-scoring)."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)
                and getattr(user, "is_staff", False))


def team_of(user) -> Team | None:
    """The team a signed-in account belongs to, or the team of an API token's identity."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    team = getattr(user, "team", None)  # TeamIdentity (API token)
    if team is not None:
        return team
    membership = getattr(user, "membership", None)  # the reverse one-to-one raises an AttributeError if absent
    return membership.team if membership is not None else None
