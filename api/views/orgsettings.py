"""Organisation settings: read, and save through the settings form's rules and
``orgsettings.services.save_org_settings`` (C2-C6, N4)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.orgsettings import (
    PUBLIC_FIELDS,
    OrgSettingsSerializer,
    OrgSettingsWriteSerializer,
)
from api.views.base import TenantScopedMixin, drf_error
from orgsettings import services
from orgsettings.forms import OrgSettingsForm
from orgsettings.models import OrgSettings
from tenants.access import admin_tenants_for_user
from tenants.models import Tenant


class OrgSettingsView(TenantScopedMixin):
    serializer_class = OrgSettingsSerializer

    def get_queryset(self) -> QuerySet[OrgSettings]:
        if self.is_schema:
            return OrgSettings.objects.none()
        return OrgSettings.objects.filter(tenant=self.tenant)

    def get_object(self) -> OrgSettings:
        return get_object_or_404(self.get_queryset())

    @extend_schema(responses={200: OrgSettingsSerializer})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = OrgSettings.objects.filter(tenant=self.tenant).first()
        if obj is None:
            return Response({"detail": _("No organisation settings saved yet.")},
                            status=status.HTTP_404_NOT_FOUND)
        return Response(OrgSettingsSerializer(obj).data)

    @extend_schema(request=OrgSettingsWriteSerializer, responses={200: OrgSettingsSerializer},
                   description="Save the settings (JSON, or form-encoded / multipart, e.g. "
                               "`curl -F \"ca_bundle=<ca.pem\"`). Absent fields keep their "
                               "stored value (or the default for a first save); secrets are "
                               "write-only.")
    def put(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # partial: a field absent from a form-encoded or multipart body is absent, not
        # False (DRF's default for booleans in HTML input); absent keeps the stored value.
        data = OrgSettingsWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        tenants = self._tenants(values.pop("tenants", None))
        instance = (OrgSettings.objects.filter(tenant=self.tenant).first()
                    or OrgSettings(tenant=self.tenant))
        # Not the stored CA bundle: blank keeps each tenant's own (never echoed back).
        form_data: dict[str, Any] = {name: getattr(instance, name) for name in PUBLIC_FIELDS
                                     if name != "ca_bundle"}
        form_data.update(values)
        form = OrgSettingsForm(form_data, instance=instance)
        if not form.is_valid():
            errors: dict[str, Any] = {("non_field_errors" if k == "__all__" else k): list(v)
                      for k, v in form.errors.items()}
            raise ValidationError(errors)
        try:
            services.save_org_settings(tenants, form.settings_values(), form.secrets(),
                                       user=request.user)
        except services.SettingsError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return Response(OrgSettingsSerializer(OrgSettings.objects.get(tenant=self.tenant)).data)

    def _tenants(self, slugs: list[str] | None) -> list[Tenant]:
        if not slugs:
            return [self.tenant]
        allowed = {t.slug: t for t in admin_tenants_for_user(self.request.user)}
        foreign = sorted(set(slugs) - set(allowed))
        if foreign:
            raise ValidationError({"tenants": [
                _("You can only apply settings to tenants you administer: %(slugs)s.")
                % {"slugs": ", ".join(foreign)}]})
        return [allowed[s] for s in dict.fromkeys(slugs)]
