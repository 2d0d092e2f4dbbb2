"""zeep over the product's transport: the shipped WSDL subset, one Execute call, faults.

The WSDL is the package's own (dynamics/soap/wsdl/): the server's WSDL is never fetched.
Requests leave through `dynamics.transport.Transport`, so CA handling, the address rule,
the retry policy, the clock and the request accounting are the Web API client's.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
import zeep
import zeep.exceptions
from lxml import etree

from dynamics.errors import DynamicsError, UnexpectedAnswer, error_from_response
from dynamics.transport import Transport

WSDL = Path(__file__).with_name("wsdl") / "organization.wsdl"
SERVICE_PATH = "XRMServices/2011/Organization.svc/web"
NS_CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
NS_GENERIC = "http://schemas.datacontract.org/2004/07/System.Collections.Generic"
NS_ARRAYS = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
NS_SERIAL = "http://schemas.microsoft.com/2003/10/Serialization/"
BINDING = "{http://schemas.microsoft.com/xrm/2011/Contracts/Services}" \
          "BasicHttpBinding_IOrganizationService"
# Unknown elements (newer servers add some, e.g. KeyAttributes in 7.1) are skipped.
SETTINGS = zeep.Settings(strict=False, xsd_ignore_sequence_order=True)

UNREADABLE = "The CRM's Organization Service sent an answer the connector cannot read."

# What the current call is about ("RetrieveMultiple contact"), for the request accounting:
# every SOAP call goes to the same address, so the URL cannot tell.
_label: contextvars.ContextVar[tuple[str, int]] = contextvars.ContextVar(
    "soap_label", default=("Execute", 1))

# SDK error codes (Int32) → the HTTP status the Web API answers them with, so that
# `error_from_response` names them as it does for the Web API client.
_STATUS_BY_CODE = {"0x80040217": 404, "0x80040220": 403, "0x80072560": 403, "0x80042f09": 403,
                   "0x80040237": 412, "0x80060892": 412, "0x80040333": 412, "0x80060882": 412,
                   "0x80072322": 429, "0x80072321": 429, "0x80072326": 429,
                   "0x80072327": 429}


class ZeepTransport(zeep.Transport):
    """zeep's transport with every POST sent by the product's `Transport`."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(session=requests.Session())  # only ever loads the local WSDL
        self.product = transport

    def post(self, address: str, message: bytes | str,
             headers: Mapping[str, str]) -> requests.Response:
        label, operations = _label.get()
        data = message.encode("utf-8") if isinstance(message, str) else message
        resp = self.product.request("POST", address, data=data, headers=dict(headers),
                                    operations=operations, accept_soap_fault=True,
                                    label=label)
        if "xml" not in resp.headers.get("Content-Type", "").lower() or not resp.content:
            # A proxy's page or anything else where the envelope should be: zeep would
            # fail on it without a readable reason.
            raise UnexpectedAnswer(UNREADABLE, status=resp.status_code, request=f"POST {label}",
                                   key="unexpected_answer")
        return resp


def fault_code(fault: Any) -> str | None:
    """An OrganizationServiceFault's ErrorCode (a signed Int32) as the Web API's hex text."""
    code = getattr(fault, "ErrorCode", None)
    if code is None:
        return None
    return f"0x{int(code) & 0xFFFFFFFF:08x}"


def error_from_fault(code: str | None, message: str | None, what: str) -> DynamicsError:
    """The named exception the Web API client raises for the same error."""
    status = _STATUS_BY_CODE.get((code or "").lower(), 400 if code else 500)
    return error_from_response(status, {"error": {"code": code or "", "message": message or ""}},
                               request=what)


def _fault_detail(exc: zeep.exceptions.Fault) -> tuple[str | None, str | None]:
    detail = exc.detail
    if detail is None:
        return None, exc.message
    code = message = None
    for element in detail.iter():
        name = etree.QName(element).localname if isinstance(element.tag, str) else ""
        if name == "ErrorCode" and code is None and element.text:
            code = f"0x{int(element.text) & 0xFFFFFFFF:08x}"
        elif name == "Message" and message is None:
            message = element.text
    return code, message or exc.message


class OrganizationService:
    """One organisation's `/XRMServices/2011/Organization.svc/web` endpoint."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.address = f"{transport.connection.org_url.rstrip('/')}/{SERVICE_PATH}"
        self.zeep = zeep.Client(str(WSDL), transport=ZeepTransport(transport),
                                settings=SETTINGS)
        self._service = self.zeep.create_service(BINDING, self.address)
        self.types = self.zeep.type_factory(NS_CONTRACTS)
        self.generic = self.zeep.type_factory(NS_GENERIC)
        self.arrays = self.zeep.type_factory(NS_ARRAYS)

    def parameters(self, params: Mapping[str, Any]) -> Any:
        pairs = [self.generic.KeyValuePairOfstringanyType(key=k, value=v)
                 for k, v in params.items()]
        return self.types.ParameterCollection(KeyValuePairOfstringanyType=pairs)

    def request(self, name: str, params: Mapping[str, Any]) -> Any:
        return self.types.OrganizationRequest(Parameters=self.parameters(params),
                                              RequestName=name)

    def execute(self, name: str, params: Mapping[str, Any], *, label: str = "",
                operations: int = 1) -> dict[str, Any]:
        """Execute one message; its Results as {name: zeep value}. Raises the named
        DynamicsError of the fault (or of the HTTP failure)."""
        return results_of(self.execute_request(self.request(name, params), label=label or name,
                                               operations=operations))

    def execute_request(self, request: Any, *, label: str, operations: int = 1) -> Any:
        token = _label.set((label, operations))
        try:
            return self._service.Execute(request=request)
        except zeep.exceptions.Fault as exc:
            code, message = _fault_detail(exc)
            raise error_from_fault(code, message, f"POST {label}") from None
        except (zeep.exceptions.Error, etree.XMLSyntaxError, ValueError) as exc:
            raise UnexpectedAnswer(UNREADABLE, request=f"POST {label}",
                                   key="unexpected_answer") from exc
        finally:
            _label.reset(token)


def results_of(response: Any) -> dict[str, Any]:
    """An OrganizationResponse's Results as a dict."""
    results = getattr(response, "Results", None)
    pairs = getattr(results, "KeyValuePairOfstringanyType", None) or []
    return {str(p.key): p.value for p in pairs}
