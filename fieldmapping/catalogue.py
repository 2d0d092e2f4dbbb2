"""Load pulled CRM attribute metadata into the catalogue (C10).

:class:`CatalogueData` is the plain-Python shape the Dataverse metadata pull produces
(``fieldmapping.metadata`` later; the management command ``load_crm_catalogue`` reads it
from JSON today). Loading upserts attributes and options, marks attributes missing from
the data as ``present=False`` (they stay, so mappings to them can be shown with a warning)
and returns what changed and which mappings are affected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fieldmapping.models import AttributeType, CrmAttribute, CrmOption, DateBehavior, FieldMapping
from tenants.models import Tenant


class Label(TypedDict, total=False):
    en: str
    de: str


class OptionData(TypedDict):
    value: int
    label: Label


class AttributeData(TypedDict):
    logical_name: str
    attribute_type: str  # Dataverse AttributeType, e.g. "String", "Picklist", "Lookup"
    display_name: NotRequired[Label]
    max_length: NotRequired[int | None]
    date_behavior: NotRequired[str | None]  # "DateOnly", "UserLocal", "TimeZoneIndependent"
    targets: NotRequired[list[str]]  # lookup targets, e.g. ["account", "contact"]
    is_valid_for_update: NotRequired[bool]
    options: NotRequired[list[OptionData]]


class EntityData(TypedDict):
    display_name: NotRequired[Label]
    attributes: list[AttributeData]


class CatalogueData(TypedDict):
    entities: dict[str, EntityData]  # contact, account, lead and lookup targets


@dataclass
class CatalogueResult:
    added: list[str] = field(default_factory=list)  # "entity.logical_name"
    changed: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    type_changed: list[str] = field(default_factory=list)
    flagged_mappings: list[FieldMapping] = field(default_factory=list)


_KNOWN_TYPES = {choice.value for choice in AttributeType}
_KNOWN_BEHAVIORS = {choice.value for choice in DateBehavior}


def normalise_type(dataverse_type: str) -> str:
    kind = dataverse_type.strip().lower()
    return kind if kind in _KNOWN_TYPES else AttributeType.OTHER.value


def _values(data: AttributeData) -> dict[str, object]:
    names = data.get("display_name") or {}
    kind = normalise_type(data["attribute_type"])
    behavior = data.get("date_behavior") or ""
    if kind == AttributeType.DATETIME:
        behavior = behavior if behavior in _KNOWN_BEHAVIORS else DateBehavior.USER_LOCAL.value
    else:
        behavior = ""
    return {
        "display_name_en": names.get("en", "")[:200],
        "display_name_de": names.get("de", "")[:200],
        "attribute_type": kind,
        "date_behavior": behavior,
        "max_length": data.get("max_length"),
        "lookup_targets": list(data.get("targets") or []),
        "is_valid_for_update": bool(data.get("is_valid_for_update", True)),
    }


def _sync_options(attribute: CrmAttribute, options: list[OptionData]) -> bool:
    existing = {o.value: o for o in attribute.options.all()}
    changed = False
    seen = set()
    for opt in options:
        value = int(opt["value"])
        seen.add(value)
        label = opt.get("label") or {}
        en, de = label.get("en", "")[:200], label.get("de", "")[:200]
        current = existing.get(value)
        if current is None:
            CrmOption.objects.create(attribute=attribute, value=value, label_en=en, label_de=de)
            changed = True
        elif (current.label_en, current.label_de) != (en, de):
            current.label_en, current.label_de = en, de
            current.save()
            changed = True
    stale = [v for v in existing if v not in seen]
    if stale:
        attribute.options.filter(value__in=stale).delete()
        changed = True
    return changed


@transaction.atomic
def load_catalogue(tenant: Tenant, data: CatalogueData,
                   unread: Iterable[str] = ()) -> CatalogueResult:
    """``unread``: entities this pull could not read; their attributes stay as they were
    instead of being reported as vanished."""
    result = CatalogueResult()
    keep = set(unread)
    now = timezone.now()
    existing = {(a.entity, a.logical_name): a
                for a in CrmAttribute.objects.filter(tenant=tenant)}
    seen: set[tuple[str, str]] = set()
    type_changed_ids: list[int] = []
    for entity, entity_data in data["entities"].items():
        for attr_data in entity_data["attributes"]:
            key = (entity, attr_data["logical_name"])
            seen.add(key)
            values = _values(attr_data)
            name = f"{entity}.{attr_data['logical_name']}"
            attribute = existing.get(key)
            if attribute is None:
                attribute = CrmAttribute.objects.create(
                    tenant=tenant, entity=entity, logical_name=attr_data["logical_name"],
                    pulled_at=now, **values)
                result.added.append(name)
            else:
                differs = any(getattr(attribute, k) != v for k, v in values.items())
                if (attribute.attribute_type, attribute.date_behavior) != (
                        values["attribute_type"], values["date_behavior"]):
                    result.type_changed.append(name)
                    type_changed_ids.append(attribute.pk)
                if not attribute.present:
                    result.added.append(name)  # it came back
                elif differs:
                    result.changed.append(name)
                for k, v in values.items():
                    setattr(attribute, k, v)
                attribute.present = True
                attribute.pulled_at = now
                attribute.save()
            if _sync_options(attribute, attr_data.get("options") or []) and \
                    name not in result.changed and name not in result.added:
                result.changed.append(name)
    vanished_ids = []
    for key, attribute in existing.items():
        if key not in seen and attribute.present and key[0] not in keep:
            attribute.present = False
            attribute.save(update_fields=["present"])
            vanished_ids.append(attribute.pk)
            result.vanished.append(str(attribute))
    affected = vanished_ids + type_changed_ids
    if affected:
        result.flagged_mappings = list(
            FieldMapping.objects.filter(
                Q(crm_attribute_id__in=affected) | Q(related_attribute_id__in=affected)
            ).select_related("business_unit", "crm_attribute", "related_attribute",
                             "subscriber_field"))
    return result
