"""Campaigns a tenant sent and the reactions to them (opens, clicks, bounces), which the
reaction export writes into the CRM (S4, C5)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant


class Campaign(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(_("name"), max_length=200)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    business_unit = models.ForeignKey(
        "businessunits.BusinessUnit", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("business unit"),
    )
    group = models.ForeignKey(
        "audience.SubscriberGroup", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="campaigns", verbose_name=_("group"),
    )
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    recipients = models.PositiveIntegerField(_("recipients"), default=0)
    crm_campaign_id = models.UUIDField(null=True, blank=True)
    crm_campaign_activity_id = models.UUIDField(null=True, blank=True)
    # S3: when the CRM confirmed our take-over of the activity (``mwx_takenoveron``).
    # Empty while a campaign made from an activity waits for that confirmation, so a
    # resumed sync knows which take-overs it still has to finish (N1).
    crm_taken_over_at = models.DateTimeField(_("taken over from the CRM"), null=True,
                                             blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            # One campaign per CRM campaign activity: a resumed or repeated take-over finds
            # the campaign it made instead of making a second one (N1).
            models.UniqueConstraint(
                fields=["tenant", "crm_campaign_activity_id"],
                condition=models.Q(crm_campaign_activity_id__isnull=False),
                name="one_campaign_per_crm_activity",
            )
        ]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name


class ReactionKind(models.TextChoices):
    OPEN = "open", _("Open")
    CLICK = "click", _("Click")
    BOUNCE = "bounce", _("Bounce")


class BounceType(models.TextChoices):
    HARD = "hard", _("Hard bounce")
    SOFT = "soft", _("Soft bounce")


class Reaction(models.Model):
    """What a recipient did with a mailing; ``source_event_id`` makes ingest idempotent."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="reactions")
    subscriber = models.ForeignKey(
        "audience.Subscriber", on_delete=models.CASCADE, related_name="reactions"
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reactions")
    kind = models.CharField(_("kind"), max_length=10, choices=ReactionKind.choices)
    bounce_type = models.CharField(
        _("bounce type"), max_length=10, choices=BounceType.choices, blank=True
    )
    url = models.TextField(_("clicked URL"), blank=True)
    occurred_at = models.DateTimeField(_("occurred"))
    source_event_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_event_id"], name="reaction_event_unique"
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="bounce") & ~models.Q(bounce_type=""))
                | (~models.Q(kind="bounce") & models.Q(bounce_type="")),
                name="reaction_bounce_type_only_for_bounces",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="click") | models.Q(url=""),
                name="reaction_url_only_for_clicks",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "id"], name="reaction_tenant_cursor"),
            models.Index(fields=["campaign", "kind"], name="reaction_campaign_kind"),
        ]
        verbose_name = _("reaction")
        verbose_name_plural = _("reactions")

    def __str__(self) -> str:
        return f"{self.kind} {self.subscriber_id}/{self.campaign_id}"
