"""Shared pieces of the tenant-scoped API views."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from api.permissions import IsTenantMember
from tenants.access import TenantAccess
from tenants.models import Tenant

# Bulk endpoints take at most this many items per call (and this many bytes of body).
MAX_BULK_ITEMS = 10_000
MAX_BULK_BYTES: int = settings.API_MAX_BULK_BYTES


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request is too large.")
    default_code = "too_large"


def check_bulk_size(request: Request) -> None:
    """Refuse oversized bodies before parsing them."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_BULK_BYTES:
        raise PayloadTooLarge(
            _("The body has %(size)s bytes; send at most %(max)s bytes (and at most "
              "%(items)s items) per call.")
            % {"size": length, "max": MAX_BULK_BYTES, "items": MAX_BULK_ITEMS})


def check_item_count(items: list[Any]) -> None:
    if len(items) > MAX_BULK_ITEMS:
        raise PayloadTooLarge(
            _("%(count)s items sent; send at most %(max)s items per call.")
            % {"count": len(items), "max": MAX_BULK_ITEMS})


def drf_error(exc: DjangoValidationError, default_field: str | None = None) -> DrfValidationError:
    """A Django ``ValidationError`` as DRF's 400 body, ``__all__`` as non_field_errors."""
    if hasattr(exc, "error_dict"):
        detail = {("non_field_errors" if key == "__all__" else key): value
                  for key, value in exc.message_dict.items()}
        return DrfValidationError(detail)
    if default_field:
        return DrfValidationError({default_field: exc.messages})
    return DrfValidationError({"non_field_errors": exc.messages})


def field_error(field: str, message: str) -> DrfValidationError:
    return DrfValidationError({field: [message]})


class TenantScopedMixin(GenericAPIView):
    """Base of views under ``tenants/<slug:tenant>/``; ``self.access`` is set by the
    permission (404 for non-members, 403 for members' writes)."""

    permission_classes = [IsAuthenticated, IsTenantMember]
    pagination_class = Pagination
    access: TenantAccess

    @property
    def tenant(self) -> Tenant:
        return self.access.tenant

    @property
    def is_schema(self) -> bool:
        """True while drf-spectacular inspects the view (no request user, no tenant)."""
        return bool(getattr(self, "swagger_fake_view", False))
