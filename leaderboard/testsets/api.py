"""REST endpoint: the test sets and their label versions (public)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import LabelVersion, TestSet


class LabelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelVersion
        fields = ["id", "version", "labels_digest", "is_current", "imported_at", "n_cases", "n_public_cases",
                  "n_private_cases", "group_sizes", "notes"]


class TestSetSerializer(serializers.ModelSerializer):
    label_versions = LabelVersionSerializer(many=True)

    class Meta:
        model = TestSet
        fields = ["slug", "name", "description", "kind", "label_versions"]


class TestSetList(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(summary="Test sets and their label versions", responses=TestSetSerializer(many=True))
    def get(self, request: Request) -> Response:
        testsets = TestSet.objects.prefetch_related("label_versions").order_by("-created_at")
        return Response(TestSetSerializer(testsets, many=True).data)
