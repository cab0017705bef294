"""``Authorization: Token <team token>`` for the REST API: the request acts for the team."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

from .models import Team
from .services import team_for_token
from .throttling import TokenFailureThrottle


class TeamIdentity:
    """The principal of a token-authenticated request: a team, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, team: Team) -> None:
        self.team = team
        self.username = f"team:{team.slug}"

    def __str__(self) -> str:
        return f"API token of team {self.team.name}"

    def get_username(self) -> str:
        return self.username


class TeamTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <token>``; ``Bearer <token>`` (what many HTTP tools send) is accepted as well."""

    keyword = b"token"
    keywords = (b"token", b"bearer")

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Malformed Authorization header; expected 'Token <your team token>'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("The token contains characters that a token never has.") from None
        throttle = TokenFailureThrottle()
        if throttle.locked(request):
            raise Throttled(wait=throttle.wait(), detail="Too many unknown tokens from your address; wait before "
                                                          "trying again.")
        team = team_for_token(token)
        if team is None:
            throttle.record_failure(request)
            raise AuthenticationFailed("Unknown token. It may have been rotated: copy the current one from your "
                                       "team page.")
        return TeamIdentity(team), token

    def authenticate_header(self, request) -> str:
        return "Token"


class TeamTokenScheme(OpenApiAuthenticationExtension):
    """Describes the token header in the OpenAPI schema."""

    target_class = TeamTokenAuthentication
    name = "teamToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <team token>`; the token is on the team page (shown once when issued)."}
