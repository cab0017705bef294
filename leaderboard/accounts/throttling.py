"""Token guessing: failed ``Authorization: Token`` attempts per client address, with DRF's throttle.

DRF's own throttles run after authentication, so a request whose token fails never reaches
them; :class:`TokenFailureThrottle` is consulted by the authentication class instead. Once
an address has failed ``LEADERBOARD_TOKEN_FAILURE_RATE`` times (default 20 per hour), every
token it sends, right or wrong, is answered 429 until the oldest failure leaves the window.
Failures are kept in the default cache (Redis in production; per process when embedded).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from leaderboard.site.client_address import client_ip


class TokenFailureThrottle(SimpleRateThrottle):
    scope = "token_failures"
    num_requests: int  # set by SimpleRateThrottle.__init__ from the rate
    duration: int

    def get_rate(self) -> str:
        return settings.LEADERBOARD_TOKEN_FAILURE_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}

    def _load(self, request) -> None:
        self.key = self.get_cache_key(request, None)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]

    def locked(self, request) -> bool:
        """Whether this address has used up its failures (reads, records nothing)."""
        self._load(request)
        return len(self.history) >= self.num_requests

    def record_failure(self, request) -> None:
        self._load(request)
        self.throttle_success()  # DRF's bookkeeping: prepend now, store the history for the window
