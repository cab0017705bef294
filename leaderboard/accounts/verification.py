"""E-mail verification before a team submits (``LEADERBOARD_REQUIRE_VERIFIED_EMAIL``, off by default).

The link carries a signed, timestamped ``(user id, address)`` (Django's signing with the secret
key, salt of its own), valid ``LINK_DAYS`` days; opening it records a :class:`VerifiedEmail`.
Changing the account's address needs a new link. Mail goes through Django's e-mail backend
(``DJANGO_EMAIL_BACKEND``; the console backend when embedded, so the link shows in the log).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from .models import VerifiedEmail

LINK_DAYS = 3
_SALT = "leaderboard.accounts.verification"


def is_verified(user) -> bool:
    return bool(user.email) and VerifiedEmail.objects.filter(user=user, email__iexact=user.email).exists()


def link_token(user) -> str:
    return signing.dumps([user.pk, user.email], salt=_SALT)


def send_link(user, *, absolute) -> None:
    """Mail ``user`` the verification link; ``absolute`` makes the URL absolute (``request.build_absolute_uri``)."""
    url = absolute(reverse("email-verify", args=[link_token(user)]))
    send_mail(subject="Confirm your e-mail address for the leaderboard",
              message=f"Open this link to confirm {user.email} for the account {user.get_username()} "
                      f"(valid {LINK_DAYS} days):\n\n{url}\n\nIf you did not sign up, ignore this message.",
              from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[user.email])


def confirm(token: str):
    """The account whose address the link proves, or ``None`` (forged, expired, or the address changed since)."""
    try:
        user_id, email = signing.loads(token, salt=_SALT, max_age=LINK_DAYS * 86400)
    except signing.BadSignature:
        return None
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not user.email or user.email.lower() != str(email).lower():
        return None
    VerifiedEmail.objects.update_or_create(user=user, defaults={"email": user.email, "verified_at": timezone.now()})
    return user
