"""Operators' endpoints (``operator/``): bootstrap tenants and invite their administrators
without the demo seed. Only Django staff users (``is_staff``) — the product's operators —
may call them; anybody else gets 403. The management command ``create_tenant`` does the
same from a shell. Both go through ``tenants.services`` like the members page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api.views.base import Pagination
from tenants import services
from tenants.models import Invitation, Role, Tenant

# The roles a person can be invited with (the integration role is "prepare mailworx"'s).
PERSON_ROLES = Role.ui_choices()


class IsOperator(BasePermission):
    """Django staff users only (the product has no other operator role)."""

    message = _("Only operators (staff users) may do this.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class OperatorTenantSerializer(serializers.ModelSerializer):
    default_language = serializers.ChoiceField(
        choices=settings.LANGUAGES, required=False,
        help_text=_("Language for subscribers whose CRM record carries none (default: de)."))
    administrators = serializers.SerializerMethodField(help_text=_(
        "Email addresses of the tenant's administrators."))
    pending_invitations = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "default_language", "created_at", "administrators",
                  "pending_invitations"]
        read_only_fields = ["id", "created_at", "administrators", "pending_invitations"]
        validators: list[object] = []  # the service names a taken slug

    def get_administrators(self, tenant: Tenant) -> list[str]:
        return [m.user.email or m.user.get_username() for m in tenant.memberships.all()
                if m.role == Role.ADMINISTRATOR]

    def get_pending_invitations(self, tenant: Tenant) -> int:
        return services.pending_invitations(tenant).count()


class InvitationSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    invited_by = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at"]
        read_only_fields = fields

    def get_invited_by(self, invitation: Invitation) -> str | None:
        user = invitation.invited_by
        return str(user.email or user.get_username()) if user is not None else None


class InviteSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=PERSON_ROLES, default=Role.ADMINISTRATOR,
                                   help_text=_("administrator (default) or user."))


class OperatorTenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                            viewsets.GenericViewSet):
    """Every tenant of the installation (operators see them all)."""

    serializer_class = OperatorTenantSerializer
    permission_classes = [IsAuthenticated, IsOperator]
    pagination_class = Pagination
    lookup_field = "slug"
    lookup_value_converter = "slug"

    def get_queryset(self) -> QuerySet[Tenant]:
        return Tenant.objects.prefetch_related("memberships__user").order_by("name")

    @extend_schema(request=OperatorTenantSerializer, responses={201: OperatorTenantSerializer},
                   description="Create an empty tenant. Then invite its administrators "
                               "(`invitations/`); 400 for a taken slug.")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = OperatorTenantSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            tenant = services.create_tenant(values["name"], values["slug"],
                                            values.get("default_language", ""))
        except services.TenantError as exc:
            raise ValidationError({"slug": [str(exc)]}) from None
        return Response(OperatorTenantSerializer(self.get_queryset().get(pk=tenant.pk)).data,
                        status=status.HTTP_201_CREATED)


class OperatorInvitationViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin,
                                viewsets.GenericViewSet):
    """A tenant's pending invitations; POST invites a person (the invitation email goes out
    as from the members page), DELETE withdraws one."""

    serializer_class = InvitationSerializer
    permission_classes = [IsAuthenticated, IsOperator]
    pagination_class = Pagination
    lookup_value_converter = "int"

    @property
    def tenant(self) -> Tenant:
        return get_object_or_404(Tenant, slug=self.kwargs["slug"])

    def get_queryset(self) -> QuerySet[Invitation]:
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        return services.pending_invitations(self.tenant).select_related("invited_by")

    @extend_schema(request=InviteSerializer, responses={201: InvitationSerializer},
                   description="Invite a person to the tenant (default role: administrator). "
                               "They get an email; an address without an account gets one "
                               "without a password and a link to set it. They become a "
                               "member once they accept, logged in. Inviting again renews the "
                               "invitation; 400 for somebody who is a member already.")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tenant = self.tenant
        data = InviteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = services.add_member(tenant, data.validated_data["email"],
                                         Role(data.validated_data["role"]),
                                         request=request._request, invited_by=request.user)
        except services.MembershipError as exc:
            raise ValidationError({"email": [str(exc)]}) from None
        return Response(InvitationSerializer(result.invitation).data,
                        status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Invitation) -> None:
        services.cancel_invitation(instance.tenant, instance.pk)
