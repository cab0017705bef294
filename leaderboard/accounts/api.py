"""REST endpoints of the team: its quota (GET /api/team/) and rotating its API token."""

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
    @extend_schema(summary="Issue a new team token (the one used for this call stops working); any member may",
                   request=None,
                   responses=inline_serializer("NewToken", {"token": serializers.CharField()}))
    def post(self, request: Request) -> Response:
        team = team_of(request.user)
        if team is None:
            raise PermissionDenied("Only members of a team have a token.")
        by = None if isinstance(request.user, TeamIdentity) else request.user
        return Response({"token": team_services.rotate_token(team, by=by)})


class TeamStatus(APIView):
    @extend_schema(summary="Your team and its submission quota: used, remaining, and when the next slot opens",
                   responses=inline_serializer("TeamStatus", {
                       "team": serializers.CharField(),
                       "limit": serializers.IntegerField(help_text="counted submissions allowed per window"),
                       "used": serializers.IntegerField(help_text="counted submissions in the window, including "
                                                                  "members' submissions in other teams"),
                       "remaining": serializers.IntegerField(),
                       "window_hours": serializers.IntegerField(),
                       "next_slot_at": serializers.DateTimeField(allow_null=True,
                                                                 help_text="null: a slot is free now"),
                   }))
    def get(self, request: Request) -> Response:
        from leaderboard.submissions.quota import quota_status  # submissions builds on accounts

        team = team_of(request.user)
        if team is None:
            raise PermissionDenied("Only members of a team have a quota; create or join a team first.")
        quota = quota_status(team)
        return Response({"team": team.name, "limit": quota.limit, "used": quota.used,
                         "remaining": quota.remaining,
                         "window_hours": int(quota.window.total_seconds() // 3600),
                         "next_slot_at": quota.next_slot_at})
