"""Subscriber field definitions: the standard fields every tenant has, and custom fields.

Standard fields (``is_standard``) are created by :func:`ensure_standard_fields`; their key
and type are fixed and they cannot be deleted, because the sync relies on them. Custom
fields keep their key and type once created (existing subscriber values depend on both);
labels and options stay editable.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from audience.models import IMPORT_COLUMNS, FieldType, SubscriberField, SubscriberFieldOption
from tenants.models import Tenant

RESERVED_KEYS = frozenset(IMPORT_COLUMNS)


class FieldError(Exception):
    """A change that would break a rule; the message is shown to the admin."""


@dataclass(frozen=True)
class StandardField:
    key: str
    label_en: str
    label_de: str
    field_type: FieldType
    options: tuple[tuple[str, str, str], ...] = ()  # (value, label_en, label_de)


STANDARD_FIELDS: tuple[StandardField, ...] = (
    StandardField(SubscriberField.EMAIL, "Email address", "E-Mail-Adresse", FieldType.TEXT),
    StandardField(SubscriberField.FIRST_NAME, "First name", "Vorname", FieldType.TEXT),
    StandardField(SubscriberField.LAST_NAME, "Last name", "Nachname", FieldType.TEXT),
    StandardField(SubscriberField.COMPANY, "Company", "Firma", FieldType.TEXT),
    StandardField(
        SubscriberField.LANGUAGE, "Language", "Sprache", FieldType.SINGLE_SELECT,
        options=(("de", "German", "Deutsch"), ("en", "English", "Englisch")),
    ),
    StandardField("birthday", "Birthday", "Geburtstag", FieldType.DATE),
)


@transaction.atomic
def ensure_standard_fields(tenant: Tenant) -> list[SubscriberField]:
    """Create the standard fields (and the language options) that are missing; idempotent."""
    fields = []
    for position, spec in enumerate(STANDARD_FIELDS):
        field, created = SubscriberField.objects.get_or_create(
            tenant=tenant, key=spec.key,
            defaults={"label_en": spec.label_en, "label_de": spec.label_de,
                      "field_type": spec.field_type, "is_standard": True,
                      "position": position},
        )
        if not created and not field.is_standard:
            field.is_standard = True
            field.save()
        for opt_position, (value, label_en, label_de) in enumerate(spec.options):
            SubscriberFieldOption.objects.get_or_create(
                field=field, value=value,
                defaults={"label_en": label_en, "label_de": label_de, "position": opt_position},
            )
        fields.append(field)
    return fields


def _next_position(tenant: Tenant) -> int:
    current = SubscriberField.objects.filter(tenant=tenant).aggregate(m=Max("position"))["m"]
    return 0 if current is None else current + 1


@transaction.atomic
def create_field(
    tenant: Tenant, *, key: str, label_en: str, label_de: str, field_type: FieldType | str
) -> SubscriberField:
    if key in RESERVED_KEYS:
        raise FieldError(_("“%(key)s” is reserved for the consent columns of imports; choose "
                           "another internal name.") % {"key": key})
    if SubscriberField.objects.filter(tenant=tenant, key=key).exists():
        raise FieldError(_("A field with the internal name “%(key)s” already exists.")
                         % {"key": key})
    field = SubscriberField(tenant=tenant, key=key, label_en=label_en, label_de=label_de,
                            field_type=FieldType(field_type), position=_next_position(tenant))
    field.save()
    return field


def update_field(field: SubscriberField, *, label_en: str, label_de: str) -> SubscriberField:
    field.label_en = label_en
    field.label_de = label_de
    field.save()
    return field


def field_usages(field: SubscriberField) -> list[str]:
    """Human-readable list of the field mappings that use ``field``."""
    return [
        f"{m.business_unit.name} ({m.get_entity_type_display()})"
        for m in field.mappings.select_related("business_unit")
    ]


@transaction.atomic
def delete_field(field: SubscriberField) -> None:
    if field.is_standard:
        raise FieldError(_("“%(label)s” is a standard field and cannot be deleted.")
                         % {"label": field.label})
    usages = field_usages(field)
    if usages:
        raise FieldError(
            _("“%(label)s” is still mapped in: %(usages)s. Remove those field mappings first.")
            % {"label": field.label, "usages": ", ".join(usages)}
        )
    field.delete()


@transaction.atomic
def add_option(
    field: SubscriberField, *, value: str, label_en: str, label_de: str
) -> SubscriberFieldOption:
    if not field.type_enum.has_options:
        raise FieldError(_("Only single- and multi-select fields have options."))
    if field.options.filter(value=value).exists():
        raise FieldError(_("The option value “%(value)s” already exists.") % {"value": value})
    position = field.options.aggregate(m=Max("position"))["m"]
    return SubscriberFieldOption.objects.create(
        field=field, value=value, label_en=label_en, label_de=label_de,
        position=0 if position is None else position + 1,
    )


def update_option(
    option: SubscriberFieldOption, *, label_en: str, label_de: str
) -> SubscriberFieldOption:
    option.label_en = label_en
    option.label_de = label_de
    option.save()
    return option


def option_usages(option: SubscriberFieldOption) -> list[str]:
    """The option mappings (unit, entity type, CRM value) that point at ``option``."""
    rows = option.option_mappings.select_related(
        "field_mapping__business_unit", "field_mapping__crm_attribute")
    return [
        f"{om.field_mapping.business_unit.name} ({om.field_mapping.get_entity_type_display()}, "
        f"{om.field_mapping.crm_attribute.logical_name} = {om.crm_value})"
        for om in rows
    ]


@transaction.atomic
def remove_option(option: SubscriberFieldOption, *, confirmed: bool = False) -> None:
    """Remove an option. One used by option mappings needs ``confirmed=True``; those option
    mappings are removed with it (each deletion recorded in their history), leaving the
    field mapping incomplete until the admin maps the CRM value again."""
    usages = option_usages(option)
    if usages and not confirmed:
        raise FieldError(
            _("The option “%(label)s” is used by option mappings: %(usages)s. Confirm to "
              "remove it together with those option mappings.")
            % {"label": option.label, "usages": "; ".join(usages)}
        )
    for om in option.option_mappings.all():
        om.delete()
    option.delete()


@transaction.atomic
def create_tenant(name: str, slug: str, default_language: str = "de") -> Tenant:
    """Create a tenant together with its standard subscriber fields (here, not in
    ``tenants``: tenants knows no other app, and the fields are audience's)."""
    tenant = Tenant.objects.create(name=name, slug=slug, default_language=default_language)
    ensure_standard_fields(tenant)
    return tenant
