"""Subscriber groups, membership and the group's CRM sync setting (S5)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.serializers.groups import (
    GroupSerializer,
    MembersAddedSerializer,
    MembersAddSerializer,
    SyncSettingSerializer,
)
from api.serializers.subscribers import SubscriberSerializer
from api.views.base import TenantScopedMixin, drf_error, field_error
from audience import groups
from audience.models import GroupSyncSetting, Subscriber, SubscriberGroup
from businessunits.models import BusinessUnit


class GroupViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = GroupSerializer
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[SubscriberGroup]:
        if self.is_schema:
            return SubscriberGroup.objects.none()
        return SubscriberGroup.objects.filter(tenant=self.tenant).annotate(
            member_count=Count("memberships"),
            has_sync_setting=Exists(GroupSyncSetting.objects.filter(group=OuterRef("pk"))),
        ).order_by("name")

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "members":
            return (MembersAddSerializer if self.request.method == "POST"
                    else SubscriberSerializer)
        if self.action == "sync_setting":
            return SyncSettingSerializer
        return GroupSerializer

    def _out(self, group: SubscriberGroup, code: int = status.HTTP_200_OK) -> Response:
        return Response(GroupSerializer(self.get_queryset().get(pk=group.pk)).data, status=code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            group = groups.create_group(self.tenant, data.validated_data["name"],
                                        data.validated_data.get("description", ""))
        except groups.GroupError as exc:
            raise field_error("name", str(exc)) from None
        return self._out(group, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        group = self.get_object()
        data = self.get_serializer(group, data=request.data,
                                   partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                data.save()
        except IntegrityError:
            raise field_error("name", _("A group named “%(name)s” exists already.")
                              % {"name": data.validated_data.get("name")}) from None
        return self._out(group)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(methods=["get"], responses={200: SubscriberSerializer(many=True)})
    @extend_schema(methods=["post"], request=MembersAddSerializer,
                   responses={200: MembersAddedSerializer})
    @action(detail=True, methods=["get", "post"])
    def members(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        group = self.get_object()
        if request.method == "GET":
            qs = (Subscriber.objects.live().filter(memberships__group=group)
                  .prefetch_related("values__field").order_by("-id"))
            page = self.paginate_queryset(qs)
            return self.get_paginated_response(SubscriberSerializer(page, many=True).data)
        data = MembersAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = set(data.validated_data["subscriber_ids"])
        known = set(Subscriber.objects.live().filter(tenant=self.tenant, pk__in=wanted)
                    .values_list("pk", flat=True))
        added = groups.add_members(group, known)
        return Response({"added": added, "unknown": sorted(wanted - known)})

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path="members/<int:subscriber_id>")
    def member(self, request: Request, *args: Any, subscriber_id: int = 0,
               **kwargs: Any) -> Response:
        group = self.get_object()
        subscriber = get_object_or_404(Subscriber.objects.filter(tenant=self.tenant),
                                       pk=subscriber_id)
        if not groups.remove_member(group, subscriber):
            return Response({"detail": _("The subscriber is not a member of this group.")},
                            status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["get", "put"], request=SyncSettingSerializer,
                   responses={200: SyncSettingSerializer})
    @extend_schema(methods=["delete"], request=None, responses={204: None})
    @action(detail=True, methods=["get", "put", "delete"], url_path="sync-setting",
            pagination_class=None)
    def sync_setting(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        group = self.get_object()
        current = GroupSyncSetting.objects.filter(group=group).first()
        if request.method == "GET":
            if current is None:
                return Response({"detail": _("This group has no CRM sync setting.")},
                                status=status.HTTP_404_NOT_FOUND)
            return Response(SyncSettingSerializer(current).data)
        if request.method == "DELETE":
            if current is not None:
                current.delete()
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = SyncSettingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        unit_id = values.pop("business_unit_id", None)
        unit = None
        if unit_id is not None:
            unit = BusinessUnit.objects.filter(tenant=self.tenant, pk=unit_id).first()
            if unit is None:
                raise field_error("business_unit", _("Choose one of this tenant's business "
                                                     "units."))
        try:
            setting = groups.save_sync_setting(group, business_unit=unit, require_owner=True,
                                                **values)
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return Response(SyncSettingSerializer(setting).data)
