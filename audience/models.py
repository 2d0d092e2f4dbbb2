"""The mailworx-side data. The foundation holds subscriber field definitions; the audience
issue adds subscribers, groups, campaigns and reactions."""

from __future__ import annotations

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from tenants.models import Tenant


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
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
        return self.label_de if (get_language() or "en").startswith("de") else self.label_en

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
        return self.label_de if (get_language() or "en").startswith("de") else self.label_en
