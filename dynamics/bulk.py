"""`$batch` execution and the bulk messages (CreateMultiple/UpdateMultiple/UpsertMultiple).

Bulk messages are used where the table supports them (probed per table, see
capabilities); otherwise — and to learn per-record errors after an all-or-nothing bulk
failure — the same records go through `$batch`. Both paths return one
`OperationResult` per record, in input order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dynamics.batch import (
    MAX_BATCH_OPERATIONS,
    BatchItem,
    BatchOperation,
    OperationResult,
    Transaction,
    decode_multipart,
    encode_batch,
    item_size,
    match_results,
    split_batches,
)
from dynamics.capabilities import CapabilitiesApi
from dynamics.errors import (
    AuthenticationFailed,
    CertificateError,
    DynamicsError,
    PermanentError,
    RetriesExhausted,
    UnexpectedAnswer,
)
from dynamics.odata import chunk_in_values, in_filter, record_path
from dynamics.records import _options
from dynamics.transport import build_query, parse_json

BULK_CHUNK = 500  # Microsoft suggests starting near 1000 for small records; stay below
# A GET inside $batch may be 64 KB long (docs/dataverse-webapi.md §URL length); stay well under it.
MAX_BATCH_GET_CHARS = 48_000


@dataclass(frozen=True)
class InLookup:
    """One `In` look-up: rows of `entity_set` whose `attribute` is one of `values`."""

    entity_set: str
    attribute: str
    values: Sequence[str]
    select: Sequence[str] | None = None


class BulkApi(CapabilitiesApi):
    def batch(self, operations: Sequence[BatchItem],
              continue_on_error: bool = False) -> list[OperationResult]:
        """Send operations in as few `$batch` requests as the 1000-request limit allows."""
        results: list[OperationResult] = []
        for chunk in split_batches(operations):
            body, ctype = encode_batch(chunk, self.transport.connection.api_path)
            headers = {"Content-Type": ctype, "Accept": "application/json"}
            if continue_on_error:
                headers["Prefer"] = "odata.continue-on-error"
            resp = self.transport.request(
                "POST", "$batch", data=body, headers=headers,
                operations=sum(item_size(i) for i in chunk), accept_multipart_error=True)
            rtype = resp.headers.get("Content-Type", "")
            if not rtype.startswith("multipart/"):
                raise UnexpectedAnswer(
                    "The CRM answered a $batch request without a multipart body.",
                    status=resp.status_code, request="POST $batch", key="batch_not_multipart")
            try:
                parts = decode_multipart(rtype, resp.content)
            except ValueError as exc:
                raise UnexpectedAnswer(f"The CRM's $batch answer could not be read ({exc}).",
                                       status=resp.status_code, request="POST $batch",
                                       key="batch_unreadable") from None
            results.extend(match_results(chunk, parts))
        return results

    def lookup_in_many(self, lookups: Sequence[InLookup],
                       max_values: int | None = None) -> list[list[dict[str, Any]]]:
        """Rows of several `In` look-ups, one list per look-up, in input order.

        The look-ups travel as GETs inside `$batch` (up to 1000 per request, each URL up to
        the batch limit), so thousands of addresses over several tables cost one round trip
        instead of one per chunk and table. A part that has more rows than one page is
        followed through its `@odata.nextLink` outside the batch.
        """
        ops: list[BatchItem] = []
        owner: list[int] = []
        api_path = self.transport.connection.api_path
        for index, lookup in enumerate(lookups):
            fixed = len(api_path) + len(lookup.entity_set) + 1 + len(build_query(
                _options(select=lookup.select, filter=in_filter(lookup.attribute, []))))
            for chunk in chunk_in_values(lookup.values, fixed_chars=fixed,
                                         max_chars=MAX_BATCH_GET_CHARS,
                                         **({"max_values": max_values} if max_values else {})):
                query = build_query(_options(select=lookup.select,
                                             filter=in_filter(lookup.attribute, chunk)))
                ops.append(BatchOperation("GET", f"{lookup.entity_set}?{query}"))
                owner.append(index)
        out: list[list[dict[str, Any]]] = [[] for _ in lookups]
        if not ops:
            return out
        for index, result in zip(owner, self.batch(ops), strict=True):
            if not result.ok:
                raise result.error or DynamicsError(
                    "The CRM did not answer a look-up inside $batch.", status=result.status,
                    request=f"GET {lookups[index].entity_set}")
            page = result.body if isinstance(result.body, dict) else {}
            rows = page.get("value")
            if not isinstance(rows, list):
                raise UnexpectedAnswer("The CRM sent a collection without 'value'.",
                                       request=f"GET {lookups[index].entity_set}",
                                       key="collection_without_value")
            out[index].extend(rows)
            next_link = page.get("@odata.nextLink")
            if next_link:
                for more in self.query_pages(str(next_link)):
                    out[index].extend(more.get("value") or [])
        return out

    # -- bulk messages -------------------------------------------------------------------

    def create_multiple(self, entity_set: str, table: str, records: Sequence[dict[str, Any]],
                        *, primary_key: str | None = None) -> list[OperationResult]:
        """Create records; each gets a client-side id first so a retry can't duplicate it."""
        key = primary_key or f"{table}id"
        targets = [dict(r) for r in records]
        for t in targets:
            t.setdefault(key, str(uuid.uuid4()))
        return self._bulk("CreateMultiple", entity_set, table, targets, key)

    def update_multiple(self, entity_set: str, table: str, records: Sequence[dict[str, Any]],
                        *, primary_key: str | None = None) -> list[OperationResult]:
        """Update records; each must carry its primary key."""
        key = primary_key or f"{table}id"
        if any(key not in r for r in records):
            raise ValueError(f"every record needs its primary key {key!r}")
        return self._bulk("UpdateMultiple", entity_set, table, [dict(r) for r in records], key)

    def upsert_multiple(self, entity_set: str, table: str, records: Sequence[dict[str, Any]],
                        *, primary_key: str | None = None,
                        chunk_size: int = BULK_CHUNK) -> list[OperationResult]:
        """Upsert records identified by primary key (or `@odata.id` with an alternate key).

        `chunk_size` targets go in one message; small records may use up to 1000, the
        $batch limit, so that a large export needs fewer round trips.
        """
        key = primary_key or f"{table}id"
        if any(key not in r and "@odata.id" not in r for r in records):
            raise ValueError(f"every record needs {key!r} or '@odata.id'")
        if not 0 < chunk_size <= MAX_BATCH_OPERATIONS:
            raise ValueError(f"chunk_size must be between 1 and {MAX_BATCH_OPERATIONS}")
        return self._bulk("UpsertMultiple", entity_set, table, [dict(r) for r in records], key,
                          chunk_size)

    def _bulk(self, message: str, entity_set: str, table: str,
              targets: list[dict[str, Any]], key: str,
              chunk_size: int = BULK_CHUNK) -> list[OperationResult]:
        results: list[OperationResult] = []
        use_bulk = self.supports_bulk(table)
        for start in range(0, len(targets), chunk_size):
            chunk = targets[start:start + chunk_size]
            if use_bulk:
                try:
                    results.extend(self._bulk_chunk(message, entity_set, table, chunk, key))
                    continue
                except (RetriesExhausted, AuthenticationFailed, CertificateError):
                    raise  # not about the records: $batch would only repeat the failure
                except PermanentError:
                    # Standard tables roll the whole message back; $batch then tells which
                    # records are at fault and saves the others (ids are client-side, so safe).
                    pass
            batch_results = self.batch(_batch_ops(message, entity_set, chunk, key),
                                       continue_on_error=True)
            if message == "CreateMultiple":
                batch_results = [self._already_created(r, entity_set, t, key)
                                 for r, t in zip(batch_results, chunk, strict=True)]
            results.extend(batch_results)
        return results

    def _already_created(self, result: OperationResult, entity_set: str,
                         target: dict[str, Any], key: str) -> OperationResult:
        """412 on a create-only PATCH: the record with this client id exists, made by an
        earlier attempt whose answer was lost (e.g. a timed-out CreateMultiple that the
        server finished). Success, as in `create()`."""
        if result.status != 412:
            return result
        rid = str(target.get(key, ""))
        return OperationResult(result.operation, 204, {
            "OData-EntityId": f"{self.transport.connection.api_url}{entity_set}({rid})"},
            already_existed=True)

    def _bulk_chunk(self, message: str, entity_set: str, table: str,
                    chunk: list[dict[str, Any]], key: str) -> list[OperationResult]:
        body = {"Targets": [{"@odata.type": f"Microsoft.Dynamics.CRM.{table}", **t}
                            for t in chunk]}
        path = f"{entity_set}/Microsoft.Dynamics.CRM.{message}"
        resp = self.transport.request("POST", path, json_body=body, operations=len(chunk))
        ids: list[Any] = []
        if message == "CreateMultiple":
            data = parse_json(resp, f"POST {entity_set}")
            ids = data.get("Ids", []) if isinstance(data, dict) else []
        out = []
        for i, target in enumerate(chunk):
            if i < len(ids) or key in target:
                ref = f"{entity_set}({ids[i] if i < len(ids) else target[key]})"
            else:
                # Alternate key: name the record as the $batch path's OData-EntityId does.
                ref = str(target.get("@odata.id", ""))
            op = BatchOperation("POST", path, target)
            out.append(OperationResult(op, resp.status_code, {
                "OData-EntityId": f"{self.transport.connection.api_url}{ref}"}))
        return out


def _batch_ops(message: str, entity_set: str, chunk: list[dict[str, Any]],
               key: str) -> list[BatchItem]:
    ops: list[BatchItem] = []
    for target in chunk:
        data = {k: v for k, v in target.items() if k != "@odata.id"}
        if "@odata.id" in target:
            path, headers = str(target["@odata.id"]), {}
        else:
            path = record_path(entity_set, str(data.pop(key)))
            # Create only / update only, as the bulk message would
            # (docs/dataverse-webapi.md §Upsert).
            headers = {"CreateMultiple": {"If-None-Match": "*"},
                       "UpdateMultiple": {"If-Match": "*"}}.get(message, {})
        ops.append(BatchOperation("PATCH", path, data, headers))
    return ops


__all__ = ["BulkApi", "InLookup", "Transaction"]
