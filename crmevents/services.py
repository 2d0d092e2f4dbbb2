"""Recording CRM events, de-duplicated while unprocessed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from crmevents.models import CrmEvent, CrmEventKind
from tenants.models import Tenant


def record_event(
    tenant: Tenant, kind: CrmEventKind | str, crm_id: uuid.UUID,
    *, user: AbstractBaseUser | None = None,
) -> tuple[CrmEvent, bool]:
    """Store the event; returns ``(event, created)``. An identical unprocessed event is
    returned instead of a second row (also under concurrent reports)."""
    kind = CrmEventKind(kind)
    pending = CrmEvent.objects.filter(tenant=tenant, kind=kind, crm_id=crm_id,
                                      processed_at__isnull=True)
    existing = pending.first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return CrmEvent.objects.create(tenant=tenant, kind=kind, crm_id=crm_id,
                                           received_by_id=user.pk if user else None), True
    except IntegrityError:
        return pending.get(), False


def mark_processed(tenant: Tenant, kind: CrmEventKind | str, crm_ids: Iterable[str],
                   *, received_before: dt.datetime | None = None) -> int:
    """A sync run handled these CRM ids: their waiting events are done.

    ``received_before``: only events that arrived before the run looked at the CRM, so an
    event reported while the run was already past its read stays waiting for the next run.
    """
    ids = [uuid.UUID(str(i)) for i in crm_ids]
    if not ids:
        return 0
    pending = CrmEvent.objects.filter(tenant=tenant, kind=CrmEventKind(kind), crm_id__in=ids,
                                      processed_at__isnull=True)
    if received_before is not None:
        pending = pending.filter(received_at__lte=received_before)
    return pending.update(processed_at=timezone.now())


def waiting_ids(tenant: Tenant, kind: CrmEventKind | str) -> list[str]:
    """CRM ids of events of ``kind`` that no sync run has handled yet."""
    return [str(i) for i in CrmEvent.objects.filter(
        tenant=tenant, kind=CrmEventKind(kind), processed_at__isnull=True,
    ).values_list("crm_id", flat=True)]
