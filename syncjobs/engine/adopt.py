"""CRM records → linked subscribers, for records that come *from* the CRM (S1, S2, S3, S13).

Members of a marketing list marked for sync (S1) and recipients of a campaign activity
(S3) arrive as CRM rows; each becomes a subscriber linked to it (origin ``crm_list``):

* a record already linked keeps its subscriber (a person in two lists is one subscriber);
* otherwise a live, unlinked subscriber with the same address is linked (the oldest);
  otherwise a new subscriber is created — duplicates of an address are allowed (S9);
* qualified leads never come over (S2), nor records without an address or deactivated
  ones (counted as skipped with the reason);
* a record that forbids bulk email arrives unsubscribed (S13);
* an address on the suppression list is never created again (N6): such a row is counted
  as ``suppressed`` and left unlinked — a sales rep's duplicate contact that allows bulk
  email must not bring back a person who opted out;
* mapped fields are taken from the CRM (C13); a new subscriber has nothing to lose. Without
  a language mapping it gets the business unit's fixed language, if it has one (C14).

Callers read the rows with ``member_columns`` and hold no transaction: each batch is one
transaction here, so a killed worker leaves whole batches behind.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from audience.consent import ConsentRefused, Who, suppressed_among
from audience.models import ConsentSource, ConsentState, Subscriber, SubscriberField
from audience.subscribers import SubscriberError, create_subscriber
from mailworx_crm.email_address import normalise_email
from mailworx_crm.entity_types import is_qualified_lead
from syncjobs.engine.apply import apply_row, subscriber_values
from syncjobs.engine.context import BATCH, Sync
from syncjobs.engine.entities import is_active, row_id
from syncjobs.engine.fields import related_values, select_columns
from syncjobs.engine.issues import record_issue
from syncjobs.models.sync import HOLDING_STATES, LinkOrigin, LinkState, RecordLink

SKIP_QUALIFIED = _("qualified lead (never synced, S2)")
SKIP_NO_ADDRESS = _("CRM record without an email address")
SKIP_INACTIVE = _("CRM record is deactivated")


def member_columns(sync: Sync, entity: str, unit_id: int | None) -> list[str]:
    """The ``$select`` a caller reads members with: keys, state, flags and mapped columns."""
    return select_columns(entity, sync.mappings(unit_id or sync.default_unit_id(), entity))


def list_member_pages(sync: Sync, list_id: str, entity: str,
                      unit_id: int | None) -> Iterator[list[dict[str, Any]]]:
    """The members of a static marketing list, a page (≤ 5,000 rows) at a time.

    Read through the list's N:N navigation (``listcontact_association`` …), so each page
    carries the member columns ``adopt_records`` needs: one request per page.
    """
    path = f"lists({list_id})/list{entity}_association"
    for page in sync.client.query_pages(path, select=member_columns(sync, entity, unit_id)):
        rows = page.get("value")
        yield list(rows) if isinstance(rows, list) else []


def adopt_records(sync: Sync, step: str, entity: str, rows: Sequence[dict[str, Any]], *,
                  unit_id: int | None) -> dict[str, int]:
    """Link every usable row to a subscriber; returns ``{crm id: subscriber id}``.

    Rows skipped for a reason (S2, no address, deactivated) are absent from the result.
    ``unit_id``: the business unit whose mappings apply (None: the tenant's default unit).
    """
    unit_id = unit_id or sync.default_unit_id()
    linked: dict[str, int] = {}
    for start in range(0, len(rows), BATCH):
        linked.update(_adopt_batch(sync, step, entity, rows[start:start + BATCH], unit_id))
    return linked


def _usable(sync: Sync, step: str, entity: str, row: dict[str, Any]) -> bool:
    if is_qualified_lead(entity, row):
        sync.skip(step, str(SKIP_QUALIFIED))
        return False
    if not str(row.get("emailaddress1") or "").strip():
        sync.skip(step, str(SKIP_NO_ADDRESS))
        return False
    if not is_active(row):
        sync.skip(step, str(SKIP_INACTIVE))
        return False
    return True


def _adopt_batch(sync: Sync, step: str, entity: str, rows: Sequence[dict[str, Any]],
                 unit_id: int | None) -> dict[str, int]:
    ids = [row_id(entity, row) for row in rows]
    links = {str(link.crm_id): link for link in RecordLink.objects.filter(
        tenant=sync.tenant, entity_type=entity, crm_id__in=ids,
        state__in=[LinkState.ACTIVE, LinkState.PENDING])}
    out = {crm_id: link.subscriber_id for crm_id, link in links.items()}
    fresh = [row for row in rows if row_id(entity, row) not in links
             and _usable(sync, step, entity, row)]
    if not fresh:
        return out
    mapped = sync.mappings(unit_id, entity)
    related = related_values(sync.client, fresh, mapped)
    candidates = _unlinked_by_address(sync, [str(r["emailaddress1"]) for r in fresh])
    suppressed = suppressed_among(sync.tenant, [str(r["emailaddress1"]) for r in fresh
                                                if normalise_email(str(r["emailaddress1"]))
                                                not in candidates])
    values = subscriber_values(s.pk for subs in candidates.values() for s in subs)
    with transaction.atomic():
        for row in fresh:
            crm_id = row_id(entity, row)
            if crm_id in out:  # the same record twice in one batch
                continue
            address = normalise_email(str(row["emailaddress1"]))
            waiting = candidates.get(address) or []
            existing = waiting.pop(0) if waiting else None
            if existing is None and address in suppressed:
                sync.count(step, "suppressed")  # N6: not re-created
                continue
            subscriber = existing or _create(sync, step, entity, row, unit_id)
            if subscriber is None:
                continue
            link = RecordLink.objects.create(
                tenant=sync.tenant, subscriber=subscriber, entity_type=entity, crm_id=crm_id,
                origin=LinkOrigin.CRM_LIST, group=None)
            apply_row(sync, step, link, subscriber, mapped, row, related,
                      values.get(subscriber.pk, {}), prefer_crm_when_new=True)
            out[crm_id] = subscriber.pk
            sync.count(step, "subscribers_linked" if existing else "subscribers_created")
    return out


def _unlinked_by_address(sync: Sync, addresses: list[str]) -> dict[str, list[Subscriber]]:
    """Live subscribers with these addresses that no CRM record holds yet, oldest first."""
    wanted = {normalise_email(a) for a in addresses}
    held = RecordLink.objects.filter(tenant=sync.tenant, state__in=HOLDING_STATES)
    subs = (Subscriber.objects.live().filter(tenant=sync.tenant, email_normalised__in=wanted)
            .exclude(pk__in=held.values("subscriber_id")).order_by("pk"))
    out: dict[str, list[Subscriber]] = {}
    for sub in subs:
        out.setdefault(sub.email_normalised, []).append(sub)
    return out


def _create(sync: Sync, step: str, entity: str, row: dict[str, Any],
            unit_id: int | None) -> Subscriber | None:
    values = {SubscriberField.EMAIL: str(row["emailaddress1"]).strip()}
    # C14: without a language mapping, the unit's fixed language (else the tenant's default).
    if language := sync.fixed_language(unit_id, entity):
        values[SubscriberField.LANGUAGE] = language
    try:
        subscriber = create_subscriber(
            sync.tenant, values, source=ConsentSource.CRM, consent=ConsentState.OPTED_IN,
            detail={"entity": entity, "record_id": row_id(entity, row),
                    "run_id": sync.ctx.run_id},
            who=Who(actor=f"sync run {sync.ctx.run_id}"))
    except ConsentRefused:  # suppressed meanwhile (the batch checked before)
        sync.count(step, "suppressed")
        return None
    except SubscriberError as exc:
        record_issue(sync.tenant, step=step, run_id=sync.ctx.run_id, entity_type=entity,
                     crm_id=row_id(entity, row), reason=str(exc),
                     hint=str(_("Correct the email address in the CRM record; the next sync "
                                "takes it over.")))
        sync.count(step, "failed")
        return None
    # A record forbidding bulk email is made unsubscribed by apply_row in the same
    # transaction (S13), so it is never an active subscriber.
    return subscriber
