"""Open, resolve and notify incidents: exactly one email per incident.

An incident is opened in a short transaction of its own; the partial unique constraint
(one open incident per tenant, kind and key) makes a second worker that notices the same
condition at the same moment open nothing. The email goes out after commit, never inside a
transaction: a conditional UPDATE claims the sending (so two workers never both send), each
recipient is recorded as soon as their email left, and a failed send leaves the incident
unnotified for the beat tick to retry — skipping whoever already got it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from mailworx_crm.texts import StoredText, as_column
from syncjobs.alerts import mail
from syncjobs.models import Incident
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def claim_seconds() -> int:
    """How long a claim to send lasts; after that another worker may retry the send."""
    return int(getattr(settings, "ALERT_SEND_CLAIM_SECONDS", 600))


def open_incident(
    tenant: Tenant, kind: str, detail: StoredText | str, key: str = ""
) -> Incident | None:
    """Open the incident unless it is open already; the new one, or None."""
    key = key[:200]
    if already_open(tenant, kind, key):
        return None
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                tenant=tenant, kind=kind, key=key, detail=as_column(detail)
            )
    except IntegrityError:  # another worker opened it a moment ago
        return None
    logger.info("incident %s opened: %s %s for tenant %s", incident.pk, kind, key, tenant.slug)
    transaction.on_commit(partial(notify, incident.pk))
    return incident


def already_open(tenant: Tenant, kind: str, key: str) -> bool:
    """The cheap look first; the constraint decides when two workers look at once."""
    return Incident.objects.filter(
        tenant=tenant, kind=kind, key=key, resolved_at__isnull=True
    ).exists()


def open_for(tenant: Tenant) -> list[Incident]:
    """The tenant's open incidents, newest first (``syncjobs/_incidents.html``)."""
    return list(Incident.objects.filter(tenant=tenant, resolved_at__isnull=True))


def resolve(
    tenant: Tenant, kind: str, keys: Iterable[str] | None = None, keep: Iterable[str] | None = None
) -> int:
    """Resolve the tenant's open incidents of ``kind`` — those with one of ``keys``, or all
    but those in ``keep``, or all. Returns how many were resolved."""
    open_ = Incident.objects.filter(tenant=tenant, kind=kind, resolved_at__isnull=True)
    if keys is not None:
        open_ = open_.filter(key__in=list(keys))
    if keep is not None:
        open_ = open_.exclude(key__in=list(keep))
    return open_.update(resolved_at=timezone.now())


def notify(incident_id: int, now: datetime | None = None) -> bool:
    """Email the incident to the tenant's administrators, unless done or being done.
    True when this call finished the notification."""
    now = now or timezone.now()
    claimed = (
        Incident.objects.filter(pk=incident_id, notified_at__isnull=True, resolved_at__isnull=True)
        .filter(
            Q(sending_since__isnull=True)
            | Q(sending_since__lt=now - timedelta(seconds=claim_seconds()))
        )
        .update(sending_since=now)
    )
    if not claimed:
        return False
    incident = Incident.objects.select_related("tenant").get(pk=incident_id)
    done = set(incident.notified_users)
    for user, language in mail.recipients(incident.tenant):
        if user.pk in done:
            continue
        try:
            mail.send(incident, user, language)
        except Exception:  # SMTP down, refused address …: the tick retries the rest
            logger.exception(
                "incident %s: the alert email to user %s was not sent", incident_id, user.pk
            )
            Incident.objects.filter(pk=incident_id, sending_since=now).update(sending_since=None)
            return False
        done.add(user.pk)
        Incident.objects.filter(pk=incident_id).update(notified_users=sorted(done))
    Incident.objects.filter(pk=incident_id).update(notified_at=timezone.now(), sending_since=None)
    return True


def retry_unsent(now: datetime | None = None) -> int:
    """Send what a failed or interrupted send left unsent; returns how many completed."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=claim_seconds())
    pending = (
        Incident.objects.filter(notified_at__isnull=True, resolved_at__isnull=True)
        .filter(Q(sending_since__isnull=True) | Q(sending_since__lt=stale))
        .values_list("pk", flat=True)
    )
    return sum(notify(pk, now) for pk in list(pending))
