"""REST endpoint: rotating the team's API token."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services as team_services
from .access import team_of
from .authentication import TeamIdentity


class TokenRotate(APIView):
    @extend_schema(summary="Issue a new team token (the one used for this call stops working)", request=None,
                   responses=inline_serializer("NewToken", {"token": serializers.CharField()}))
    def post(self, request: Request) -> Response:
        team = team_of(request.user)
        if team is None:
            raise PermissionDenied("Only members of a team have a token.")
        if not isinstance(request.user, TeamIdentity) and not team_services.is_owner(team, request.user):
            raise PermissionDenied("Only the team's owners can rotate the token.")
        by = None if isinstance(request.user, TeamIdentity) else request.user
        return Response({"token": team_services.rotate_token(team, by=by)})
