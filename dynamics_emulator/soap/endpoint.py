"""The Organization Service over HTTP: `/<org>/XRMServices/2011/Organization.svc[/web]`.

* `…/Organization.svc/web` (SOAP 1.1, `text/xml`): authenticated over HTTP like the
  organisation's Web API (bearer tokens Online, NTLM/Negotiate on-premise); this is the
  endpoint the product uses (docs/organization-service.md §Authentication).
* `…/Organization.svc` (the .NET SDK's endpoint): WS-Trust message security, which the
  emulator does not speak; it answers what WCF answers a message without it.

Requests pass the Web API's request accounting, service protection (the same per-user
windows) and server-time model through `Host.metered`; faults are SOAP faults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from dynamics_emulator.http_types import DataverseError, Request, Response
from dynamics_emulator.orgs import Ctx, Org
from dynamics_emulator.soap import envelope, execute_multiple, messages
from dynamics_emulator.soap.faults import (
    SoapFault,
    fault_response,
    security_fault,
    throttled_fault,
    wrong_content_type,
    xml_response,
)

SERVICE = ("xrmservices", "2011", "organization.svc")
API_VERSION = "soap"  # Ctx.api_version: no Web API URL is ever built from a SOAP request
_NOT_FOUND = (b"<!DOCTYPE html><html><head><title>404 - File or directory not found.</title>"
              b"</head><body><h2>404 - File or directory not found.</h2></body></html>")


class Host(Protocol):
    execute_multiple_gate: execute_multiple.Gate

    def authenticate(self, req: Request, org: Org) -> tuple[str | None, Response | None]: ...

    def metered(self, req: Request, org: Org, server: int, user_id: str, route: str,
                version: str, work: Callable[[Callable[[], Ctx]], Response],
                refused: Callable[[Response], Response] | None = None) -> Response: ...


def is_service(parts: list[str]) -> bool:
    return tuple(p.lower() for p in parts[:3]) == SERVICE


def is_service_path(path: str) -> bool:
    """`/<org>/XRMServices/2011/Organization.svc…` (fault injection adapts its answers)."""
    return is_service(path.split("/")[2:5])


def adapt_injected(req: Request, resp: Response) -> Response:
    """An injected 429 becomes the SOAP throttling fault; 503s and drops stay as the front
    end sends them."""
    if resp.status == 429 and is_service_path(req.path):
        return throttled_fault(resp)
    return resp


def serve(host: Host, req: Request, org: Org, parts: list[str], server: int) -> Response:
    rest = [p.lower() for p in parts[3:] if p]
    if not rest:
        return _main_endpoint(req)
    if rest != ["web"]:
        resp = Response(status=404, body=_NOT_FOUND)
        resp.headers.set("Content-Type", "text/html")
        return resp
    try:
        user_id, denied = host.authenticate(req, org)
    except DataverseError as err:  # authenticated, but no user of this organisation
        return fault_response(SoapFault.of(err))
    if denied is not None:
        return denied
    assert user_id is not None
    if req.method != "POST":
        resp = Response(status=405, body=b"Method not allowed.")
        resp.headers.set("Content-Type", "text/html")
        resp.headers.set("Allow", "POST")
        return resp
    ctype = req.headers.get("Content-Type") or ""
    if not ctype.lower().startswith("text/xml"):
        # /web is a SOAP 1.1 (basicHttpBinding) endpoint: WCF answers other types with 415.
        return wrong_content_type(ctype, "text/xml; charset=utf-8")
    try:
        call = envelope.parse(req.body, req.headers.get("SOAPAction"))
    except SoapFault as fault:
        return fault_response(fault)
    route = "Organization.svc/web " + (f"Execute({call.request.name})"
                                      if call.operation == "Execute" else call.operation)
    gate = host.execute_multiple_gate
    return host.metered(req, org, server, user_id, route, API_VERSION,
                        lambda make_ctx: _dispatch(make_ctx, call, gate), throttled_fault)


def _dispatch(make_ctx: Callable[[], Ctx], call: envelope.Call,
              gate: execute_multiple.Gate) -> Response:
    try:
        ctx = make_ctx()
        if call.request.name == "ExecuteMultiple" and call.operation == "Execute":
            values = execute_multiple.execute(ctx, call.request.params, gate, messages.run,
                                              envelope.result_xml)
            result = messages.Result("ExecuteMultiple", values, "a:ExecuteMultipleResponse")
        else:
            result = messages.run(ctx, call.request)
        return xml_response(envelope.response(call.operation, result))
    except DataverseError as err:
        return fault_response(SoapFault.of(err))
    except SoapFault as fault:
        return fault_response(fault)


def _main_endpoint(req: Request) -> Response:
    ctype = req.headers.get("Content-Type") or ""
    if req.method == "POST" and not ctype.lower().startswith("application/soap+xml"):
        return wrong_content_type(ctype)
    if req.method == "POST":
        return security_fault()
    resp = Response(status=404, body=_NOT_FOUND)
    resp.headers.set("Content-Type", "text/html")
    return resp


def describe(gate: execute_multiple.Gate) -> dict[str, Any]:
    return {"execute_multiple_limit": gate.limit, "refused": gate.refused,
            "active": {k: v for k, v in gate.active.items() if v}}
