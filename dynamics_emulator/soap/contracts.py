"""Data contracts of the Organization Service (2011 endpoint): typed values in and out.

Values travel as `<value i:type="prefix:Type">`. ElementTree forgets which prefix meant
which namespace, and Microsoft's own envelopes reuse one prefix for different namespaces
in sibling elements, so types are resolved by their local name, which is unique across
the contracts used here (docs/organization-service.md §Data contracts).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import escape

from dynamics_emulator.http_types import DataverseError

S11 = "http://schemas.xmlsoap.org/soap/envelope/"
S12 = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
SVC = "http://schemas.microsoft.com/xrm/2011/Contracts/Services"
XRM = "http://schemas.microsoft.com/xrm/2011/Contracts"
CRM = "http://schemas.microsoft.com/crm/2011/Contracts"
COLL = "http://schemas.datacontract.org/2004/07/System.Collections.Generic"
SER = "http://schemas.microsoft.com/2003/10/Serialization/"
ARR = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
META = "http://schemas.microsoft.com/xrm/2011/Metadata"
# Declared once on every response element, so values can name their types with them.
PREFIXES = {"a": XRM, "b": CRM, "c": COLL, "i": XSI, "d": XS, "e": SER, "f": ARR, "g": META}
XMLNS = " ".join(f'xmlns:{p}="{uri}"' for p, uri in PREFIXES.items())
NIL = f"{{{XSI}}}nil"
TYPE = f"{{{XSI}}}type"


@dataclass
class EntityRef:
    logical_name: str
    id: str
    name: str | None = None


@dataclass
class OptionSet:
    value: int


@dataclass
class Money:
    value: Decimal


@dataclass
class Aliased:
    attribute: str
    entity: str
    value: Any


@dataclass
class EntityData:
    logical_name: str
    id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    formatted: dict[str, str] = field(default_factory=dict)
    # 7.1 and later: the row's version (`versionnumber`), for optimistic concurrency.
    row_version: str | None = None


@dataclass
class Collection:
    entity_name: str
    entities: list[EntityData]
    more: bool = False
    cookie: str | None = None
    total: int = -1


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def child(el: ET.Element, name: str) -> ET.Element | None:
    """First child with this local name (namespaces vary between clients)."""
    return next((c for c in el if local(c.tag) == name), None)


def text_of(el: ET.Element, name: str) -> str | None:
    c = child(el, name)
    if c is None or c.get(NIL) == "true":
        return None
    return c.text or ""


def type_name(el: ET.Element) -> str:
    return (el.get(TYPE) or "").rsplit(":", 1)[-1]


def _bad(detail: str) -> DataverseError:
    return DataverseError(400, "0x80040203", detail)


def guid(text: str | None) -> str:
    try:
        return str(uuid.UUID((text or "").strip().strip("{}")))
    except ValueError:
        raise _bad(f"Guid should contain 32 digits with 4 dashes "
                   f"(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx). Value: '{text}'") from None


def parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_value(el: ET.Element) -> Any:
    """A typed value; complex types this module does not model come back as the element."""
    if el.get(NIL) == "true":
        return None
    kind, text = type_name(el), (el.text or "")
    try:
        if kind in ("string", "char"):
            return text
        if kind in ("int", "long", "short"):
            return int(text)
        if kind == "decimal":
            return Decimal(text)
        if kind in ("double", "float"):
            return float(text)
        if kind == "boolean":
            return text.strip() == "true"
        if kind == "dateTime":
            return parse_datetime(text)
    except (ValueError, InvalidOperation):
        raise _bad(f"The value '{text}' is not a valid {kind}.") from None
    if kind == "guid":
        return guid(text)
    if kind == "EntityFilters":  # a flags enum of the Metadata namespace, sent as its names
        return text
    if kind == "EntityReference":
        return read_reference(el)
    if kind == "OptionSetValue":
        return OptionSet(int(text_of(el, "Value") or 0))
    if kind == "Money":
        return Money(Decimal(text_of(el, "Value") or "0"))
    if kind == "Entity":
        return read_entity(el)
    if kind in ("ArrayOfguid", "ArrayOfstring", "ArrayOfint", "EntityReferenceCollection"):
        return [read_value(_typed_item(c)) for c in el]
    return el


def _typed_item(el: ET.Element) -> ET.Element:
    """Array items carry their type in the element name (`<f:guid>`), not in i:type."""
    if el.get(TYPE) is None:
        el.set(TYPE, local(el.tag))
    return el


def read_reference(el: ET.Element) -> EntityRef:
    return EntityRef(text_of(el, "LogicalName") or "", guid(text_of(el, "Id")),
                     text_of(el, "Name"))


def read_pairs(el: ET.Element | None) -> dict[str, Any]:
    """`KeyValuePairOfstringanyType` children as a dict (Attributes, Parameters, Results)."""
    out: dict[str, Any] = {}
    for pair in el if el is not None else []:
        key, value = child(pair, "key"), child(pair, "value")
        if key is not None and value is not None:
            out[key.text or ""] = read_value(value)
    return out


def read_entity(el: ET.Element) -> EntityData:
    ident = text_of(el, "Id")
    ident = guid(ident) if ident else None
    if ident == "00000000-0000-0000-0000-000000000000":
        ident = None  # the SDK sends an empty Guid for "let the server choose"
    return EntityData(text_of(el, "LogicalName") or "", ident,
                      read_pairs(child(el, "Attributes")), row_version=text_of(el, "RowVersion"))


# --- writing ---------------------------------------------------------------------------------
def esc(text: object) -> str:
    return escape(str(text))


def fmt_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_decimal(value: Decimal | float) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def typed(tag: str, value: Any) -> str:
    """`<tag i:type="…">…</tag>` for a Python value."""
    if value is None:
        return f'<{tag} i:nil="true"/>'
    kind, inner = _typed_parts(value)
    return f'<{tag} i:type="{kind}">{inner}</{tag}>'


def _typed_parts(value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return "d:boolean", "true" if value else "false"
    if isinstance(value, int):
        return "d:int", str(value)
    if isinstance(value, Decimal):
        return "d:decimal", fmt_decimal(value)
    if isinstance(value, float):
        return "d:double", repr(value)
    if isinstance(value, datetime):
        return "d:dateTime", fmt_datetime(value)
    if isinstance(value, uuid.UUID):
        return "e:guid", str(value)
    if isinstance(value, EntityRef):
        return "a:EntityReference", reference_xml(value)
    if isinstance(value, OptionSet):
        return "a:OptionSetValue", f"<a:Value>{value.value}</a:Value>"
    if isinstance(value, Money):
        return "a:Money", f"<a:Value>{fmt_decimal(value.value)}</a:Value>"
    if isinstance(value, Aliased):
        return "a:AliasedValue", (f"<a:AttributeLogicalName>{esc(value.attribute)}"
                                  f"</a:AttributeLogicalName><a:EntityLogicalName>"
                                  f"{esc(value.entity)}</a:EntityLogicalName>"
                                  f"{typed('a:Value', value.value)}")
    if isinstance(value, EntityData):
        return "a:Entity", entity_xml(value)
    if isinstance(value, Collection):
        return "a:EntityCollection", collection_xml(value)
    if isinstance(value, Raw):
        return value.kind, value.xml
    return "d:string", esc(value)


@dataclass
class Raw:
    """Pre-serialised contract content (metadata, response item collections)."""

    kind: str
    xml: str


def reference_xml(ref: EntityRef) -> str:
    name = f"<a:Name>{esc(ref.name)}</a:Name>" if ref.name is not None else '<a:Name i:nil="true"/>'
    return f"<a:Id>{ref.id}</a:Id><a:LogicalName>{esc(ref.logical_name)}</a:LogicalName>{name}"


def pairs_xml(tag: str, values: dict[str, Any]) -> str:
    items = "".join(f"<a:KeyValuePairOfstringanyType><c:key>{esc(k)}</c:key>"
                    f"{typed('c:value', v)}</a:KeyValuePairOfstringanyType>"
                    for k, v in values.items())
    return f"<{tag}>{items}</{tag}>"


def entity_xml(ent: EntityData) -> str:
    formatted = "".join(f"<a:KeyValuePairOfstringstring><c:key>{esc(k)}</c:key><c:value>"
                        f"{esc(v)}</c:value></a:KeyValuePairOfstringstring>"
                        for k, v in ent.formatted.items())
    ident = ent.id or "00000000-0000-0000-0000-000000000000"
    return (f"{pairs_xml('a:Attributes', ent.attributes)}<a:EntityState i:nil=\"true\"/>"
            f"<a:FormattedValues>{formatted}</a:FormattedValues><a:Id>{ident}</a:Id>"
            f"<a:LogicalName>{esc(ent.logical_name)}</a:LogicalName><a:RelatedEntities/>"
            + (f"<a:RowVersion>{esc(ent.row_version)}</a:RowVersion>"
               if ent.row_version is not None else ""))


def collection_xml(col: Collection) -> str:
    entities = "".join(f"<a:Entity>{entity_xml(e)}</a:Entity>" for e in col.entities)
    cookie = (f"<a:PagingCookie>{esc(col.cookie)}</a:PagingCookie>" if col.cookie
              else '<a:PagingCookie i:nil="true"/>')
    return (f"<a:Entities>{entities}</a:Entities><a:EntityName>{esc(col.entity_name)}"
            f"</a:EntityName><a:MinActiveRowVersion>-1</a:MinActiveRowVersion>"
            f"<a:MoreRecords>{'true' if col.more else 'false'}</a:MoreRecords>{cookie}"
            f"<a:TotalRecordCount>{col.total}</a:TotalRecordCount>"
            f"<a:TotalRecordCountLimitExceeded>false</a:TotalRecordCountLimitExceeded>")
