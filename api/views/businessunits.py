"""Business units (C11) and field mappings (C12) through the same services as the UI."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.serializers.mapping import (
    BusinessUnitSerializer,
    FieldMappingSerializer,
    FieldMappingWriteSerializer,
)
from api.views.base import TenantScopedMixin, drf_error
from audience.models import SubscriberField, SubscriberFieldOption
from businessunits import services as units
from businessunits.models import BusinessUnit
from fieldmapping.models import CrmAttribute, FieldMapping
from fieldmapping.services import MappingInput, delete_mapping, save_mapping


class BusinessUnitViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = BusinessUnitSerializer
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[BusinessUnit]:
        if self.is_schema:
            return BusinessUnit.objects.none()
        return BusinessUnit.objects.filter(tenant=self.tenant)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            unit = units.create_unit(self.tenant, **data.validated_data)
        except units.BusinessUnitError as exc:
            raise ValidationError({"name": [str(exc)]}) from None
        return Response(BusinessUnitSerializer(unit).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        unit = self.get_object()
        data = self.get_serializer(unit, data=request.data,
                                   partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        values = {name: data.validated_data.get(name, getattr(unit, name))
                  for name in ("name", "owner_id", "owner_name", "owner_type", "is_default",
                               "fixed_language")}
        try:
            unit = units.update_unit(unit, **values)
        except units.BusinessUnitError as exc:
            raise ValidationError({"name": [str(exc)]}) from None
        return Response(BusinessUnitSerializer(unit).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance: BusinessUnit) -> None:
        try:
            units.delete_unit(instance)
        except units.BusinessUnitError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None


@extend_schema_view(
    create=extend_schema(request=FieldMappingWriteSerializer,
                         responses={201: FieldMappingSerializer}),
    update=extend_schema(request=FieldMappingWriteSerializer,
                         responses={200: FieldMappingSerializer}),
)
class FieldMappingViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Field mappings of one business unit. The C12 rules (multi-select refused, lookups
    CRM → mailworx only, every CRM option value mapped) are ``fieldmapping.services``'."""

    serializer_class = FieldMappingSerializer
    lookup_value_converter = "int"
    http_method_names = ["get", "post", "put", "delete", "head", "options"]

    @property
    def unit(self) -> BusinessUnit:
        return get_object_or_404(BusinessUnit, tenant=self.tenant, pk=self.kwargs["unit_pk"])

    def get_queryset(self) -> QuerySet[FieldMapping]:
        if self.is_schema:
            return FieldMapping.objects.none()
        return (FieldMapping.objects.filter(business_unit=self.unit)
                .select_related("crm_attribute", "related_attribute", "subscriber_field")
                .prefetch_related("option_mappings", "crm_attribute__options",
                                  "related_attribute__options"))

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action in ("create", "update"):
            return FieldMappingWriteSerializer
        return FieldMappingSerializer

    def _save(self, request: Request, mapping: FieldMapping | None) -> FieldMapping:
        unit = self.unit
        data = FieldMappingWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        attrs = CrmAttribute.objects.filter(tenant=self.tenant)
        errors: dict[str, list[str]] = {}
        if mapping is not None and v["entity_type"] != mapping.entity_type:
            errors["entity_type"] = [_("The entity type of a mapping cannot change; delete it "
                                       "and create a new one.")]
        crm_attribute = attrs.filter(pk=v["crm_attribute"]).first()
        if crm_attribute is None:
            errors["crm_attribute"] = [_("No CRM attribute with this id in the catalogue.")]
        related = None
        if v["related_attribute"] is not None:
            related = attrs.filter(pk=v["related_attribute"]).first()
            if related is None:
                errors["related_attribute"] = [
                    _("No CRM attribute with this id in the catalogue.")]
        field = SubscriberField.objects.filter(tenant=self.tenant,
                                               pk=v["subscriber_field"]).first()
        if field is None:
            errors["subscriber_field"] = [_("Choose one of your fields.")]
        option_map: dict[int, SubscriberFieldOption | None] = {}
        if field is not None:
            options = {o.pk: o for o in field.options.all()}
            for pair in v["option_map"]:
                if pair["subscriber_option"] not in options:
                    errors["option_map"] = [_("%(id)s is not an option of this field.")
                                            % {"id": pair["subscriber_option"]}]
                option_map[pair["crm_value"]] = options.get(pair["subscriber_option"])
        if errors:
            raise ValidationError(errors)
        assert crm_attribute is not None and field is not None
        entry = MappingInput(crm_attribute=crm_attribute, subscriber_field=field,
                             related_attribute=related, direction=v["direction"],
                             option_map=option_map)
        try:
            return save_mapping(unit, v["entity_type"], entry, mapping)
        except DjangoValidationError as exc:
            raise drf_error(exc) from None

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        mapping = self._save(request, None)
        return Response(FieldMappingSerializer(self.get_queryset().get(pk=mapping.pk)).data,
                        status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        mapping = self._save(request, self.get_object())
        return Response(FieldMappingSerializer(self.get_queryset().get(pk=mapping.pk)).data)

    def perform_destroy(self, instance: FieldMapping) -> None:
        delete_mapping(instance)
