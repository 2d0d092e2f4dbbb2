"""Consent as data (SPEC N6): the permission states, the append-only history of changes and
the tenant's suppression list. The rules that change them live in ``audience.consent``;
this module only stores.

One source of truth: ``Subscriber.consent`` holds a ``ConsentState``. The older mailing
status (active / unsubscribed / bounced) is no longer stored: ``Subscriber.status`` is
computed from the consent state (``ConsentState.status``), so the two can never disagree.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant


class SubscriberStatus(models.TextChoices):
    """What the mailing side may do with a subscriber — derived, never stored."""

    ACTIVE = "active", _("Active")
    PENDING = "pending", _("Awaiting confirmation")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    BOUNCED = "bounced", _("Bounced")


class ConsentState(models.TextChoices):
    """A subscriber's current permission to receive marketing email."""

    DOUBLE_OPT_IN = "double_opt_in", _("Opted in (double opt-in)")
    OPTED_IN = "opted_in", _("Opted in (single opt-in)")
    # Known to be on the list, but not how the permission was given: subscribers from
    # before consent tracking, and creations that state nothing about consent.
    UNKNOWN = "unknown", _("Unknown")
    AWAITING_CONFIRMATION = "awaiting_confirmation", _("Awaiting confirmation")
    OPTED_OUT = "opted_out", _("Opted out")
    BOUNCED = "bounced", _("Bounced (undeliverable)")

    @property
    def status(self) -> SubscriberStatus:
        return _STATUS[self]

    @property
    def may_receive(self) -> bool:
        """True for the states the mailing side may send marketing mail to."""
        return _STATUS[self] == SubscriberStatus.ACTIVE

    @classmethod
    def with_status(cls, status: str) -> list[ConsentState]:
        """The states whose derived status is ``status`` (for filters by status)."""
        return [state for state in cls if _STATUS[state] == status]


_STATUS = {
    ConsentState.DOUBLE_OPT_IN: SubscriberStatus.ACTIVE,
    ConsentState.OPTED_IN: SubscriberStatus.ACTIVE,
    ConsentState.UNKNOWN: SubscriberStatus.ACTIVE,
    ConsentState.AWAITING_CONFIRMATION: SubscriberStatus.PENDING,
    ConsentState.OPTED_OUT: SubscriberStatus.UNSUBSCRIBED,
    ConsentState.BOUNCED: SubscriberStatus.BOUNCED,
}


class ConsentSource(models.TextChoices):
    """Where a consent change came from."""

    FORM = "form", _("Sign-up form")
    IMPORT = "import", _("CSV import")
    API = "api", _("API")
    CRM = "crm", _("CRM")
    CRM_CONSENT_TABLE = "crm_consent_table", _("CRM consent table (Customer Insights)")
    BOUNCE = "bounce", _("Bounce")
    ADMIN = "admin", _("Administrator in mailworx")
    MERGE = "merge", _("Merge of duplicates")
    ERASURE = "erasure", _("Erasure")
    BEFORE_TRACKING = "before_consent_tracking", _("Before consent tracking")


# The consent columns an import may carry (audience.consent_items); reserved, never the
# internal name of a subscriber field.
IMPORT_COLUMNS = ("consent", "consent_date", "consent_source")


class SuppressionReason(models.TextChoices):
    OPTED_OUT = "opted_out", _("Opted out")
    HARD_BOUNCE = "hard_bounce", _("Hard bounce")
    ERASED = "erased", _("Erased")


class AppendOnly(Exception):
    """A consent history entry was about to be changed or deleted through the ORM."""


class ConsentEventQuerySet(models.QuerySet["ConsentEvent"]):
    # History is evidence (GDPR Art. 7(1)): no bulk update or delete through the ORM. The
    # only deletion paths are a subscriber's own deletion (database cascade) and
    # ``audience.consent.purge_events`` (erasure and retention).
    def update(self, **kwargs: Any) -> int:
        # The one exception: deleting a user account sets ``user`` to NULL (SET_NULL);
        # ``actor`` keeps who it was.
        if kwargs == {"user": None}:
            return super().update(**kwargs)
        raise AppendOnly("consent history entries cannot be changed")

    def delete(self) -> NoReturn:
        raise AppendOnly("consent history entries cannot be deleted")


# Words for the keys of ``ConsentEvent.detail`` on the subscriber page.
DETAIL_LABELS = {
    "confirmed_at": _("confirmed"),
    "confirmation_source": _("confirmation source"),
    "original_date": _("original date"),
    "original_source": _("original source"),
    "entity": _("CRM table"),
    "record_id": _("CRM record"),
    "crm_user": _("CRM user"),
    "modifiedon": _("changed in the CRM"),
    "run_id": _("sync run"),
    "merged_subscriber_id": _("merged subscriber"),
    "status": _("status before"),
    "subscribed_at": _("subscribed"),
}


class ConsentEvent(models.Model):
    """One change of a subscriber's permission: when, where from, how (detail), who."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    subscriber = models.ForeignKey(
        "audience.Subscriber", on_delete=models.CASCADE, related_name="consent_events"
    )
    state = models.CharField(_("permission"), max_length=30, choices=ConsentState.choices)
    previous_state = models.CharField(
        _("previous permission"), max_length=30, choices=ConsentState.choices, blank=True
    )
    # When the permission was given or changed — an import may carry an earlier date than
    # ``recorded_at``, the moment mailworx learnt of it.
    occurred_at = models.DateTimeField(_("when"))
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    source = models.CharField(_("source"), max_length=30, choices=ConsentSource.choices)
    # How: e.g. {"confirmed_at": …, "confirmation_source": …} for a double opt-in,
    # {"entity": "contact", "record_id": …, "crm_user": …} for the CRM, {"run_id": …}.
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    # Who, as a readable name that outlives the user account ("anna@example.com",
    # "sync run 42", "system").
    actor = models.CharField(_("who"), max_length=200, blank=True)

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["subscriber", "occurred_at"], name="consent_event_subscriber"),
            models.Index(fields=["tenant", "recorded_at"], name="consent_event_tenant"),
        ]
        verbose_name = _("consent history entry")
        verbose_name_plural = _("consent history")

    def __str__(self) -> str:
        return f"{self.subscriber_id}: {self.previous_state}→{self.state} ({self.source})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnly("consent history entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("consent history entries cannot be deleted")

    @property
    def detail_lines(self) -> list[tuple[str, str]]:
        """The detail as ``(words, value)`` pairs, known keys first."""
        detail = self.detail or {}
        known = [
            (str(DETAIL_LABELS[k]), str(detail[k]))
            for k in DETAIL_LABELS
            if detail.get(k) not in (None, "")
        ]
        return known + [
            (k, str(v)) for k, v in detail.items() if k not in DETAIL_LABELS and v not in (None, "")
        ]


class SuppressedAddress(models.Model):
    """An address nothing may add or re-subscribe (N6), kept only as a keyed hash of the
    normalised address (``audience.suppression_key``): after an erasure the hash is all
    that is left, and it still finds the address when it comes back."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    address_hash = models.CharField(max_length=64)
    reason = models.CharField(_("reason"), max_length=20, choices=SuppressionReason.choices)
    suppressed_at = models.DateTimeField(_("suppressed"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "address_hash"], name="one_suppression_per_address"
            )
        ]
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")

    def __str__(self) -> str:
        return f"{self.address_hash[:12]}… ({self.reason})"
