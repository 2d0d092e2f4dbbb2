"""What the sync engine remembers between runs: record links, cursors, record-level issues
and the latest outcome per tenant. Imported at the bottom of ``syncjobs.models``."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from audience.models import Campaign, Subscriber, SubscriberGroup
from mailworx_crm.entity_types import EntityType
from mailworx_crm.texts import StoredTextField
from tenants.models import Tenant


class LinkOrigin(models.TextChoices):
    """What made a record link or a list link: a CRM marketing list marked for sync (S1),
    or a mailworx group's CRM setting (S5/S6)."""

    CRM_LIST = "crm_list", _("CRM marketing list marked for sync")
    MAILWORX_GROUP = "mailworx_group", _("mailworx group")


class LinkState(models.TextChoices):
    # A create is planned: crm_id was chosen by us and stored before the request (N1).
    PENDING = "pending", _("Being created in the CRM")
    ACTIVE = "active", _("Linked")
    UNLINKED = "unlinked", _("Unlinked")
    CRM_DELETED = "crm_deleted", _("Deleted in the CRM")


# States that hold the subscriber (one such link per live subscriber) and the CRM record.
HOLDING_STATES = [LinkState.PENDING, LinkState.ACTIVE, LinkState.CRM_DELETED]


class RecordLink(models.Model):
    """A subscriber ↔ CRM record link.

    ``synced_values``: per mapped subscriber-field key, the value (mailworx canonical text)
    both sides had after the last sync; S11 compares each side against it.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="record_links")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE,
                                   related_name="crm_links")
    entity_type = models.CharField(max_length=16, choices=EntityType.choices)
    crm_id = models.UUIDField()
    origin = models.CharField(max_length=20, choices=LinkOrigin.choices,
                              default=LinkOrigin.MAILWORX_GROUP)
    # The group whose setting (business unit, owner) made the link; None for list origins.
    group = models.ForeignKey(SubscriberGroup, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    state = models.CharField(max_length=20, choices=LinkState.choices, default=LinkState.ACTIVE)
    crm_active = models.BooleanField(default=True)  # statecode 0 when last seen
    synced_values = models.JSONField(default=dict, blank=True)
    # Per mapped field: which side last set the value, in which run, by which S11 rule —
    # ``{key: [side, run id, rule]}`` (syncjobs/engine/provenance.py). Written in the same
    # statement as ``synced_values``, so recording it costs the sync no query.
    field_sources = models.JSONField(default=dict, blank=True)
    # The CRM record's "do not allow bulk email" as last synced, read or written (S13): an
    # unsubscribe already written back is not sent again, and a flag cleared in the CRM
    # while the subscriber stays unsubscribed is set again by push.
    bulk_email_blocked = models.BooleanField(default=False)
    # The CRM record's ``mwx_subscriberid`` names this link's subscriber (written on records
    # the product creates or links, so the CRM side can always find the subscriber).
    subscriber_id_written = models.BooleanField(default=False)
    # The mailworx side has changes the CRM has not received yet (set by match / pull).
    needs_push = models.BooleanField(default=False)
    crm_modifiedon = models.DateTimeField(null=True, blank=True)
    crm_versionnumber = models.BigIntegerField(null=True, blank=True)
    merged_into = models.UUIDField(null=True, blank=True)
    # For a pending create: the systemuser who will own the new record (S5).
    create_owner = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "entity_type", "crm_id"],
                condition=Q(state__in=["pending", "active"]),
                name="one_live_link_per_crm_record",
            ),
            models.UniqueConstraint(
                fields=["subscriber"], condition=Q(state__in=["pending", "active", "crm_deleted"]),
                name="one_link_per_subscriber",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "entity_type"]),
            # Rows read from the CRM find their links by record id. The partial unique
            # constraint above serves that only where the database can prove the query's
            # state implies its condition (PostgreSQL can, SQLite cannot); without this
            # index every look-up scanned the tenant's links (quadratic in the tenant). All
            # four columns, so SQLite's planner prefers it to the index above.
            models.Index(fields=["tenant", "crm_id", "entity_type", "state"],
                         name="recordlink_crm_id"),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber_id} ↔ {self.entity_type}({self.crm_id}) [{self.state}]"


class SyncCursor(models.Model):
    """Where a step stopped; advanced in the same transaction as the writes it covers."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sync_cursors")
    name = models.CharField(max_length=60)  # "pull:contact", "push"
    delta_link = models.TextField(blank=True)
    # What the delta link was asked for ($select); a different one starts afresh.
    signature = models.CharField(max_length=200, blank=True)
    watermark = models.DateTimeField(null=True, blank=True)
    last_key = models.CharField(max_length=100, blank=True)  # de-dup within one instant
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"],
                                               name="one_cursor_per_name")]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.name}"


class IssueState(models.TextChoices):
    OPEN = "open", pgettext_lazy("sync issue state", "Open")
    RETRYING = "retrying", _("Retrying")
    RESOLVED = "resolved", _("Resolved")
    IGNORED = "ignored", _("Ignored")


class SyncIssue(models.Model):
    """A record that could not sync, in words an admin understands (N3)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sync_issues")
    run = models.ForeignKey("syncjobs.JobRun", null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="issues")
    subscriber = models.ForeignKey(Subscriber, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="sync_issues")
    # contact/account/lead, or a CRM table the issue is about (list, mwx_emailreaction …).
    entity_type = models.CharField(max_length=40, blank=True)
    crm_id = models.UUIDField(null=True, blank=True)
    step = models.CharField(_("step"), max_length=20)
    code = models.CharField(_("CRM error code"), max_length=40, blank=True)
    # Stored texts (mailworx_crm/texts.py): read in the reader's language.
    reason = StoredTextField(_("reason"))
    hint = StoredTextField(_("what to do"), blank=True)
    attempts = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=20, choices=IssueState.choices, default=IssueState.OPEN)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen", "-pk"]
        indexes = [models.Index(fields=["tenant", "state", "step"])]

    def __str__(self) -> str:
        return f"{self.step}: {self.reason[:60]}"


class AttemptOutcome(models.TextChoices):
    FAILED = "failed", _("Failed")
    RETRY_REQUESTED = "retry", _("Retry requested")
    IGNORED = "ignored", _("Ignored")
    RESOLVED = "resolved", _("Synced")


class SyncIssueAttempt(models.Model):
    """One entry of an issue's history: each failed attempt, each retry a person asked
    for and the outcome, kept across retries (``SyncIssue.attempts`` restarts at a retry)."""

    issue = models.ForeignKey(SyncIssue, on_delete=models.CASCADE, related_name="history")
    run = models.ForeignKey("syncjobs.JobRun", null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    reason = StoredTextField(_("reason"), blank=True)
    # Who asked for a retry or ignored the issue; empty for the sync's own attempts.
    by = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.issue_id}: {self.outcome}"


class SyncStatus(models.Model):
    """The latest sync outcome per tenant, so list pages need no joins or aggregates."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="sync_status")
    last_run = models.ForeignKey("syncjobs.JobRun", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last successful sync"), null=True, blank=True)
    last_error = StoredTextField(_("last error"), blank=True)
    open_issues = models.PositiveIntegerField(default=0)
    # S14: when the last run began that applied every field mapping to every linked record
    # (a backfill); a mapping saved after it leaves the records linked before it behind.
    mappings_applied_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.last_sync_at}"


class ReactionExportState(models.TextChoices):
    # Not written yet: the subscriber has no CRM record yet, or the CRM refused the write.
    PENDING = "pending", _("Waiting to be exported")
    EXPORTED = "exported", _("Exported")
    # The pair has no reactions any more (merged into another subscriber): the activity
    # was emptied so that no reaction counts in two activities.
    CLEARED = "cleared", _("Emptied")


class ReactionExport(models.Model):
    """What the CRM reaction activity of one (campaign, subscriber) pair holds (S4).

    The activity carries totals recomputed from all of the pair's reactions, so writing it
    again can never count a reaction twice. ``digest`` is a hash of the last payload the
    CRM confirmed; a pair whose payload did not change costs no request. ``exported_at`` is
    set once a write was confirmed: the activity exists from then on.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=20, choices=ReactionExportState.choices,
                             default=ReactionExportState.PENDING)
    digest = models.CharField(max_length=64, blank=True)
    # {"opens": n, "clicks": n, "bounces": n} as last computed (for admins and support).
    totals = models.JSONField(default=dict, blank=True)
    reason = models.CharField(_("why it waits"), max_length=200, blank=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "subscriber"],
                                               name="one_reaction_export_per_pair")]
        indexes = [models.Index(fields=["tenant", "state"])]

    def __str__(self) -> str:
        return f"{self.key} [{self.state}]"

    @property
    def key(self) -> str:
        """The activity's alternate key ``mwx_reactionkey`` (docs/crm-solution.md §4)."""
        return f"{self.campaign_id}-{self.subscriber_id}"


class CampaignExport(models.Model):
    """The reactions step's state of one mailworx campaign in the CRM.

    ``create_pending``: the step chose the CRM campaign's id (stored in
    ``Campaign.crm_campaign_id`` before the request) and has not seen the create confirmed;
    the next attempt sends the same create again. ``figures_due``: reactions changed since
    the campaign figures (C5) were last written; set in the transaction of the activities.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="+")
    create_pending = models.BooleanField(default=False)
    figures_due = models.BooleanField(default=False)
    figures_written_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.campaign_id}: figures due={self.figures_due}"
