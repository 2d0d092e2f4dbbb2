"""The caller's tenants and API token (DRF authtoken, one token per user)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.access import tenants_for_user
from tenants.models import Role, Tenant


class TenantSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.ui_choices(), read_only=True)

    class Meta:
        model = Tenant
        fields = ["slug", "name", "default_language", "role"]
        read_only_fields = fields


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
    created = serializers.DateTimeField(read_only=True)


def _is_integration_user(user: Any) -> bool:
    return bool(user.is_authenticated and user.memberships.filter(role=Role.INTEGRATION)
                .exists())


class TenantListView(ListAPIView):
    """The tenants the caller may use in the UI and API, with the caller's role."""

    serializer_class = TenantSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Tenant.objects.none()
        if _is_integration_user(self.request.user):
            raise Http404
        # The annotation follows the filter's join: the caller's own membership row.
        return tenants_for_user(self.request.user).annotate(
            role=F("memberships__role")).order_by("name")


@transaction.atomic
def rotate_token(user: Any) -> Token:
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


class ObtainTokenView(APIView):
    """Exchange user name and password for the user's token (created on first use)."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=AuthTokenSerializer, responses={200: TokenSerializer}, auth=[])
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = AuthTokenSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        token, _created = Token.objects.get_or_create(user=data.validated_data["user"])
        return Response({"token": token.key, "created": token.created})


class RotateTokenView(APIView):
    """Replace the caller's token with a new one; the old one stops working at once."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: TokenSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        token = rotate_token(request.user)
        return Response({"token": token.key, "created": token.created})


@login_required
def token_page(request: HttpRequest) -> HttpResponse:
    """The "API token" page of the user menu: shows a new token once, after creating it."""
    new_key = ""
    if request.method == "POST":
        new_key = rotate_token(request.user).key
    existing = Token.objects.filter(user_id=request.user.pk or 0).first()
    return render(request, "api/token.html", {
        "new_key": new_key, "existing": existing, "title": _("API token"),
    })
