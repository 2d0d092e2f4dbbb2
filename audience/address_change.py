"""An address changed on a subscriber (either side, N7): the permission follows the person,
and the old address stays out (audience/consent.py is the service it builds on)."""

from __future__ import annotations

from audience.consent import SUPPRESSES
from audience.models import ConsentState, Subscriber, SuppressionReason
from audience.suppression import lift, suppress_id, suppressed_message, suppression_of_id
from mailworx_crm.email_address import normalise_email, same_address


def refused_address(subscriber: Subscriber, new_email: str) -> str:
    """Why a person may not give ``subscriber`` the address ``new_email``, or "".

    An address on the suppression list for the person's own reasons (opted out, bounced,
    erased …) stays out (N6): giving it to a subscriber who may receive mail would bring it
    back without a confirmed opt-in. An address only *superseded* by an earlier change is
    fine (``follow_address_change`` lifts that entry), and so is any address for a
    subscriber whose own permission suppresses it anyway.
    """
    if same_address(subscriber.email, new_email):
        return ""
    entry = suppression_of_id(subscriber.tenant_id, new_email)
    if entry is None or entry.reason == SuppressionReason.SUPERSEDED:
        return ""
    if ConsentState(subscriber.consent) in SUPPRESSES:
        return ""
    return suppressed_message(new_email, SuppressionReason(entry.reason))


def follow_address_change(subscriber: Subscriber, old_email: str) -> None:
    """``subscriber``'s address changed from ``old_email`` (N7), inside the caller's write.

    The permission belongs to the person, so the new address inherits it: a subscriber who
    opted out or bounced has the new address suppressed for the same reason. The old
    address is suppressed as *superseded* (the weakest reason), so an import or a CRM
    record still carrying it does not add the person a second time — unless another live
    subscriber still has it. Coming back to an address superseded earlier lifts that entry.
    """
    tenant_id = subscriber.tenant_id
    new = suppression_of_id(tenant_id, subscriber.email)
    if new is not None and new.reason == SuppressionReason.SUPERSEDED:
        lift(tenant_id, subscriber.email)
    state = ConsentState(subscriber.consent)
    if state in SUPPRESSES:
        suppress_id(tenant_id, subscriber.email, SUPPRESSES[state], None)
    still_used = (
        Subscriber.objects.live()
        .filter(tenant_id=tenant_id, email_normalised=normalise_email(old_email))
        .exclude(pk=subscriber.pk)
        .exists()
    )
    if not still_used:
        suppress_id(tenant_id, old_email, SuppressionReason.SUPERSEDED, None)
