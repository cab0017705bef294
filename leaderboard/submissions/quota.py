"""The submission quota: N counted submissions per team in a rolling window (default 3 per 24 h).

A submission counts unless its first evaluation failed (invalid, server fault or time
limit) or it is a reference entry. :func:`quota_status` alone is only advice; the services
layer re-checks it while holding the team's row lock, so concurrent uploads cannot exceed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from leaderboard.accounts.models import Team

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
        text = (f"Your team has used {self.used} of {self.limit} submissions in the last {hours} hours.")
        if self.next_slot_at is not None:
            text += f" The next one is possible from {self.next_slot_at:%Y-%m-%d %H:%M} UTC."
        return text + (" Submissions that fail validation, or fail because of a server fault, do not count.")


def quota_status(team: Team, *, now: datetime | None = None) -> QuotaStatus:
    now = now or timezone.now()
    window = timedelta(hours=settings.LEADERBOARD_QUOTA_WINDOW_HOURS)
    limit = settings.LEADERBOARD_DAILY_QUOTA
    counted = list(Submission.objects.filter(team=team, counts_toward_quota=True, created_at__gt=now - window)
                   .order_by("created_at").values_list("created_at", flat=True))
    next_slot = None
    if limit and len(counted) >= limit:
        next_slot = counted[len(counted) - limit] + window
    return QuotaStatus(limit=limit, used=len(counted), window=window, next_slot_at=next_slot)
