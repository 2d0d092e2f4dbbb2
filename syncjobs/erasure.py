"""Erasure (GDPR Art. 17, 19; N7): a subscriber's personal data out of mailworx, and the
linked CRM records told as the tenant configured.

``erase`` does everything on the mailworx side in one transaction and no CRM call:
- notes what each linked CRM record must be asked (``ErasurePropagation`` rows: the
  record's id, the action of ``OrgSettings.erasure_in_crm``, the columns to clear);
- scrubs the engine's copies: sync issues about the person (by subscriber, by linked CRM
  record, or naming the address) are deleted; run log lines and run results naming the
  address have the address and the person's values replaced by ``[erased]``;
- erases the subscribers (``audience.erasure``), which keeps the address's suppression
  hash so nothing adds it again;
- after the commit, queues the job that tells the CRM (``syncjobs.erasure_crm``).

``erase_local`` is the same without telling the CRM: a CRM record that was deleted
(``OrgSettings.crm_deletion`` = erase) has nobody left to tell.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from audience.erasure import Erased, erase_subscribers, erasure_set
from audience.groups import effective_business_unit
from audience.models import GroupSyncSetting, Subscriber
from businessunits.models import BusinessUnit
from mailworx_crm.texts import as_column, from_column
from orgsettings.models import ErasureInCrm, OrgSettings
from syncjobs import runner
from syncjobs.engine.fields import load_mappings
from syncjobs.models import (
    ErasurePropagation,
    JobKind,
    JobLogLine,
    JobRun,
    LinkState,
    RecordLink,
    SyncIssue,
    Trigger,
)
from syncjobs.models.privacy import PropagationState
from tenants.models import Tenant

logger = logging.getLogger(__name__)

ERASED = "[erased]"
# Values shorter than this are not searched for in logs (a "1" or "de" would hit anything).
MIN_VALUE_LENGTH = 4
# The CRM column that names the subscriber (docs/crm-solution.md): cleared with option b.
SUBSCRIBER_ID_COLUMN = "mwx_subscriberid"


@dataclass(frozen=True)
class ErasureResult:
    erased: Erased
    propagations: int


def erase(
    subscriber: Subscriber, *, user: Any = None, actor: str = "", tell_crm: bool = True
) -> ErasureResult:
    """Erase ``subscriber`` — and everyone ``audience.erasure.erasure_set`` says is the same
    person — and queue the CRM propagation (after commit)."""
    tenant = subscriber.tenant
    people = erasure_set(subscriber)
    ids = [s.pk for s in people]
    with transaction.atomic():
        links = list(
            RecordLink.objects.filter(
                subscriber_id__in=ids, state__in=[LinkState.ACTIVE, LinkState.PENDING]
            )
        )
        rows = _propagations(tenant, links, user, actor) if tell_crm else []
        ErasurePropagation.objects.bulk_create(rows)
        _scrub_issues(tenant, ids, [str(link.crm_id) for link in links], [s.email for s in people])
        erased = erase_subscribers(people)
        scrub_logs(tenant, erased.addresses, erased.values)
        if rows:
            transaction.on_commit(lambda: queue_propagation(tenant, user))
    return ErasureResult(erased=erased, propagations=len(rows))


def erase_local(subscriber: Subscriber) -> ErasureResult:
    return erase(subscriber, tell_crm=False)


def queue_propagation(tenant: Tenant, user: Any = None) -> JobRun | None:
    """Queue the job that sends pending erasures to the CRM (a running one picks new rows
    up before it ends; the hourly housekeeping queues any left over)."""
    try:
        return runner.enqueue(
            tenant, JobKind.ERASURE_PROPAGATION, trigger=Trigger.SYSTEM, user=user
        )
    except runner.JobAlreadyActive:
        return None


def _propagations(
    tenant: Tenant, links: Sequence[RecordLink], user: Any, actor: str
) -> list[ErasurePropagation]:
    org = OrgSettings.objects.filter(tenant=tenant).first()
    if org is None:
        return []
    who = actor or (str(getattr(user, "email", "") or "") if user is not None else "")
    return [
        ErasurePropagation(
            tenant=tenant,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
            actor=who[:200],
            subscriber_ref=link.subscriber_id,
            entity_type=link.entity_type,
            crm_id=link.crm_id,
            action=org.erasure_in_crm,
            clear_columns=(
                _written_columns(tenant, link)
                if org.erasure_in_crm == ErasureInCrm.FLAG_NOTE_AND_CLEAR
                else []
            ),
        )
        for link in links
    ]


def _written_columns(tenant: Tenant, link: RecordLink) -> list[str]:
    """The CRM columns mailworx writes on this record: its two-way mapped columns (lookup
    paths are read-only) and the subscriber id. The address stays: it identifies the
    record for the CRM's own processes (docs/consent.md)."""
    unit = None
    if link.group_id is not None:
        setting = GroupSyncSetting.objects.filter(group_id=link.group_id).first()
        unit = effective_business_unit(setting) if setting else None
    unit_id = (
        unit.pk
        if unit
        else (
            BusinessUnit.objects.filter(tenant=tenant, is_default=True)
            .values_list("pk", flat=True)
            .first()
        )
    )
    columns = [
        mf.attribute
        for mf in load_mappings(unit_id, link.entity_type)
        if mf.two_way and not mf.is_lookup_path and mf.attribute != "emailaddress1"
    ]
    return sorted({*columns, SUBSCRIBER_ID_COLUMN})


def _scrub_issues(
    tenant: Tenant, subscriber_ids: list[int], crm_ids: list[str], addresses: Iterable[str]
) -> None:
    about = Q(subscriber_id__in=subscriber_ids)
    if crm_ids:
        about |= Q(crm_id__in=crm_ids)
    for address in addresses:
        if address:
            about |= Q(reason__icontains=address) | Q(hint__icontains=address)
    SyncIssue.objects.filter(tenant=tenant).filter(about).delete()


def scrub_logs(tenant: Tenant, addresses: Sequence[str], values: Sequence[str]) -> int:
    """Replace the addresses (and, in the same lines, the person's values) in run log lines
    and run results with ``[erased]``; returns how many rows changed."""
    if not addresses:
        return 0
    pattern = _pattern([*addresses, *(v for v in values if len(v) >= MIN_VALUE_LENGTH)])
    mentions = Q()
    results = Q()
    for address in addresses:
        mentions |= Q(message__icontains=address) | Q(data__icontains=address)
        results |= Q(result__icontains=address)
    changed = 0
    lines = JobLogLine.objects.filter(run__tenant=tenant).filter(mentions)
    for pk, message, data in lines.values_list("pk", "message", "data"):
        stored = from_column(as_column(message))
        JobLogLine.objects.filter(pk=pk).update(
            message=as_column(_redact(stored, pattern)), data=_redact(data, pattern)
        )
        changed += 1
    for pk, result in (
        JobRun.objects.filter(tenant=tenant).filter(results).values_list("pk", "result")
    ):
        JobRun.objects.filter(pk=pk).update(result=_redact(result, pattern))
        changed += 1
    return changed


def _pattern(needles: Sequence[str]) -> re.Pattern[str]:
    # Longest first, so an address is replaced whole before a value inside it.
    ordered = sorted({n for n in needles if n}, key=len, reverse=True)
    return re.compile("|".join(re.escape(n) for n in ordered), re.IGNORECASE)


def _redact(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    if isinstance(value, dict):
        return {k: _redact(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, pattern) for v in value]
    return value


def pending(tenant: Tenant) -> list[ErasurePropagation]:
    return list(
        ErasurePropagation.objects.filter(tenant=tenant, state=PropagationState.PENDING).order_by(
            "pk"
        )
    )
