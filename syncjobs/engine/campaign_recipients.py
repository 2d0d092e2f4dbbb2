"""The recipients of a campaign activity (S3): the members of its linked marketing lists —
a static list's listmember rows, a dynamic list's query results (``list_query``) —
adopted as subscribers (S1 rules, S2: never a qualified lead), recorded as the campaign's
group together with the campaign itself.

Adoption runs before anything else is written and is idempotent (a record already linked
keeps its subscriber), so a crash while reading members only repeats reads. The campaign,
its group and the group's members are then written in one transaction: a resumed run
finds the campaign complete, or not at all (N1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy

from audience.campaigns import create_campaign
from audience.groups import add_members, create_group_with_free_name
from audience.models import Campaign, ConsentState, SubscriberGroup, SubscriberStatus
from businessunits.models import BusinessUnit
from mailworx_crm.entity_types import MEMBER_TYPE_CODES
from mailworx_crm.texts import deferred as _
from syncjobs.engine.adopt import adopt_records, list_member_pages
from syncjobs.engine.context import Sync
from syncjobs.engine.list_query import QueryRefused, query_member_pages
from syncjobs.models.lists import LIVE_LIST_STATES, ListLink
from tenants.models import Tenant

STEP = "campaigns"
ACTIVITIES = "campaignactivities"
ACTIVITY_ENTITY = "campaignactivity"
LIST_COLUMNS = ["listid", "listname", "type", "query", "createdfromcode",
                "mwx_mailworxgroupid"]

SKIP_OTHER_TYPE = gettext_lazy("marketing list of a member type the connector does not sync")


@dataclass(frozen=True)
class Refusal:
    """Why an activity cannot be taken over, in words for the admin (N3)."""

    short: str  # the counter's reason
    reason: str
    hint: str


def activity_key(row: dict[str, Any]) -> str:
    return str(row.get("activityid") or "").lower()


def activity_subject(row: dict[str, Any]) -> str:
    subject = str(row.get("subject") or "").strip()
    return subject or _("Campaign activity %(id)s") % {"id": activity_key(row)}


def prepare_campaign(sync: Sync, row: dict[str, Any]) -> Campaign | Refusal:
    """Read the activity's lists and members; record the campaign with its group."""
    aid = activity_key(row)
    subject = activity_subject(row)
    lists = list(sync.client.query(f"{ACTIVITIES}({aid})/campaignactivitylist_association",
                                   select=LIST_COLUMNS))
    if not lists:
        return Refusal(
            str(_("campaign activity without marketing lists")),
            _("The campaign activity “%(subject)s” has no marketing lists, so it has no "
              "recipients.") % {"subject": subject},
            _("Add one or more marketing lists to the activity in the CRM and "
              "distribute it again; the next sync takes it over."))
    usable = [lst for lst in lists if lst.get("createdfromcode") in MEMBER_TYPE_CODES]
    if len(usable) < len(lists):
        sync.skip(STEP, str(SKIP_OTHER_TYPE), len(lists) - len(usable))
    if not usable:
        return Refusal(
            str(_("campaign activity with lists of other member types only")),
            _("The marketing lists of the campaign activity “%(subject)s” hold records of a "
              "type the connector does not sync (only contacts, accounts and leads).")
            % {"subject": subject},
            _("Link a list of contacts, accounts or leads to the activity and distribute it "
              "again."))
    unit_id = _unit_of_linked_group(sync, usable)
    members: set[int] = set()
    for lst in usable:
        entity = MEMBER_TYPE_CODES[int(lst["createdfromcode"])]
        try:
            for page in _member_pages(sync, lst, entity, unit_id):
                members.update(adopt_records(sync, STEP, entity, page,
                                             unit_id=unit_id).values())
                sync.checkpoint(STEP)
        except QueryRefused as exc:
            # Recipients from the other lists only would be a different mailing: refuse it.
            return Refusal(
                str(_("campaign activity with a dynamic list whose query cannot be read")),
                _("The recipients of the campaign activity “%(subject)s” cannot be read. "
                  "%(why)s") % {"subject": subject, "why": exc.reason}, exc.hint)
    if not members:
        return Refusal(
            str(_("campaign activity whose lists have no usable members")),
            _("The marketing lists of the campaign activity “%(subject)s” have no member "
              "who can receive mail (the lists are empty, or hold only qualified leads, "
              "deactivated records or records without an email address).")
            % {"subject": subject},
            _("Add members with an email address to the activity's lists in the CRM and "
              "distribute it again; the next sync takes it over."))
    return _record(sync, row, subject, unit_id, members)


def _member_pages(sync: Sync, lst: dict[str, Any], entity: str,
                  unit_id: int | None) -> Iterator[list[dict[str, Any]]]:
    if lst.get("type"):  # dynamic: the results of its query, as at distribution time
        return query_member_pages(sync, str(lst.get("listname") or lst["listid"]),
                                  str(lst.get("query") or ""), entity, unit_id)
    return list_member_pages(sync, str(lst["listid"]), entity, unit_id)


def _unit_of_linked_group(sync: Sync, lists: list[dict[str, Any]]) -> int | None:
    """S5: a campaign belongs to the unit of the group its lists are linked to — the first
    list with a live link (or, for a link made elsewhere, whose ``mwx_mailworxgroupid``
    names one of this tenant's groups) — else to the tenant's default unit."""
    ids = [str(lst.get("listid") or "").lower() for lst in lists]
    links = {str(link.list_id): link.group_id for link in ListLink.objects.filter(
        tenant=sync.tenant, list_id__in=ids, state__in=LIVE_LIST_STATES)}
    for list_id, lst in zip(ids, lists, strict=True):
        group_id = links.get(list_id)
        named = str(lst.get("mwx_mailworxgroupid") or "").strip()
        if group_id is None and named.isdigit() and SubscriberGroup.objects.filter(
                tenant=sync.tenant, pk=int(named)).exists():
            group_id = int(named)
        if group_id is not None:
            return sync.unit_for_group(group_id)
    return sync.default_unit_id()


def _record(sync: Sync, row: dict[str, Any], subject: str, unit_id: int | None,
            members: set[int]) -> Campaign:
    unit = (BusinessUnit.objects.filter(tenant=sync.tenant, pk=unit_id).first()
            if unit_id is not None else None)
    parent = row.get("_regardingobjectid_value")
    with transaction.atomic():
        group = _new_group(sync.tenant, subject)
        add_members(group, members)
        # Recipients are the members who can receive mail: a record that forbids bulk email
        # arrives unsubscribed (S13) and stays in the group without counting (C5 rates).
        recipients = group.memberships.filter(
            subscriber__consent__in=ConsentState.with_status(SubscriberStatus.ACTIVE)).count()
        return create_campaign(
            sync.tenant, subject[:200], subject=subject[:300], group=group,
            business_unit=unit, recipients=recipients,
            crm_campaign_id=str(parent).lower() if parent else None,
            crm_campaign_activity_id=activity_key(row))


def _new_group(tenant: Tenant, subject: str) -> SubscriberGroup:
    """A group of its own per campaign; group names are unique, so a taken one is numbered."""
    return create_group_with_free_name(
        tenant, _("%(subject)s – recipients") % {"subject": subject},
        _("Recipients of the CRM campaign activity “%(subject)s”.") % {"subject": subject})


def withdraw_campaign(campaign: Campaign) -> None:
    """Remove a campaign made from an activity that we did not get, and its own group."""
    with transaction.atomic():
        group_id = campaign.group_id
        campaign.delete()
        if group_id is not None and not Campaign.objects.filter(group_id=group_id).exists():
            SubscriberGroup.objects.filter(pk=group_id).delete()
