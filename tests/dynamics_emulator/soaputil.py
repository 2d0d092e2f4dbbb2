"""Hand-written Organization Service envelopes, shaped like Microsoft's published SOAP
examples for the 2011 endpoint, and a reader for the answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import requests
from requests_ntlm import HttpNtlmAuth

from dynamics_emulator import EmulatorServer
from dynamics_emulator.testing import trusted_session

S = "http://schemas.xmlsoap.org/soap/envelope/"
SVC = "http://schemas.microsoft.com/xrm/2011/Contracts/Services"
A = "http://schemas.microsoft.com/xrm/2011/Contracts"
B = "http://schemas.microsoft.com/crm/2011/Contracts"
C = "http://schemas.datacontract.org/2004/07/System.Collections.Generic"
I = "http://www.w3.org/2001/XMLSchema-instance"  # noqa: E741
XS = "http://www.w3.org/2001/XMLSchema"
SER = "http://schemas.microsoft.com/2003/10/Serialization/"
ARR = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
ACTION = "http://schemas.microsoft.com/xrm/2011/Contracts/Services/IOrganizationService/"
ADMIN = ("FABRIKAM\\crmadmin", "Pass@word1")


def service_url(server: EmulatorServer, org: str, web: bool = True) -> str:
    return f"{server.org_url(org)}/XRMServices/2011/Organization.svc" + ("/web" if web else "")


def ntlm_session(server: EmulatorServer, user: tuple[str, str] = ADMIN) -> requests.Session:
    http = trusted_session(server)
    http.auth = HttpNtlmAuth(*user)
    return http


def envelope(body: str) -> str:
    return f'<s:Envelope xmlns:s="{S}"><s:Body>{body}</s:Body></s:Envelope>'


def post(http: requests.Session, url: str, operation: str, body: str) -> requests.Response:
    return http.post(
        url,
        data=envelope(body).encode("utf-8"),
        timeout=30,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": ACTION + operation},
    )


def value(kind: str, text: str, prefix: str = "d", ns: str = XS) -> str:
    """A `<c:value>` with its type declared on the element itself, as the SDK writes it."""
    return f'<c:value i:type="{prefix}:{kind}" xmlns:{prefix}="{ns}">{text}</c:value>'


def pair(key: str, val: str) -> str:
    return (
        f"<a:KeyValuePairOfstringanyType><c:key>{key}</c:key>{val}</a:KeyValuePairOfstringanyType>"
    )


def entity_ref(logical_name: str, ident: str) -> str:
    return (
        f'<c:value i:type="a:EntityReference"><a:Id>{ident}</a:Id>'
        f'<a:LogicalName>{logical_name}</a:LogicalName><a:Name i:nil="true"/></c:value>'
    )


def entity(
    logical_name: str, attrs: str, ident: str = "00000000-0000-0000-0000-000000000000"
) -> str:
    return (
        f'<a:Attributes xmlns:c="{C}">{attrs}</a:Attributes><a:EntityState i:nil="true"/>'
        f'<a:FormattedValues xmlns:c="{C}"/><a:Id>{ident}</a:Id>'
        f'<a:LogicalName>{logical_name}</a:LogicalName><a:RelatedEntities xmlns:c="{C}"/>'
    )


def create_body(logical_name: str, attrs: str, ident: str | None = None) -> str:
    inner = entity(logical_name, attrs, ident) if ident else entity(logical_name, attrs)
    return f'<Create xmlns="{SVC}"><entity xmlns:a="{A}" xmlns:i="{I}">{inner}</entity></Create>'


def execute_body(request_type: str, name: str, params: str, ns: str = B) -> str:
    return (
        f'<Execute xmlns="{SVC}"><request i:type="b:{request_type}" xmlns:a="{A}" '
        f'xmlns:b="{ns}" xmlns:i="{I}" xmlns:c="{C}"><a:Parameters>{params}</a:Parameters>'
        f'<a:RequestId i:nil="true"/><a:RequestName>{name}</a:RequestName></request>'
        f"</Execute>"
    )


def request_item(request_type: str, name: str, params: str, ns: str = A) -> str:
    """An `OrganizationRequest` inside ExecuteMultiple's `Requests`."""
    return (
        f'<a:OrganizationRequest i:type="x:{request_type}" xmlns:x="{ns}"><a:Parameters>'
        f'{params}</a:Parameters><a:RequestId i:nil="true"/><a:RequestName>{name}'
        f"</a:RequestName></a:OrganizationRequest>"
    )


def parse(resp: requests.Response) -> ET.Element:
    return ET.fromstring(resp.content)


def find(el: ET.Element, path: str) -> ET.Element:
    found = el.find(path, {"s": S, "a": A, "b": B, "c": C, "svc": SVC, "i": I})
    assert found is not None, path
    return found


def fault(resp: requests.Response) -> tuple[int, str]:
    """(ErrorCode, Message) of an OrganizationServiceFault answer."""
    assert resp.status_code == 500, resp.text
    detail = find(parse(resp), "s:Body/s:Fault/detail/a:OrganizationServiceFault")
    return int(find(detail, "a:ErrorCode").text or "0"), find(detail, "a:Message").text or ""


def results(resp: requests.Response) -> dict[str, ET.Element]:
    """An ExecuteResponse's Results, key → value element."""
    assert resp.status_code == 200, resp.text
    res = find(parse(resp), "s:Body/svc:ExecuteResponse/svc:ExecuteResult/a:Results")
    return {find(p, "c:key").text or "": find(p, "c:value") for p in res}


def attributes(entity_el: ET.Element) -> dict[str, ET.Element]:
    return {
        find(p, "c:key").text or "": find(p, "c:value") for p in find(entity_el, "a:Attributes")
    }


def type_of(el: ET.Element) -> str:
    return (el.get(f"{{{I}}}type") or "").split(":")[-1]


def text(el: ET.Element, path: str | None = None) -> str:
    target = find(el, path) if path else el
    return target.text or ""


def typed(el: ET.Element) -> Any:
    """(type, text) of a simple value, or (type, Id/Value) of a reference/option/money."""
    kind = type_of(el)
    if kind == "EntityReference":
        return kind, text(el, "a:LogicalName"), text(el, "a:Id")
    if kind in ("OptionSetValue", "Money"):
        return kind, text(el, "a:Value")
    return kind, el.text
