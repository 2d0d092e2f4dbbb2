"""Recording CRM events, de-duplicated while unprocessed."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

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
