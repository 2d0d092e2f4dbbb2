"""match: unlinked subscribers of synced groups → CRM records by email, in bulk (S5, S7-S9).

Decisions where the rules are silent:
* Matching uses ``emailaddress1`` only: it is the address marketing lists send to, and a
  secondary address may belong to someone else's mailbox (an assistant, a shared inbox).
* Best match: an active record before a deactivated one, then contact → account → lead
  (S7). Qualified leads are never candidates (S2, S8): the next candidate wins, or — when
  none is left — a new record is created where the group's mode allows it.
* A deactivated best match is reactivated only with the C6 option on (S8); otherwise the
  subscriber is listed as an issue and not linked (linking would hide the record from its
  owner's view of who gets mail).
* Mode *create* never links an existing record and never creates a second record for an
  address the CRM already has: such a subscriber is listed as an issue.
* A CRM record already linked to another subscriber with the same address means the same
  person: the subscribers are merged (S9), as for duplicates inside one group.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from audience.merge import merge_subscribers
from audience.models import GroupSyncSetting, Subscriber, SyncMode
from dynamics.errors import DynamicsError
from dynamics.odata import string_literal
from orgsettings.models import Deployment
from syncjobs.engine.apply import apply_row, subscriber_values
from syncjobs.engine.context import BATCH, Sync
from syncjobs.engine.entities import (
    ACTIVE_STATE,
    ENTITY_TYPES,
    MATCH_RANK,
    entity_set,
    is_active,
    is_qualified_lead,
    row_id,
)
from syncjobs.engine.fields import related_values, select_columns
from syncjobs.engine.issues import blocked_subscribers, record_issue, resolve_issues
from syncjobs.sync_models import HOLDING_STATES, LinkOrigin, LinkState, RecordLink

STEP = "match"


def run_match(sync: Sync, *, group_id: int | None = None,
              subscriber_id: int | None = None) -> None:
    settings = (GroupSyncSetting.objects.filter(group__tenant=sync.tenant, enabled=True)
                .select_related("group").order_by("group_id"))
    if group_id is not None:
        settings = settings.filter(group_id=group_id)
    blocked = blocked_subscribers(sync.tenant, STEP)
    owners: dict[str, str | None] = {}
    for setting in settings:
        _match_group(sync, setting, subscriber_id, blocked, owners)
    sync.checkpoint(STEP)


def _match_group(sync: Sync, setting: GroupSyncSetting, subscriber_id: int | None,
                 blocked: set[int], owners: dict[str, str | None]) -> None:
    members = Subscriber.objects.live().filter(tenant=sync.tenant,
                                               memberships__group=setting.group)
    if subscriber_id is not None:
        one = members.filter(pk=subscriber_id).first()
        if one is None:
            return
        members = members.filter(email_normalised=one.email_normalised)
    linked = set(RecordLink.objects.filter(subscriber__in=members, state__in=HOLDING_STATES)
                 .values_list("subscriber_id", flat=True))
    survivors = _merge_duplicates(sync, list(members.order_by("pk")), linked)
    todo = [s for s in survivors if s.pk not in linked and s.pk not in blocked]
    sync.add_work(len(todo))
    for start in range(0, len(todo), BATCH):
        _match_batch(sync, setting, todo[start:start + BATCH], owners)
        sync.checkpoint(STEP, len(todo[start:start + BATCH]))


def _merge_duplicates(sync: Sync, members: list[Subscriber],
                      linked: set[int]) -> list[Subscriber]:
    """S9: one subscriber per address in the group; a linked one survives, else the oldest."""
    by_email: dict[str, list[Subscriber]] = {}
    for sub in members:
        by_email.setdefault(sub.email_normalised, []).append(sub)
    survivors = []
    for subs in by_email.values():
        survivor = next((s for s in subs if s.pk in linked), subs[0])
        for other in subs:
            if other.pk != survivor.pk:
                survivor = merge_subscribers(other, survivor)
                sync.count(STEP, "merged")
        survivors.append(survivor)
    return survivors


def _lookup(sync: Sync, emails: list[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """CRM rows by lower-cased address, over the three tables (one ``In`` query each)."""
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for entity in ENTITY_TYPES:
        cols = select_columns(entity, sync.all_mappings(entity))
        for row in sync.client.lookup_in(entity_set(entity), "emailaddress1", emails, cols):
            address = str(row.get("emailaddress1") or "").strip().lower()
            found.setdefault(address, []).append((entity, row))
    return found


def _best(candidates: Iterable[tuple[str, dict[str, Any]]]
          ) -> tuple[tuple[str, dict[str, Any]] | None, bool]:
    """The best match and whether a qualified lead was passed over."""
    usable = [(e, r) for e, r in candidates if not is_qualified_lead(e, r)]
    passed_over = any(is_qualified_lead(e, r) for e, r in candidates)
    usable.sort(key=lambda c: (not is_active(c[1]), MATCH_RANK[c[0]], row_id(*c)))
    return (usable[0] if usable else None), passed_over


def _match_batch(sync: Sync, setting: GroupSyncSetting, subs: list[Subscriber],
                 owners: dict[str, str | None]) -> None:
    found = _lookup(sync, [s.email_normalised for s in subs])
    ids_by_entity: dict[str, list[str]] = {}
    for rows in found.values():
        for entity, row in rows:
            ids_by_entity.setdefault(entity, []).append(row_id(entity, row))
    taken = {(link.entity_type, str(link.crm_id)): link for link in RecordLink.objects.filter(
        tenant=sync.tenant, state__in=[LinkState.ACTIVE, LinkState.PENDING],
        crm_id__in=[i for ids in ids_by_entity.values() for i in ids]).select_related(
            "subscriber")}
    values = subscriber_values(s.pk for s in subs)
    unit_id = sync.unit_for_group(setting.group_id)
    bests = {sub.pk: _best(found.get(sub.email_normalised, [])) for sub in subs}
    # Lookup-path values of every record this batch may link: one query per related table.
    related: dict[tuple[str, str], Any] = {}
    for entity in ENTITY_TYPES:
        best_rows = [b[1] for b, _p in bests.values() if b is not None and b[0] == entity]
        if best_rows:
            related.update(related_values(sync.client, best_rows,
                                          sync.mappings(unit_id, entity)))
    for sub in subs:
        best, passed_over = bests[sub.pk]
        if passed_over:
            sync.skip(STEP, "qualified lead passed over")
        with transaction.atomic():
            if best is None:
                _no_record(sync, setting, sub, owners, passed_over)
                continue
            entity, row = best
            crm_id = row_id(entity, row)
            other = taken.get((entity, crm_id))
            if other is not None and other.subscriber_id != sub.pk:
                merge_subscribers(sub, other.subscriber)  # same record, same person (S9)
                sync.count(STEP, "merged")
                continue
            if setting.mode == SyncMode.CREATE:
                _issue(sync, sub, entity, crm_id, _(
                    "A CRM %(entity)s with this address exists, but the group may only create "
                    "new records.") % {"entity": entity},
                    _("Set the group's mode to “link” or “both” to link it."),
                    skipped="record exists, group may only create")
                continue
            if not is_active(row) and not _reactivate(sync, sub, entity, crm_id):
                continue
            link = RecordLink.objects.create(
                tenant=sync.tenant, subscriber=sub, entity_type=entity, crm_id=crm_id,
                origin=LinkOrigin.MAILWORX_GROUP, group=setting.group)
            taken[(entity, crm_id)] = link
            apply_row(sync, STEP, link, sub, sync.mappings(unit_id, entity), row, related,
                      values.get(sub.pk, {}))
            resolve_issues(sync.tenant, STEP, [sub.pk])
            sync.count(STEP, "linked")


def _reactivate(sync: Sync, sub: Subscriber, entity: str, crm_id: str) -> bool:
    """S8: only with the option on; the caller already excluded qualified leads."""
    if not sync.org.reactivate_deactivated:
        _issue(sync, sub, entity, crm_id, _(
            "The CRM %(entity)s with this address is deactivated, and reactivating deactivated "
            "records is switched off.") % {"entity": entity},
            _("Reactivate the record in the CRM, or switch on “reactivate deactivated records” "
              "in the organisation settings."), skipped="deactivated, reactivation off")
        return False
    try:
        sync.client.set_state(entity_set(entity), crm_id, *ACTIVE_STATE[entity])
    except DynamicsError as exc:
        _issue(sync, sub, entity, crm_id, exc.explanation, code=exc.code or "")
        return False
    sync.count(STEP, "reactivated")
    return True


def _no_record(sync: Sync, setting: GroupSyncSetting, sub: Subscriber,
               owners: dict[str, str | None], passed_over: bool) -> None:
    if setting.mode == SyncMode.LINK:
        if passed_over:
            _issue(sync, sub, "lead", None, _(
                "Only a qualified lead carries this address; qualified leads are never synced."),
                _("Set the group's mode to “create” or “both” to create a new record."),
                skipped="only a qualified lead")
        else:
            sync.skip(STEP, "no CRM record to link")
        return
    owner_id = None
    if setting.future_owner:
        owner_id = resolve_owner(sync, setting.future_owner, owners)
        if owner_id is None:
            _issue(sync, sub, setting.entity_type, None, _(
                "The owner “%(owner)s” of the group's new records was not found among the CRM's "
                "active users.") % {"owner": setting.future_owner},
                _("Correct the owner in the group's CRM sync setting (as the user signs in)."))
            return
    RecordLink.objects.create(
        tenant=sync.tenant, subscriber=sub, entity_type=setting.entity_type,
        crm_id=uuid.uuid4(), origin=LinkOrigin.MAILWORX_GROUP, group=setting.group,
        state=LinkState.PENDING, needs_push=True, create_owner=owner_id)
    resolve_issues(sync.tenant, STEP, [sub.pk])
    sync.count(STEP, "created")


def resolve_owner(sync: Sync, login: str, cache: dict[str, str | None]) -> str | None:
    """The systemuser id for a login: email (Online) or ``DOMAIN\\user`` (on-premise)."""
    if login not in cache:
        literal = string_literal(login)
        if sync.org.deployment == Deployment.ONLINE:
            flt = f"internalemailaddress eq {literal} or domainname eq {literal}"
        else:
            flt = f"domainname eq {literal}"
        rows = list(sync.client.query("systemusers", select=["systemuserid", "isdisabled"],
                                      filter=flt, top=2))
        enabled = [r for r in rows if not r.get("isdisabled")]
        cache[login] = str(enabled[0]["systemuserid"]).lower() if enabled else None
    return cache[login]


def _issue(sync: Sync, sub: Subscriber, entity: str, crm_id: str | None, reason: str,
           hint: str = "", code: str = "", skipped: str = "") -> None:
    """List the subscriber (N3); ``skipped`` names a rule that held it back, else it failed."""
    record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id, subscriber_id=sub.pk,
                 entity_type=entity, crm_id=crm_id, reason=reason, hint=hint, code=code)
    if skipped:
        sync.skip(STEP, skipped)
    else:
        sync.count(STEP, "failed")
