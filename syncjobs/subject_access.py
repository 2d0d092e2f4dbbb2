"""Access (GDPR Art. 15): everything mailworx holds about one address, as JSON.

Covers every subscriber of the tenant with the address (addresses are not unique, S9) and
the tombstones merged into them: the subscriber data and field values, the current
permission and its history, group memberships, reactions, CRM record links and open sync
issues, plus the address's suppression entry. Nothing about anyone else: the lookup is by
the normalised address within one tenant.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from audience.consent import history, suppression_of
from audience.erasure import erasure_set
from audience.models import GroupMembership, Subscriber, SubscriberValue
from mailworx_crm.email_address import normalise_email
from mailworx_crm.texts import render
from syncjobs.models import RecordLink, SyncIssue
from tenants.models import Tenant

FORMAT = "mailworx-subject-access/1"


def subscribers_for(tenant: Tenant, email: str) -> list[Subscriber]:
    first = (
        Subscriber.objects.filter(tenant=tenant, email_normalised=normalise_email(email))
        .order_by("merged_into_id", "pk")
        .first()
    )
    return erasure_set(first) if first is not None else []


def export_address(tenant: Tenant, email: str) -> dict[str, Any]:
    """The export for ``email`` (an empty ``subscribers`` list when nothing is held)."""
    entry = suppression_of(tenant, email)
    return {
        "format": FORMAT,
        "tenant": tenant.slug,
        "address": normalise_email(email),
        "exported_at": timezone.now().isoformat(),
        "suppression": (
            {"reason": entry.reason, "since": entry.suppressed_at.isoformat()} if entry else None
        ),
        "subscribers": [
            _subscriber(s) for s in sorted(subscribers_for(tenant, email), key=lambda s: s.pk)
        ],
    }


def _subscriber(sub: Subscriber) -> dict[str, Any]:
    return {
        "id": sub.pk,
        "email": sub.email,
        "language": sub.language,
        "created_at": sub.created_at.isoformat(),
        "updated_at": sub.updated_at.isoformat(),
        "merged_into": sub.merged_into_id,
        "permission": {
            "state": sub.consent,
            "status": sub.status.value,
            "since": _iso(sub.consent_changed_at),
        },
        "values": {
            key: {"value": value, "modified_at": _iso(modified)}
            for key, value, modified in SubscriberValue.objects.filter(subscriber=sub)
            .order_by("field__key")
            .values_list("field__key", "value", "modified_at")
        },
        "consent_history": [
            {
                "state": e.state,
                "previous_state": e.previous_state,
                "source": e.source,
                "occurred_at": _iso(e.occurred_at),
                "recorded_at": _iso(e.recorded_at),
                "detail": e.detail,
                "who": e.actor,
            }
            for e in history(sub)
        ],
        "groups": [
            {"id": gid, "name": name, "added_at": _iso(added)}
            for gid, name, added in GroupMembership.objects.filter(subscriber=sub)
            .order_by("group__name")
            .values_list("group_id", "group__name", "added_at")
        ],
        "reactions": [
            {
                "kind": r.kind,
                "campaign": r.campaign.name,
                "occurred_at": _iso(r.occurred_at),
                "url": r.url,
                "bounce_type": r.bounce_type,
            }
            for r in sub.reactions.select_related("campaign").order_by("occurred_at", "pk")
        ],
        "crm_links": [
            {
                "entity": link.entity_type,
                "record_id": str(link.crm_id),
                "state": link.state,
                "origin": link.origin,
                "created_at": _iso(link.created_at),
                "synced_values": link.synced_values,
            }
            for link in RecordLink.objects.filter(subscriber=sub).order_by("pk")
        ],
        "sync_issues": [
            {
                "step": i.step,
                "state": i.state,
                "reason": render(i.reason),
                "first_seen": _iso(i.first_seen),
                "last_seen": _iso(i.last_seen),
            }
            for i in SyncIssue.objects.filter(subscriber=sub).order_by("pk")
        ],
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
