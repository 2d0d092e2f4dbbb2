"""Subscriber fields (+ options). Key and type are fixed once created; standard fields
cannot be deleted (``audience.services``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.serializers.fields import (
    FieldCreateSerializer,
    FieldSerializer,
    FieldUpdateSerializer,
    OptionLabelsSerializer,
    OptionSerializer,
)
from api.views.base import TenantScopedMixin
from audience import services
from audience.models import SubscriberField


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter(
        "key", str, description="Only the field with this internal name, e.g. first_name.")]),
    create=extend_schema(request=FieldCreateSerializer, responses={201: FieldSerializer}),
    update=extend_schema(request=FieldUpdateSerializer, responses={200: FieldSerializer}),
    partial_update=extend_schema(request=FieldUpdateSerializer,
                                 responses={200: FieldSerializer}),
)
class SubscriberFieldViewSet(TenantScopedMixin, mixins.ListModelMixin,
                             mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                             viewsets.GenericViewSet):
    serializer_class = FieldSerializer
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[SubscriberField]:
        if self.is_schema:
            return SubscriberField.objects.none()
        if not SubscriberField.objects.filter(tenant=self.tenant).exists():
            services.ensure_standard_fields(self.tenant)
        fields = SubscriberField.objects.filter(tenant=self.tenant).prefetch_related("options")
        if key := self.request.query_params.get("key", ""):
            fields = fields.filter(key=key)
        return fields

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "create":
            return FieldCreateSerializer
        if self.action in ("update", "partial_update"):
            return FieldUpdateSerializer
        if self.action == "field_options":
            return OptionSerializer
        if self.action == "option":
            return OptionLabelsSerializer
        return FieldSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            field = services.create_field(self.tenant, **data.validated_data)
        except services.FieldError as exc:
            raise ValidationError({"key": [str(exc)]}) from None
        return Response(FieldSerializer(field).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        field = self.get_object()
        data = self.get_serializer(field, data=request.data,
                                   partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        services.update_field(
            field, label_en=data.validated_data.get("label_en", field.label_en),
            label_de=data.validated_data.get("label_de", field.label_de))
        return Response(FieldSerializer(field).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance: SubscriberField) -> None:
        try:
            services.delete_field(instance)
        except services.FieldError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None

    @extend_schema(methods=["get"], responses={200: OptionSerializer(many=True)})
    @extend_schema(methods=["post"], request=OptionSerializer,
                   responses={201: OptionSerializer})
    @action(detail=True, methods=["get", "post"], url_path="options", pagination_class=None)
    def field_options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        field = self.get_object()
        if request.method == "GET":
            return Response(OptionSerializer(field.options.all(), many=True).data)
        data = OptionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            option = services.add_option(field, **data.validated_data)
        except services.FieldError as exc:
            raise ValidationError({"value": [str(exc)]}) from None
        return Response(OptionSerializer(option).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["patch"], request=OptionLabelsSerializer,
                   responses={200: OptionSerializer})
    @extend_schema(methods=["delete"], request=None, responses={204: None}, parameters=[
        OpenApiParameter("confirm", bool, description="Also remove the option mappings "
                         "that use this option.")])
    @action(detail=True, methods=["patch", "delete"], url_path="options/<slug:value>")
    def option(self, request: Request, *args: Any, value: str = "", **kwargs: Any) -> Response:
        field = self.get_object()
        option = get_object_or_404(field.options.all(), value=value)
        if request.method == "DELETE":
            confirmed = request.query_params.get("confirm", "").lower() in ("1", "true", "yes")
            try:
                services.remove_option(option, confirmed=confirmed)
            except services.FieldError as exc:
                raise ValidationError({"confirm": [str(exc)]}) from None
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = OptionLabelsSerializer(option, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.update_option(
            option, label_en=data.validated_data.get("label_en", option.label_en),
            label_de=data.validated_data.get("label_de", option.label_de))
        return Response(OptionSerializer(option).data)
