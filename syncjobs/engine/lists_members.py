"""S10: the membership of a linked marketing list, both ways, removals included.

Per link the step keeps a snapshot of the members it last synced (CRM record ids) and
compares three sides:

* CRM members vs snapshot: added in the CRM → adopted as subscribers and added to the
  group; removed in the CRM → removed from the group. Taken for lists a group came from
  (S1) always, for lists a group created (S6) only with bidirectional sync on (C6).
* group members (whose active link has the list's type) vs snapshot: added in mailworx →
  ``AddListMembersList``; removed in mailworx → ``RemoveMemberList`` in one ``$batch``.

The members are read only when the list's ``versionnumber`` moved since the snapshot (N2).
A dynamic list is the exception both ways: its members are the results of its query, read
on every run (``list_query``), and mailworx never writes them — group-side changes stay in
mailworx and are counted as skipped.
Every batch saves its snapshot rows in the transaction of its local writes; a CRM write is
repeated after a crash, which the CRM tolerates (adding a member twice) or answers with
"not a member" (0x80048458), counted as done — so a resumed run ends as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy

from audience.groups import add_members
from audience.models import GroupMembership, GroupSyncSetting, Subscriber
from dynamics.errors import PermanentError
from mailworx_crm.crm_errors import describe
from mailworx_crm.texts import StoredText
from mailworx_crm.texts import deferred as _
from syncjobs.engine.adopt import adopt_records, list_member_pages
from syncjobs.engine.context import Sync
from syncjobs.engine.entities import row_id
from syncjobs.engine.issues import OPEN_STATES, record_issue, refused_by_crm
from syncjobs.engine.list_query import QueryRefused, query_member_pages
from syncjobs.engine.lists_push import (
    ADD_PAGE,
    STEP,
    chunks,
    push_added,
    push_removed,
    snapshot_add,
)
from syncjobs.models import JobLogLine
from syncjobs.models.lists import CrmList, ListLink, ListLinkState, ListMemberSnapshot
from syncjobs.models.sync import (
    HOLDING_STATES,
    IssueState,
    LinkOrigin,
    LinkState,
    RecordLink,
    SyncIssue,
)

CODE_LOCKED = "0x8004F0A1"
SKIP_DYNAMIC_ADD = gettext_lazy("group member added in mailworx; a dynamic list is not changed")
SKIP_DYNAMIC_REMOVE = gettext_lazy("group member removed in mailworx; a dynamic list is not "
                                   "changed")


def sync_link(sync: Sync, link: ListLink, crm: CrmList | None, counted: set[int]) -> None:
    if not _usable(sync, link, crm):
        return
    assert crm is not None
    take_crm = _takes_crm_changes(sync, link, crm)
    _count_unlisted(sync, link, counted)
    # A list this run created (no version read back yet) has no members to read.
    fresh = crm.version is None and link.origin == LinkOrigin.MAILWORX_GROUP
    # A dynamic list's versionnumber moves only when the list row is edited, never when the
    # records its query finds change, so nothing tells that its members changed: its query
    # is evaluated on every run (one request per page of results; nothing is written when
    # the results equal the snapshot).
    read = take_crm and not fresh and (crm.dynamic or link.synced_version is None
                                       or crm.version != link.synced_version)
    pushed = 0  # members our writes added minus removed: the CRM's count moves by this
    changed = False
    if read:
        rows: dict[str, dict[str, Any]] = {}
        try:
            for page in _member_pages(sync, link, crm):
                rows.update((row_id(link.member_type, row), row) for row in page)
        except QueryRefused as exc:
            list_issue(sync, link, exc.reason, exc.hint, exc.code)
            return
        sync.observe(STEP, "members_read", len(rows))
        snapshot = {str(i) for i in link.snapshot.values_list("crm_id", flat=True)}
        group_side = _group_records(sync, link)
        crm_ids = set(rows)
        changed = _take_added(sync, link, [rows[i] for i in sorted(crm_ids - snapshot)])
        changed |= _take_removed(sync, link, sorted(snapshot - crm_ids))
        add_list = sorted(set(group_side) - snapshot - crm_ids)
        to_add, add_pages = len(add_list), iter([(add_list, group_side)])
        to_remove = sorted((snapshot & crm_ids) - set(group_side))
    else:
        # The CRM side is the snapshot: the differences come from the database, the
        # additions page by page (memory: a page, whatever the list's size).
        to_add, add_pages = _unsent(sync, link)
        to_remove = _unheld(sync, link)
    if crm.dynamic:
        # Read-only in the CRM direction: what mailworx changed stays in the group only.
        if to_add:
            sync.skip(STEP, str(SKIP_DYNAMIC_ADD), to_add)
        if to_remove:
            sync.skip(STEP, str(SKIP_DYNAMIC_REMOVE), len(to_remove))
        if read:
            _resolve_list_issue(sync, link)  # e.g. a query refused before works again
    elif (to_add or to_remove) and crm.locked:
        list_issue(sync, link, _("The CRM marketing list “%(list)s” is locked, so members "
                                  "cannot be added or removed.") % {"list": link.list_name},
                    _("Unlock the list in the CRM; the next sync brings its members up to "
                      "date."), CODE_LOCKED)
    elif to_add or to_remove:
        try:
            added = sum(push_added(sync, link, ids, side) for ids, side in add_pages)
            removed = push_removed(sync, link, to_remove)
            pushed = added - removed
            changed |= bool(added or removed)
        except PermanentError as exc:  # locked, deactivated, not ours to change …
            if not refused_by_crm(exc):
                raise
            list_issue(sync, link, exc.crm_message or describe(exc),
                        _("Check the list in the CRM (active, unlocked); the next sync tries "
                          "again."), exc.code or "")
            return
        _resolve_list_issue(sync, link)
    _finish(sync, link, crm, changed=changed, read=read, pushed=pushed)


# -- which links sync, and from where ----------------------------------------------------------


def _usable(sync: Sync, link: ListLink, crm: CrmList | None) -> bool:
    if crm is None or not crm.exists:
        link.state = ListLinkState.CLOSED
        link.save(update_fields=["state", "updated_at"])
        sync.count(STEP, "lists_closed")
        sync.log(_("Marketing list “%(list)s” was deleted in the CRM: its link is closed; "
                   "group “%(group)s” stays as it is.")
                 % {"list": link.list_name, "group": link.group.name}, JobLogLine.Level.WARNING)
        return False
    if link.origin == LinkOrigin.CRM_LIST:
        if not crm.marked or not crm.active:
            if link.state != ListLinkState.STOPPED:
                link.state = ListLinkState.STOPPED
                link.save(update_fields=["state", "updated_at"])
                why = (_("is no longer marked for sync") if crm.active
                       else _("was deactivated"))
                sync.log(_("Marketing list “%(list)s” %(why)s in the CRM: it stops syncing; "
                           "group “%(group)s” stays as it is.")
                         % {"list": crm.name, "why": why, "group": link.group.name},
                         JobLogLine.Level.WARNING)
            return False
        if link.state == ListLinkState.STOPPED:
            # Marked again: read it afresh, the snapshot may be long out of date.
            link.state, link.synced_version = ListLinkState.ACTIVE, None
            link.save(update_fields=["state", "synced_version", "updated_at"])
            sync.log(_("Marketing list “%(list)s” is marked for sync again.")
                     % {"list": crm.name})
        return True
    if not GroupSyncSetting.objects.filter(group_id=link.group_id, enabled=True).exists():
        return False  # the group no longer syncs with the CRM
    if not crm.active:
        list_issue(sync, link, _("The CRM marketing list “%(list)s” is deactivated; "
                                  "deactivated lists are read-only.") % {"list": crm.name},
                    _("Activate the list in the CRM; the next sync brings its members up to "
                      "date."))
        return False
    return True


def _takes_crm_changes(sync: Sync, link: ListLink, crm: CrmList) -> bool:
    """S1 lists always; a group's own lists with C6 on, while they stay marked."""
    if link.origin == LinkOrigin.CRM_LIST:
        return True
    return sync.org.bidirectional_sync and (crm.marked or not link.linked_back)


def _member_pages(sync: Sync, link: ListLink,
                  crm: CrmList) -> Iterable[list[dict[str, Any]]]:
    unit = _unit(sync, link)
    if crm.dynamic:
        return query_member_pages(sync, crm.name, crm.query, link.member_type, unit)
    return list_member_pages(sync, str(link.list_id), link.member_type, unit)


def _unit(sync: Sync, link: ListLink) -> int | None:
    if link.origin == LinkOrigin.CRM_LIST:
        return sync.default_unit_id()  # a list-origin group has no setting: default unit
    return sync.unit_for_group(link.group_id)


def _group_links(sync: Sync, link: ListLink) -> QuerySet[RecordLink]:
    """Active links of the list's type of the group's live members. Membership is checked
    per link (``EXISTS``), not as ``IN`` the group's members: SQLite would build that list
    afresh for every page read."""
    return RecordLink.objects.filter(
        tenant=sync.tenant, state=LinkState.ACTIVE, entity_type=link.member_type,
        subscriber__merged_into__isnull=True,
    ).filter(Exists(GroupMembership.objects.filter(group_id=link.group_id,
                                                   subscriber_id=OuterRef("subscriber_id"))))


def _group_records(sync: Sync, link: ListLink) -> dict[str, int]:
    """``{crm id: subscriber id}`` of the group's members whose active link has the type."""
    return {str(crm_id): sid for crm_id, sid in
            _group_links(sync, link).values_list("crm_id", "subscriber_id")}


def _unsent(sync: Sync, link: ListLink) -> tuple[int, Iterator[tuple[list[str], dict[str, int]]]]:
    """Group members not in the snapshot: how many, and pages of ``(crm ids, {crm id:
    subscriber id})`` in the order of the links, each read after the one before was sent.
    Keyset on the link's key, which the links' index keeps in order: a page never sorts
    the group (ordering by record id made every page sort it, quadratic at a million)."""
    missing = _group_links(sync, link).filter(~Exists(ListMemberSnapshot.objects.filter(
        link=link, crm_id=OuterRef("crm_id")))).order_by("pk")

    def pages() -> Iterator[tuple[list[str], dict[str, int]]]:
        last = 0
        while rows := list(missing.filter(pk__gt=last)
                           .values_list("pk", "crm_id", "subscriber_id")[:ADD_PAGE]):
            last = rows[-1][0]
            side = {str(crm_id): sid for _pk, crm_id, sid in rows}
            yield list(side), side

    return missing.count(), pages()


def _unheld(sync: Sync, link: ListLink) -> list[str]:
    """Snapshot members no longer in the group (or no longer linked with the type)."""
    return sorted(str(i) for i in link.snapshot.exclude(
        crm_id__in=_group_links(sync, link).values("crm_id")).values_list("crm_id", flat=True))


def _count_unlisted(sync: Sync, link: ListLink, counted: set[int]) -> None:
    """Members no list of the group can hold, counted once per group (not once per list)
    and by the database (a million members are not read for it)."""
    if link.group_id in counted:
        return
    counted.add(link.group_id)
    types = set(link.group.list_links.filter(state=ListLinkState.ACTIVE)
                .values_list("member_type", flat=True))
    members = Subscriber.objects.live().filter(tenant=sync.tenant,
                                               memberships__group_id=link.group_id)
    active = RecordLink.objects.filter(state=LinkState.ACTIVE)
    unlinked = members.filter(~Exists(active.filter(subscriber_id=OuterRef("pk")))).count()
    if unlinked:
        sync.skip(STEP, _("group member not linked to a CRM record"), unlinked)
    for entity, n in (active.filter(subscriber__in=members).exclude(entity_type__in=types)
                      .order_by().values_list("entity_type").annotate(n=Count("pk"))):
        sync.skip(STEP, _("group member linked to a %(type)s; the group has no marketing list "
                          "of that type") % {"type": entity}, n)


# -- CRM → group -----------------------------------------------------------------------------


def _take_added(sync: Sync, link: ListLink, rows: list[dict[str, Any]]) -> bool:
    if not rows:
        return False
    # adopt commits per batch; a crash before the group add below adopts nothing twice.
    adopted = sorted(adopt_records(sync, STEP, link.member_type, rows,
                                   unit_id=_unit(sync, link)).items())
    for batch in chunks(adopted):
        with transaction.atomic():
            added = add_members(link.group, [sid for _crm, sid in batch])
            snapshot_add(link, [crm_id for crm_id, _sid in batch])
        sync.count(STEP, "group_members_added", added)
        sync.checkpoint(STEP, len(batch))
    return True


def _take_removed(sync: Sync, link: ListLink, crm_ids: list[str]) -> bool:
    if not crm_ids:
        return False
    for batch in chunks(crm_ids):
        subs = RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=link.member_type, crm_id__in=batch,
            state__in=HOLDING_STATES).values_list("subscriber_id", flat=True)
        with transaction.atomic():
            removed, _rows = GroupMembership.objects.filter(
                group=link.group, subscriber_id__in=list(subs)).delete()
            link.snapshot.filter(crm_id__in=batch).delete()
        sync.count(STEP, "group_members_removed", removed)
        sync.checkpoint(STEP, len(batch))
    return True


# -- bookkeeping -----------------------------------------------------------------------------


def _finish(sync: Sync, link: ListLink, crm: CrmList, *, changed: bool, read: bool,
            pushed: int) -> None:
    """Write ``mwx_lastsyncon`` (and the link-back) after a change; remember the version.
    Nothing is written when nothing changed.

    Our own writes move the list's version, which must not look like a CRM-side change to
    the next run — but a CRM-side change made while this run worked must not hide behind
    it either. The PATCH answers with the list's version and member count: when the count
    is the one seen before this run plus what our writes moved, nobody else changed the
    membership and the new version is ours; otherwise the next run reads the members.
    """
    link_back = not link.linked_back and (link.origin == LinkOrigin.CRM_LIST
                                          or sync.org.bidirectional_sync)
    if changed or link_back:
        body: dict[str, Any] = {"mwx_lastsyncon": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
        if link_back:
            body.update(mwx_syncwithmailworx=True, mwx_mailworxgroupid=str(link.group_id))
        version, count = patch_list(sync, str(link.list_id), body)
        expected = (crm.member_count or 0) + pushed
        # A dynamic list is read on every run; its version is never compared.
        link.synced_version = (version if not crm.dynamic and count is not None
                               and count == expected else None)
        link.linked_back = link.linked_back or link_back
        link.last_synced_at = timezone.now()
        sync.count(STEP, "lists_synced")
        link.save()
    elif read and not crm.dynamic and link.synced_version != crm.version:
        link.synced_version = crm.version
        link.save()


def patch_list(sync: Sync, list_id: str, body: dict[str, Any]) -> tuple[int | None, int | None]:
    """PATCH a list; returns its new ``(versionnumber, membercount)`` — from the answer where
    the CRM can return the row, else one read; ``(None, None)`` in a dry run (its writes,
    and a list it would create, never reach the CRM)."""
    data = sync.client.update_and_read("lists", list_id, body, ["versionnumber", "membercount"])
    if data is None:
        return None, None
    version, count = data.get("versionnumber"), data.get("membercount")
    return (int(version) if version is not None else None,
            int(count) if count is not None else None)


def list_issue(sync: Sync, link: ListLink, reason: StoredText | str, hint: StoredText | str,
               code: str = "") -> None:
    record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id, entity_type="list",
                 crm_id=str(link.list_id), reason=reason, hint=hint, code=code)
    sync.count(STEP, "lists_failed")


def _resolve_list_issue(sync: Sync, link: ListLink) -> None:
    SyncIssue.objects.filter(tenant=sync.tenant, step=STEP, subscriber__isnull=True,
                             crm_id=link.list_id, state__in=OPEN_STATES
                             ).update(state=IssueState.RESOLVED)
