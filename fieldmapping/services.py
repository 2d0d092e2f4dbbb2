"""Field mappings (C12-C14): validate, save, delete, explain problems, and find the
business units that lack a language mapping.

The type rules live in :mod:`fieldmapping.compat`. Saves go through ``Model.save()`` and
``delete()`` on single rows so the audit history records every change (N5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from audience.models import FieldType, SubscriberField, SubscriberFieldOption
from businessunits.models import BusinessUnit
from fieldmapping.compat import CHOICE_TYPES, incompatibility
from fieldmapping.models import CrmAttribute, Direction, FieldMapping, OptionMapping
from mailworx_crm.entity_types import EntityType
from syncjobs import runner
from syncjobs.models import JobKind, JobRun, Trigger
from tenants.models import Tenant


@dataclass
class MappingInput:
    crm_attribute: CrmAttribute
    subscriber_field: SubscriberField
    related_attribute: CrmAttribute | None = None
    direction: Direction | str = Direction.BOTH
    option_map: dict[int, SubscriberFieldOption | None] = field(default_factory=dict)


def catalogue_loaded(tenant: Tenant) -> bool:
    return CrmAttribute.objects.filter(tenant=tenant, present=True).exists()


def attribute_pull_refusal(tenant: Tenant) -> str:
    """Why the CRM attribute pull (C10) may not start yet ("" when it may)."""
    # Imported here: the setup progress reads this module's catalogue state.
    from orgsettings.progress import settings_saved

    if not settings_saved(tenant):
        return _("Save the organisation settings first.")
    return ""


def start_attribute_pull(tenant: Tenant, *, user: Any, language: str | None = None,
                         trigger: str = Trigger.MANUAL) -> JobRun:
    """Queue the attribute pull; the pull itself runs in a worker. ``runner.NotReady``
    before the settings are saved; ``runner.JobAlreadyActive`` while one is queued or
    running."""
    reason = attribute_pull_refusal(tenant)
    if reason:
        raise runner.NotReady(reason)
    return runner.enqueue(tenant, JobKind.ATTRIBUTE_PULL, user=user, trigger=trigger,
                          language=language)


def entity_attributes(tenant: Tenant, entity: str) -> QuerySet[CrmAttribute]:
    """The attributes offered in the drop-down: present ones of ``entity``."""
    return CrmAttribute.objects.filter(tenant=tenant, entity=entity, present=True).order_by(
        "display_name_en", "logical_name")


def related_candidates(lookup: CrmAttribute | None) -> QuerySet[CrmAttribute]:
    """Attributes of the records a lookup can point to (one level deep, no lookups)."""
    if lookup is None or not lookup.is_lookup:
        return CrmAttribute.objects.none()
    return (CrmAttribute.objects
            .filter(tenant=lookup.tenant, entity__in=lookup.lookup_targets or [], present=True)
            .exclude(attribute_type__in=["lookup", "customer"])
            .order_by("entity", "display_name_en", "logical_name"))


def source_of(crm_attribute: CrmAttribute, related: CrmAttribute | None) -> CrmAttribute | None:
    """The attribute whose value is copied: the related one for a lookup path."""
    return related if crm_attribute.is_lookup else crm_attribute


def needs_option_mapping(source: CrmAttribute | None, subscriber_field: SubscriberField) -> bool:
    return (source is not None and source.attribute_type in CHOICE_TYPES
            and subscriber_field.field_type == FieldType.SINGLE_SELECT)


def prefill_options(
    source: CrmAttribute, subscriber_field: SubscriberField
) -> dict[int, SubscriberFieldOption | None]:
    """Match each CRM value to the option with the same label (German or English, ignoring
    case) or the same value; None where nothing matches."""
    options = list(subscriber_field.options.all())
    result: dict[int, SubscriberFieldOption | None] = {}
    for crm_option in source.options.all():
        names = {n.strip().casefold() for n in (crm_option.label_en, crm_option.label_de) if n}
        match = None
        for option in options:
            candidates = {option.label_en.casefold(), option.label_de.casefold(),
                          option.value.casefold()}
            if names & candidates:
                match = option
                break
        result[crm_option.value] = match
    return result


def forced_one_way(crm_attribute: CrmAttribute) -> bool:
    """Lookup paths and read-only attributes can only flow CRM → mailworx."""
    return crm_attribute.is_lookup or not crm_attribute.is_valid_for_update


def validate(
    unit: BusinessUnit, entity_type: str, data: MappingInput,
    mapping: FieldMapping | None = None,
) -> None:
    """Raise ``ValidationError`` keyed by form field when ``data`` cannot be saved."""
    errors: dict[str, list[str]] = {}
    attr, target, related = data.crm_attribute, data.subscriber_field, data.related_attribute
    if attr.tenant_id != unit.tenant_id or attr.entity != entity_type or not attr.present:
        errors.setdefault("crm_attribute", []).append(
            _("Choose an attribute of the %(entity)s from the current catalogue.")
            % {"entity": EntityType(entity_type).label})
    if target.tenant_id != unit.tenant_id:
        errors.setdefault("subscriber_field", []).append(_("Choose one of your fields."))
    if errors:
        raise ValidationError(errors)
    if attr.is_lookup:
        if related is None:
            errors.setdefault("related_attribute", []).append(
                _("“%(attr)s” is a lookup: choose the attribute of the related record to "
                  "copy.") % {"attr": attr.display_name})
        elif not related_candidates(attr).filter(pk=related.pk).exists():
            errors.setdefault("related_attribute", []).append(
                _("Choose an attribute of %(targets)s.")
                % {"targets": ", ".join(attr.lookup_targets)})
        elif (problem := incompatibility(related, target.field_type)) is not None:
            errors.setdefault("related_attribute", []).append(problem)
    elif (problem := incompatibility(attr, target.field_type)) is not None:
        errors.setdefault("crm_attribute", []).append(problem)
    taken = FieldMapping.objects.filter(
        business_unit=unit, entity_type=entity_type, subscriber_field=target)
    if mapping is not None:
        taken = taken.exclude(pk=mapping.pk)
    if taken.exists():
        errors.setdefault("subscriber_field", []).append(
            _("“%(field)s” is already mapped for %(entity)s in this business unit.")
            % {"field": target.label, "entity": EntityType(entity_type).label})
    if not errors:
        source = source_of(attr, related)
        if needs_option_mapping(source, target):
            assert source is not None
            _validate_options(source, target, data.option_map, errors)
    if errors:
        raise ValidationError(errors)


def _validate_options(
    source: CrmAttribute, target: SubscriberField,
    option_map: dict[int, SubscriberFieldOption | None], errors: dict[str, list[str]],
) -> None:
    allowed = set(target.options.values_list("pk", flat=True))
    missing = [o for o in source.options.all()
               if option_map.get(o.value) is None or option_map[o.value].pk not in allowed]  # type: ignore[union-attr]
    if missing:
        errors.setdefault("__all__", []).append(
            _("Every CRM value needs an option of “%(field)s”. Not mapped: %(values)s.")
            % {"field": target.label,
               "values": ", ".join(f"{o.value} ({o.label})" for o in missing)})


@transaction.atomic
def save_mapping(
    unit: BusinessUnit, entity_type: str, data: MappingInput,
    mapping: FieldMapping | None = None,
) -> FieldMapping:
    validate(unit, entity_type, data, mapping)
    related = data.related_attribute if data.crm_attribute.is_lookup else None
    source = source_of(data.crm_attribute, related)
    if mapping is None:
        mapping = FieldMapping(business_unit=unit, entity_type=entity_type)
    mapping.crm_attribute = data.crm_attribute
    mapping.related_attribute = related
    mapping.subscriber_field = data.subscriber_field
    mapping.direction = (Direction.CRM_TO_MAILWORX if forced_one_way(data.crm_attribute)
                         else Direction(data.direction))
    mapping.save()
    wanted: dict[int, SubscriberFieldOption] = {}
    if needs_option_mapping(source, data.subscriber_field):
        wanted = {v: o for v, o in data.option_map.items() if o is not None}
    for existing in mapping.option_mappings.all():
        option = wanted.pop(existing.crm_value, None)
        if option is None:
            existing.delete()
        elif existing.subscriber_option_id != option.pk:
            existing.subscriber_option = option
            existing.save()
    for value, option in wanted.items():
        OptionMapping.objects.create(field_mapping=mapping, crm_value=value,
                                     subscriber_option=option)
    return mapping


@transaction.atomic
def delete_mapping(mapping: FieldMapping) -> None:
    for option_mapping in mapping.option_mappings.all():
        option_mapping.delete()
    mapping.delete()


def mapping_problems(mapping: FieldMapping) -> list[str]:
    """Warnings for the overview: vanished or retyped attributes, unmapped CRM values."""
    problems = []
    for attr in (mapping.crm_attribute, mapping.related_attribute):
        if attr is not None and not attr.present:
            problems.append(_("The CRM attribute “%(attr)s” no longer exists in the CRM; this "
                              "mapping is skipped by the sync.") % {"attr": str(attr)})
    if problems:
        return problems
    source = source_of(mapping.crm_attribute, mapping.related_attribute)
    if source is None:
        return [_("The lookup has no related attribute.")]
    problem = incompatibility(source, mapping.subscriber_field.field_type)
    if problem:
        return [_("The CRM attribute changed: %(problem)s") % {"problem": problem}]
    if needs_option_mapping(source, mapping.subscriber_field):
        mapped = {om.crm_value for om in mapping.option_mappings.all()}
        missing = [o for o in source.options.all() if o.value not in mapped]
        if missing:
            problems.append(_("CRM values without a mapped option: %(values)s.") % {
                "values": ", ".join(f"{o.value} ({o.label})" for o in missing)})
    return problems


@dataclass
class MappingRow:
    mapping: FieldMapping
    problems: list[str]
    options: list[tuple[str, str]]  # (CRM value and label, subscriber option label)


@dataclass
class EntityGroup:
    entity_type: EntityType
    rows: list[MappingRow]
    lacks_language: bool


def overview(unit: BusinessUnit) -> list[EntityGroup]:
    mappings = (unit.field_mappings
                .select_related("crm_attribute", "related_attribute", "subscriber_field")
                .prefetch_related("option_mappings__subscriber_option",
                                  "crm_attribute__options", "related_attribute__options"))
    groups = []
    for entity_type in EntityType:
        rows = []
        for m in mappings:
            if m.entity_type != entity_type:
                continue
            source = source_of(m.crm_attribute, m.related_attribute)
            crm_labels = {o.value: o.label for o in source.options.all()} if source else {}
            options = [(f"{om.crm_value} ({crm_labels.get(om.crm_value, '?')})",
                        om.subscriber_option.label) for om in m.option_mappings.all()]
            rows.append(MappingRow(m, mapping_problems(m), options))
        lacks = (bool(rows) and not unit.fixed_language
                 and not any(r.mapping.is_language for r in rows))
        groups.append(EntityGroup(entity_type, rows, lacks))
    return groups


def language_mapping_gaps(tenant: Tenant) -> list[tuple[BusinessUnit, EntityType]]:
    """(unit, entity type) pairs that map fields but not the subscriber's language, in units
    without a fixed language (C14)."""
    rows = FieldMapping.objects.filter(business_unit__tenant=tenant).values_list(
        "business_unit_id", "entity_type", "subscriber_field__key")
    in_use: set[tuple[int, str]] = set()
    with_language: set[tuple[int, str]] = set()
    for unit_id, entity_type, key in rows:
        in_use.add((unit_id, entity_type))
        if key == SubscriberField.LANGUAGE:
            with_language.add((unit_id, entity_type))
    gaps = in_use - with_language
    if not gaps:
        return []
    units = BusinessUnit.objects.in_bulk({unit_id for unit_id, _e in gaps})
    # A unit with a fixed language needs no language mapping.
    gaps = {(u, e) for u, e in gaps if not units[u].fixed_language}
    order = {e.value: i for i, e in enumerate(EntityType)}
    return [(units[u], EntityType(e)) for u, e in
            sorted(gaps, key=lambda g: (units[g[0]].name, order[g[1]]))]
