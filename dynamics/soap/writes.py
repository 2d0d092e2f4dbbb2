"""The Organization Service client's writes, in the Web API client's method shapes.

Single writes are one message each; the engine's `$batch` operations and bulk writes go as
ExecuteMultiple requests (dynamics/soap/messages.py), run in parallel by the protocol-neutral
executor within ExecuteMultiple's concurrency limit. A dry run's client records its writes
and answers them itself, as the Web API client's simulating transport does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from dynamics.batch import BatchItem, BatchOperation, OperationResult, Transaction
from dynamics.bulk import BULK_CHUNK, MIN_PARALLEL_CHUNK
from dynamics.errors import DuplicateRecord
from dynamics.simulate import SimulatedWrite
from dynamics.soap.messages import Message, Messages, upsert_in_two
from dynamics.soap.values import primary_key_of, table_of_set

_ALT_KEY = re.compile(r"^[A-Za-z_]+\((\w+)='((?:[^']|'')*)'\)$")
_LIST_OP = re.compile(r"^lists\(([0-9a-fA-F-]{36})\)/(?:Microsoft\.Dynamics\.CRM\.(\w+)|"
                      r"list\w+_association\(([0-9a-fA-F-]{36})\)/\$ref)$")


def row_version_of(if_match: str | None) -> str | None:
    """The RowVersion an `If-Match` ETag names (`W/"123"` → `123`); None for none or `*`
    (Update never creates, so `*` needs no condition). Rows carry `@odata.etag` only from
    CRM 2015 Update 1 (7.1) on, which also knows ConcurrencyBehavior (values.row)."""
    if not if_match or if_match == "*":
        return None
    return if_match.removeprefix("W/").strip('"')


class SoapWrites:
    """Mixed into OrganizationServiceClient (which provides these attributes)."""

    messages: Messages
    simulate: bool
    simulated_writes: list[SimulatedWrite]
    parallel: Any
    attribute_types: Callable[[str], dict[str, str]]

    # -- single writes ---------------------------------------------------------------------

    def create(self, entity_set: str, data: dict[str, Any], id: str | None = None) -> str:
        table = table_of_set(entity_set)
        message = self.messages.create(table, entity_set, data, self._types_of(table), id)
        if not self._simulated("create", message, data):
            try:
                self.messages.send(message)
            except DuplicateRecord:
                if id is None:
                    raise  # not ours: a record with a chosen id made by an earlier attempt
        return str(message.record_id)

    def update(self, entity_set: str, id: str, data: dict[str, Any],
               if_match: str | None = "*") -> None:
        table = table_of_set(entity_set)
        message = self.messages.update(table, entity_set, id, data, self._types_of(table),
                                       row_version=row_version_of(if_match))
        if not self._simulated("update", message, data):
            self.messages.send(message)  # Update never creates: a deleted row is a 404

    def update_and_read(self, entity_set: str, id: str, data: dict[str, Any],
                        columns: Sequence[str]) -> dict[str, Any] | None:
        """Update, then the row's `columns` (None in a dry run)."""
        self.update(entity_set, id, data)
        if self.simulate:
            return None
        return self.get(entity_set, id, select=list(columns))  # type: ignore[attr-defined]

    def upsert(self, entity_set: str, id: str, data: dict[str, Any]) -> str | None:
        result = self.upsert_multiple(entity_set, table_of_set(entity_set),
                                      [{**data, f"{table_of_set(entity_set)}id": id}])[0]
        if result.error is not None:
            raise result.error
        return id.lower()

    def delete(self, entity_set: str, id: str, if_match: str | None = None) -> None:
        table = table_of_set(entity_set)
        message = Message("Delete", {"Target": self.messages.writer.reference(table, id)},
                          BatchOperation("DELETE", f"{entity_set}({id})"), entity_set, id)
        if not self._simulated("delete", message, {}):
            self.messages.send(message)

    def set_state(self, entity_set: str, id: str, statecode: int, statuscode: int) -> None:
        message = self.messages.set_state(table_of_set(entity_set), entity_set, id, statecode,
                                          statuscode)
        if not self._simulated("update", message, {"statecode": statecode,
                                                   "statuscode": statuscode}):
            self.messages.send(message)

    def call_action(self, path: str, body: dict[str, Any] | None = None) -> Any:
        message = self._list_message(BatchOperation("POST", path, body or {}))
        if not self._simulated("action", message, body or {}):
            self.messages.send(message)
        return None

    # -- many writes -----------------------------------------------------------------------

    def batch(self, operations: Sequence[BatchItem], continue_on_error: bool = False, *,
              parallel: bool = False) -> list[OperationResult]:
        """The list operations the engine sends as `$batch`, as one ExecuteMultiple."""
        ops: list[BatchOperation] = []
        for item in operations:
            ops += item.operations if isinstance(item, Transaction) else [item]
        messages = [self._list_message(op) for op in ops]
        return self._send_many(messages, "ExecuteMultiple list", "action")

    def create_multiple(self, entity_set: str, table: str, records: Sequence[dict[str, Any]],
                        *, primary_key: str | None = None) -> list[OperationResult]:
        key = primary_key or f"{table}id"
        types = self._types_of(table)
        messages = [self.messages.create(table, entity_set, r, types,
                                         str(r.get(key) or uuid.uuid4())) for r in records]
        return self._parallel(messages, f"ExecuteMultiple {table}", "create")

    def update_multiple(self, entity_set: str, table: str, records: Sequence[dict[str, Any]],
                        *, primary_key: str | None = None) -> list[OperationResult]:
        key = primary_key or f"{table}id"
        if any(key not in r for r in records):
            raise ValueError(f"every record needs its primary key {key!r}")
        types = self._types_of(table)
        messages = [self.messages.update(table, entity_set, str(r[key]), r, types)
                    for r in records]
        return self._parallel(messages, f"ExecuteMultiple {table}", "update")

    def upsert_multiple(self, entity_set: str, table: str, records: Sequence[dict[str, Any]],
                        *, primary_key: str | None = None,
                        chunk_size: int = BULK_CHUNK) -> list[OperationResult]:
        key = primary_key or primary_key_of(table)
        if any(key not in r and "@odata.id" not in r for r in records):
            raise ValueError(f"every record needs {key!r} or '@odata.id'")
        records = self._by_alternate_key(entity_set, table, records, key)
        types = self._types_of(table)
        updates = [self.messages.update(table, entity_set, str(r[key]), r, types)
                   for r in records]
        creates = [self.messages.create(table, entity_set, r, types, str(r[key]))
                   for r in records]
        if self.simulate:
            return self._send_many(updates, "", "upsert")
        return upsert_in_two(lambda ms: self._parallel(ms, f"ExecuteMultiple {table}", "upsert"),
                             updates, creates)

    # -- helpers ---------------------------------------------------------------------------

    def _by_alternate_key(self, entity_set: str, table: str,
                          records: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        """Records named by an alternate key (`set(column='value')`, as the Web API's
        upsert takes them) get the id of the row holding that value, or a new one: CRM
        2013 and 2015 (before 7.1) have no alternate keys, so the key column is looked up
        first. One run per tenant writes at a time, so no second writer races it."""
        keyed = [(i, _ALT_KEY.match(str(r["@odata.id"]))) for i, r in enumerate(records)
                 if key not in r and "@odata.id" in r]
        out = [dict(r) for r in records]
        columns = {m.group(1) for _i, m in keyed if m}
        if any(m is None for _i, m in keyed) or len(columns) > 1:
            raise ValueError("alternate keys must name one column: set(column='value')")
        if not keyed:
            return out
        column = columns.pop()
        values = [m.group(2).replace("''", "'") for _i, m in keyed if m]
        found = {str(row.get(column)): str(row[key]) for row in self.lookup_in(  # type: ignore[attr-defined]
            entity_set, column, values, [key, column])}
        for (i, _m), value in zip(keyed, values, strict=True):
            record = out[i]
            del record["@odata.id"]
            record[column] = value
            record[key] = found.get(value) or str(uuid.uuid4())
        return out

    def _types_of(self, table: str) -> dict[str, str]:
        return self.attribute_types(table)

    def _parallel(self, messages: list[Message], label: str,
                  kind: str) -> list[OperationResult]:
        """ExecuteMultiple requests of `BULK_CHUNK` messages, run by the parallel executor."""
        if not messages:
            return []
        executor = self.parallel
        size = executor.chunk_size(len(messages), BULK_CHUNK, MIN_PARALLEL_CHUNK, kind=label)
        chunks = [messages[i:i + size] for i in range(0, len(messages), size)]
        parts = executor.run([self._chunk_call(c, label, kind) for c in chunks], kind=label,
                             weights=[len(c) for c in chunks])
        return [result for part in parts for result in part]

    def _chunk_call(self, chunk: list[Message], label: str,
                    kind: str) -> Callable[[], list[OperationResult]]:
        return lambda: self._send_many(chunk, label, kind)

    def _send_many(self, messages: Sequence[Message], label: str,
                   kind: str) -> list[OperationResult]:
        if self.simulate:
            return [self._simulated_result(kind, m) for m in messages]
        return self.messages.send_many(messages, label)

    def _list_message(self, op: BatchOperation) -> Message:
        """The engine's marketing-list operations as their Organization Service messages."""
        body = op.body or {}
        if op.path == "AddListMembersList":
            list_id = str(body["List"]["listid"])
            members = [str(next(v for k, v in m.items() if k.endswith("id")))
                       for m in body["Members"]]
            return self.messages.list_members("AddListMembersList", list_id, members, op)
        match = _LIST_OP.match(op.path)
        if not match:
            raise ValueError(f"no Organization Service message for {op.method} {op.path}")
        list_id, action, member = match.groups()
        if member:  # DELETE …/listcontact_association(id)/$ref
            return self.messages.list_members("RemoveMemberList", list_id, [member], op)
        if action not in ("AddMemberList", "RemoveMemberList"):
            raise ValueError(f"no Organization Service message for {action}")
        return self.messages.list_members(action, list_id, [str(body["EntityId"])], op)

    def _simulated(self, kind: str, message: Message, body: dict[str, Any]) -> bool:
        if not self.simulate:
            return False
        self.simulated_writes.append(SimulatedWrite(
            kind, message.entity_set, message.operation.path, dict(body),
            action=message.name if kind == "action" else ""))
        return True

    def _simulated_result(self, kind: str, message: Message) -> OperationResult:
        self._simulated(kind, message, dict(message.operation.body or {}))
        return self.messages.ok(message, {})
