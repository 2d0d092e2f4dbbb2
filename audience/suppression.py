"""The tenant's suppression list (N6): addresses nothing may add or re-subscribe, kept as
keyed hashes (``audience.suppression_key``). Public through ``audience.consent``; the rules
that put addresses on it and lift them are there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone
from django.utils.translation import gettext as _

from audience.models import SuppressedAddress, SuppressionReason
from audience.suppression_key import address_hash
from mailworx_crm.email_address import normalise_email
from tenants.models import Tenant

# Erased outranks an opt-out, which outranks a bounce: the list keeps the strongest reason.
# A superseded address (N7: its subscriber's address changed) yields to any real reason.
_REASON_WEIGHT = {
    SuppressionReason.SUPERSEDED: -1,
    SuppressionReason.HARD_BOUNCE: 0,
    SuppressionReason.OPTED_OUT: 1,
    SuppressionReason.ERASED: 2,
}


def suppression_of_id(tenant_id: int, email: str) -> SuppressedAddress | None:
    return SuppressedAddress.objects.filter(
        tenant_id=tenant_id, address_hash=address_hash(email)).first()


def suppression_of(tenant: Tenant, email: str) -> SuppressedAddress | None:
    return suppression_of_id(tenant.pk, email)


def is_suppressed(tenant: Tenant, email: str) -> bool:
    return suppression_of(tenant, email) is not None


def suppressed_among(tenant: Tenant, emails: Iterable[str]) -> dict[str, SuppressionReason]:
    """``{normalised address: reason}`` for those of ``emails`` on the list (one query per
    1,000 addresses)."""
    by_hash = {address_hash(e): normalise_email(e) for e in emails if e}
    out: dict[str, SuppressionReason] = {}
    hashes = list(by_hash)
    for start in range(0, len(hashes), 1000):
        for digest, reason in SuppressedAddress.objects.filter(
            tenant=tenant, address_hash__in=hashes[start : start + 1000]
        ).values_list("address_hash", "reason"):
            out[by_hash[digest]] = SuppressionReason(reason)
    return out


def suppress(
    tenant: Tenant, email: str, reason: SuppressionReason, *, at: dt.datetime | None = None
) -> SuppressedAddress:
    """Put ``email`` on the list; an entry with a stronger reason (erased) keeps its own."""
    return suppress_id(tenant.pk, email, reason, at)


def suppress_id(
    tenant_id: int, email: str, reason: SuppressionReason, at: dt.datetime | None
) -> SuppressedAddress:
    entry, created = SuppressedAddress.objects.get_or_create(
        tenant_id=tenant_id,
        address_hash=address_hash(email),
        defaults={"reason": reason, "suppressed_at": at or timezone.now()},
    )
    if not created and _REASON_WEIGHT[reason] > _REASON_WEIGHT[SuppressionReason(entry.reason)]:
        entry.reason, entry.suppressed_at = reason, at or timezone.now()
        entry.save(update_fields=["reason", "suppressed_at"])
    return entry


def lift(tenant_id: int, email: str) -> None:
    """Take ``email`` off the list — only after a provable new opt-in (``audience.consent``
    decided so)."""
    # Only after a provable new opt-in (guard_change / guard_create allowed it).
    SuppressedAddress.objects.filter(tenant_id=tenant_id, address_hash=address_hash(email)).delete()


def suppressed_message(email: str, reason: SuppressionReason) -> str:
    texts = {
        SuppressionReason.OPTED_OUT: _(
            "%(email)s opted out and is on the suppression list; "
            "it can only come back with a confirmed double "
            "opt-in."
        ),
        SuppressionReason.HARD_BOUNCE: _(
            "%(email)s bounced and is on the suppression list; "
            "it can only come back with a confirmed double "
            "opt-in."
        ),
        SuppressionReason.ERASED: _(
            "%(email)s was erased and is on the suppression list; "
            "it can only come back with a confirmed double "
            "opt-in."
        ),
        SuppressionReason.SUPERSEDED: _(
            "%(email)s was replaced by a newer address of the same subscriber; "
            "it can only come back with a confirmed double "
            "opt-in."
        ),
    }
    return texts[reason] % {"email": email}
