"""The client's IP address, for the login lockout (django-axes) and the API's throttles (DRF).

``LEADERBOARD_TRUSTED_PROXIES`` reverse proxies sit in front of the site (0 in the embedded
set-up, 1 by default in production behind a proxy). With N proxies the client is the N-th
address from the right of ``X-Forwarded-For`` (the left part is whatever the client sent);
with none, ``REMOTE_ADDR``. The same rule as DRF's ``NUM_PROXIES``, which is set to match.
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    proxies = settings.LEADERBOARD_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")
