"""The CRM attribute catalogue (pulled metadata, C10) and field mappings (C12-C14)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from audience.models import FieldType, SubscriberField, SubscriberFieldOption
from businessunits.models import BusinessUnit
from mailworx_crm.entity_types import EntityType
from mailworx_crm.i18n import localized
from tenants.models import Tenant


class AttributeType(models.TextChoices):
    """Dataverse ``AttributeType`` values the catalogue keeps (lower-cased)."""

    STRING = "string", _("Text")
    MEMO = "memo", _("Multi-line text")
    INTEGER = "integer", _("Whole number")
    BIGINT = "bigint", _("Big integer")
    DECIMAL = "decimal", _("Decimal number")
    DOUBLE = "double", _("Floating point number")
    MONEY = "money", _("Currency")
    DATETIME = "datetime", _("Date and time")
    BOOLEAN = "boolean", _("Yes/no")
    # The same names as the subscriber field types they correspond to (one name per type).
    PICKLIST = "picklist", _("Single select")
    MULTISELECT = "multiselectpicklist", _("Multi select")
    LOOKUP = "lookup", _("Lookup")
    CUSTOMER = "customer", _("Customer lookup")
    OWNER = "owner", _("Owner")
    STATE = "state", _("Status")
    STATUS = "status", _("Status reason")
    UNIQUEIDENTIFIER = "uniqueidentifier", _("Unique identifier")
    OTHER = "other", _("Other")


class DateBehavior(models.TextChoices):
    USER_LOCAL = "UserLocal", _("Date and time (user local)")
    DATE_ONLY = "DateOnly", _("Date only")
    TIMEZONE_INDEPENDENT = "TimeZoneIndependent", _("Date and time (time-zone independent)")


class CrmAttribute(models.Model):
    """One attribute of a CRM entity as the tenant's CRM last described it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="crm_attributes")
    entity = models.CharField(max_length=64)  # contact/account/lead, or a lookup target
    logical_name = models.CharField(max_length=128)
    display_name_en = models.CharField(max_length=200, blank=True)
    display_name_de = models.CharField(max_length=200, blank=True)
    attribute_type = models.CharField(max_length=32, choices=AttributeType.choices)
    date_behavior = models.CharField(max_length=32, choices=DateBehavior.choices, blank=True)
    max_length = models.PositiveIntegerField(null=True, blank=True)
    lookup_targets = models.JSONField(default=list, blank=True)
    is_valid_for_update = models.BooleanField(default=True)
    # False once a pull no longer finds the attribute; mappings to it are flagged, not deleted.
    present = models.BooleanField(default=True)
    pulled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["entity", "logical_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "entity", "logical_name"], name="crm_attribute_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity}.{self.logical_name}"

    @property
    def display_name(self) -> str:
        return localized(self.display_name_en, self.display_name_de) or self.logical_name

    @property
    def type_enum(self) -> AttributeType:
        return AttributeType(self.attribute_type)

    @property
    def type_label(self) -> str:
        """The attribute's type as pages, messages and the API name it: a date and time
        that holds a date only is called what the subscriber field type is called."""
        if self.attribute_type == AttributeType.DATETIME:
            date_only = self.date_behavior == DateBehavior.DATE_ONLY
            return str((FieldType.DATE if date_only else FieldType.DATETIME).label)
        return str(self.type_enum.label)

    @property
    def is_lookup(self) -> bool:
        return self.attribute_type in (AttributeType.LOOKUP, AttributeType.CUSTOMER)


class CrmOption(models.Model):
    """One value of a CRM option set (choice)."""

    attribute = models.ForeignKey(CrmAttribute, on_delete=models.CASCADE, related_name="options")
    value = models.IntegerField()
    label_en = models.CharField(max_length=200, blank=True)
    label_de = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["value"]
        constraints = [
            models.UniqueConstraint(fields=["attribute", "value"], name="crm_option_unique")
        ]

    def __str__(self) -> str:
        return f"{self.value} {self.label}"

    @property
    def label(self) -> str:
        return localized(self.label_en, self.label_de) or str(self.value)


class Direction(models.TextChoices):
    BOTH = "both", _("Both directions")
    CRM_TO_MAILWORX = "crm_to_mailworx", _("CRM → mailworx only")


class FieldMapping(models.Model):
    """CRM attribute ↔ subscriber field, for one business unit and entity type (C12).

    A *lookup mapping* reads ``related_attribute`` of the record that ``crm_attribute`` (a
    lookup) points to, e.g. contact.parentcustomerid → account.name; those flow CRM →
    mailworx only.
    """

    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.CASCADE, related_name="field_mappings"
    )
    entity_type = models.CharField(_("entity type"), max_length=16, choices=EntityType.choices)
    crm_attribute = models.ForeignKey(
        CrmAttribute, on_delete=models.PROTECT, related_name="mappings",
        verbose_name=_("CRM attribute"),
    )
    related_attribute = models.ForeignKey(
        CrmAttribute, on_delete=models.PROTECT, null=True, blank=True,
        related_name="lookup_mappings", verbose_name=_("attribute of the related record"),
    )
    subscriber_field = models.ForeignKey(
        SubscriberField, on_delete=models.CASCADE, related_name="mappings",
        verbose_name=_("subscriber field"),
    )
    direction = models.CharField(
        _("direction"), max_length=20, choices=Direction.choices, default=Direction.BOTH
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["entity_type", "subscriber_field__position"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_unit", "entity_type", "subscriber_field"],
                name="one_mapping_per_subscriber_field",
            )
        ]
        verbose_name = _("field mapping")
        verbose_name_plural = _("field mappings")

    def __str__(self) -> str:
        return f"{self.entity_type}.{self.source_path} ↔ {self.subscriber_field.key}"

    @property
    def source_path(self) -> str:
        path = self.crm_attribute.logical_name
        if self.related_attribute_id:
            assert self.related_attribute is not None
            path += f" → {self.related_attribute.entity}.{self.related_attribute.logical_name}"
        return path

    @property
    def is_lookup_path(self) -> bool:
        return self.related_attribute_id is not None

    @property
    def is_language(self) -> bool:
        return self.subscriber_field.key == SubscriberField.LANGUAGE


class OptionMapping(models.Model):
    """CRM option value ↔ subscriber field option, for a mapped single-select option set."""

    field_mapping = models.ForeignKey(
        FieldMapping, on_delete=models.CASCADE, related_name="option_mappings"
    )
    crm_value = models.IntegerField()
    # The reverse accessor lets audience find an option's mappings without importing
    # fieldmapping (which builds on audience).
    subscriber_option = models.ForeignKey(
        SubscriberFieldOption, on_delete=models.CASCADE, related_name="option_mappings"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["crm_value"]
        constraints = [
            models.UniqueConstraint(
                fields=["field_mapping", "crm_value"], name="one_option_mapping_per_crm_value"
            )
        ]

    def __str__(self) -> str:
        return f"{self.crm_value} → {self.subscriber_option.value}"
