"""S6: a group with an enabled CRM sync setting gets one static CRM marketing list per
member type present among its linked subscribers (at most three), named
``<group name> – <type>``.

The list's id is chosen here and stored in a *pending* link before the create request; the
create sends that id, so a create retried after a crash meets the list it already made
(412) instead of making a second one (N1). With bidirectional sync on (C6) the list is
created linked back (``mwx_syncwithmailworx``, ``mwx_mailworxgroupid``), so CRM-side
membership changes flow to the group; otherwise it only receives the group's changes.

Decision where the rules are silent: a created list deleted in the CRM closes its link and
is not created again by later runs — the same as a deleted record (no silent recreation).
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from audience.models import GroupSyncSetting, SubscriberGroup
from dynamics.errors import PermanentError
from mailworx_crm.crm_errors import describe
from mailworx_crm.entity_types import ENTITY_TYPES, MEMBER_TYPE_OF
from mailworx_crm.texts import deferred as _
from syncjobs.engine.context import Sync
from syncjobs.engine.issues import refused_by_crm
from syncjobs.engine.lists_members import STEP, list_issue
from syncjobs.engine.steps.match import resolve_owner
from syncjobs.models import JobLogLine
from syncjobs.models.lists import LIVE_LIST_STATES, CrmList, ListLink, ListLinkState
from syncjobs.models.sync import LinkOrigin, LinkState, RecordLink

NAME_MAX = 128  # list.listname is String(128)


def list_name(group: SubscriberGroup, entity: str) -> str:
    suffix = f" – {entity}"  # en dash, as S6 writes it
    return group.name[:NAME_MAX - len(suffix)].rstrip() + suffix


def create_group_lists(sync: Sync, group_id: int | None, cache: dict[str, CrmList]) -> None:
    settings = (GroupSyncSetting.objects.filter(group__tenant=sync.tenant, enabled=True)
                .select_related("group").order_by("group_id"))
    if group_id is not None:
        settings = settings.filter(group_id=group_id)
    owners: dict[str, str | None] = {}
    for setting in settings:
        _plan(sync, setting, owners)
        pending = ListLink.objects.filter(group=setting.group, origin=LinkOrigin.MAILWORX_GROUP,
                                          state=ListLinkState.PENDING).order_by("pk")
        for link in pending:
            try:
                _create(sync, link, cache)
            except PermanentError as exc:
                if not refused_by_crm(exc):
                    raise
                # The pending link (and its id) stays: the next run tries the same create.
                list_issue(sync, link, _(
                    "The CRM refused to create the marketing list “%(list)s”: %(why)s") % {
                        "list": link.list_name, "why": exc.crm_message or describe(exc)},
                    _("Check the group's future owner and the connector user's privileges "
                      "on marketing lists; the next sync tries again."), exc.code or "")


def _plan(sync: Sync, setting: GroupSyncSetting, owners: dict[str, str | None]) -> None:
    """Store a pending link (with the list id we will create) for each missing type."""
    group = setting.group
    present = set(RecordLink.objects.filter(
        tenant=sync.tenant, state=LinkState.ACTIVE, subscriber__merged_into__isnull=True,
        subscriber__memberships__group=group).values_list("entity_type", flat=True).distinct())
    # A type is covered by the group's own list in any state (a deleted one is not made
    # again) or by a live list the group came from (S1).
    covered = set(ListLink.objects.filter(group=group, origin=LinkOrigin.MAILWORX_GROUP)
                  .values_list("member_type", flat=True))
    covered |= set(ListLink.objects.filter(group=group, origin=LinkOrigin.CRM_LIST,
                                           state__in=LIVE_LIST_STATES)
                   .values_list("member_type", flat=True))
    missing = [entity for entity in ENTITY_TYPES if entity in present and entity not in covered]
    if not missing:
        return
    owner = resolve_owner(sync, setting.future_owner, owners) if setting.future_owner else None
    if setting.future_owner and owner is None:
        sync.log(_("The owner “%(owner)s” of group “%(group)s” was not found among the CRM's "
                   "active users; its new marketing lists are owned by the connector's user.")
                 % {"owner": setting.future_owner, "group": group.name},
                 JobLogLine.Level.WARNING)
    with transaction.atomic():
        for entity in missing:
            ListLink.objects.create(
                tenant=sync.tenant, group=group, list_id=uuid.uuid4(), member_type=entity,
                list_name=list_name(group, entity), origin=LinkOrigin.MAILWORX_GROUP,
                state=ListLinkState.PENDING, create_owner=owner)


def _create(sync: Sync, link: ListLink, cache: dict[str, CrmList]) -> None:
    link_back = sync.org.bidirectional_sync
    body: dict[str, object] = {"listname": link.list_name, "type": False,
                               "createdfromcode": MEMBER_TYPE_OF[link.member_type]}
    if link.create_owner:
        body["ownerid@odata.bind"] = f"/systemusers({link.create_owner})"
    if link_back:
        body["mwx_syncwithmailworx"] = True
        body["mwx_mailworxgroupid"] = str(link.group_id)
    list_id = str(link.list_id)
    # 412 (a list with this id exists: an earlier attempt made it) counts as created.
    sync.client.create("lists", body, id=list_id)
    with transaction.atomic():
        link.state = ListLinkState.ACTIVE
        link.linked_back = link_back
        link.save(update_fields=["state", "linked_back", "updated_at"])
        cached, _new = CrmList.objects.update_or_create(
            tenant=sync.tenant, list_id=list_id, defaults={
                "name": link.list_name, "member_type": link.member_type, "marked": link_back,
                "active": True, "locked": False, "member_count": 0, "version": None,
                "group_ref": str(link.group_id) if link_back else "", "exists": True,
                "last_seen": timezone.now()})
    cache[list_id] = cached
    sync.count(STEP, "lists_created")
    sync.log(_("Marketing list “%(list)s” created in the CRM for group “%(group)s”.")
             % {"list": link.list_name, "group": link.group.name})
    sync.checkpoint(STEP)
