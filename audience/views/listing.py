"""What the audience's list pages share: keyset pagination (``?before=<id>``: no COUNT(*)
over 100,000 rows, and a fixed number of queries whatever the page size), subscriber names
and CSV downloads."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django.db.models import Model, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from audience.models import (
    Subscriber,
    SubscriberField,
    SubscriberValue,
)

M = TypeVar("M", bound=Model)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
NAME_KEYS = [SubscriberField.FIRST_NAME, SubscriberField.LAST_NAME]


# The largest id a database row can have (64-bit signed).
MAX_ID = 2**63 - 1


def int_or_none(value: str | None) -> int | None:
    """A positive whole number that fits an id, or None for anything else."""
    if not value or not value.isdigit():
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def keyset_page(request: HttpRequest, qs: QuerySet[M]) -> tuple[list[M], int | None]:
    """One page ordered by descending id, and the cursor of the next page (or None)."""
    size = min(int_or_none(request.GET.get("size")) or PAGE_SIZE, MAX_PAGE_SIZE)
    before = int_or_none(request.GET.get("before"))
    if before:
        qs = qs.filter(pk__lt=before)
    rows = list(qs.order_by("-pk")[: size + 1])
    return rows[:size], (rows[size - 1].pk if len(rows) > size else None)


def with_names(qs: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
    return qs.prefetch_related(Prefetch(
        "values", to_attr="name_values",
        queryset=SubscriberValue.objects.filter(field__key__in=NAME_KEYS).select_related("field"),
    ))


def display_name(sub: Subscriber) -> str:
    names = {v.field.key: v.value for v in getattr(sub, "name_values", [])}
    return " ".join(n for n in (names.get(k, "") for k in NAME_KEYS) if n)



def csv_response(rows: Any, filename: str) -> HttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # tenant_view is typed for HttpResponse; a streaming response is served the same way.
    return cast(HttpResponse, response)

