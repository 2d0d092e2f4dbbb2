"""ExecuteMultiple: up to 1,000 requests, each in its own transaction, with
ContinueOnError / ReturnResponses, and its own concurrency throttle
(docs/organization-service.md §ExecuteMultiple).

The throttle counts ExecuteMultiple requests in flight per organisation; above the limit a
request is refused with "Server Busy" before any of its requests runs (the deployment
setting `ExecuteMultiplePerOrgMaxConnectionsPerServer`; CRM Online documented 2).
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dynamics_emulator.http_types import DataverseError
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.soap.contracts import Raw, text_of
from dynamics_emulator.soap.faults import BATCH_SIZE, SERVER_BUSY, SoapFault, detail_xml
from dynamics_emulator.soap.messages import Request, Result, read_request

MAX_BATCH_SIZE = 1000
DEFAULT_CONCURRENCY = 2


class Gate:
    """ExecuteMultiple requests in flight, per organisation."""

    def __init__(self, limit: int = DEFAULT_CONCURRENCY) -> None:
        self.limit = limit
        self.default = limit
        self._lock = threading.Lock()
        self.active: Counter[str] = Counter()
        self.refused = 0

    def reset(self) -> None:
        with self._lock:
            self.limit = self.default
            self.refused = 0

    def try_enter(self, org: str) -> bool:
        with self._lock:
            if self.active[org] >= self.limit:
                self.refused += 1
                return False
            self.active[org] += 1
            return True

    def leave(self, org: str) -> None:
        with self._lock:
            self.active[org] -= 1

    @contextmanager
    def slot(self, org: str) -> Iterator[None]:
        if not self.try_enter(org):
            raise SoapFault(SERVER_BUSY, "Server Busy", client=False)
        try:
            yield
        finally:
            self.leave(org)


Runner = Callable[[Ctx, Request], Result]


def execute(ctx: Ctx, params: dict[str, Any], gate: Gate, run: Runner,
            response_xml: Callable[[Result], str]) -> dict[str, Any]:
    requests = params.get("Requests")
    settings = params.get("Settings")
    if not isinstance(requests, ET.Element) or not isinstance(settings, ET.Element):
        raise DataverseError(400, "0x80040203", "Required field 'Requests' or 'Settings' is "
                                                "missing.")
    items = list(requests)
    if len(items) > MAX_BATCH_SIZE:
        raise SoapFault(BATCH_SIZE, "The request batch size exceeds the maximum batch size "
                                    "allowed.", {"MaxBatchSize": str(MAX_BATCH_SIZE)})
    continue_on_error = text_of(settings, "ContinueOnError") == "true"
    return_responses = text_of(settings, "ReturnResponses") == "true"
    out: list[str] = []
    faulted = False
    with gate.slot(ctx.org.name):
        for index, item in enumerate(items):
            request = read_request(item)
            fault: SoapFault | None = None
            result: Result | None = None
            try:
                if request.name == "ExecuteMultiple":
                    raise DataverseError(400, "0x80040203", "ExecuteMultiple cannot be nested.")
                result = run(ctx, request)
            except DataverseError as err:
                fault = SoapFault.of(err)
            except SoapFault as err:
                fault = err
            if fault is not None:
                faulted = True
                out.append(_item(index, fault, None, response_xml))
                if not continue_on_error:
                    break
            elif return_responses and result is not None:
                out.append(_item(index, None, result, response_xml))
    return {"IsFaulted": faulted,
            "Responses": Raw("a:ExecuteMultipleResponseItemCollection", "".join(out))}


def _item(index: int, fault: SoapFault | None, result: Result | None,
          response_xml: Callable[[Result], str]) -> str:
    fault_xml = (f"<a:Fault>{detail_xml(fault)}</a:Fault>" if fault is not None
                 else '<a:Fault i:nil="true"/>')
    response = (f'<a:Response i:type="{result.kind}">{response_xml(result)}</a:Response>'
                if result is not None else '<a:Response i:nil="true"/>')
    return (f"<a:ExecuteMultipleResponseItem>{fault_xml}<a:RequestIndex>{index}"
            f"</a:RequestIndex>{response}</a:ExecuteMultipleResponseItem>")

