"""EntityDefinitions: entity, attribute and option-set metadata (never paged)."""

from __future__ import annotations

from typing import Any

from odata_query import ast

from dynamics_emulator.filters import parse_filter
from dynamics_emulator.http_types import Response, bad_request, resource_not_found
from dynamics_emulator.orgs import Ctx, stable_id
from dynamics_emulator.query import QueryOptions, parse_options
from dynamics_emulator.routing import Segment
from dynamics_emulator.schema.model import Attr, Entity, Option

NS = "Microsoft.Dynamics.CRM."
_TYPES = {"String": "String", "Memo": "Memo", "Integer": "Integer", "BigInt": "BigInt",
          "Decimal": "Decimal", "Money": "Money", "DateTime": "DateTime", "Boolean": "Boolean",
          "Picklist": "Picklist", "Virtual": "MultiSelectPicklist", "Lookup": "Lookup",
          "Customer": "Lookup", "Owner": "Lookup", "State": "State", "Status": "Status",
          "Uniqueidentifier": "UniqueIdentifier", "EntityName": "EntityName"}
CASTS = {f"{NS}{t}AttributeMetadata" for t in _TYPES.values()}


def label(en: str, de: str, owner: str) -> dict[str, Any]:
    items = [{"Label": text, "LanguageCode": code, "IsManaged": True,
              "MetadataId": stable_id("label", owner, code), "HasChanged": None}
             for text, code in ((en, 1033), (de, 1031))]
    return {"LocalizedLabels": items, "UserLocalizedLabel": items[0]}


def entity_md(ent: Entity) -> dict[str, Any]:
    return {
        "MetadataId": stable_id("entity", ent.name), "LogicalName": ent.name,
        "SchemaName": ent.schema_name, "EntitySetName": ent.set_name,
        "LogicalCollectionName": ent.set_name, "PrimaryIdAttribute": ent.primary_id,
        "PrimaryNameAttribute": ent.primary_name, "ObjectTypeCode": ent.otc,
        "ChangeTrackingEnabled": ent.change_tracking, "IsActivity": ent.is_activity,
        "IsCustomEntity": ent.custom, "IsOptimisticConcurrencyEnabled": True,
        "OwnershipType": ent.ownership, "IsValidForAdvancedFind": True,
        "DisplayName": label(ent.en, ent.de, ent.name),
        "DisplayCollectionName": label(ent.en + "s", ent.de, ent.name + "#plural"),
    }


def _option(opt: Option, owner: str, state: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"Value": opt.value, "Label": label(opt.en, opt.de, owner),
                           "Description": {"LocalizedLabels": [], "UserLocalizedLabel": None},
                           "Color": None, "IsManaged": True, "MetadataId": None, "HasChanged": None}
    if opt.state is not None:
        out["State"] = opt.state
    if state:
        out["DefaultStatus"] = opt.default_status
    return out


def option_set(ent: Entity, attr: Attr) -> dict[str, Any]:
    owner = f"{ent.name}.{attr.name}"
    base = {"MetadataId": stable_id("optionset", owner), "Name": f"{ent.name}_{attr.name}",
            "IsGlobal": False, "IsCustomOptionSet": attr.custom,
            "OptionSetType": {"Virtual": "Picklist"}.get(attr.kind, attr.kind)}
    if attr.kind == "Boolean":
        base["TrueOption"] = _option(Option(1, *attr.true_label), owner + ".t")
        base["FalseOption"] = _option(Option(0, *attr.false_label), owner + ".f")
        return base
    base["Options"] = [_option(o, f"{owner}.{o.value}", attr.kind == "State")
                       for o in attr.options]
    return base


def attribute_md(ent: Entity, attr: Attr) -> dict[str, Any]:
    kind = "Virtual" if attr.is_multi else attr.kind
    out: dict[str, Any] = {
        "@odata.type": f"#{NS}{_TYPES[attr.kind]}AttributeMetadata",
        "MetadataId": stable_id("attribute", ent.name, attr.name), "LogicalName": attr.name,
        "SchemaName": (attr.nav or attr.name) if attr.custom else attr.name.capitalize(),
        "EntityLogicalName": ent.name, "AttributeType": kind,
        "AttributeTypeName": {"Value": attr.type_name}, "AttributeOf": None,
        "DisplayName": label(attr.en, attr.de, f"{ent.name}.{attr.name}"),
        "RequiredLevel": {"Value": attr.required, "CanBeChanged": not attr.required.startswith(
            "System"), "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
        "IsValidForCreate": attr.create, "IsValidForUpdate": attr.update,
        "IsValidForRead": attr.read, "IsCustomAttribute": attr.custom,
        "IsPrimaryId": attr.name == ent.primary_id, "IsPrimaryName": attr.name == ent.primary_name,
    }
    if attr.max_length is not None:
        out["MaxLength"] = attr.max_length
    if attr.kind == "DateTime":
        out["DateTimeBehavior"] = {"Value": attr.date_behavior}
        out["Format"] = "DateOnly" if attr.date_behavior == "DateOnly" else "DateAndTime"
    if attr.is_lookup:
        out["Targets"] = list(attr.targets)
    return out


def _value(node: ast._Node, item: dict[str, Any]) -> Any:
    if isinstance(node, ast.Identifier):
        return item.get(node.name)
    if isinstance(node, ast.Attribute):
        owner = _value(node.owner, item)
        return owner.get(node.attr) if isinstance(owner, dict) else None
    if isinstance(node, ast._Literal):
        val = node.py_val
        return val.split("'")[1] if isinstance(val, str) and "'" in val else val
    raise bad_request("Unsupported metadata $filter expression.")


def matches(node: ast._Node, item: dict[str, Any]) -> bool:
    """Tiny evaluator for metadata $filter (eq/ne/and/or/not on properties and /Value)."""
    if isinstance(node, ast.BoolOp):
        left, right = matches(node.left, item), matches(node.right, item)
        return left and right if isinstance(node.op, ast.And) else left or right
    if isinstance(node, ast.UnaryOp):
        return not matches(node.operand, item)
    if isinstance(node, ast.Compare) and isinstance(node.comparator, ast.Eq | ast.NotEq):
        equal = _value(node.left, item) == _value(node.right, item)
        return equal if isinstance(node.comparator, ast.Eq) else not equal
    raise bad_request("Unsupported metadata $filter expression.")


def _shape(items: list[dict[str, Any]], opts: QueryOptions) -> list[dict[str, Any]]:
    if opts.filter:
        # Enum literals like Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist' become strings.
        text = opts.filter
        for prefix in ("Microsoft.Dynamics.CRM.AttributeTypeCode", "Microsoft.Dynamics.CRM."
                       "OwnershipTypes", "Microsoft.Dynamics.CRM.AttributeRequiredLevel"):
            text = text.replace(prefix + "'", "'")
        node, _ = parse_filter(text, opts.aliases)
        items = [i for i in items if matches(node, i)]
    if opts.select:
        keep = {*opts.select, "MetadataId", "@odata.type", *(e.nav for e in opts.expand)}
        items = [{k: v for k, v in i.items() if k in keep} for i in items]
    return items


def handle(ctx: Ctx, segs: list[Segment]) -> Response:
    if ctx.request.method != "GET":
        raise bad_request("Only GET is supported on metadata in this emulator.")
    opts = parse_options(ctx.request.query())
    schema = ctx.org.schema
    base = f"{ctx.base_url}$metadata#EntityDefinitions"
    head = segs[0]
    if head.key is None and len(segs) == 1:
        items = _shape([entity_md(e) for e in schema.by_name.values()], opts)
        return Response.json({"@odata.context": base, "value": items})
    key = (head.key or "").strip()
    name = key.split("=", 1)[1].strip("'") if "=" in key else None
    ent = schema.by_name.get(name or "") or next(
        (e for e in schema.by_name.values() if stable_id("entity", e.name) == key), None)
    if ent is None:
        raise resource_not_found(f"EntityDefinitions({key})")
    if len(segs) == 1:
        md = _shape([entity_md(ent)], opts)[0]
        if any(e.nav == "Attributes" for e in opts.expand):
            md["Attributes"] = [attribute_md(ent, a) for a in ent.attrs.values()]
        return Response.json({"@odata.context": f"{base}/$entity", **md})
    if segs[1].name in ("ManyToOneRelationships", "Keys") and len(segs) == 2:
        items = relationships(ctx, ent) if segs[1].name == "ManyToOneRelationships" \
            else keys(ent)
        return Response.json({"@odata.context": f"{base}({key})/{segs[1].name}",
                              "value": _shape(items, opts)})
    return _attributes(ctx, ent, segs[1:], opts, f"{base}({key})")


def relationships(ctx: Ctx, ent: Entity) -> list[dict[str, Any]]:
    """N:1 relationships, one per navigation property (the bind names clients need)."""
    items = []
    for nav in ent.nav_props().values():
        target = ctx.org.schema.entity(nav.targets[0])
        name = f"{ent.name}_{nav.name}"
        items.append({
            "MetadataId": stable_id("relationship", name), "SchemaName": name,
            "RelationshipType": "OneToManyRelationship", "ReferencedEntity": target.name,
            "ReferencedAttribute": target.primary_id, "ReferencingEntity": ent.name,
            "ReferencingAttribute": nav.attr, "ReferencingEntityNavigationPropertyName": nav.name,
            "ReferencedEntityNavigationPropertyName": name, "IsCustomRelationship": ent.custom})
    return items


def keys(ent: Entity) -> list[dict[str, Any]]:
    return [{"MetadataId": stable_id("key", ent.name, name), "LogicalName": name,
             "SchemaName": name, "KeyAttributes": list(cols), "EntityLogicalName": ent.name,
             "EntityKeyIndexStatus": "Active", "DisplayName": label(name, name, name)}
            for name, cols in ent.keys.items()]


def _attributes(ctx: Ctx, ent: Entity, segs: list[Segment], opts: QueryOptions,
                base: str) -> Response:
    if segs[0].name != "Attributes":
        raise resource_not_found(segs[0].name)
    attrs = list(ent.attrs.values())
    rest = segs[1:]
    if segs[0].key is not None:
        raw = segs[0].key
        wanted = raw.split("=", 1)[1].strip("'") if "=" in raw else raw
        attrs = [a for a in attrs if a.name == wanted or
                 stable_id("attribute", ent.name, a.name) == wanted]
        if not attrs:
            raise resource_not_found(f"Attributes({raw})")
    cast = rest[0].name if rest and rest[0].name.startswith(NS) else None
    if cast:
        if cast not in CASTS:
            raise resource_not_found(cast)
        attrs = [a for a in attrs if f"{NS}{_TYPES[a.kind]}AttributeMetadata" == cast]
        rest = rest[1:]
    items = []
    for attr in attrs:
        md = attribute_md(ent, attr)
        # Only what was expanded comes back (and survives $select, as on real orgs).
        navs = {e.nav for e in opts.expand}
        if "OptionSet" in navs:
            md["OptionSet"] = option_set(ent, attr) if attr.options or attr.kind == "Boolean" \
                else None
        if "GlobalOptionSet" in navs:
            md["GlobalOptionSet"] = None
        items.append(md)
    if rest and rest[0].name == "OptionSet" and len(items) == 1:
        return Response.json({"@odata.context": f"{base}/OptionSet",
                              **option_set(ent, attrs[0])})
    items = _shape(items, opts)
    context = f"{base}/Attributes{('/' + cast) if cast else ''}"
    if segs[0].key is not None:
        if not items:
            raise resource_not_found(cast or "Attributes")
        return Response.json({"@odata.context": f"{context}/$entity", **items[0]})
    return Response.json({"@odata.context": context, "value": items})
