"""The BulkDelete action: a system job deleting the rows of QueryExpressions.

docs/dataverse-webapi.md §Bulk delete. `POST BulkDelete` with `QuerySet` (QueryExpression
objects), `JobName`, `StartDateTime`, … answers `{"JobId": <asyncoperationid>}`. The job
is an `asyncoperation` (operationtype 13) plus a `bulkdeleteoperation` row with the
success/failure counts. It runs at once when `StartDateTime` is not in the future
(emulator clock); otherwise it waits and runs when a client next reads either table after
that time. Only rows created before the job starts are deleted; deletes cascade like
single deletes (list memberships). Query sets are QueryExpressions only (no FetchXML).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from dynamics_emulator import writes
from dynamics_emulator.clock import fmt_dt, parse_dt
from dynamics_emulator.filters import to_storage
from dynamics_emulator.http_types import DataverseError, Response, bad_request
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.schema.activities import BULK_DELETE_OPERATION_TYPE
from dynamics_emulator.schema.model import Entity

JOB_TABLES = ("asyncoperation", "bulkdeleteoperation")
_OPS = {"Equal": "= ?", "NotEqual": "<> ?", "GreaterThan": "> ?", "LessThan": "< ?",
        "GreaterEqual": ">= ?", "LessEqual": "<= ?", "Like": "LIKE ?", "NotLike": "NOT LIKE ?"}
_PATTERNS = {"BeginsWith": ("", "%", False), "DoesNotBeginWith": ("", "%", True),
             "EndsWith": ("%", "", False), "DoesNotEndWith": ("%", "", True),
             "Contains": ("%", "%", False), "DoesNotContain": ("%", "%", True)}


def _value(item: Any) -> Any:
    # The Web API's Object type: {"Value": …, "Type": "System.String"}; plain values too.
    return item.get("Value") if isinstance(item, dict) else item


def _condition(ent: Entity, cond: dict[str, Any], params: list[Any]) -> str:
    name = str(cond.get("AttributeName") or "")
    attr = ent.attr(name)
    if attr is None:
        raise bad_request(f"'{ent.name}' entity doesn't contain attribute with Name = '{name}'.",
                          "0x80041103")
    op = str(cond.get("Operator") or "Equal")
    values = [to_storage(attr, _value(v)) for v in cond.get("Values") or []]
    col = f'"{attr.name}"'
    if op in ("Null", "NotNull"):
        return f"{col} IS {'NOT ' if op == 'NotNull' else ''}NULL"
    if op in ("In", "NotIn"):
        params.extend(values)
        marks = ", ".join("?" for _ in values) or "NULL"
        return f"{col} {'NOT ' if op == 'NotIn' else ''}IN ({marks})"
    if op in ("Between", "NotBetween") and len(values) == 2:
        params.extend(values)
        return f"{col} {'NOT ' if op == 'NotBetween' else ''}BETWEEN ? AND ?"
    if not values:
        raise bad_request(f"Condition for attribute '{name}': expected argument(s) of type "
                          f"'{attr.type_name}' but received none.", "0x80040203")
    if op in _PATTERNS:
        before, after, negate = _PATTERNS[op]
        params.append(f"{before}{values[0]}{after}")
        return f"{col} {'NOT ' if negate else ''}LIKE ?"
    if op not in _OPS:
        raise bad_request(f"The ConditionOperator '{op}' is not supported by the emulator.")
    params.append(values[0])
    return f"{col} {_OPS[op]}"


def _filter(ent: Entity, flt: dict[str, Any] | None, params: list[Any]) -> str:
    if not flt:
        return "1"
    parts = [_condition(ent, c, params) for c in flt.get("Conditions") or []]
    parts += [_filter(ent, f, params) for f in flt.get("Filters") or []]
    joiner = " OR " if str(flt.get("FilterOperator", "And")) in ("Or", "1") else " AND "
    return "(" + joiner.join(parts) + ")" if parts else "1"


def _queries(ctx: Ctx, query_set: Any, check: bool = True
             ) -> list[tuple[Entity, str, list[Any]]]:
    if not isinstance(query_set, list) or not query_set:
        raise bad_request("Required field 'QuerySet' is missing", "0x80040203")
    out = []
    for query in query_set:
        if not isinstance(query, dict):
            raise bad_request("QuerySet items must be QueryExpression objects.")
        ent = ctx.org.schema.by_name.get(str(query.get("EntityName") or "").lower())
        if ent is None:
            raise bad_request(f"The entity with a name = '{query.get('EntityName')}' was not "
                              "found in the MetadataCache.", "0x80041102")
        if check:
            ctx.require("Read", ent)
            ctx.require("Delete", ent)
        params: list[Any] = []
        out.append((ent, _filter(ent, query.get("Criteria"), params), params))
    return out


def _insert(ctx: Ctx, ent: Entity, values: dict[str, Any]) -> dict[str, Any]:
    changes = dict(values)
    writes.defaults(ctx, ent, changes)
    writes.stamp(ctx, ent, changes, None)
    changes["createdon"] = changes["modifiedon"]
    changes["createdby"], changes["createdby_t"] = ctx.caller.user_id, "systemuser"
    ctx.org.store.insert(ent, changes)
    return changes


def submit(ctx: Ctx) -> Response:
    if "prvBulkDelete" not in ctx.caller.privileges and "*" not in ctx.caller.privileges:
        c = ctx.caller
        raise DataverseError(403, "0x80042f09",
                             f"Principal user (Id={c.user_id}, type=8, roleCount={c.role_count},"
                             f" privilegeCount={len(c.privileges)}, accessMode={c.access_mode}),"
                             f" is missing prvBulkDelete privilege. context.Caller={c.user_id}")
    body = ctx.request.json() or {}
    if not isinstance(body, dict) or not str(body.get("JobName") or ""):
        raise bad_request("Required field 'JobName' is missing", "0x80040203")
    _queries(ctx, body.get("QuerySet"))  # validates and checks privileges now
    now = ctx.clock.now()
    start = now
    if body.get("StartDateTime"):
        try:
            start = parse_dt(str(body["StartDateTime"]))
        except ValueError:
            raise bad_request(f"Cannot convert the literal '{body['StartDateTime']}' to the "
                              "expected type 'Edm.DateTimeOffset'.") from None
    job_id = str(uuid.uuid4())
    waiting = start > now
    state = {"statecode": 1, "statuscode": 10} if waiting else {"statecode": 0, "statuscode": 0}
    schema = ctx.org.schema
    _insert(ctx, schema.entity("asyncoperation"), {
        "asyncoperationid": job_id, "name": str(body["JobName"]),
        "operationtype": BULK_DELETE_OPERATION_TYPE, "messagename": "BulkDelete",
        "postponeuntil": fmt_dt(start), "recurrencepattern": body.get("RecurrencePattern") or "",
        **state})
    _insert(ctx, schema.entity("bulkdeleteoperation"), {
        "bulkdeleteoperationid": str(uuid.uuid4()), "name": str(body["JobName"]),
        "asyncoperationid": job_id, "asyncoperationid_t": "asyncoperation",
        "isrecurring": int(bool(body.get("RecurrencePattern"))), "successcount": 0,
        "failurecount": 0, "orderedquerysetxml": json.dumps(body["QuerySet"]), **state})
    if not waiting:
        _run(ctx, job_id)
    return Response.json({"@odata.context": f"{ctx.base_url}$metadata#Microsoft.Dynamics.CRM."
                                            "BulkDeleteResponse", "JobId": job_id})


def _run(ctx: Ctx, job_id: str) -> None:
    store, schema = ctx.org.store, ctx.org.schema
    op = schema.entity("bulkdeleteoperation")
    ops = store.fetch("SELECT bulkdeleteoperationid, orderedquerysetxml FROM "
                      "bulkdeleteoperation WHERE asyncoperationid = ?", (job_id,))
    # The query set as submitted (JSON here; the real column holds it as XML).
    queries = [q for row in ops for q in _queries(ctx, json.loads(row["orderedquerysetxml"]),
                                                  check=False)]
    started = fmt_dt(ctx.clock.now())
    deleted = failed = 0
    with store.transaction():
        for ent, where, params in queries:
            rows = store.fetch(f'SELECT * FROM "{ent.name}" WHERE {where} AND '
                               f'(createdon IS NULL OR createdon <= ?)', [*params, started])
            for row in rows:
                if store.get(ent, row[ent.primary_id]) is None:
                    continue  # removed by an earlier cascade in this job
                try:
                    writes.delete(ctx, ent, row)
                    deleted += 1
                except DataverseError:
                    failed += 1
        done = {"statecode": 3, "statuscode": 30, "modifiedon": fmt_dt(ctx.clock.now())}
        store.update(schema.entity("asyncoperation"), job_id,
                     {**done, "startedon": started, "completedon": fmt_dt(ctx.clock.now()),
                      "versionnumber": store.next_version()})
        for row in ops:
            store.update(op, row["bulkdeleteoperationid"],
                         {**done, "successcount": deleted, "failurecount": failed,
                          "versionnumber": store.next_version()})


def run_due(ctx: Ctx) -> None:
    """Run waiting jobs whose start time has come (called when the job tables are read)."""
    now = fmt_dt(ctx.clock.now())
    due = ctx.org.store.fetch("SELECT asyncoperationid FROM asyncoperation WHERE statecode = 1 "
                              "AND operationtype = ? AND postponeuntil <= ?",
                              (BULK_DELETE_OPERATION_TYPE, now))
    for row in due:
        _run(ctx, row["asyncoperationid"])
