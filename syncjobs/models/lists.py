"""What the lists step remembers: the tenant's CRM marketing lists (a cache for the UI and
for change detection), list ↔ group links and the membership last synced per link.
Imported at the bottom of ``syncjobs.models``."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from audience.models import SubscriberGroup
from syncjobs.models.sync import LinkOrigin
from tenants.models import Tenant


class CrmList(models.Model):
    """A CRM marketing list as the last lists step saw it (never read in a request)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="crm_lists")
    list_id = models.UUIDField()
    name = models.CharField(_("name"), max_length=200)
    member_type = models.CharField(_("member type"), max_length=16)
    marked = models.BooleanField(_("marked for sync"), default=False)
    active = models.BooleanField(_("active"), default=True)
    locked = models.BooleanField(_("locked"), default=False)
    member_count = models.IntegerField(_("members"), null=True, blank=True)
    # A dynamic list's members are the results of its FetchXML ``query`` (no listmember
    # rows); mailworx reads them and never writes them.
    dynamic = models.BooleanField(_("dynamic"), default=False)
    query = models.TextField(blank=True)
    # The list's versionnumber: it moves whenever its membership (or a column) changes —
    # for a dynamic list only when the row itself is edited, not when its results change.
    version = models.BigIntegerField(null=True, blank=True)
    group_ref = models.CharField(max_length=100, blank=True)  # mwx_mailworxgroupid
    # False once a lists step no longer found it in the CRM (deleted there).
    exists = models.BooleanField(default=True)
    last_seen = models.DateTimeField(_("last seen"), null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["tenant", "list_id"],
                                               name="one_cached_row_per_crm_list")]

    def __str__(self) -> str:
        return f"{self.name} ({self.member_type})"


class ListLinkState(models.TextChoices):
    # A create is planned: list_id was chosen by us and stored before the request (N1).
    PENDING = "pending", _("Being created in the CRM")
    ACTIVE = "active", _("Synced")
    STOPPED = "stopped", _("Stopped (unmarked or deactivated in the CRM)")
    CLOSED = "closed", _("Closed (list deleted in the CRM)")


LIVE_LIST_STATES = [ListLinkState.PENDING, ListLinkState.ACTIVE, ListLinkState.STOPPED]


class ListLink(models.Model):
    """A CRM marketing list ↔ subscriber group link (S1: from the list, S6: for the group).

    ``synced_version``: the list's versionnumber after the membership sync that produced the
    snapshot; the members are read again only when the CRM's version differs (N2).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="list_links")
    group = models.ForeignKey(SubscriberGroup, on_delete=models.CASCADE,
                              related_name="list_links")
    list_id = models.UUIDField()
    member_type = models.CharField(max_length=16)
    list_name = models.CharField(max_length=200)
    origin = models.CharField(max_length=20, choices=LinkOrigin.choices)
    state = models.CharField(max_length=20, choices=ListLinkState.choices,
                             default=ListLinkState.ACTIVE)
    # For a pending create: the systemuser who will own the new list (S5).
    create_owner = models.UUIDField(null=True, blank=True)
    synced_version = models.BigIntegerField(null=True, blank=True)
    # mwx_syncwithmailworx / mwx_mailworxgroupid written to the CRM (link-back, C6).
    linked_back = models.BooleanField(default=False)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "list_id"],
                                    condition=Q(state__in=["pending", "active", "stopped"]),
                                    name="one_live_link_per_crm_list"),
            models.UniqueConstraint(fields=["group", "member_type"],
                                    condition=Q(origin="mailworx_group"),
                                    name="one_created_list_per_group_and_type"),
        ]

    def __str__(self) -> str:
        return f"{self.list_name} ↔ group {self.group_id} [{self.state}]"


class ListMemberSnapshot(models.Model):
    """One CRM record that was a member of the linked list at the last membership sync."""

    link = models.ForeignKey(ListLink, on_delete=models.CASCADE, related_name="snapshot")
    crm_id = models.UUIDField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "crm_id"],
                                               name="one_snapshot_row_per_member")]

    def __str__(self) -> str:
        return f"{self.link_id}: {self.crm_id}"
