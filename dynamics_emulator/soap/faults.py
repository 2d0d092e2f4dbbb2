"""SOAP faults: `OrganizationServiceFault` in a SOAP 1.1 `<s:Fault>`, HTTP 500
(docs/organization-service.md §Faults).

The CRM error codes are the Web API's hex codes as signed 32-bit integers, which is how
the Organization Service reports them (0x80040217 → -2147220969).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from dynamics_emulator.http_types import DataverseError, Response
from dynamics_emulator.soap.contracts import S11, S12, XMLNS, esc, fmt_datetime

UNEXPECTED = "0x80040216"  # "An unexpected error occurred."
# ExecuteMultiple (docs/organization-service.md §ExecuteMultiple): the documented
# "Server Busy" refusal and the MaxBatchSize fault.
SERVER_BUSY = "0x80072326"
BATCH_SIZE = "0x80040203"


class SoapFault(Exception):
    """An OrganizationServiceFault, optionally with ErrorDetails (Retry-After, MaxBatchSize)."""

    def __init__(self, code: str, message: str, details: dict[str, str] | None = None,
                 client: bool = True) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.details = details or {}
        self.client = client

    @staticmethod
    def of(err: DataverseError) -> SoapFault:
        return SoapFault(err.code if err.code not in ("", "0x0") else UNEXPECTED, err.message,
                         client=err.status < 500)


def signed(code: str) -> int:
    value = int(code, 16)
    return value - (1 << 32) if value >= (1 << 31) else value


def detail_xml(fault: SoapFault, ns_decl: str = "") -> str:
    """The OrganizationServiceFault members in DataContract (alphabetical) order."""
    details = "".join(f'<a:KeyValuePairOfstringanyType><c:key>{esc(k)}</c:key>'
                      f'<c:value i:type="{kind}">{esc(v)}</c:value>'
                      f'</a:KeyValuePairOfstringanyType>'
                      for k, (kind, v) in _detail_values(fault.details).items())
    return (f"<a:ErrorCode>{signed(fault.code)}</a:ErrorCode><a:ErrorDetails{ns_decl}>{details}"
            f"</a:ErrorDetails><a:Message>{esc(fault.message)}</a:Message>"
            f"<a:Timestamp>{fmt_datetime(datetime.now(UTC))}</a:Timestamp>"
            f'<a:InnerFault i:nil="true"/><a:TraceText i:nil="true"/>')


def _detail_values(details: dict[str, str]) -> dict[str, tuple[str, str]]:
    out = {}
    for key, value in details.items():
        # Retry-After is a TimeSpan (xs:duration), MaxBatchSize an int.
        out[key] = ("e:duration", value) if key == "Retry-After" else ("d:int", value)
    return out


def fault_response(fault: SoapFault) -> Response:
    code = "s:Client" if fault.client else "s:Server"
    body = (f'<s:Envelope xmlns:s="{S11}"><s:Body><s:Fault><faultcode>{code}</faultcode>'
            f'<faultstring xml:lang="en-US">{esc(fault.message)}</faultstring><detail>'
            f'<a:OrganizationServiceFault {XMLNS}>{detail_xml(fault)}'
            f"</a:OrganizationServiceFault></detail></s:Fault></s:Body></s:Envelope>")
    return xml_response(body, 500)


def xml_response(body: str, status: int = 200) -> Response:
    resp = Response(status=status, body=body.encode("utf-8"))
    resp.headers.set("Content-Type", "text/xml; charset=utf-8")
    return resp


def retry_after(seconds: float) -> str:
    """A TimeSpan as xs:duration (PT…S), whole seconds like the HTTP header."""
    return f"PT{max(0, math.ceil(seconds))}S"


def throttled_fault(resp: Response) -> Response:
    """A service-protection 429 (JSON, protection.py) as the Organization Service's fault:
    the same code and message, Retry-After in ErrorDetails."""
    data: dict[str, Any] = json.loads(resp.body.decode("utf-8") or "{}")
    err = data.get("error") or {}
    wait = float(resp.headers.get("Retry-After") or 0)
    out = fault_response(SoapFault(str(err.get("code") or UNEXPECTED), str(err.get("message")),
                                   {"Retry-After": retry_after(wait)}, client=False))
    for name in ("x-ms-dop-hint", "Retry-After"):
        if resp.headers.get(name):
            out.headers.set(name, str(resp.headers.get(name)))
    return out


def security_fault() -> Response:
    """What the WS-Trust (message security) endpoint answers a message without a security
    header: a SOAP 1.2 fault, as WCF does (docs/organization-service.md §Authentication)."""
    body = (f'<s:Envelope xmlns:s="{S12}" xmlns:a="http://www.w3.org/2005/08/addressing">'
            f"<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value "
            f'xmlns:b="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-'
            f'secext-1.0.xsd">b:InvalidSecurity</s:Value></s:Subcode></s:Code><s:Reason>'
            f'<s:Text xml:lang="en-US">An error occurred when verifying security for the '
            f"message.</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>")
    resp = Response(status=500, body=body.encode("utf-8"))
    resp.headers.set("Content-Type", "application/soap+xml; charset=utf-8")
    return resp


def wrong_content_type(ctype: str, expected: str = "application/soap+xml; charset=utf-8"
                       ) -> Response:
    """WCF's 415 for a message of the other SOAP version: the main endpoint speaks SOAP 1.2
    (wsHttpBinding), `/web` SOAP 1.1 (basicHttpBinding)."""
    resp = Response(status=415, body=b"")
    resp.headers.set("Content-Type", "text/html")
    resp.body = (f"Cannot process the message because the content type '{ctype}' was not the "
                 f"expected type '{expected}'.").encode()
    return resp
