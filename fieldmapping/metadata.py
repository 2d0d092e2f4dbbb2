"""The CRM attribute pull (C10): a job body that reads attribute metadata through the
Dataverse client and loads it into the tenant's catalogue.

contact, account and lead are always read; so are the tables their lookups point to
(one level deep), so that lookup paths such as contact.parentcustomerid → account.name
can be chosen. A lookup target the CRM does not let us read is skipped with a warning.
"""

from __future__ import annotations

from typing import Any

from dynamics import AttributeInfo
from dynamics.crm_api import CrmApi
from dynamics.errors import NotFound, PrivilegeError
from fieldmapping.catalogue import (
    AttributeData,
    CatalogueData,
    CatalogueResult,
    EntityData,
    Label,
    load_catalogue,
)
from mailworx_crm.crm_errors import describe
from mailworx_crm.entity_types import EntityType
from mailworx_crm.texts import deferred as _
from orgsettings.connection import client_for
from syncjobs.models import JobLogLine
from syncjobs.runner import JobContext

MAIN_ENTITIES: tuple[str, ...] = tuple(EntityType.values)
# Only these lookup types can start a lookup path (CrmAttribute.is_lookup); Owner cannot.
_PATH_LOOKUPS = frozenset({"Lookup", "Customer"})


def _label(labels: dict[int, str]) -> Label:
    out: Label = {}
    if labels.get(1033):
        out["en"] = labels[1033]
    if labels.get(1031):
        out["de"] = labels[1031]
    return out


def attribute_data(info: AttributeInfo) -> AttributeData:
    """One attribute in the catalogue's shape. Multi-select choices arrive as
    AttributeType "Virtual" and are recognised by their type name."""
    kind = "MultiSelectPicklist" if info.is_multi_select else info.attribute_type
    data: AttributeData = {
        "logical_name": info.logical_name,
        "attribute_type": kind,
        "display_name": _label(info.labels),
        "max_length": info.max_length,
        "date_behavior": info.date_time_behavior,
        "targets": list(info.targets),
        "is_valid_for_update": info.valid_for_update,
    }
    if info.is_option_set:
        data["options"] = [{"value": o.value, "label": _label(o.labels)} for o in info.options]
    return data


def lookup_targets(attributes: list[AttributeInfo]) -> set[str]:
    return {target for a in attributes if a.attribute_type in _PATH_LOOKUPS
            for target in a.targets}


def pull_catalogue(client: CrmApi, ctx: JobContext,
                   unread: list[str] | None = None) -> CatalogueData:
    """Read contact, account, lead and their lookup targets; report progress per table.
    Lookup targets that cannot be read are appended to ``unread``."""
    entities: dict[str, EntityData] = {}
    pending = list(MAIN_ENTITIES)
    done = 0
    ctx.progress(0, len(pending), _("Reading %(entity)s") % {"entity": pending[0]})
    while pending:
        name = pending.pop(0)
        main = name in MAIN_ENTITIES
        try:
            attributes = client.entity_attributes(name)
        except (NotFound, PrivilegeError) as exc:
            if main:
                raise
            ctx.log(_("The attributes of %(entity)s (a lookup target) could not be read and "
                      "are skipped: %(reason)s") % {"entity": name, "reason": describe(exc)},
                    JobLogLine.Level.WARNING)
            attributes = None
            if unread is not None:
                unread.append(name)
        if attributes is not None:
            entities[name] = {"attributes": [attribute_data(a) for a in attributes]}
            ctx.count("attributes", len(attributes))
            if main:
                for target in sorted(lookup_targets(attributes)):
                    if target not in entities and target not in pending:
                        pending.append(target)
        done += 1
        ctx.count("tables")
        label = (_("Reading %(entity)s") % {"entity": pending[0]} if pending
                 else _("Loading the catalogue"))
        ctx.progress(done, done + len(pending), label)
    return {"entities": entities}


def summarise(result: CatalogueResult) -> dict[str, Any]:
    """What the run keeps as its result (JSON): counts, names and the flagged mappings."""
    flagged = [{
        "unit": m.business_unit.name, "unit_id": m.business_unit_id,
        "entity_type": m.entity_type, "mapping": m.source_path,
        "subscriber_field": m.subscriber_field.label,
    } for m in sorted(result.flagged_mappings,
                      key=lambda m: (m.business_unit.name, m.entity_type, m.pk))]
    return {
        "added": len(result.added), "changed": len(result.changed),
        "vanished": sorted(result.vanished), "type_changed": sorted(result.type_changed),
        "changed_names": sorted(result.changed)[:200], "flagged_mappings": flagged,
    }


def run_attribute_pull(ctx: JobContext) -> dict[str, Any]:
    """Job body of ``attribute_pull``."""
    unread: list[str] = []
    with client_for(ctx.tenant) as client:
        data = pull_catalogue(client, ctx, unread)
    result = load_catalogue(ctx.tenant, data, unread=unread)
    tables = len(data["entities"])
    ctx.progress(tables, tables, _("Done"))
    summary = summarise(result)
    ctx.log(_("%(added)s attributes added, %(changed)s changed, %(vanished)s vanished.")
            % {"added": len(result.added), "changed": len(result.changed),
               "vanished": len(result.vanished)})
    if result.vanished:
        ctx.log(_("No longer in the CRM: %(names)s") % {"names": ", ".join(summary["vanished"])},
                JobLogLine.Level.WARNING)
    if result.type_changed:
        ctx.log(_("Changed type: %(names)s") % {"names": ", ".join(summary["type_changed"])},
                JobLogLine.Level.WARNING)
    for item in summary["flagged_mappings"]:
        ctx.log(_("Check the mapping %(mapping)s → %(field)s (%(entity)s) of business unit "
                  "%(unit)s: its CRM attribute vanished or changed type.")
                % {"mapping": item["mapping"], "field": item["subscriber_field"],
                   "entity": item["entity_type"], "unit": item["unit"]},
                JobLogLine.Level.WARNING, unit_id=item["unit_id"])
    return summary
