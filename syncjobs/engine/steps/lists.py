"""The lists step: CRM marketing lists ↔ subscriber groups (S1, S6, S10, C6).

One run of the step:

1. reads every CRM list once (one request per 5,000 lists) into ``CrmList`` — the cache
   the "CRM marketing lists" page shows, the ``versionnumber`` that tells which static
   lists changed since their last membership sync (N2), and each dynamic list's query;
2. with ``mark``: marks ``list_id`` for sync in the CRM first (the admin confirmed it);
3. S1 discovery (by polling, S12): a marked, active list without a link becomes a group
   named after the list, linked to it;
4. S6: a group with an enabled CRM sync setting gets a list per member type present among
   its linked subscribers (``lists_create``);
5. S10: every live link's membership is synced both ways (``lists_members``); a dynamic
   list's members come from its query and flow CRM → mailworx only (``list_query``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audience.groups import GroupError, create_group, create_group_with_free_name
from audience.models import SubscriberGroup
from crmevents.models import CrmEventKind
from crmevents.services import mark_processed, waiting_ids
from mailworx_crm.entity_types import MEMBER_TYPE_CODES
from mailworx_crm.texts import deferred as _
from mailworx_crm.texts import deferred_ngettext
from syncjobs.engine.context import Sync
from syncjobs.engine.issues import OPEN_STATES
from syncjobs.engine.lists_create import create_group_lists
from syncjobs.engine.lists_members import STEP, sync_link
from syncjobs.models import JobLogLine, SyncIssue
from syncjobs.models.lists import LIVE_LIST_STATES, CrmList, ListLink, ListLinkState
from syncjobs.models.sync import LinkOrigin

LIST_COLUMNS = ["listid", "listname", "type", "query", "createdfromcode", "statecode",
                "lockstatus", "membercount", "versionnumber", "mwx_syncwithmailworx",
                "mwx_mailworxgroupid"]


class ListSyncError(Exception):
    """The list the admin asked to sync cannot be synced; ``explanation`` says why."""

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


def run_lists(sync: Sync, *, group_id: int | None = None, list_id: str | None = None,
              mark: bool = False) -> None:
    """Discover marked lists, create the lists of synced groups, sync memberships.

    ``group_id`` limits the step to one group's lists, ``list_id`` to one CRM list;
    ``mark`` marks that list for sync in the CRM first (S1 confirmation).
    """
    read_at = timezone.now()
    cache = refresh_cache(sync)
    wanted = str(list_id).lower() if list_id else None
    if mark and wanted:
        _mark(sync, cache, wanted)
    if group_id is None:
        discover(sync, cache, wanted)
    if wanted is None:
        create_group_lists(sync, group_id, cache)
    links = ListLink.objects.filter(tenant=sync.tenant, state__in=[
        ListLinkState.ACTIVE, ListLinkState.STOPPED]).select_related("group").order_by("pk")
    if group_id is not None:
        links = links.filter(group_id=group_id)
    if wanted is not None:
        links = links.filter(list_id=wanted)
    counted: set[int] = set()
    for link in links:
        sync_link(sync, link, cache.get(str(link.list_id)), counted)
    if mark and wanted:
        _report(sync, wanted)
    if group_id is None:
        # S12: "list marked" events this run has answered (the list is synced now — or it
        # is not marked or gone, and there is nothing to do). Later events stay waiting.
        told = waiting_ids(sync.tenant, CrmEventKind.LIST_MARKED)
        mark_processed(sync.tenant, CrmEventKind.LIST_MARKED,
                       [i for i in told if wanted is None or i.lower() == wanted],
                       received_before=read_at)
    sync.checkpoint(STEP)


# -- the cache of CRM lists ------------------------------------------------------------------


def refresh_cache(sync: Sync) -> dict[str, CrmList]:
    """Read every list once, static and dynamic; returns the tenant's cache rows by list id."""
    rows = list(sync.client.query("lists", select=LIST_COLUMNS))
    now = timezone.now()
    known = {str(c.list_id): c for c in CrmList.objects.filter(tenant=sync.tenant)}
    seen: set[str] = set()
    with transaction.atomic():
        for row in rows:
            list_id = str(row["listid"]).lower()
            seen.add(list_id)
            values = _cache_values(row, now)
            cached = known.get(list_id)
            if cached is None:
                known[list_id] = CrmList.objects.create(tenant=sync.tenant, list_id=list_id,
                                                        **values)
            elif any(getattr(cached, k) != v for k, v in values.items() if k != "last_seen"):
                for key, value in values.items():
                    setattr(cached, key, value)
                cached.save()
        gone = [c.pk for key, c in known.items() if key not in seen and c.exists]
        CrmList.objects.filter(pk__in=gone).update(exists=False)
        # last_seen in one statement: rewriting every row would cost a query per list.
        CrmList.objects.filter(tenant=sync.tenant, exists=True).update(last_seen=now)
    for cached in known.values():
        if cached.pk in gone:
            cached.exists = False
    sync.observe(STEP, "lists_read", len(rows))
    return known


def _cache_values(row: dict[str, Any], now: Any) -> dict[str, Any]:
    code = row.get("createdfromcode")
    return {
        "name": str(row.get("listname") or "")[:200],
        "member_type": MEMBER_TYPE_CODES.get(int(code) if code is not None else 0, ""),
        "dynamic": bool(row.get("type")),
        "query": str(row.get("query") or "") if row.get("type") else "",
        "marked": bool(row.get("mwx_syncwithmailworx")),
        "active": int(row.get("statecode") or 0) == 0,
        "locked": bool(row.get("lockstatus")),
        "member_count": row.get("membercount"),
        "version": int(row["versionnumber"]) if row.get("versionnumber") is not None else None,
        "group_ref": str(row.get("mwx_mailworxgroupid") or "")[:100],
        "exists": True,
        "last_seen": now,
    }


# -- S1: marking and discovery ---------------------------------------------------------------


def _mark(sync: Sync, cache: dict[str, CrmList], list_id: str) -> None:
    crm = cache.get(list_id)
    failure: str | None = None
    if crm is None or not crm.exists:
        failure = _("The marketing list was not found in the CRM (it may have been deleted); "
                    "nothing was synced.")
    elif not crm.active:
        failure = _("The marketing list “%(list)s” is deactivated in the CRM. Activate it "
                    "there, then start the sync again.") % {"list": crm.name}
    elif not crm.member_type:
        failure = _("The marketing list “%(list)s” has a member type the connector does not "
                    "sync (only contacts, accounts and leads).") % {"list": crm.name}
    if failure:
        sync.ctx.set_result(list_outcome={"ok": False, "message": failure})
        raise ListSyncError(failure)
    assert crm is not None
    if not crm.marked:
        sync.client.update("lists", list_id, {"mwx_syncwithmailworx": True})
        CrmList.objects.filter(pk=crm.pk).update(marked=True)
        crm.marked = True
        sync.log(_("Marketing list “%(list)s” marked for sync in the CRM.") % {"list": crm.name})


def discover(sync: Sync, cache: dict[str, CrmList], only: str | None) -> None:
    """S1: every marked, active list without a live link becomes a group of its own."""
    linked = {str(i) for i in ListLink.objects.filter(
        tenant=sync.tenant, state__in=LIVE_LIST_STATES).values_list("list_id", flat=True)}
    for list_id, crm in cache.items():
        if (only and list_id != only) or list_id in linked:
            continue
        if not (crm.exists and crm.marked and crm.active and crm.member_type):
            continue
        with transaction.atomic():
            group = _group_for(sync, crm)
            ListLink.objects.create(tenant=sync.tenant, group=group, list_id=list_id,
                                    member_type=crm.member_type, list_name=crm.name,
                                    origin=LinkOrigin.CRM_LIST, state=ListLinkState.ACTIVE)
        sync.count(STEP, "lists_discovered")
        sync.log(_("Marketing list “%(list)s” is marked for sync: its members become "
                   "subscribers of group “%(group)s”.") % {"list": crm.name, "group": group.name})


def _group_for(sync: Sync, crm: CrmList) -> SubscriberGroup:
    """The group a newly marked list fills: the one its ``mwx_mailworxgroupid`` names (a
    link forgotten by ``reset_links``), else a new group named after the list."""
    if crm.group_ref.isdigit():
        earlier = SubscriberGroup.objects.filter(tenant=sync.tenant, pk=int(crm.group_ref)).first()
        if earlier is not None and not earlier.list_links.filter(
                state__in=LIVE_LIST_STATES).exists():
            return earlier
    base = crm.name.strip() or str(crm.list_id)
    try:
        return create_group_with_free_name(sync.tenant, base)
    except GroupError:
        return create_group(sync.tenant, f"{base} ({crm.list_id})")


def _report(sync: Sync, list_id: str) -> None:
    """The success message the admin who confirmed "Sync with mailworx" reads (S1)."""
    link = (ListLink.objects.filter(tenant=sync.tenant, list_id=list_id,
                                    state=ListLinkState.ACTIVE)
            .select_related("group").first())
    if link is None:
        failure = _("The marketing list could not be linked to a group; see the log below.")
        sync.ctx.set_result(list_outcome={"ok": False, "message": failure})
        raise ListSyncError(failure)
    issue = SyncIssue.objects.filter(tenant=sync.tenant, step=STEP, crm_id=list_id,
                                     subscriber__isnull=True, state__in=OPEN_STATES,
                                     run_id=sync.ctx.run_id).first()
    if issue is not None and link.group.memberships.count() == 0:
        # Linked, but nothing came over (e.g. a dynamic list's query the CRM refused).
        message = f"{issue.reason} {issue.hint}".strip()
        sync.ctx.set_result(list_outcome={"ok": False, "message": message,
                                          "group_id": link.group_id})
        sync.log(message, JobLogLine.Level.WARNING)
        return
    members = link.group.memberships.filter(subscriber__merged_into__isnull=True).count()
    message = deferred_ngettext(
        "List “%(list)s” is now synced with group “%(group)s”: %(n)s subscriber.",
        "List “%(list)s” is now synced with group “%(group)s”: %(n)s subscribers.",
        members) % {"list": link.list_name, "group": link.group.name}
    sync.ctx.set_result(list_outcome={"ok": True, "message": message,
                                      "group_id": link.group_id})
    sync.log(message, JobLogLine.Level.INFO)

