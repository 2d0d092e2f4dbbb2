"""S10, group → CRM: members added in mailworx go to the marketing list in parallel
``AddListMembersList`` waves sized to the CRM's pace, members removed in mailworx leave it
through ``RemoveMemberList`` (syncjobs/engine/lists_members.py compares the sides).

Each request's members are recorded in the snapshot once it came back; a repeated write
after a crash is taken by the CRM as done (adding twice, or "not a member" on removal)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import transaction

from dynamics.batch import BatchOperation, OperationResult
from dynamics.bulk import MIN_PARALLEL_CHUNK
from dynamics.errors import BadRequest, DynamicsError, NotFound
from dynamics.odata import record_path
from mailworx_crm.bulk_sql import insert_rows
from mailworx_crm.texts import deferred as _
from syncjobs.engine.context import BATCH, Sync
from syncjobs.engine.issues import record_issue
from syncjobs.models.lists import ListLink, ListMemberSnapshot

STEP = "lists"
ADD_CHUNK = 1000  # members per AddListMembersList call
ADDS_PER_REQUEST = 10  # AddListMembersList calls per $batch request, at most
ADD_PAGE = ADD_CHUNK * ADDS_PER_REQUEST  # members read per page: one $batch request's worth
# Until this run has seen how long the CRM takes per member, a request carries this many:
# at a real organisation's pace 10,000 members would outlast the client's read timeout.
PROBE_MEMBERS = 100
ADD_KIND = "AddListMembersList"  # the executor's latency measure for member adds
CODE_NOT_A_MEMBER = "0x80048458"  # removing a non-member: it is gone already


def push_added(sync: Sync, link: ListLink, crm_ids: list[str],
               group_side: dict[str, int]) -> int:
    """AddListMembersList with up to ``ADD_CHUNK`` members per call and ``ADDS_PER_REQUEST``
    calls per ``$batch`` request (N2: 100,000 members cost ten round trips where the CRM is
    fast), the requests spread evenly over the parallel degree (adds are independent; the
    records exist: push ran before the lists step) and sized to the CRM's measured pace
    (``_next_wave``). Returns how many members went in."""
    added = 0
    list_id, entity = str(link.list_id), link.member_type
    remaining = crm_ids
    while remaining:
        wave, remaining = _next_wave(sync, remaining)
        requests = [[_add_op(list_id, entity, chunk) for chunk in calls] for calls in wave]
        answers = sync.client.parallel.run(
            [_batch_call(sync, ops) for ops in requests], kind=ADD_KIND,
            weights=[sum(len(chunk) for chunk in calls) for calls in wave])
        # Recorded after every request of the wave came back, in this thread (no database
        # work in the executor's threads); a failure leaves the wave unrecorded (N1: the
        # next run adds those members again, which the CRM takes as done).
        for calls, results in zip(wave, answers, strict=True):
            for chunk, result in zip(calls, results, strict=True):
                if result.ok:
                    done = list(chunk)
                elif isinstance(result.error, NotFound):
                    # A member record is gone from the CRM: one by one, so the others go in.
                    done = _add_one_by_one(sync, link, chunk, group_side)
                else:
                    raise result.error or DynamicsError()
                with transaction.atomic():
                    snapshot_add(link, done)
                sync.count(STEP, "crm_members_added", len(done))
                added += len(done)
        sync.checkpoint(STEP, sum(len(chunk) for calls in wave for chunk in calls))
    return added


def _next_wave(sync: Sync, crm_ids: list[str]) -> tuple[list[list[list[str]]], list[str]]:
    """The next wave of parallel requests (each request a list of calls, each call a list
    of ids) and the members left after it. A wave holds as many requests as may run at
    once, each with the same share of members (one request holding them all would leave
    the others idle), and no more members per request than the CRM handles in the
    executor's request time — decided anew per wave, from what the last ones took."""
    executor = sync.client.parallel
    measured = executor.seconds_per_unit(ADD_KIND) is not None
    most = ADD_CHUNK * ADDS_PER_REQUEST if measured else PROBE_MEMBERS
    per_request = executor.chunk_size(len(crm_ids), most, MIN_PARALLEL_CHUNK, kind=ADD_KIND)
    members = crm_ids[:per_request * executor.degree]
    share = executor.chunk_size(len(members), per_request, MIN_PARALLEL_CHUNK, kind=ADD_KIND)
    wave = []
    for first in range(0, len(members), share):
        part = members[first:first + share]
        calls = -(-len(part) // ADD_CHUNK)
        size = -(-len(part) // calls)  # even calls, none above ADD_CHUNK
        wave.append([part[i:i + size] for i in range(0, len(part), size)])
    return wave, crm_ids[len(members):]


def _add_op(list_id: str, entity: str, chunk: Sequence[str]) -> BatchOperation:
    return BatchOperation("POST", "AddListMembersList", {
        "List": {"@odata.type": "Microsoft.Dynamics.CRM.list", "listid": list_id},
        "Members": [{"@odata.type": f"Microsoft.Dynamics.CRM.{entity}",
                     f"{entity}id": crm_id} for crm_id in chunk]})


def _batch_call(sync: Sync, ops: list[BatchOperation]) -> Callable[[], list[OperationResult]]:
    return lambda: sync.client.batch(ops, continue_on_error=True)


def _add_one_by_one(sync: Sync, link: ListLink, batch: Sequence[str],
                    group_side: dict[str, int]) -> list[str]:
    done = []
    path = f"{record_path('lists', str(link.list_id))}/Microsoft.Dynamics.CRM.AddMemberList"
    for crm_id in batch:
        try:
            sync.client.call_action(path, {"EntityId": crm_id})
            done.append(crm_id)
        except NotFound as exc:
            record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id,
                         subscriber_id=group_side.get(crm_id), entity_type=link.member_type,
                         crm_id=crm_id, code=exc.code or "", reason=_(
                             "The subscriber's CRM record no longer exists, so it cannot be "
                             "added to the marketing list “%(list)s”.")
                         % {"list": link.list_name},
                         hint=_("The next sync notices the deletion and unlinks the record."))
            sync.count(STEP, "failed")
    return done


def push_removed(sync: Sync, link: ListLink, crm_ids: list[str]) -> int:
    """RemoveMemberList in ``$batch`` requests; returns how many members it took out."""
    removed = 0
    if not crm_ids:
        return 0
    list_id = str(link.list_id)
    # RemoveMemberList has a Web API action from 9.0 on; 8.x removes through the relation.
    action = sync.client.capabilities.major >= 9
    for batch in chunks(crm_ids):
        ops = [BatchOperation("POST", f"{record_path('lists', list_id)}/"
                                      "Microsoft.Dynamics.CRM.RemoveMemberList",
                              {"EntityId": crm_id}) if action else
               BatchOperation("DELETE", f"{record_path('lists', list_id)}/"
                                        f"list{link.member_type}_association({crm_id})/$ref")
               for crm_id in batch]
        results = sync.client.batch(ops, continue_on_error=True)
        done = [crm_id for crm_id, result in zip(batch, results, strict=True)
                if result.ok or _not_a_member(result.error)]
        failed = [result.error for result in results
                  if not result.ok and not _not_a_member(result.error)]
        with transaction.atomic():
            link.snapshot.filter(crm_id__in=done).delete()
        sync.count(STEP, "crm_members_removed", len(done))
        removed += sum(1 for result in results if result.ok)
        sync.checkpoint(STEP, len(batch))
        if failed:
            first = failed[0]
            raise first if isinstance(first, BadRequest) else (first or DynamicsError())
    return removed


def _not_a_member(error: DynamicsError | None) -> bool:
    return error is not None and (error.code or "").lower() == CODE_NOT_A_MEMBER.lower()


def snapshot_add(link: ListLink, crm_ids: Iterable[str]) -> None:
    insert_rows(ListMemberSnapshot, ["link", "crm_id"], [(link.pk, crm_id) for crm_id in crm_ids],
                ignore_conflicts=True)


def chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i:i + BATCH] for i in range(0, len(items), BATCH)]
