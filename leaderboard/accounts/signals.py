"""Membership history: every membership, however made (services, the admin, ``manage.py create_team``), opens a
:class:`~.models.MembershipPeriod`, and deleting it closes the period."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from .models import Membership, MembershipPeriod


@receiver(post_save, sender=Membership, dispatch_uid="accounts.open_period")
def open_period(sender, instance: Membership, created: bool, raw: bool = False, **kwargs) -> None:
    if raw or MembershipPeriod.objects.filter(user_id=instance.user_id, team_id=instance.team_id,
                                              left_at__isnull=True).exists():
        return
    had_team = MembershipPeriod.objects.filter(user_id=instance.user_id).exists()
    MembershipPeriod.objects.create(user_id=instance.user_id, team_id=instance.team_id, joined_at=instance.joined_at,
                                    is_change=had_team)


@receiver(post_delete, sender=Membership, dispatch_uid="accounts.close_period")
def close_period(sender, instance: Membership, **kwargs) -> None:
    MembershipPeriod.objects.filter(user_id=instance.user_id, team_id=instance.team_id,
                                    left_at__isnull=True).update(left_at=timezone.now())
