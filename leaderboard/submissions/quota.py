"""The submission quota: N counted submissions per team in a rolling window (default 3 per 24 h).

A submission counts unless its first evaluation failed (invalid, server fault or time
limit) or it is a reference entry. The quota follows people: a team's count includes every
submission of any team one of its current members was in, made while they were there
(:class:`~leaderboard.accounts.models.MembershipPeriod`), so leaving a team and creating
another gives no fresh quota. :func:`quota_status` alone is only advice; the services
layer re-checks it while holding the team's row lock, so concurrent uploads cannot exceed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from leaderboard.accounts.models import Membership, MembershipPeriod, Team

from .models import Submission


@dataclass(frozen=True)
class QuotaStatus:
    limit: int
    used: int
    window: timedelta
    next_slot_at: datetime | None  # when the oldest counted submission leaves the window (None: a slot is free)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def explanation(self) -> str:
        hours = int(self.window.total_seconds() // 3600)
        text = (f"Your team has used {self.used} of {self.limit} submissions in the last {hours} hours "
                "(counting its members' submissions in other teams).")
        if self.next_slot_at is not None:
            text += f" The next one is possible from {self.next_slot_at:%Y-%m-%d %H:%M} UTC."
        return text + (" Submissions that fail validation, or fail because of a server fault, do not count.")


def counted_submissions(team: Team, *, since: datetime):
    """Submissions since ``since`` that count for ``team``: its own, and those of teams its current members
    were in at the time."""
    members = Membership.objects.filter(team=team).values("user_id")
    shared = MembershipPeriod.objects.filter(
        user_id__in=members, team_id=OuterRef("team_id"), joined_at__lte=OuterRef("created_at"),
    ).filter(Q(left_at__isnull=True) | Q(left_at__gt=OuterRef("created_at")))
    return Submission.objects.filter(counts_toward_quota=True, created_at__gt=since).filter(
        Q(team=team) | Exists(shared))


def quota_status(team: Team, *, now: datetime | None = None) -> QuotaStatus:
    now = now or timezone.now()
    window = timedelta(hours=settings.LEADERBOARD_QUOTA_WINDOW_HOURS)
    limit = settings.LEADERBOARD_DAILY_QUOTA
    counted = list(counted_submissions(team, since=now - window).order_by("created_at")
                   .values_list("created_at", flat=True))
    next_slot = None
    if limit and len(counted) >= limit:
        next_slot = counted[len(counted) - limit] + window
    return QuotaStatus(limit=limit, used=len(counted), window=window, next_slot_at=next_slot)
