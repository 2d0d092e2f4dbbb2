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

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_noop

from audience.models import (
    GroupSyncSetting,
    Subscriber,
    SyncMode,
)
from dynamics.bulk import InLookup
from dynamics.errors import DynamicsError
from dynamics.odata import string_literal
from mailworx_crm.crm_errors import describe
from mailworx_crm.email_address import normalise_email
from mailworx_crm.entity_types import (
    ACTIVE_STATES,
    ENTITY_TYPES,
    MATCH_RANK,
    entity_set,
    is_qualified_lead,
)
from mailworx_crm.texts import StoredText
from mailworx_crm.texts import deferred as _
from orgsettings.models import Deployment
from syncjobs.engine.apply import apply_many, subscriber_values
from syncjobs.engine.context import Sync
from syncjobs.engine.entities import is_active, row_id
from syncjobs.engine.fields import related_values, select_columns
from syncjobs.engine.issues import OPEN_STATES, blocked_subscribers, record_issue, resolve_issues
from syncjobs.engine.linkstore import insert_links
from syncjobs.engine.match_members import changed_since, merge_duplicates, unlinked_batches
from syncjobs.engine.merge import merge_subscribers
from syncjobs.models.sync import (
    HOLDING_STATES,
    LinkOrigin,
    LinkState,
    RecordLink,
    SyncCursor,
    SyncIssue,
)

STEP = "match"
# Subscribers per match batch: their look-ups over the three tables travel in one $batch
# request (one round trip) and their links are written in one transaction.
MATCH_BATCH = 2000
LOOKUP_WINDOW = 4  # batches whose look-ups may run at once (each holds its rows in memory)
OVERLAP = dt.timedelta(minutes=5)  # late commits on the mailworx side are still seen
CURSOR = "match"  # watermark: when every unlinked subscriber was last looked up


def run_match(sync: Sync, *, group_id: int | None = None,
              subscriber_id: int | None = None) -> None:
    settings = (GroupSyncSetting.objects.filter(group__tenant=sync.tenant, enabled=True)
                .select_related("group").order_by("group_id"))
    if group_id is not None:
        settings = settings.filter(group_id=group_id)
    scoped = group_id is not None or subscriber_id is not None
    cursor, _new = SyncCursor.objects.get_or_create(tenant=sync.tenant, name=CURSOR)
    # N2: a subscriber that matched nothing is not looked up again until something that
    # could change the answer happens (see ``changed_since``); pull resets the cursor when
    # the CRM gains a record with the address of an unlinked subscriber.
    since = None if scoped or cursor.watermark is None else cursor.watermark - OVERLAP
    blocked = blocked_subscribers(sync.tenant, STEP)
    open_issues = set(SyncIssue.objects.filter(
        tenant=sync.tenant, step=STEP, state__in=OPEN_STATES, subscriber__isnull=False
    ).values_list("subscriber_id", flat=True))
    owners: dict[str, str | None] = {}
    for setting in settings:
        _match_group(sync, setting, subscriber_id, blocked, owners, since, open_issues)
    if not scoped:
        cursor.watermark = sync.started
        cursor.save(update_fields=["watermark", "updated_at"])
    sync.checkpoint(STEP)


def _match_group(sync: Sync, setting: GroupSyncSetting, subscriber_id: int | None,
                 blocked: set[int], owners: dict[str, str | None],
                 since: dt.datetime | None, open_issues: set[int]) -> None:
    members = Subscriber.objects.live().filter(tenant=sync.tenant,
                                               memberships__group=setting.group)
    if subscriber_id is not None:
        one = members.filter(pk=subscriber_id).first()
        if one is None:
            return
        members = members.filter(email_normalised=one.email_normalised)
    fresh = None
    if since is not None and setting.updated_at < since:
        fresh = changed_since(sync, setting, since) | open_issues
    merge_duplicates(sync, members, STEP, among=fresh)
    # Merged duplicates are no longer live, so the members left are the survivors. Ids are
    # read a page at a time and whole subscribers batch by batch (memory).
    unlinked = members.filter(~Exists(RecordLink.objects.filter(
        subscriber_id=OuterRef("pk"), state__in=HOLDING_STATES))).order_by("pk")
    if fresh is None:
        sync.add_work(unlinked.count())
    batches = unlinked_batches(unlinked, blocked, fresh, MATCH_BATCH)
    # The look-ups of a few batches run side by side (their answers do not depend on each
    # other: one address, one batch); the batches are then decided and written in order.
    # Reads are server time the bound of a run does not count, so they should overlap.
    while window := list(islice(batches, max(1, min(LOOKUP_WINDOW, sync.client.parallel.degree)))):
        emails = [_emails(ids) for ids in window]
        lookups = [_lookups(sync, addresses) for addresses in emails]
        answers = sync.client.parallel.run(
            [partial(sync.client.lookup_in_many, group) for group in lookups])
        for ids, addresses, rows in zip(window, emails, answers, strict=True):
            if fresh is not None:
                sync.add_work(len(ids))
            _match_batch(sync, setting, ids, set(addresses), _by_address(rows), owners,
                         open_issues)
            sync.checkpoint(STEP, len(ids))


def unlinked_addresses_known(sync: Sync, addresses: Iterable[str]) -> bool:
    """Whether any live, unlinked subscriber of the tenant has one of ``addresses``."""
    wanted = sorted({normalise_email(a) for a in addresses if a})
    for start in range(0, len(wanted), 500):
        if (Subscriber.objects.live().filter(tenant=sync.tenant,
                                              email_normalised__in=wanted[start:start + 500])
                .exclude(crm_links__state__in=HOLDING_STATES).exists()):
            return True
    return False


def reset_unmatched(sync: Sync) -> None:
    """The next match looks every unlinked subscriber up again (the caller's transaction)."""
    SyncCursor.objects.filter(tenant=sync.tenant, name=CURSOR).update(watermark=None)


def _emails(ids: list[int]) -> list[str]:
    return sorted(set(Subscriber.objects.live().filter(pk__in=ids)
                      .values_list("email_normalised", flat=True)))


def _lookups(sync: Sync, emails: list[str]) -> list[InLookup]:
    """The look-ups of ``emails`` over the three tables (they travel in one $batch)."""
    return [InLookup(entity_set(entity), "emailaddress1", emails,
                     select_columns(entity, sync.all_mappings(entity)))
            for entity in ENTITY_TYPES]


def _by_address(answers: list[list[dict[str, Any]]]
                ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """CRM rows by lower-cased address, from the answers of ``_lookups``."""
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for entity, rows in zip(ENTITY_TYPES, answers, strict=True):
        for row in rows:
            address = normalise_email(str(row.get("emailaddress1") or ""))
            found.setdefault(address, []).append((entity, row))
    return found


def _best(candidates: Iterable[tuple[str, dict[str, Any]]], *, reactivate: bool
          ) -> tuple[tuple[str, dict[str, Any]] | None, bool]:
    """The best match (S7, S8) and whether a qualified lead was passed over.

    With reactivation on, the table order decides first (contact → account → lead) and a
    deactivated best match is reactivated; with it off, an active record wins before a
    deactivated one, which would only become an issue.
    """
    usable = [(e, r) for e, r in candidates if not is_qualified_lead(e, r)]
    passed_over = any(is_qualified_lead(e, r) for e, r in candidates)
    if reactivate:
        usable.sort(key=lambda c: (MATCH_RANK[c[0]], not is_active(c[1]), row_id(*c)))
    else:
        usable.sort(key=lambda c: (not is_active(c[1]), MATCH_RANK[c[0]], row_id(*c)))
    return (usable[0] if usable else None), passed_over


@dataclass
class _Decision:
    """What match does with one subscriber of a batch, decided before any write."""

    sub: Subscriber
    kind: str  # "create" | "merge" | "create-only" | "link"
    passed_over: bool = False
    entity: str = ""
    crm_id: str = ""
    row: dict[str, Any] | None = None
    other: RecordLink | None = None  # "merge": the link of the same record
    reactivate: bool = False


def _decide(setting: GroupSyncSetting, subs: list[Subscriber],
            bests: dict[int, tuple[tuple[str, dict[str, Any]] | None, bool]],
            taken: dict[tuple[str, str], RecordLink]) -> list[_Decision]:
    claimed: dict[tuple[str, str], int] = {}
    out = []
    for sub in subs:
        best, passed_over = bests[sub.pk]
        if best is None:
            out.append(_Decision(sub, "create", passed_over))
            continue
        entity, row = best
        crm_id = row_id(entity, row)
        other = taken.get((entity, crm_id))
        if other is not None and other.subscriber_id != sub.pk:
            out.append(_Decision(sub, "merge", passed_over, entity, crm_id, row, other))
        elif (entity, crm_id) in claimed:
            # Another subscriber of this batch links it first: the same person (S9).
            out.append(_Decision(sub, "merge", passed_over, entity, crm_id, row))
        elif setting.mode == SyncMode.CREATE:
            out.append(_Decision(sub, "create-only", passed_over, entity, crm_id, row))
        else:
            claimed[(entity, crm_id)] = sub.pk
            out.append(_Decision(sub, "link", passed_over, entity, crm_id, row,
                                 reactivate=not is_active(row)))
    return out


def _match_batch(sync: Sync, setting: GroupSyncSetting, ids: list[int], looked_up: set[str],
                 found: dict[str, list[tuple[str, dict[str, Any]]]],
                 owners: dict[str, str | None], open_issues: set[int]) -> None:
    """Subscribers and the CRM's answer for ``looked_up`` → decide → CRM writes
    (reactivations) and the owner look-up → record everything in one short transaction.
    No CRM request inside it."""
    # A subscriber whose address changed since the look-up waits for the next run: "no
    # record found" for an address never asked about could create a duplicate.
    subs = [s for s in Subscriber.objects.live().filter(pk__in=ids).order_by("pk")
            if s.email_normalised in looked_up]
    crm_ids = [row_id(entity, row) for rows in found.values() for entity, row in rows]
    taken: dict[tuple[str, str], RecordLink] = {}
    for start in range(0, len(crm_ids), 500):
        taken.update({(link.entity_type, str(link.crm_id)): link
                      for link in RecordLink.objects.filter(
                          tenant=sync.tenant, state__in=[LinkState.ACTIVE, LinkState.PENDING],
                          crm_id__in=crm_ids[start:start + 500]).select_related("subscriber")})
    unit_id = sync.unit_for_group(setting.group_id)
    bests = {sub.pk: _best(found.get(sub.email_normalised, []),
                           reactivate=sync.org.reactivate_deactivated) for sub in subs}
    decisions = _decide(setting, subs, bests, taken)
    # Values only of those that may link a record (S11 compares them); a planned create
    # reads them when push sends it.
    values = subscriber_values(d.sub.pk for d in decisions if d.kind == "link")
    # Lookup-path values of every record this batch may link: one query per related table.
    related: dict[tuple[str, str], Any] = {}
    for entity in ENTITY_TYPES:
        rows = [d.row for d in decisions if d.kind == "link" and d.entity == entity and d.row]
        if rows:
            related.update(related_values(sync.client, rows, sync.mappings(unit_id, entity)))
    # The CRM side of the decisions, before the transaction (N1: a reactivated record that
    # is not linked yet is simply found active by the next run).
    if setting.future_owner and setting.mode != SyncMode.LINK and any(
            d.kind == "create" for d in decisions):
        resolve_owner(sync, setting.future_owner, owners)
    for d in decisions:
        if d.kind == "link" and d.reactivate and not _reactivate(sync, d.sub, d.entity,
                                                                 d.crm_id):
            d.kind = "held back"
    new_links: list[RecordLink] = []
    to_apply = []
    with transaction.atomic():
        for d in decisions:
            if d.passed_over:
                sync.skip(STEP, gettext_noop("qualified lead passed over"))
            if d.kind == "create":
                link = _no_record(sync, setting, d.sub, owners, d.passed_over)
                if link is not None:
                    new_links.append(link)
            elif d.kind == "create-only":
                _issue(sync, d.sub, d.entity, d.crm_id, _(
                    "A CRM %(entity)s with this address exists, but the group may only create "
                    "new records.") % {"entity": d.entity},
                    _("Set the group's mode to “link” or “both” to link it."),
                    skipped=gettext_noop("record exists, group may only create"))
            elif d.kind == "link" and d.row is not None:
                link = RecordLink(
                    tenant=sync.tenant, subscriber=d.sub, entity_type=d.entity,
                    crm_id=d.crm_id, origin=LinkOrigin.MAILWORX_GROUP, group=setting.group)
                taken[(d.entity, d.crm_id)] = link
                new_links.append(link)
                to_apply.append((link, d.sub, sync.mappings(unit_id, d.entity), d.row))
                sync.count(STEP, "linked")
        apply_many(sync, STEP, to_apply, related, values)
        insert_links(new_links)
        # Merges need the survivor's link in the database, so they follow the inserts.
        for d in decisions:
            if d.kind == "merge":
                other = d.other or taken.get((d.entity, d.crm_id))
                if other is None:  # the batch's first claim on the record was held back
                    continue
                merge_subscribers(d.sub, other.subscriber)
                sync.count(STEP, "merged")
        resolve_issues(sync.tenant, STEP, [link.subscriber_id for link in new_links
                                           if link.subscriber_id in open_issues],
                       run_id=sync.ctx.run_id)


def _reactivate(sync: Sync, sub: Subscriber, entity: str, crm_id: str) -> bool:
    """S8: only with the option on; the caller already excluded qualified leads."""
    if not sync.org.reactivate_deactivated:
        _issue(sync, sub, entity, crm_id, _(
            "The CRM %(entity)s with this address is deactivated, and reactivating deactivated "
            "records is switched off.") % {"entity": entity},
            _("Reactivate the record in the CRM, or switch on “reactivate deactivated records” "
              "in the organisation settings."),
            skipped=gettext_noop("deactivated, reactivation off"))
        return False
    try:
        sync.client.set_state(entity_set(entity), crm_id, *ACTIVE_STATES[entity])
    except DynamicsError as exc:
        _issue(sync, sub, entity, crm_id, describe(exc), code=exc.code or "")
        return False
    sync.count(STEP, "reactivated")
    return True


def _no_record(sync: Sync, setting: GroupSyncSetting, sub: Subscriber,
               owners: dict[str, str | None], passed_over: bool) -> RecordLink | None:
    """A planned create (the caller inserts it), or None with the reason counted."""
    if setting.mode == SyncMode.LINK:
        if passed_over:
            _issue(sync, sub, "lead", None, _(
                "Only a qualified lead carries this address; qualified leads are never synced."),
                _("Set the group's mode to “create” or “both” to create a new record."),
                skipped=gettext_noop("only a qualified lead"))
        else:
            sync.skip(STEP, gettext_noop("no CRM record to link"))
        return None
    owner_id = None
    if setting.future_owner:
        owner_id = resolve_owner(sync, setting.future_owner, owners)
        if owner_id is None:
            _issue(sync, sub, setting.entity_type, None, _(
                "The owner “%(owner)s” of the group's new records was not found among the CRM's "
                "active users.") % {"owner": setting.future_owner},
                _("Correct the owner in the group's CRM sync setting (as the user signs in)."))
            return None
    sync.count(STEP, "created")
    # The record's id is chosen now, before any request, so a retried create can never
    # make a second record (N1).
    return RecordLink(
        tenant=sync.tenant, subscriber=sub, entity_type=setting.entity_type,
        crm_id=uuid.uuid4(), origin=LinkOrigin.MAILWORX_GROUP, group=setting.group,
        state=LinkState.PENDING, needs_push=True, create_owner=owner_id)


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


def _issue(sync: Sync, sub: Subscriber, entity: str, crm_id: str | None,
           reason: StoredText | str, hint: StoredText | str = "", code: str = "",
           skipped: str = "") -> None:
    """List the subscriber (N3); ``skipped`` names a rule that held it back, else it failed."""
    record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id, subscriber_id=sub.pk,
                 entity_type=entity, crm_id=crm_id, reason=reason, hint=hint, code=code)
    if skipped:
        sync.skip(STEP, skipped)
    else:
        sync.count(STEP, "failed")
