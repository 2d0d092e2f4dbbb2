"""SOAP 1.1 envelopes of `IOrganizationService`: the operation a request names, its
arguments as message parameters, and the response envelope of each operation
(docs/organization-service.md §Envelopes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from dynamics_emulator.soap.contracts import (
    S11,
    SVC,
    XMLNS,
    EntityRef,
    child,
    collection_xml,
    entity_xml,
    guid,
    local,
    pairs_xml,
    read_entity,
    read_reference,
    text_of,
)
from dynamics_emulator.soap.faults import SoapFault
from dynamics_emulator.soap.messages import Request, Result, read_request

ACTION_PREFIX = "http://schemas.microsoft.com/xrm/2011/Contracts/Services/IOrganizationService/"
OPERATIONS = ("Create", "Retrieve", "Update", "Delete", "RetrieveMultiple", "Associate",
              "Disassociate", "Execute")
_ACTION_FAULT = "0x80040203"


@dataclass
class Call:
    operation: str  # IOrganizationService method
    request: Request  # as a message (Execute's own, or the operation's equivalent)


def parse(body: bytes, soap_action: str | None) -> Call:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SoapFault(_ACTION_FAULT, "DTDs are not allowed in SOAP messages.")
    try:
        root = ET.fromstring(body)  # noqa: S314 - DTDs refused above, no entity expansion
    except ET.ParseError as err:
        raise SoapFault(_ACTION_FAULT, f"The message could not be parsed: {err}.") from None
    body_el = root.find(f"{{{S11}}}Body") if root.tag == f"{{{S11}}}Envelope" else None
    if body_el is None or len(body_el) == 0:
        raise SoapFault(_ACTION_FAULT, "The message is not a SOAP 1.1 envelope with a body.")
    op_el = body_el[0]
    operation = local(op_el.tag)
    action = (soap_action or "").strip('"')
    if operation not in OPERATIONS or op_el.tag != f"{{{SVC}}}{operation}" or (
            action and action != ACTION_PREFIX + operation):
        raise SoapFault(_ACTION_FAULT, f"The message with Action '{action}' cannot be processed "
                                       f"at the receiver (ActionNotSupported).")
    return Call(operation, _as_request(operation, op_el))


def _ref(el: ET.Element, name_tag: str, id_tag: str) -> EntityRef:
    return EntityRef(text_of(el, name_tag) or "", guid(text_of(el, id_tag)))


def _as_request(operation: str, el: ET.Element) -> Request:
    if operation == "Execute":
        request = child(el, "request")
        if request is None:
            raise SoapFault(_ACTION_FAULT, "The Execute message has no request.")
        return read_request(request)
    params: dict[str, object] = {}
    if operation in ("Create", "Update"):
        entity = child(el, "entity")
        params["Target"] = read_entity(entity) if entity is not None else None
    elif operation in ("Retrieve", "Delete"):
        params["Target"] = _ref(el, "entityName", "id")
        params["ColumnSet"] = child(el, "columnSet")
    elif operation == "RetrieveMultiple":
        params["Query"] = child(el, "query")
    else:  # Associate / Disassociate
        params["Target"] = _ref(el, "entityName", "entityId")
        params["Relationship"] = child(el, "relationship")
        params["RelatedEntities"] = [read_reference(r) for r in child(el, "relatedEntities") or []]
    return Request(operation, params)


def _envelope(inner: str) -> str:
    return f'<s:Envelope xmlns:s="{S11}"><s:Body>{inner}</s:Body></s:Envelope>'


def result_xml(result: Result) -> str:
    """An OrganizationResponse's members: ResponseName, Results."""
    return f"<a:ResponseName>{result.name}</a:ResponseName>{pairs_xml('a:Results', result.values)}"


def response(operation: str, result: Result) -> str:
    head = f'<{operation}Response xmlns="{SVC}">'
    tail = f"</{operation}Response>"
    if operation == "Execute":
        return _envelope(f'{head}<ExecuteResult i:type="{result.kind}" {XMLNS}>'
                         f"{result_xml(result)}</ExecuteResult>{tail}")
    if operation == "Create":
        return _envelope(f"{head}<CreateResult>{result.values['id']}</CreateResult>{tail}")
    if operation == "Retrieve":
        return _envelope(f"{head}<RetrieveResult {XMLNS}>{entity_xml(result.values['Entity'])}"
                         f"</RetrieveResult>{tail}")
    if operation == "RetrieveMultiple":
        return _envelope(f"{head}<RetrieveMultipleResult {XMLNS}>"
                         f"{collection_xml(result.values['EntityCollection'])}"
                         f"</RetrieveMultipleResult>{tail}")
    return _envelope(f'<{operation}Response xmlns="{SVC}"/>')
