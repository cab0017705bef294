"""Security headers that neither Django nor django-csp sends: ``Permissions-Policy``.

Django's SecurityMiddleware already sends Referrer-Policy (``SECURE_REFERRER_POLICY``),
Cross-Origin-Opener-Policy (``SECURE_CROSS_ORIGIN_OPENER_POLICY``), X-Content-Type-Options
and HSTS; django-csp sends Content-Security-Policy. A header a view set itself is kept.
"""

from __future__ import annotations

from django.conf import settings


class PermissionsPolicyMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        policy = settings.LEADERBOARD_PERMISSIONS_POLICY
        self.value = ", ".join(f"{feature}={allow}" for feature, allow in policy.items())

    def __call__(self, request):
        response = self.get_response(request)
        if self.value:
            response.headers.setdefault("Permissions-Policy", self.value)
        return response
