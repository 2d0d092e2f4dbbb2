"""The caller's tenants and API tokens (django-rest-knox: stored as a digest, each request
for a token makes a new one, which expires after ``API_TOKEN_TTL_HOURS``).

The integration user's token comes from "prepare mailworx" only: it may not obtain, rotate,
list or revoke tokens here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import TokenAuthentication
from syncjobs.overview import tenant_overviews
from tenants.access import tenants_for_user
from tenants.accounts import (
    is_integration_user,
    issue_token,
    live_tokens,
    revoke_token,
)
from tenants.models import ApiToken, Role, Tenant

INTEGRATION_REFUSED = _("The integration account's token is issued by “prepare mailworx” "
                        "(re-issue the credentials on the setup page); it cannot be managed "
                        "here.")


class SetupSummarySerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=["done", "ready", "in_progress"],
        help_text=_("done: syncing was started; ready: every step is done and “Start "
                    "syncing” is open; in_progress: steps are still to do."))
    summary = serializers.CharField(help_text=_("The same, in words."))
    next_step = serializers.CharField(help_text=_("The next step to do; empty once started."))
    steps_done = serializers.IntegerField()
    steps_total = serializers.IntegerField()


class SyncHealthSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["ok", "issues", "failing", "running", "waiting",
                                             "paused", "stopped", "not_started"])
    summary = serializers.CharField(help_text=_("The same, in words."))
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    open_issues = serializers.IntegerField()


class TenantSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.ui_choices(), read_only=True)
    setup = serializers.SerializerMethodField()
    sync_health = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = ["slug", "name", "default_language", "role", "setup", "sync_health"]
        read_only_fields = fields

    def _row(self, tenant: Tenant) -> dict[str, Any]:
        rows: dict[int, dict[str, Any]] = self.context.get("overviews") or {}
        return rows.get(tenant.pk) or tenant_overviews([tenant])[0].as_dict()

    @extend_schema_field(SetupSummarySerializer)
    def get_setup(self, tenant: Tenant) -> dict[str, Any]:
        return dict(SetupSummarySerializer(self._row(tenant)["setup"]).data)

    @extend_schema_field(SyncHealthSerializer)
    def get_sync_health(self, tenant: Tenant) -> dict[str, Any]:
        return dict(SyncHealthSerializer(self._row(tenant)["sync_health"]).data)


class ObtainTokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(write_only=True)
    password = serializers.CharField(write_only=True, trim_whitespace=False,
                                     style={"input_type": "password"})
    name = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                 max_length=100, default="",
                                 help_text=_("What the token is for, shown in the token list."))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = authenticate(request=self.context.get("request"), username=attrs["username"],
                            password=attrs["password"])
        if user is None:
            raise serializers.ValidationError(
                _("Unable to log in with the user name and password given."),
                code="authorization")
        attrs["user"] = user
        return attrs


class IssuedTokenSerializer(serializers.ModelSerializer):
    """A token right after it was issued: the only answer that carries the secret."""

    token = serializers.CharField(read_only=True, help_text=_(
        "The secret: send it as “Authorization: Token <token>”. It is not shown again."))

    class Meta:
        model = ApiToken
        fields = ["id", "name", "token", "created", "expiry"]
        read_only_fields = fields


class TokenInfoSerializer(serializers.ModelSerializer):
    """A token as listed: never its secret."""

    last_used = serializers.DateTimeField(source="last_used_at", read_only=True,
                                          allow_null=True)
    current = serializers.SerializerMethodField(
        help_text=_("True for the token this request was made with."))

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created", "expiry", "last_used", "current"]
        read_only_fields = fields

    def get_current(self, obj: ApiToken) -> bool:
        auth = getattr(self.context.get("request"), "auth", None)
        return isinstance(auth, ApiToken) and auth.pk == obj.pk


def _issued(token: ApiToken, secret: str) -> dict[str, Any]:
    data: dict[str, Any] = IssuedTokenSerializer(token).data
    data["token"] = secret
    return data


class IsPerson(BasePermission):
    """A person's account, not the CRM side's integration user (403 with the reason)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if is_integration_user(request.user):
            raise PermissionDenied(INTEGRATION_REFUSED)
        return True


class TenantListView(ListAPIView):
    """The tenants the caller may use in the UI and API, with the caller's role."""

    serializer_class = TenantSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Tenant.objects.none()
        if is_integration_user(self.request.user):
            raise Http404
        # The annotation follows the filter's join: the caller's own membership row.
        return tenants_for_user(self.request.user).annotate(
            role=F("memberships__role")).order_by("name")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Each tenant with its setup state and sync health, as the tenant list shows them."""
        page = self.paginate_queryset(self.get_queryset()) or []
        rows = {row.tenant.pk: row.as_dict() for row in tenant_overviews(page)}
        data = self.get_serializer(page, many=True, context={
            **self.get_serializer_context(), "overviews": rows}).data
        return self.get_paginated_response(data)


class ObtainTokenView(APIView):
    """Exchange user name and password for a new token (every call issues another one; it
    expires after ``API_TOKEN_TTL_HOURS``)."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=ObtainTokenRequestSerializer, responses={200: IssuedTokenSerializer},
                   auth=[])
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ObtainTokenRequestSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        user = data.validated_data["user"]
        if is_integration_user(user):
            raise PermissionDenied(INTEGRATION_REFUSED)
        token, secret = issue_token(user, name=data.validated_data["name"])
        return Response(_issued(token, secret))


class RotateTokenView(APIView):
    """Replace the token this request is made with: a new one (same name, new expiry) is
    issued and the old one stops working at once."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated, IsPerson]

    @extend_schema(request=None, responses={200: IssuedTokenSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        old: ApiToken = request.auth  # type: ignore[assignment]
        with transaction.atomic():
            token, secret = issue_token(request.user, name=old.name)
            old.delete()
        return Response(_issued(token, secret))


class TokenListView(ListAPIView):
    """The caller's live tokens: name, created, expiry, last use — never the secret."""

    serializer_class = TokenInfoSerializer
    permission_classes = [IsAuthenticated, IsPerson]
    pagination_class = None

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return live_tokens(self.request.user)


class TokenDetailView(APIView):
    """Revoke one of the caller's tokens (it stops working at once)."""

    permission_classes = [IsAuthenticated, IsPerson]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int, *args: Any, **kwargs: Any) -> Response:
        if not revoke_token(request.user, pk):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)


@login_required
def token_page(request: HttpRequest) -> HttpResponse:
    """The "API tokens" page of the user menu: lists the user's tokens, creates one (its
    secret is shown once, right after) and revokes them."""
    new_secret = ""
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            try:
                revoked = revoke_token(request.user, int(request.POST.get("token", "")))
            except ValueError:
                revoked = False
            if not revoked:
                raise Http404
            messages.success(request, gettext("The token was revoked; it no longer works."))
            return redirect("api:token-page")
        _token, new_secret = issue_token(request.user,
                                         name=request.POST.get("name", "").strip())
    response = render(request, "api/token.html", {
        "new_secret": new_secret, "tokens": live_tokens(request.user),
        "title": _("API tokens"),
    })
    if new_secret:
        response["Cache-Control"] = "no-store"
    return response
