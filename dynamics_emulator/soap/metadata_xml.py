"""EntityMetadata and AttributeMetadata as data contracts (RetrieveEntity,
RetrieveAllEntities), from the same metadata the Web API's `EntityDefinitions` serves."""

from __future__ import annotations

from typing import Any

from dynamics_emulator import metadata
from dynamics_emulator.schema.model import Entity
from dynamics_emulator.soap.contracts import esc

# Members of Label / LocalizedLabel / BooleanManagedProperty live in the xrm namespace.
_XRM_MEMBERS = frozenset({"LocalizedLabels", "UserLocalizedLabel", "Label", "LanguageCode",
                          "IsManaged", "HasChanged", "CanBeChanged",
                          "ManagedPropertyLogicalName"})
_LABEL_KEYS = frozenset({"Label", "LanguageCode"})


def wants_attributes(filters: Any) -> bool:
    """EntityFilters is a flags enum sent as names ("Entity Attributes", "All")."""
    names = set(str(filters or "Entity").split())
    return bool(names & {"Attributes", "All"})


def _member(key: str, value: Any, in_label: bool = False) -> str:
    prefix = "a" if key in _XRM_MEMBERS or (in_label and key == "MetadataId") else "g"
    tag = f"{prefix}:{key}"
    if value is None:
        return f'<{tag} i:nil="true"/>'
    if isinstance(value, dict):
        label = bool(_LABEL_KEYS & value.keys()) or "LocalizedLabels" in value
        inner = "".join(_member(k, v, label) for k, v in sorted(value.items())
                        if not k.startswith("@"))
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, list):
        if key == "LocalizedLabels":
            items = "".join(f"<a:LocalizedLabel>{_fields(v, True)}</a:LocalizedLabel>"
                            for v in value)
        elif key == "Options":
            items = "".join(f"<g:OptionMetadata>{_fields(v)}</g:OptionMetadata>" for v in value)
        else:
            items = "".join(f"<f:string>{esc(v)}</f:string>" for v in value)
        return f"<{tag}>{items}</{tag}>"
    if isinstance(value, bool):
        return f"<{tag}>{'true' if value else 'false'}</{tag}>"
    return f"<{tag}>{esc(value)}</{tag}>"


def _fields(data: dict[str, Any], in_label: bool = False) -> str:
    """Members in DataContract order (alphabetical); JSON-only annotations left out."""
    return "".join(_member(k, v, in_label) for k, v in sorted(data.items())
                   if not k.startswith("@"))


def entity(ent: Entity, with_attributes: bool) -> str:
    data = metadata.entity_md(ent)
    data.pop("EntitySetName", None)  # a Web API (8.0+) member, unknown to CRM 2013/2015
    data.pop("LogicalCollectionName", None)
    body = _fields(data)
    if with_attributes:
        items = []
        for attr in ent.attrs.values():
            md = metadata.attribute_md(ent, attr)
            if attr.options or attr.kind == "Boolean":
                # RetrieveEntity returns a choice column's options with it (the Web API
                # needs a cast and $expand for them).
                md["OptionSet"] = metadata.option_set(ent, attr)
            kind = str(md.get("@odata.type", "")).rsplit(".", 1)[-1] or "AttributeMetadata"
            items.append(f'<g:AttributeMetadata i:type="g:{kind}">{_fields(md)}'
                         f"</g:AttributeMetadata>")
        body = f"<g:Attributes>{''.join(items)}</g:Attributes>{body}"
    return body
