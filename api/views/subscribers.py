"""Subscribers: list/search, CRUD and bulk upsert by address (S9)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db import transaction
from django.db.models import Case, Prefetch, QuerySet, When
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.serializers.subscribers import (
    BulkUpsertResponseSerializer,
    BulkUpsertSerializer,
    ConsentEventSerializer,
    MergedSubscriberSerializer,
    SubscriberSerializer,
    SubscriberUpdateSerializer,
    SubscriberWriteSerializer,
    summary,
)
from api.views.base import TenantScopedMixin, check_bulk_size, check_item_count, field_error
from audience.consent import (
    STATE_FOR_STATUS,
    ConsentRefused,
    Who,
    guard_change,
    history,
    record_change,
)
from audience.models import (
    ConsentSource,
    ConsentState,
    Subscriber,
    SubscriberGroup,
    SubscriberStatus,
)
from audience.subscribers import (
    SubscriberError,
    bulk_upsert,
    create_subscriber,
    update_subscriber,
)
from mailworx_crm.email_address import normalise_email
from mailworx_crm.entity_types import EntityType
from syncjobs.erasure import erase
from syncjobs.models import RecordLink
from syncjobs.models.sync import LinkState

# "Linked": a link that holds a CRM record — active, or being created.
LIVE_STATES = [LinkState.PENDING, LinkState.ACTIVE]


class SubscriberMerged(APIException):
    """410 Gone: the subscriber was merged into another; the answer names the survivor."""

    status_code = status.HTTP_410_GONE
    default_code = "merged"

    def __init__(self, survivor: int, url: str) -> None:
        super().__init__()
        body: Any = {
            "detail": _("This subscriber was merged into subscriber %(id)s.") % {"id": survivor},
            "merged_into": survivor, "merged_into_url": url}
        self.detail = body  # as it is: merged_into stays a number


def api_who(request: Request) -> Who:
    return Who(user=request.user, actor=str(getattr(request.user, "email", "") or ""))


def requested_consent(data: dict[str, Any]) -> tuple[ConsentState, dict[str, Any]] | None:
    """The permission a write asks for: ``consent`` (with its proof) or the ``status``
    shorthand; None when it asks for none."""
    detail: dict[str, Any] = {}
    if data.get("confirmed_at"):
        detail["confirmed_at"] = data["confirmed_at"].isoformat()
    if data.get("consent_source"):
        detail["confirmation_source"] = data["consent_source"]
    if data.get("consent"):
        return ConsentState(data["consent"]), detail
    if data.get("status"):
        return STATE_FOR_STATUS[SubscriberStatus(data["status"])], detail
    return None


@extend_schema_view(
    list=extend_schema(parameters=[
        OpenApiParameter("search", str, description="Part of the email address."),
        OpenApiParameter("email", str, description="The exact address (case-insensitive)."),
        OpenApiParameter("status", str, enum=SubscriberStatus.values,
                         description="pending: awaiting confirmation of a re-opt-in."),
        OpenApiParameter("consent", str, enum=ConsentState.values,
                         description="The permission, e.g. awaiting_confirmation: the "
                                     "subscribers to send a double-opt-in message to."),
        OpenApiParameter("group", int, description="Only members of this group."),
        OpenApiParameter("linked", bool, description=(
            "true: only subscribers linked to a CRM record (a link that is active or being "
            "created); false: only those without.")),
        OpenApiParameter("table", str, enum=EntityType.values, description=(
            "Only subscribers linked to a record of this CRM table.")),
    ]),
    retrieve=extend_schema(responses={200: SubscriberSerializer,
                                      410: MergedSubscriberSerializer}),
    destroy=extend_schema(responses={204: None, 410: MergedSubscriberSerializer}),
    create=extend_schema(request=SubscriberWriteSerializer,
                         responses={201: SubscriberSerializer}),
    update=extend_schema(request=SubscriberUpdateSerializer,
                         responses={200: SubscriberSerializer, 410: MergedSubscriberSerializer}),
    partial_update=extend_schema(request=SubscriberUpdateSerializer,
                                 responses={200: SubscriberSerializer,
                                            410: MergedSubscriberSerializer}),
)
class SubscriberViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = SubscriberSerializer
    lookup_value_converter = "int"

    def perform_destroy(self, instance: Subscriber) -> None:
        # Deleting a person is erasing them (N6, N7): a plain row delete would let the next
        # import or pull bring the address back, and the CRM would never hear of it.
        erase(instance, user=self.request.user)

    def get_queryset(self) -> QuerySet[Subscriber]:
        if self.is_schema:
            return Subscriber.objects.none()
        links = RecordLink.objects.order_by(
            Case(When(state__in=LIVE_STATES, then=0), default=1), "-updated_at")
        qs = Subscriber.objects.live().filter(tenant=self.tenant).prefetch_related(
            "values__field", Prefetch("crm_links", queryset=links))
        params = self.request.query_params
        if params.get("search"):
            qs = qs.filter(email_normalised__contains=normalise_email(params["search"]))
        if params.get("email"):
            qs = qs.filter(email_normalised=normalise_email(params["email"]))
        if params.get("status") in SubscriberStatus.values:
            qs = qs.filter(consent__in=ConsentState.with_status(params["status"]))
        if params.get("consent") in ConsentState.values:
            qs = qs.filter(consent=params["consent"])
        if (group := params.get("group", "")).isdigit():
            qs = qs.filter(memberships__group_id=int(group))
        linked = params.get("linked", "").lower()
        live_links = RecordLink.objects.filter(tenant=self.tenant, state__in=LIVE_STATES)
        if linked in ("true", "1"):
            qs = qs.filter(pk__in=live_links.values("subscriber_id"))
        elif linked in ("false", "0"):
            qs = qs.exclude(pk__in=live_links.values("subscriber_id"))
        if params.get("table"):
            qs = qs.filter(pk__in=live_links.filter(entity_type=params["table"])
                           .values("subscriber_id"))
        return qs

    def get_object(self) -> Subscriber:
        try:
            return super().get_object()
        except Http404:
            self._gone()
            raise

    def _gone(self) -> None:
        """A merged-away subscriber (S9) answers where it went: 410 with ``merged_into``."""
        pk = self.kwargs.get("pk", "")
        if not str(pk).isdigit():
            return
        tombstone = (Subscriber.objects.filter(tenant=self.tenant, pk=int(pk),
                                               merged_into__isnull=False)
                     .values_list("merged_into_id", flat=True).first())
        if tombstone is not None:
            raise SubscriberMerged(tombstone, reverse(
                "api:subscriber-detail", kwargs={"tenant": self.tenant.slug, "pk": tombstone}))

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "create":
            return SubscriberWriteSerializer
        if self.action in ("update", "partial_update"):
            return SubscriberUpdateSerializer
        if self.action == "bulk_upsert":
            return BulkUpsertSerializer
        return SubscriberSerializer

    def _out(self, subscriber: Subscriber, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=subscriber.pk)
        return Response(SubscriberSerializer(fresh).data, status=code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = requested_consent(data.validated_data)
        state, detail = wanted or (ConsentState.UNKNOWN, {})
        try:
            subscriber = create_subscriber(
                self.tenant, data.validated_data["values"], source=ConsentSource.API,
                consent=state, detail=detail, who=api_who(request))
        except SubscriberError as exc:
            raise field_error("values", str(exc)) from None
        except ConsentRefused as exc:  # N6: a suppressed address is not created again
            raise field_error("consent" if wanted else "values", str(exc)) from None
        return self._out(subscriber, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscriber = self.get_object()
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = requested_consent(data.validated_data)
        if wanted and not data.validated_data.get("consent") and (
                subscriber.status == data.validated_data["status"]):
            wanted = None  # the status it has already: no change of permission
        if wanted:  # asked before anything is written: nothing half-saved
            decision = guard_change(subscriber, wanted[0], source=ConsentSource.API,
                                    detail=wanted[1])
            if not decision.allowed:
                raise field_error("consent", decision.message)
        with transaction.atomic():
            try:
                update_subscriber(subscriber, data.validated_data.get("values") or {})
            except SubscriberError as exc:
                raise field_error("values", str(exc)) from None
            if wanted:
                record_change(subscriber, wanted[0], source=ConsentSource.API,
                              detail=wanted[1], who=api_who(request))
        return self._out(subscriber)

    @extend_schema(responses={200: ConsentEventSerializer(many=True)},
                   description="The subscriber's consent history, newest first: every change "
                               "of its permission with when, where from (source), how "
                               "(detail) and who (docs/consent.md).")
    @action(detail=True, methods=["get"], url_path="consent-history")
    def consent_history(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscriber = self.get_object()
        page = self.paginate_queryset(history(subscriber))
        return self.get_paginated_response(ConsentEventSerializer(page, many=True).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, **kwargs)

    @extend_schema(request=BulkUpsertSerializer,
                   responses={200: BulkUpsertResponseSerializer},
                   description="Create or update subscribers by email address. Every item is "
                               "applied whole or not at all and gets its own result: created, "
                               "updated, unchanged, ambiguous (several subscribers share the "
                               "address) or invalid (with a message).")
    @action(detail=False, methods=["post"], url_path="bulk-upsert")
    def bulk_upsert(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_bulk_size(request)
        if isinstance(request.data, dict) and isinstance(request.data.get("items"), list):
            check_item_count(request.data["items"])
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = None
        if data.validated_data.get("group") is not None:
            group = SubscriberGroup.objects.filter(
                tenant=self.tenant, pk=data.validated_data["group"]).first()
            if group is None:
                raise field_error("group", _("No group with this id in this tenant."))
        results = bulk_upsert(self.tenant, data.validated_data["items"], group=group,
                              dry_run=data.validated_data["dry_run"],
                              source=ConsentSource.API, who=api_who(request))
        return Response({
            "counts": summary(results),
            "results": [{**asdict(r), "outcome": str(r.outcome), "changed": list(r.changed)}
                        for r in results],
        })
