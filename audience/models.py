"""The mailworx-side data. The foundation holds subscriber field definitions; the audience
issue adds subscribers, groups, campaigns and reactions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from audience.consent_models import (  # noqa: F401 - re-exported: the app's models live here
    IMPORT_COLUMNS,
    AppendOnly,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    SubscriberStatus,
    SuppressedAddress,
    SuppressionReason,
)
from mailworx_crm.entity_types import EntityType
from mailworx_crm.i18n import localized
from tenants.models import Tenant


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    # "Date only" as the CRM calls such values: one name per type on every page.
    DATE = "date", _("Date only")
    DATETIME = "datetime", _("Date and time")
    BOOLEAN = "boolean", _("Yes/no")
    SINGLE_SELECT = "single_select", _("Single select")
    MULTI_SELECT = "multi_select", _("Multi select")

    @property
    def has_options(self) -> bool:
        return self in (FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT)


class SubscriberField(models.Model):
    """A profile field definition (*Abonnentenfeld*). ``key`` is the stable internal name."""

    # Keys of the standard fields every tenant has; the sync relies on these names.
    EMAIL = "email"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    LANGUAGE = "language"
    COMPANY = "company"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="subscriber_fields")
    key = models.SlugField(
        _("internal name"),
        max_length=60,
        help_text=_("Stable name used by imports, the API and the sync; cannot be changed later."),
    )
    label_en = models.CharField(_("label (English)"), max_length=120)
    label_de = models.CharField(_("label (German)"), max_length=120)
    field_type = models.CharField(_("type"), max_length=20, choices=FieldType.choices)
    is_standard = models.BooleanField(_("standard field"), default=False, editable=False)
    position = models.PositiveIntegerField(default=0)

    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="subscriber_field_key_unique")
        ]
        verbose_name = _("subscriber field")
        verbose_name_plural = _("subscriber fields")

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return localized(self.label_en, self.label_de)

    @property
    def type_enum(self) -> FieldType:
        return FieldType(self.field_type)


class SubscriberFieldOption(models.Model):
    """One option of a single- or multi-select field; ``value`` is stable, labels translate."""

    field = models.ForeignKey(SubscriberField, on_delete=models.CASCADE, related_name="options")
    value = models.SlugField(_("value"), max_length=60)
    label_en = models.CharField(_("label (English)"), max_length=120)
    label_de = models.CharField(_("label (German)"), max_length=120)
    position = models.PositiveIntegerField(default=0)

    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "value"]
        constraints = [
            models.UniqueConstraint(fields=["field", "value"], name="field_option_value_unique")
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return localized(self.label_en, self.label_de)


# --- Subscribers, groups, campaigns and reactions (the audience data issue) -----------------
#
# Storage choice for field values: one row per (subscriber, field) in ``SubscriberValue``
# with its own ``modified_at``, rather than a JSON column plus a JSON of modification times.
# - S11 decides conflicts field by field, so every value needs its own modification time;
#   as a row it is a plain indexed column, not a key inside a blob.
# - The sync reads "values changed since the cursor": ``(tenant, modified_at)`` is an index
#   on this table, where a JSON design would scan every subscriber of the tenant.
# - Bulk writes stay fast: new and changed values go out as one multi-row
#   ``INSERT … ON CONFLICT (subscriber, field) DO UPDATE`` per chunk (PostgreSQL and SQLite),
#   and an update that changes one field writes one row, not the subscriber's whole profile.
# Every field — the standard ones included — is a value. ``email`` and ``language`` are also
# mirrored as columns on ``Subscriber`` (kept equal by ``audience.subscribers``) because
# matching and the language of records need them indexed; their modification times live in
# the value rows like any other field's.


class SubscriberQuerySet(models.QuerySet["Subscriber"]):
    def live(self) -> SubscriberQuerySet:
        """Subscribers that were not merged into another one (tombstones excluded, S9)."""
        return self.filter(merged_into__isnull=True)


class Subscriber(models.Model):
    """A mailworx recipient (*Abonnent*). Addresses are not unique (S9)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="subscribers")
    email = models.CharField(_("email address"), max_length=254)
    email_normalised = models.CharField(max_length=254, editable=False)
    language = models.CharField(_("language"), max_length=8)
    # The permission (N6), the one stored truth; ``status`` is derived from it. Changed only
    # through ``audience.consent``, which writes the history entry with it.
    consent = models.CharField(
        _("permission"), max_length=30, choices=ConsentState.choices,
        default=ConsentState.UNKNOWN,
    )
    consent_changed_at = models.DateTimeField(_("permission changed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # A merged-away subscriber is a tombstone pointing at the survivor (S9). Indexed only
    # where set (Meta): every "live subscribers" query asks for ``IS NULL``, and SQLite's
    # planner took a full index on it for selective — a walk over every live subscriber of
    # every tenant — instead of the tenant's address index (mailworx_crm/planner_statistics.py).
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from",
        verbose_name=_("merged into"), db_index=False,
    )

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["tenant", "email_normalised"], name="subscriber_tenant_email"),
            models.Index(fields=["tenant", "updated_at"], name="subscriber_tenant_updated"),
            models.Index(fields=["merged_into"], name="subscriber_merged_into",
                         condition=models.Q(merged_into__isnull=False)),
        ]
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")

    def __str__(self) -> str:
        return self.email

    @property
    def is_tombstone(self) -> bool:
        return self.merged_into_id is not None

    @property
    def status(self) -> SubscriberStatus:
        """The mailing status, derived from the permission (see ``audience.consent_models``)."""
        return ConsentState(self.consent).status

    @property
    def status_changed_at(self) -> dt.datetime | None:
        return self.consent_changed_at


class SubscriberValue(models.Model):
    """One field value of one subscriber, with its own modification time (S11).

    ``value`` is the canonical text form (numbers as written, booleans ``true``/``false``,
    dates ISO 8601, select fields the option's ``value``); ``""`` is a cleared value.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="values")
    field = models.ForeignKey(SubscriberField, on_delete=models.CASCADE, related_name="values")
    value = models.TextField(_("value"), blank=True)
    modified_at = models.DateTimeField(_("modified"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "field"], name="one_value_per_field")
        ]
        indexes = [
            models.Index(fields=["tenant", "modified_at"], name="value_tenant_modified"),
        ]

    def __str__(self) -> str:
        return f"{self.field_id}={self.value}"


class SubscriberGroup(models.Model):
    """A set of subscribers (*Abonnentengruppe*); the unit that syncs with marketing lists."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="subscriber_groups")
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="subscriber_group_name_unique")
        ]
        verbose_name = _("subscriber group")
        verbose_name_plural = _("subscriber groups")

    def __str__(self) -> str:
        return self.name


class PendingImport(models.Model):
    """A checked CSV file between its preview and the admin's "Confirm import": kept here,
    not sent back to the browser, so a file that previews also imports whatever its size.
    Gone once imported, and after a day at the latest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("SubscriberGroup", on_delete=models.CASCADE, related_name="+")
    text = models.TextField()
    encoding = models.CharField(max_length=40)
    rows = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.group_id}: {self.rows} rows"


class GroupMembership(models.Model):
    group = models.ForeignKey(SubscriberGroup, on_delete=models.CASCADE, related_name="memberships")
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="memberships"
    )
    added_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "subscriber"], name="one_membership_per_group")
        ]

    def __str__(self) -> str:
        return f"{self.subscriber_id} in {self.group_id}"


class SyncMode(models.TextChoices):
    CREATE = "create", _("Create new CRM records only")
    LINK = "link", _("Link existing CRM records only")
    BOTH = "both", _("Create and link")


def entity_type_choices() -> list[tuple[str, Any]]:
    """The synced CRM tables (a callable because migrations refer to it by name)."""
    return list(EntityType.choices)


class GroupSyncSetting(models.Model):
    """A group's CRM sync setting (S5)."""

    group = models.OneToOneField(
        SubscriberGroup, on_delete=models.CASCADE, related_name="sync_setting"
    )
    enabled = models.BooleanField(_("sync with the CRM"), default=True)
    future_owner = models.CharField(
        _("owner of new records"), max_length=200, blank=True,
        help_text=_("The CRM user who will own records this group creates, written as that "
                    "user logs in: an email address for Online, DOMAIN\\user for on-premise."),
    )
    entity_type = models.CharField(
        _("new records become"), max_length=20,
        choices=entity_type_choices, default="contact",
    )
    mode = models.CharField(
        _("mode"), max_length=10, choices=SyncMode.choices, default=SyncMode.BOTH
    )
    business_unit = models.ForeignKey(
        "businessunits.BusinessUnit", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("business unit"),
        help_text=_("Whose field mappings and reaction owner apply; empty means the tenant's "
                    "default unit."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("group sync setting")
        verbose_name_plural = _("group sync settings")

    def __str__(self) -> str:
        return f"{self.group}: {self.mode}"


# Campaigns and reactions: their own module, re-exported here (the app's models live here).
from audience.campaign_models import (  # noqa: E402, F401
    BounceType,
    Campaign,
    Reaction,
    ReactionKind,
)
