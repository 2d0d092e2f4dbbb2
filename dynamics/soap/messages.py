"""Writes through the Organization Service: single messages and ExecuteMultiple.

Each write is an OrganizationRequest (Create, Update, SetState, AddListMembersList …);
many go in one ExecuteMultiple (at most 1000 requests, the on-premise default
`MaxBatchSize`), whose answers come back per request, so one failing record never hides
the others. Results are `OperationResult`s as the Web API client's `$batch` returns them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from zeep import xsd

from dynamics.batch import BatchOperation, OperationResult
from dynamics.errors import DuplicateRecord, DynamicsError, NotFound
from dynamics.soap.service import OrganizationService, error_from_fault, fault_code, results_of
from dynamics.soap.values import Guid, ValueWriter

NS_CONTRACTS_71 = "http://schemas.microsoft.com/xrm/7.1/Contracts"

MAX_EXECUTE_MULTIPLE = 1000
# CRM 2013/2015 run at most two ExecuteMultiple requests of one organisation at a time
# (docs/crm-protocols.md §ExecuteMultiple); the parallel executor stays below.
EXECUTE_MULTIPLE_CONCURRENCY = 2


@dataclass
class Message:
    """One request of an ExecuteMultiple, and what to report for it."""

    name: str
    params: dict[str, Any]
    operation: BatchOperation
    entity_set: str = ""
    record_id: str | None = None


class Messages:
    """Building and sending write requests for one service."""

    def __init__(self, service: OrganizationService, api_url: str) -> None:
        self.service = service
        self.writer = ValueWriter(service)
        self.api_url = api_url

    def create(self, table: str, entity_set: str, data: dict[str, Any],
               types: dict[str, str], record_id: str | None = None) -> Message:
        record_id = (record_id or str(uuid.uuid4())).lower()
        body = {k: v for k, v in data.items() if k != f"{table}id"}
        entity = self.writer.entity(table, body, types, record_id)
        return Message("Create", {"Target": entity},
                       BatchOperation("POST", entity_set, data), entity_set, record_id)

    def update(self, table: str, entity_set: str, record_id: str, data: dict[str, Any],
               types: dict[str, str], row_version: str | None = None) -> Message:
        """Update; with `row_version` only if the row still has it (7.1 and later:
        ConcurrencyBehavior IfRowVersionMatches, a changed row fails with 0x80060882)."""
        body = {k: v for k, v in data.items() if k != f"{table}id"}
        entity = self.writer.entity(table, body, types, record_id)
        params: dict[str, Any] = {"Target": entity}
        if row_version is not None:
            entity.RowVersion = row_version
            behaviour = self.service.zeep.get_type(f"{{{NS_CONTRACTS_71}}}ConcurrencyBehavior")
            params["ConcurrencyBehavior"] = xsd.AnyObject(behaviour, "IfRowVersionMatches")
        return Message("Update", params,
                       BatchOperation("PATCH", f"{entity_set}({record_id})", data), entity_set,
                       record_id.lower())

    def set_state(self, table: str, entity_set: str, record_id: str, state: int,
                  status: int) -> Message:
        params = {"EntityMoniker": self.writer.reference(table, record_id),
                  "State": self.writer.service.types.OptionSetValue(Value=state),
                  "Status": self.writer.service.types.OptionSetValue(Value=status)}
        return Message("SetState", params, BatchOperation("PATCH", entity_set), entity_set,
                       record_id)

    def list_members(self, name: str, list_id: str, members: Sequence[str],
                     operation: BatchOperation) -> Message:
        """AddListMembersList (many) or AddMemberList/RemoveMemberList (one)."""
        if name == "AddListMembersList":
            ids = self.service.arrays.ArrayOfguid(guid=list(members))
            params: dict[str, Any] = {"ListId": Guid(list_id), "MemberIds": ids}
        else:
            params = {"ListId": Guid(list_id), "EntityId": Guid(members[0])}
        return Message(name, {k: self.writer.value(v) if isinstance(v, str) else v
                              for k, v in params.items()}, operation, "lists", list_id)

    # -- sending -------------------------------------------------------------------------

    def send(self, message: Message) -> OperationResult:
        """One message on its own; a failure raises."""
        results = self.service.execute(message.name, message.params,
                                       label=f"{message.name} {message.entity_set}")
        return self.ok(message, results)

    def send_many(self, messages: Sequence[Message], label: str) -> list[OperationResult]:
        """ExecuteMultiple with ContinueOnError: every message gets its own result."""
        out: list[OperationResult] = []
        for start in range(0, len(messages), MAX_EXECUTE_MULTIPLE):
            out += self._execute_multiple(messages[start:start + MAX_EXECUTE_MULTIPLE], label)
        return out

    def _execute_multiple(self, messages: Sequence[Message], label: str) -> list[OperationResult]:
        t = self.service.types
        requests = t.OrganizationRequestCollection(OrganizationRequest=[
            self.service.request(m.name, m.params) for m in messages])
        settings = t.ExecuteMultipleSettings(ContinueOnError=True, ReturnResponses=True)
        results = self.service.execute("ExecuteMultiple",
                                       {"Requests": requests, "Settings": settings},
                                       label=label, operations=len(messages))
        items = getattr(results.get("Responses"), "ExecuteMultipleResponseItem", None) or []
        out: list[OperationResult | None] = [None] * len(messages)
        for item in items:
            index = int(item.RequestIndex)
            if not 0 <= index < len(messages):
                continue
            message = messages[index]
            # zeep (non-strict) reads `<Fault i:nil="true"/>` as an empty fault.
            if item.Fault is not None and (item.Fault.ErrorCode is not None
                                           or item.Fault.Message):
                error = error_from_fault(fault_code(item.Fault), item.Fault.Message,
                                         f"POST {message.name} {message.entity_set}")
                out[index] = self._failed(message, error)
            else:
                out[index] = self.ok(message, results_of(item.Response))
        return [r if r is not None else self.ok(m, {}) for r, m in zip(out, messages,
                                                                          strict=True)]

    def ok(self, message: Message, results: dict[str, Any]) -> OperationResult:
        record_id = message.record_id or (str(results["id"]).lower() if results.get("id")
                                          else None)
        headers = {"OData-EntityId": f"{self.api_url}{message.entity_set}({record_id})"} \
            if record_id else {}
        return OperationResult(message.operation, 204, headers)

    def _failed(self, message: Message, error: DynamicsError) -> OperationResult:
        if message.name == "Create" and isinstance(error, DuplicateRecord):
            # The record with this client-chosen id exists: an earlier attempt whose answer
            # was lost made it (as the Web API client's create-only write, N1).
            result = self.ok(message, {})
            result.already_existed = True
            return result
        return OperationResult(message.operation, error.status, {}, error=error)


def upsert_in_two(send_many: Callable[[list[Message]], list[OperationResult]],
                  updates: list[Message], creates: list[Message]) -> list[OperationResult]:
    """Upsert without the Upsert message (CRM 2013 and 2015 before 7.1 lack it): update,
    then create the records the update did not find, with the same ids."""
    results = send_many(updates)
    missing = [i for i, r in enumerate(results) if isinstance(r.error, NotFound)]
    if missing:
        for i, created in zip(missing, send_many([creates[i] for i in missing]), strict=True):
            results[i] = created
    return results
